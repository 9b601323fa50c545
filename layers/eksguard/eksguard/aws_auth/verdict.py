"""Alerts for aws-auth audit events: one Alert per event, its findings from the rules table.

The policy itself (which change is how severe, and why) lives in rules.py; this module turns a
decoded change plus what was known before into the rule context, and the findings into an Alert
with the evidence (actor, audit id, status, members of system:masters now, log stream link).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from eksguard.alerts import Alert, Fact
from eksguard.audit_log.evidence import LogLocation, alert_actor, build_alert, truncated_actor, truncated_facts
from eksguard.audit_log.request import field_manager, truncated_is_dry_run
from eksguard.aws_auth.decode import AuditChange
from eksguard.aws_auth.diff import diff_contents
from eksguard.aws_auth.mapping import MASTERS_GROUP, AwsAuthContent, parse_aws_auth
from eksguard.aws_auth.rules import VerdictContext, evaluate
from eksguard.findings import ExpectedAdminsLike, Finding
from eksguard.severity import Severity

KIND = "aws-auth"
MAX_FINDING_FACTS = 20


@dataclass(frozen=True)
class Prior:
    """What was known before the event. `content=None` with `known=True` means an absent/empty ConfigMap."""

    known: bool
    content: AwsAuthContent | None = None
    note: str | None = None


UNKNOWN_PRIOR = Prior(known=False)


def prior_from_data(data: Mapping[str, Any] | None, known: bool) -> Prior:
    if not known:
        return UNKNOWN_PRIOR
    return Prior(known=True, content=parse_aws_auth(data))


def judge_change(
    change: AuditChange,
    cluster: str,
    prior: Prior,
    expected: ExpectedAdminsLike,
    location: LogLocation,
    late: bool = False,
    blame: str | None = None,
    rbac_admins: Any = None,
) -> Alert | None:
    """The alert for one decoded audit event, or None when it changed no mapping.

    `blame` is set when the versions do not line up (the request replaced a version eksguard has
    not seen): the diff may then hold another writer's changes, and the alert says so instead of
    pinning them on this actor.
    """
    actor = alert_actor(change.actor)
    by = actor.display()
    content = parse_aws_auth(change.data) if change.effect == "changed" else None
    ctx = VerdictContext(
        change=change,
        cluster=cluster,
        expected=expected,
        by=by,
        baseline=prior.known,
        content=content,
        prior_content=prior.content if prior.known else None,
        blame=blame,
        rbac_admins=rbac_admins,
    )
    if content is not None:
        ctx.diff = diff_contents(ctx.prior_content if prior.known else None, content)
    fallback = actor.arn or actor.username
    findings = [f if f.principal else replace(f, principal=fallback) for f in evaluate(ctx)]
    if not findings:
        return None
    notes = list(change.notes)
    if prior.note:
        notes.append(prior.note)
    if change.effect == "changed" and not prior.known:
        notes.append("no earlier aws-auth state known: the whole content was judged")
    if late:
        notes.append("arrived after a newer aws-auth change: judged against the version it replaced when known")
    if blame:
        notes.append(f"actor uncertain: {blame}")
    facts = [
        Fact("Change", _change_label(change)),
        Fact("Actor", by),
        Fact("Kubernetes user", change.actor.username or "unknown"),
        Fact("Source IP", actor.source_ip or "unknown"),
        Fact("User agent", change.actor.user_agent or "unknown"),
        Fact("Audit ID", change.audit_id or "unknown"),
        Fact("Status", str(change.status_code) if change.status_code is not None else "unknown"),
        Fact("Time", change.stage_timestamp or "unknown"),
    ]
    if change.selector:
        facts.append(Fact("Selector", change.selector))
    if content is not None:
        masters = ", ".join(e.describe() for e in content.masters()) or "none"
        facts.append(Fact(f"Members of {MASTERS_GROUP} now", masters))
        if content.dropped:
            facts.append(Fact("Ignored by the authenticator", "; ".join(d.describe() for d in content.dropped)))
    facts.extend(Fact("Note", n) for n in notes)
    return build_alert(
        KIND,
        findings,
        cluster,
        location.entry_key or change.audit_id or location.log_event_id,
        actor,
        location,
        facts,
        when=change.stage_timestamp,
    )


def judge_truncated(
    fields: Mapping[str, str | None], cluster: str, location: LogLocation, why: str | None = None
) -> Alert:
    """A truncated (or otherwise unreadable, `why`) aws-auth entry: something was written, the content
    cannot be read from the log."""
    actor = truncated_actor(fields)
    username = fields.get("username")
    by = actor.display()
    verb = fields.get("verb") or "write"
    cause = (
        "audit entry over 256 KB was truncated by CloudWatch Logs"
        if why is None
        else "audit entry could not be decoded"
    )
    dry_run = truncated_is_dry_run(fields)
    if verb == "deletecollection" and not dry_run:
        finding = Finding(
            "aws_auth_possibly_deleted",
            Severity.CRITICAL,
            f"aws-auth possibly deleted by {by}: deletecollection of ConfigMaps in kube-system ({cause})",
            f"deletecollection {fields.get('requestURI') or ''}: check that aws-auth still exists",
            actor.arn or username,
        )
    else:
        attempt = " (dry run, nothing persisted)" if dry_run else ""
        finding = Finding(
            "content_unknown",
            Severity.MEDIUM,
            f"aws-auth {verb}{attempt} by {by}: content unknown ({cause}); read the log stream",
            "truncated audit entry: request and response bodies are not readable"
            if why is None
            else f"unreadable audit entry: {why}",
            actor.arn or username,
        )
    facts = truncated_facts(fields, location, why, by)
    return build_alert(
        KIND,
        [finding],
        cluster,
        location.entry_key or fields.get("auditID") or location.log_event_id,
        actor,
        location,
        facts,
        when=fields.get("stageTimestamp"),
    )


def _change_label(change: AuditChange) -> str:
    manager = field_manager(change.request_uri)
    label = change.verb if change.write_form == change.verb else f"{change.verb} ({change.write_form})"
    return f"{label}, fieldManager={manager}" if manager else label
