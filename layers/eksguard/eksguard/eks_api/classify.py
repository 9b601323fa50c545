"""Turn one CloudTrail EKS record into one Alert: extract, evaluate the rule table, describe.

Pure apart from the expected-admin check, which is injected (tests pass an ExpectedAdmins with
a stub instance-role lookup; the handler passes the cached, AWS-backed one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eksguard import arns
from eksguard.alerts import Alert, Fact, SourceRef, alert_id, utc_now_iso
from eksguard.eks_api.change import EksChange, extract
from eksguard.eks_api.record import CloudTrailRecord, parse_event
from eksguard.eks_api.rules import CREATE_CLUSTER, GRANT_EVENTS, RuleContext, evaluate
from eksguard.expected_admins import AdminMatch, ExpectedAdmins
from eksguard.findings import Finding
from eksguard.severity import Severity

ALERT_KIND = "eks-api"


@dataclass(frozen=True)
class Assessment:
    """The alert plus what led to it (for logs and metrics)."""

    alert: Alert
    findings: tuple[Finding, ...]
    lookup_error: str | None = None
    change: EksChange | None = None

    @property
    def severity(self) -> Severity:
        return self.alert.severity


def cloudtrail_console_url(region: str | None, event_id: str | None) -> str | None:
    if not region or not event_id:
        return None
    return f"https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}#/events/{event_id}"


def actor_label(record: CloudTrailRecord) -> str:
    """`role/Ops (session alice)`; the full ARN when the actor lives in another account."""
    actor = record.actor
    if actor.arn:
        foreign = arns.account_of(actor.arn) not in (None, record.account)
        who = actor.arn if foreign else arns.short_name(actor.arn)
    else:
        who = actor.username or "unknown actor"
    return f"{who} (session {actor.session_name})" if actor.session_name else who


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


def _match_text(match: AdminMatch) -> str:
    return f"{'yes' if match.expected else 'no'}: {match.reason}"


def _facts(change: EksChange, ctx: RuleContext, findings: list[Finding]) -> tuple[Fact, ...]:
    record = change.record
    rows: list[tuple[str, str | None]] = [
        ("Event", record.event_name),
        ("Cluster", change.cluster),
        ("Principal", change.principal),
    ]
    if change.principal_as_sent and change.principal_as_sent != change.principal:
        rows.append(("Principal as sent", change.principal_as_sent))
    rows += [
        ("Access entry type", change.entry_type),
        ("Kubernetes groups", None if change.groups is None else (", ".join(change.groups) or "none")),
        ("Kubernetes username", change.username),
        ("Policy", change.policy_arn),
        ("Scope", change.scope_label),
        ("Endpoint public access", _yes_no(change.endpoint_public)),
        ("Endpoint private access", _yes_no(change.endpoint_private)),
        ("Public access CIDRs", ", ".join(change.public_cidrs) if change.public_cidrs else None),
        ("Logging enabled", ", ".join(sorted(change.logs_enabled)) or None),
        ("Logging disabled", ", ".join(sorted(change.logs_disabled)) or None),
        ("Authentication mode", change.auth_mode),
        ("Creator bootstrapped as admin", _yes_no(change.bootstrap_admin)),
    ]
    lookup_error = _lookup_error(ctx)
    if "principal_match" in ctx.__dict__:
        rows.append(("Expected admin", _match_text(ctx.principal_match)))
    if "creator_match" in ctx.__dict__:
        rows.append(("Creator is expected admin", _match_text(ctx.creator_match)))
    if lookup_error:
        rows.append(("Expected-admin lookup", f"failed ({lookup_error}); principal treated as not expected"))
    if record.error_code:
        rows.append(
            ("Error", f"{record.error_code}: {record.error_message}" if record.error_message else record.error_code)
        )
    rows.append(("Reasons", "\n".join(f"{f.severity.name}: {f.headline}" for f in findings)))
    return tuple(Fact(label, value) for label, value in rows if value)


def _lookup_error(ctx: RuleContext) -> str | None:
    for name in ("principal_match", "creator_match"):
        match = ctx.__dict__.get(name)
        if isinstance(match, AdminMatch) and match.lookup_error:
            return match.lookup_error
    return None


def assess(record: CloudTrailRecord, expected_admins: ExpectedAdmins | None = None) -> Assessment:
    change = extract(record)
    ctx = RuleContext(change, expected_admins)
    # Always show the expected-admin verdict for grants and bootstrapped creators.
    if record.event_name in GRANT_EVENTS and change.principal:
        _ = ctx.principal_match
    if record.event_name == CREATE_CLUSTER and change.bootstrap_admin:
        _ = ctx.creator_match
    findings = evaluate(ctx) or [
        Finding("unclassified", Severity.INFO, f"EKS call {record.event_name} on {ctx.where}", "Unclassified call.")
    ]
    top = findings[0]
    title = f"{top.headline} by {actor_label(record)}"
    if record.failed:
        title = f"{record.event_name} failed ({record.error_code}): {title}"
    stable = record.event_id or record.eventbridge_id or record.raw_digest
    alert = Alert(
        id=alert_id(ALERT_KIND, stable),
        kind=ALERT_KIND,
        severity=top.severity,
        title=title,
        cluster=change.cluster,
        principal=change.principal or record.actor.arn,
        actor=record.actor,
        account=record.account,
        region=record.region,
        time=record.event_time or utc_now_iso(),
        summary=top.detail,
        facts=_facts(change, ctx, findings),
        source=SourceRef(
            kind="cloudtrail",
            description=f"CloudTrail event {record.event_id or 'without eventID'}",
            url=cloudtrail_console_url(record.region, record.event_id),
        ),
    )
    return Assessment(alert=alert, findings=tuple(findings), lookup_error=_lookup_error(ctx), change=change)


def classify(record: CloudTrailRecord, expected_admins: ExpectedAdmins | None = None) -> Alert:
    return assess(record, expected_admins).alert


def assess_event(event: Mapping[str, Any] | Any, expected_admins: ExpectedAdmins | None = None) -> Assessment:
    """Parse an EventBridge CloudTrail event and assess it (MalformedEventError if it is not one)."""
    return assess(parse_event(event), expected_admins)


def alert_for_event(event: Mapping[str, Any] | Any, expected_admins: ExpectedAdmins | None = None) -> Alert:
    return assess_event(event, expected_admins).alert
