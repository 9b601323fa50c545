"""The evidence of an audit-log finding, shared by the aws-auth and RBAC judges: where the line lives,
who made the request, and the alert built from a judge's findings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from eksguard import accounts
from eksguard.alerts import Actor, Alert, Fact, SourceRef, alert_id, utc_now_iso
from eksguard.arns import principal_arn, session_name_of
from eksguard.audit_log.request import AuditUser
from eksguard.console import log_stream_url
from eksguard.findings import Finding

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


def truncated_actor(fields: Mapping[str, str | None]) -> Actor:
    """The actor as far as a truncated line shows it."""
    username = fields.get("username")
    arn = fields.get("arn") or (username if username and username.startswith("arn:") else None)
    return Actor(
        arn=principal_arn(arn) if arn else None,
        session_name=fields.get("sessionName") or session_name_of(arn),
        username=username,
        source_ip=fields.get("sourceIP"),
        user_agent=fields.get("userAgent"),
    )


def truncated_facts(fields: Mapping[str, str | None], location: LogLocation, why: str | None, by: str) -> list[Fact]:
    """The facts an entry that could not be decoded still shows."""
    facts = [
        Fact("Change", fields.get("verb") or "write"),
        Fact("Actor", by),
        Fact("Kubernetes user", fields.get("username") or "unknown"),
        Fact("Source IP", fields.get("sourceIP") or "unknown"),
        Fact("User agent", fields.get("userAgent") or "unknown"),
        Fact("Status", fields.get("code") or "unknown"),
        Fact("Audit ID", fields.get("auditID") or "unknown"),
        Fact("Request URI", fields.get("requestURI") or "unknown"),
        Fact("Log event", location.log_event_id or "unknown"),
    ]
    if why is not None:
        facts.append(Fact("Why unknown", why))
    return facts


def build_alert(
    kind: str,
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
        # `prod` of a spoke is not `prod` of the hub: their alerts (a day's state-full alert too) never share an id
        id=alert_id(kind, accounts.cluster_key(cluster, location.account), identity),
        kind=kind,
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
