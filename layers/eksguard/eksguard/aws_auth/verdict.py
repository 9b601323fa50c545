"""Verdicts: one Alert per aws-auth audit event, naming who entered or left system:masters.

Severity rules (the highest finding sets the alert's severity, its headline becomes the title):
CRITICAL  a principal that is not an expected admin enters system:masters; aws-auth deleted; content
          the authenticator cannot parse (everyone but the cluster creator locked out); node role removed.
MEDIUM    content unknown (truncated entry, Metadata-only create, unreplayable patch); mapAccounts added;
          a mapping with an IAM path (never matches, silently dead); a denied attempt to add system:masters.
INFO      node role added, other mappings added/removed/changed, expected admin added, someone left
          system:masters, other denied writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from eksguard.alerts import Actor, Alert, Fact, SourceRef, alert_id, utc_now_iso
from eksguard.arns import has_iam_path, principal_arn, session_name_of
from eksguard.aws_auth.decode import AuditChange, AuditUser, field_manager
from eksguard.aws_auth.diff import AwsAuthDiff, diff_contents
from eksguard.aws_auth.logs_payload import log_stream_url
from eksguard.aws_auth.mapping import MASTERS_GROUP, AwsAuthContent, MapEntry, ParseError, parse_aws_auth
from eksguard.severity import Severity

KIND = "aws-auth"
MAX_FINDING_FACTS = 20


class ExpectedAdminsLike(Protocol):
    def is_expected(self, cluster: str | None, principal: str | None) -> bool: ...


@dataclass(frozen=True)
class LogLocation:
    """Where the evidence lives: the audit log stream (and the line within it)."""

    log_group: str
    log_stream: str
    region: str
    account: str | None = None
    log_event_id: str | None = None
    log_event_time: str | None = None  # ISO-8601 UTC of the log line (CloudWatch timestamp)

    def source_ref(self) -> SourceRef:
        return SourceRef(
            kind="audit-log",
            description=f"{self.log_group} / {self.log_stream}",
            url=log_stream_url(self.region, self.log_group, self.log_stream),
        )


@dataclass(frozen=True)
class Finding:
    severity: Severity
    headline: str
    principal: str | None
    detail: str


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
    try:
        return Prior(known=True, content=parse_aws_auth(data))
    except ParseError as exc:
        # The previous content was broken: nobody was effectively mapped, so judge the new one in full.
        return Prior(known=False, note=f"previous aws-auth content was unparseable ({exc})")


def _masters_finding(entry: MapEntry, cluster: str, expected: ExpectedAdminsLike, by: str, baseline: bool) -> Finding:
    if has_iam_path(entry.arn):
        return Finding(
            Severity.MEDIUM,
            f"{entry.arn} mapped to {MASTERS_GROUP} with an IAM path by {by}: aws-auth never matches it",
            entry.arn,
            f"{entry.describe()} has an IAM path; the authenticator compares path-less ARNs, so this "
            "mapping is dead (drop the path to make it work, or remove it)",
        )
    is_expected, why = _expected(expected, cluster, entry.arn)
    if is_expected:
        headline = (
            f"expected admin {entry.arn} added to {MASTERS_GROUP} by {by}"
            if baseline
            else f"expected admin {entry.arn} is in {MASTERS_GROUP} (first view of aws-auth, change by {by})"
        )
        return Finding(Severity.INFO, headline, entry.arn, f"{entry.describe()}: {why or 'on the expected-admin list'}")
    if baseline:
        headline = f"{entry.arn} added to {MASTERS_GROUP} by {by}"
    else:
        headline = f"{entry.arn} is in {MASTERS_GROUP} (not an expected admin) after a change by {by}"
    return Finding(
        Severity.CRITICAL,
        headline,
        entry.arn,
        f"{entry.describe()}: NOT an expected admin ({why or 'not on the list'}); full cluster admin",
    )


def _expected(expected: ExpectedAdminsLike, cluster: str, principal: str) -> tuple[bool, str | None]:
    """Verdict plus the reason when the checker explains itself (`check()` returning expected/reason)."""
    check = getattr(expected, "check", None)
    if callable(check):
        match = check(cluster, principal)
        reason = getattr(match, "reason", None)
        lookup_error = getattr(match, "lookup_error", None)
        if lookup_error:
            reason = f"{reason}; lookup failed: {lookup_error}"
        return bool(getattr(match, "expected", False)), reason
    return expected.is_expected(cluster, principal), None


def diff_findings(
    diff: AwsAuthDiff, cluster: str, expected: ExpectedAdminsLike, by: str, baseline: bool
) -> list[Finding]:
    """Findings for a semantic diff; `baseline=False` means the whole content was judged (no prior)."""
    findings: list[Finding] = []
    confirmations: list[Finding] = []  # expected admins seen without an earlier state: least interesting
    handled: set[tuple[str, str]] = set()
    added = "added to" if baseline else "present in"
    for entry in diff.masters_entered:
        finding = _masters_finding(entry, cluster, expected, by, baseline)
        (confirmations if finding.severity == Severity.INFO and not baseline else findings).append(finding)
        handled.add(entry.key)
    for entry in diff.node_roles_removed:
        findings.append(
            Finding(
                Severity.CRITICAL,
                f"node role {entry.arn} removed from aws-auth by {by}: its nodes can no longer join or stay Ready",
                entry.arn,
                f"node mapping lost: {entry.describe()}",
            )
        )
        handled.add(entry.key)
    for account in diff.accounts_added:
        findings.append(
            Finding(
                Severity.MEDIUM,
                f"account {account} {added} aws-auth mapAccounts (change by {by})",
                account,
                f"every IAM principal of account {account} can now authenticate "
                "(mapped to its ARN as username, no groups)",
            )
        )
    for entry in diff.added + tuple(c.after for c in diff.changed):
        if entry.key not in handled and has_iam_path(entry.arn):
            findings.append(
                Finding(
                    Severity.MEDIUM,
                    f"{entry.arn} mapped with an IAM path by {by}: aws-auth never matches it",
                    entry.arn,
                    f"{entry.describe()}: dead mapping (role ARNs in aws-auth must not have a path)",
                )
            )
            handled.add(entry.key)
    for entry in diff.node_roles_added:
        if entry.key not in handled:
            findings.append(
                Finding(
                    Severity.INFO,
                    f"node role {entry.arn} {added} aws-auth (change by {by})",
                    entry.arn,
                    f"node mapping: {entry.describe()}",
                )
            )
            handled.add(entry.key)
    for entry in diff.masters_left:
        findings.append(
            Finding(
                Severity.INFO,
                f"{entry.arn} removed from {MASTERS_GROUP} by {by}",
                entry.arn,
                f"left {MASTERS_GROUP}: {entry.describe()}",
            )
        )
        handled.add(entry.key)
    for entry in diff.added:
        if entry.key not in handled:
            groups = ", ".join(entry.groups) or "no groups"
            findings.append(
                Finding(
                    Severity.INFO,
                    f"{entry.arn} {added} aws-auth as {groups} (change by {by})",
                    entry.arn,
                    f"mapped: {entry.describe()}",
                )
            )
    for entry in diff.removed:
        if entry.key not in handled:
            findings.append(
                Finding(
                    Severity.INFO,
                    f"{entry.arn} unmapped from aws-auth by {by}",
                    entry.arn,
                    f"unmapped: {entry.describe()}",
                )
            )
    for change in diff.changed:
        if change.after.key not in handled:
            parts = []
            if change.groups_added:
                parts.append(f"+{', '.join(change.groups_added)}")
            if change.groups_removed:
                parts.append(f"-{', '.join(change.groups_removed)}")
            if change.before.username != change.after.username:
                parts.append(f"username {change.before.username} -> {change.after.username}")
            what = "; ".join(parts) or "spelling changed"
            findings.append(
                Finding(
                    Severity.INFO,
                    f"{change.after.arn} mapping changed by {by} ({what})",
                    change.after.arn,
                    f"changed: {change.after.describe()} ({what})",
                )
            )
    for account in diff.accounts_removed:
        findings.append(
            Finding(
                Severity.INFO,
                f"account {account} removed from aws-auth mapAccounts by {by}",
                account,
                f"mapAccounts no longer lists {account}",
            )
        )
    return findings + confirmations


def _change_findings(
    change: AuditChange,
    cluster: str,
    prior: Prior,
    expected: ExpectedAdminsLike,
    by: str,
    principal_fallback: str | None,
) -> tuple[list[Finding], AwsAuthContent | None]:
    if change.outcome == "deleted":
        lost = prior.content.entries if prior.content else ()
        detail = "; ".join(e.describe() for e in lost) if lost else "earlier content not known"
        return [
            Finding(
                Severity.CRITICAL,
                f"aws-auth deleted by {by}: every IAM principal mapped there "
                "(other than the cluster creator) loses access",
                principal_fallback,
                f"mappings lost: {detail}",
            )
        ], None
    if change.outcome == "unknown":
        return [
            Finding(
                Severity.MEDIUM,
                f"aws-auth {change.verb} by {by}: content unknown "
                f"({change.unknown_reason}); check the audit log stream",
                principal_fallback,
                f"content unknown: {change.unknown_reason}",
            )
        ], None
    if change.outcome == "failed":
        return _attempt_findings(change, cluster, prior, expected, by, principal_fallback), None
    try:
        content = parse_aws_auth(change.data)
    except ParseError as exc:
        return [
            Finding(
                Severity.CRITICAL,
                f"aws-auth {exc.key} is broken after {change.verb} by {by}: "
                f"{exc.reason}; every IAM principal except the cluster creator is locked out",
                principal_fallback,
                f"unparseable {exc.key}: {exc.reason}",
            )
        ], None
    diff = diff_contents(prior.content if prior.known else None, content)
    return diff_findings(diff, cluster, expected, by, baseline=prior.known), content


def _attempt_findings(
    change: AuditChange,
    cluster: str,
    prior: Prior,
    expected: ExpectedAdminsLike,
    by: str,
    principal_fallback: str | None,
) -> list[Finding]:
    status = f"{change.status_code} {change.status_reason or ''}".strip()
    attempted: tuple[MapEntry, ...] = ()
    if change.attempted_data is not None:
        try:
            content = parse_aws_auth(change.attempted_data)
            attempted = diff_contents(prior.content if prior.known else None, content).masters_entered
        except ParseError:
            attempted = ()
    intruders = [e for e in attempted if not expected.is_expected(cluster, e.arn)]
    if intruders:
        return [
            Finding(
                Severity.MEDIUM,
                f"{by} tried to add {e.arn} to {MASTERS_GROUP} (denied: {status})",
                e.arn,
                f"attempted, not applied: {e.describe()}",
            )
            for e in intruders
        ]
    return [
        Finding(
            Severity.INFO,
            f"{by} tried to {change.verb} aws-auth (denied: {status})",
            principal_fallback,
            f"denied {change.verb} ({change.write_form}): {status}",
        )
    ]


def judge_change(
    change: AuditChange,
    cluster: str,
    prior: Prior,
    expected: ExpectedAdminsLike,
    location: LogLocation,
    late: bool = False,
) -> Alert | None:
    """The alert for one decoded audit event, or None when it changed no mapping."""
    actor = alert_actor(change.actor)
    by = actor.display()
    findings, content = _change_findings(change, cluster, prior, expected, by, actor.arn or actor.username)
    if not findings:
        return None
    notes = list(change.notes)
    if prior.note:
        notes.append(prior.note)
    if change.outcome == "changed" and not prior.known:
        notes.append("no earlier aws-auth state known: the whole content was judged")
    if late:
        notes.append("arrived after a newer aws-auth change: judged on its own content, state not changed")
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
    if content is not None:
        masters = ", ".join(e.describe() for e in content.masters()) or "none"
        facts.append(Fact(f"Members of {MASTERS_GROUP} now", masters))
    facts.extend(Fact("Note", n) for n in notes)
    return _alert(
        findings, cluster, change.audit_id or location.log_event_id, actor, location, facts, when=change.stage_timestamp
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
    finding = Finding(
        Severity.MEDIUM,
        f"aws-auth {verb} by {by}: content unknown ({cause}); read the log stream",
        actor.arn or username,
        "truncated audit entry: request and response bodies are not readable"
        if why is None
        else f"unreadable audit entry: {why}",
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
        fields.get("auditID") or location.log_event_id,
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
