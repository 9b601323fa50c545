"""Turn one CloudTrail record into one Alert (or none): extract, evaluate the rule table, describe.

Pure apart from the lookups, which are injected (tests pass static answers; the handler passes
the cached, bounded AWS-backed ones). A call about an instance or IAM role that is neither a
kubectl instance nor an admin role gives no alert: `Assessment.alert` is None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eksguard import arns
from eksguard.alerts import Alert, Fact, SourceRef, alert_id, utc_now_iso
from eksguard.console import cloudtrail_event_url
from eksguard.eks_api.change import ApiChange, extract
from eksguard.eks_api.context import RuleContext
from eksguard.eks_api.lookups import Lookups
from eksguard.eks_api.record import CloudTrailRecord, parse_event
from eksguard.eks_api.rules import CREATE_CLUSTER, GRANT_EVENTS, QUIET_EVENTS, evaluate
from eksguard.expected_admins import AdminMatch
from eksguard.findings import Finding
from eksguard.severity import Severity

ALERT_KIND = "eks-api"


@dataclass(frozen=True)
class Assessment:
    """The alert (None: nothing eksguard watches) plus what led to it (for logs and metrics)."""

    alert: Alert | None
    findings: tuple[Finding, ...]
    lookup_error: str | None = None
    change: ApiChange | None = None

    @property
    def severity(self) -> Severity | None:
        return self.alert.severity if self.alert else None


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


def _join(values: tuple[str, ...] | list[str] | None) -> str | None:
    return ", ".join(values) if values else None


def _eks_rows(change: ApiChange) -> list[tuple[str, str | None]]:
    rows: list[tuple[str, str | None]] = [
        ("Access entry type", change.entry_type),
        ("Kubernetes groups", None if change.groups is None else (", ".join(change.groups) or "none")),
        ("Kubernetes username", change.username),
        ("Policy", change.policy_arn),
        ("Scope", change.scope_label),
        ("Endpoint public access", _yes_no(change.endpoint_public)),
        ("Endpoint private access", _yes_no(change.endpoint_private)),
        ("Public access CIDRs", _join(change.public_cidrs)),
        ("Logging enabled", _join(sorted(change.logs_enabled))),
        ("Logging disabled", _join(sorted(change.logs_disabled))),
        ("Authentication mode", change.auth_mode),
        ("Creator bootstrapped as admin", _yes_no(change.bootstrap_admin)),
    ]
    idp = change.identity_provider
    if idp is not None:
        rows += [
            ("Identity provider", idp.name),
            ("Issuer URL", idp.issuer_url),
            ("Client ID", idp.client_id),
            ("Username claim", f"{idp.username_claim or '?'} (prefix {idp.username_prefix or 'none'})"),
            ("Groups claim", f"{idp.groups_claim or 'none'} (prefix {idp.groups_prefix or 'none'})"),
        ]
    if change.pod_roles:
        rows.append(("Roles handed out", "\n".join(f"{p.role_arn} to {p.subject}" for p in change.pod_roles)))
    rows.append(("Association", change.association_id))
    return rows


def _other_rows(change: ApiChange, ctx: RuleContext) -> list[tuple[str, str | None]]:
    rows: list[tuple[str, str | None]] = []
    blinding = change.blinding
    if blinding is not None:
        rows += [
            ("Trail", blinding.trail),
            ("Coverage lost", _join(blinding.coverage_lost)),
            ("Delivery changed", _join(blinding.delivery_moved)),
            (
                "Management writes no longer logged for",
                None if blinding.unlogged_sources is None else (_join(blinding.unlogged_sources) or "none"),
            ),
            ("Log group", blinding.log_group),
            ("Subscription filter", blinding.filter_name),
            ("Filter pattern", blinding.filter_pattern),
            ("Filter destination", blinding.destination_arn),
        ]
    hosts = change.hosts
    if hosts is not None:
        rows += [
            ("Instances named", _join(hosts.instance_ids)),
            ("Kubectl instances reached", _join([h.label for h in ctx.targets]) if ctx.change.hosts else None),
            ("Tag targets", _join([f"{k}={','.join(v)}" for k, v in hosts.tag_targets])),
            ("Every instance targeted", "yes" if hosts.all_instances else None),
            ("Unresolved targets", _join(hosts.opaque_targets)),
            ("Document", hosts.document),
            ("Session", hosts.session_id),
            ("OS user", hosts.os_user),
            ("Attributes changed", _join(hosts.attributes)),
            ("Instance profiles", _join(hosts.profiles)),
            ("Tags", _join([f"{k}={v or ''}" for k, v in hosts.tags]) or ("every tag" if hosts.all_tags else None)),
            ("IAM role", hosts.role_name),
            ("IAM policy", hosts.policy),
            ("Instance profile", hosts.profile_name),
        ]
        if "_targets" in ctx.__dict__ and ctx.target_doubt:
            rows.append(("Target lookup", ctx.target_doubt))
    if "_rbac_doors" in ctx.__dict__:
        rows += [("Admin through RBAC", "\n".join(f"{door}: {how}" for door, how in ctx.rbac_doors) or None)]
        rows += [("RBAC lookup", ctx.rbac_error)]
    return rows


def _facts(change: ApiChange, ctx: RuleContext, findings: list[Finding]) -> tuple[Fact, ...]:
    record = change.record
    rows: list[tuple[str, str | None]] = [
        ("Event", f"{record.event_name} ({record.event_source})"),
        ("Cluster", ctx.cluster),
        ("Principal", change.principal),
    ]
    if change.principal_as_sent and change.principal_as_sent != change.principal:
        rows.append(("Principal as sent", change.principal_as_sent))
    rows += _eks_rows(change) + _other_rows(change, ctx)
    lookup_error = _lookup_error(ctx)
    if "principal_match" in ctx.__dict__:
        rows.append(("Expected admin", _match_text(ctx.principal_match)))
    if "creator_match" in ctx.__dict__:
        rows.append(("Creator is expected admin", _match_text(ctx.creator_match)))
    if lookup_error:
        rows.append(("Expected-admin lookup", f"failed ({lookup_error}); principal treated as not expected"))
    if ctx.lookups.hours_error and change.event_name in ("StartSession", "ResumeSession"):
        rows.append(("Working hours", ctx.lookups.hours_error))
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


def _alert_principal(change: ApiChange, ctx: RuleContext) -> str | None:
    """The principal the alert is about: the one granted, the role changed or handed out, else the actor."""
    if change.principal:
        return change.principal
    if "changed_role" in ctx.__dict__ and ctx.changed_role is not None:
        return ctx.changed_role.role
    if change.pod_roles:
        return change.pod_roles[0].role_arn
    return change.record.actor.arn


def assess(record: CloudTrailRecord, lookups: Lookups | None = None) -> Assessment:
    change = extract(record)
    ctx = RuleContext(change, lookups or Lookups())
    # Always show the expected-admin verdict for grants and bootstrapped creators.
    if record.event_name in GRANT_EVENTS and change.principal:
        _ = ctx.principal_match
    if record.event_name == CREATE_CLUSTER and change.bootstrap_admin:
        _ = ctx.creator_match
    findings = evaluate(ctx)
    if not findings:
        if record.event_name in QUIET_EVENTS:
            return Assessment(alert=None, findings=(), lookup_error=_lookup_error(ctx), change=change)
        findings = [Finding("unclassified", Severity.INFO, f"call {record.event_name} on {ctx.where}", "Unclassified.")]
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
        cluster=ctx.cluster,
        principal=_alert_principal(change, ctx),
        actor=record.actor,
        account=record.account,
        region=record.region,
        time=record.event_time or utc_now_iso(),
        summary=top.detail,
        facts=_facts(change, ctx, findings),
        source=SourceRef(
            kind="cloudtrail",
            description=f"CloudTrail event {record.event_id or 'without eventID'}",
            url=cloudtrail_event_url(record.region, record.event_id),
        ),
    )
    return Assessment(alert=alert, findings=tuple(findings), lookup_error=_lookup_error(ctx), change=change)


def classify(record: CloudTrailRecord, lookups: Lookups | None = None) -> Alert | None:
    return assess(record, lookups).alert


def assess_event(event: Mapping[str, Any] | Any, lookups: Lookups | None = None) -> Assessment:
    """Parse an EventBridge CloudTrail event and assess it (MalformedEventError if it is not one)."""
    return assess(parse_event(event), lookups)


def alert_for_event(event: Mapping[str, Any] | Any, lookups: Lookups | None = None) -> Alert | None:
    return assess_event(event, lookups).alert
