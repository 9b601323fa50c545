"""Alerts for aws-auth audit events: one Alert per event, its findings from the rules table.

The policy itself (which change is how severe, and why) lives in rules.py; this module turns a
decoded change plus what was known before into the rule context, and the findings into an Alert
with the evidence (actor, audit id, status, members of system:masters now, log stream link).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from eksguard.alerts import Actor, Alert, Fact, SourceRef, alert_id, utc_now_iso
from eksguard.arns import principal_arn, session_name_of
from eksguard.audit_log.payload import log_stream_url
from eksguard.audit_log.request import AuditUser, field_manager, truncated_is_dry_run
from eksguard.aws_auth.decode import AuditChange
from eksguard.aws_auth.diff import diff_contents
from eksguard.aws_auth.mapping import MASTERS_GROUP, AwsAuthContent, parse_aws_auth
from eksguard.aws_auth.rules import ExpectedAdminsLike, VerdictContext, evaluate
from eksguard.findings import Finding
from eksguard.severity import Severity

KIND = "aws-auth"
MAX_FINDING_FACTS = 20


@dataclass(frozen=True)
class LogLocation:
    """Where the evidence lives: the audit log stream (and the line within it)."""

    log_group: str
    log_stream: str
    region: str
    account: str | None = None
    log_event_id: str | None = None
    log_event_time: str | None = None  # ISO-8601 UTC of the log line (CloudWatch timestamp)
    entry_key: str | None = None  # identity of the log line (AuditRecord.key): alert ids derive from it

    def source_ref(self) -> SourceRef:
        return SourceRef(
            kind="audit-log",
            description=f"{self.log_group} / {self.log_stream}",
            url=log_stream_url(self.region, self.log_group, self.log_stream),
        )


@dataclass(frozen=True)
class Prior:
    """What was known before the event. `content=None` with `known=True` means an absent/empty ConfigMap."""

    known: bool
    content: AwsAuthContent | None = None
    note: str | None = None


UNKNOWN_PRIOR = Prior(known=False)


def alert_actor(user: AuditUser) -> Actor:
    arn = principal_arn(user.arn) if user.arn else None
    if arn is None and user.username and user.username.startswith("arn:"):
        arn = principal_arn(user.username)
    return Actor(
        arn=arn,
        session_name=user.session_name or session_name_of(user.arn) or session_name_of(user.username),
        username=user.username,
        source_ip=", ".join(user.source_ips) or None,
        user_agent=user.user_agent,
    )


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
    return _alert(
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
    username = fields.get("username")
    arn = fields.get("arn") or (username if username and username.startswith("arn:") else None)
    actor = Actor(
        arn=principal_arn(arn) if arn else None,
        session_name=fields.get("sessionName") or session_name_of(arn),
        username=username,
        source_ip=fields.get("sourceIP"),
        user_agent=fields.get("userAgent"),
    )
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
    facts = [
        Fact("Change", verb),
        Fact("Actor", by),
        Fact("Kubernetes user", username or "unknown"),
        Fact("Source IP", fields.get("sourceIP") or "unknown"),
        Fact("User agent", fields.get("userAgent") or "unknown"),
        Fact("Status", fields.get("code") or "unknown"),
        Fact("Audit ID", fields.get("auditID") or "unknown"),
        Fact("Request URI", fields.get("requestURI") or "unknown"),
        Fact("Log event", location.log_event_id or "unknown"),
    ]
    if why is not None:
        facts.append(Fact("Why unknown", why))
    return _alert(
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


def _alert(
    findings: list[Finding],
    cluster: str,
    identity: str | None,
    actor: Actor,
    location: LogLocation,
    facts: list[Fact],
    when: str | None = None,
) -> Alert:
    """`when` is the audit stageTimestamp: the alert tells when the change happened, not when it was read."""
    ordered = sorted(findings, key=lambda f: f.severity, reverse=True)
    top = ordered[0]
    extra = len(ordered) - 1
    title = top.headline + (f" (+{extra} more change{'s' if extra > 1 else ''})" if extra else "")
    finding_facts = [Fact(f.severity.name, f.detail) for f in ordered[:MAX_FINDING_FACTS]]
    if len(ordered) > MAX_FINDING_FACTS:
        finding_facts.append(Fact("More", f"{len(ordered) - MAX_FINDING_FACTS} more findings not listed"))
    return Alert(
        id=alert_id(KIND, cluster, identity),
        kind=KIND,
        severity=top.severity,
        title=title,
        cluster=cluster,
        principal=top.principal,
        actor=actor,
        account=location.account,
        region=location.region,
        time=when or location.log_event_time or utc_now_iso(),
        summary="\n".join(f"[{f.severity.name}] {f.detail}" for f in ordered),
        facts=tuple(finding_facts + facts),
        source=location.source_ref(),
    )
