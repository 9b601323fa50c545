"""The classification table: one Rule per risk, evaluated on every EKS change.

A rule names the events it looks at, its severity when the call succeeded and when it failed
(an attempt: errorCode present), a predicate and a headline. Every matching rule is a reason;
the alert takes the highest severity. To extend, add a Rule to RULES (order breaks ties: the
first of the highest-severity matches gives the title).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from eksguard import arns
from eksguard.eks_api.change import EksChange
from eksguard.expected_admins import AdminMatch, ExpectedAdmins
from eksguard.findings import Finding
from eksguard.severity import Severity

CREATE_ENTRY = "CreateAccessEntry"
UPDATE_ENTRY = "UpdateAccessEntry"
DELETE_ENTRY = "DeleteAccessEntry"
ASSOCIATE = "AssociateAccessPolicy"
DISASSOCIATE = "DisassociateAccessPolicy"
UPDATE_CONFIG = "UpdateClusterConfig"
CREATE_CLUSTER = "CreateCluster"
DELETE_CLUSTER = "DeleteCluster"

HANDLED_EVENTS = frozenset(
    {CREATE_ENTRY, UPDATE_ENTRY, DELETE_ENTRY, ASSOCIATE, DISASSOCIATE, UPDATE_CONFIG, CREATE_CLUSTER, DELETE_CLUSTER}
)
ENTRY_EVENTS = frozenset({CREATE_ENTRY, UPDATE_ENTRY})
GRANT_EVENTS = frozenset({CREATE_ENTRY, UPDATE_ENTRY, ASSOCIATE})

CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
ADMIN_POLICY = "AmazonEKSAdminPolicy"
ADMIN_POLICIES = frozenset({CLUSTER_ADMIN_POLICY, ADMIN_POLICY})
READ_ONLY_POLICIES = frozenset({"AmazonEKSViewPolicy", "AmazonEKSAdminViewPolicy"})
MASTERS_GROUP = "system:masters"
RESERVED_GROUP_PREFIX = "system:"
AUDIT_LOG = "audit"


@dataclass
class RuleContext:
    """A change plus lazily computed verdicts (the expected-admin check may call AWS)."""

    change: EksChange
    expected_admins: ExpectedAdmins | None = None

    @cached_property
    def principal_match(self) -> AdminMatch:
        return self._match(self.change.principal)

    @cached_property
    def creator_match(self) -> AdminMatch:
        return self._match(self.change.record.actor.arn)

    def _match(self, principal: str | None) -> AdminMatch:
        if self.expected_admins is None:
            return AdminMatch(False, "no expected admin list configured")
        return self.expected_admins.check(self.change.cluster, principal)

    @property
    def principal_expected(self) -> bool:
        return self.principal_match.expected

    # Names used in headlines.
    @property
    def who(self) -> str:
        return self.change.principal or "an unknown principal"

    @property
    def where(self) -> str:
        return self.change.cluster or "an unknown cluster"

    @property
    def creator(self) -> str:
        actor = self.change.record.actor
        return actor.arn or actor.username or "its creator"


@dataclass(frozen=True)
class Rule:
    name: str
    events: frozenset[str]
    severity: Severity
    attempt_severity: Severity
    applies: Callable[[RuleContext], bool]
    headline: Callable[[RuleContext], str]
    why: str
    fallback: bool = False  # only reported when no other rule matched

    def covers(self, event_name: str) -> bool:
        return not self.events or event_name in self.events


# ---------------------------------------------------------------- predicates


def _policy_label(ctx: RuleContext) -> str:
    change = ctx.change
    parts = [change.policy_name or "unknown policy"]
    if change.scope_label:
        parts.append(change.scope_label)
    return ", ".join(parts)


def is_cluster_wide_admin(change: EksChange) -> bool:
    """ClusterAdminPolicy at any scope, or AdminPolicy unless explicitly namespace-scoped."""
    if change.policy_name == CLUSTER_ADMIN_POLICY:
        return True
    return change.policy_name == ADMIN_POLICY and change.scope_type != "namespace"


def _reserved_groups(change: EksChange) -> list[str]:
    return [g for g in change.groups or () if g.startswith(RESERVED_GROUP_PREFIX)]


def _custom_groups(change: EksChange) -> list[str]:
    return [g for g in change.groups or () if not g.startswith(RESERVED_GROUP_PREFIX)]


def _standard_entry(change: EksChange) -> bool:
    return change.entry_type in (None, "STANDARD")


def _cidrs(change: EksChange) -> str:
    return ", ".join(change.public_cidrs or ()) or "no CIDRs given"


def _logs(types: frozenset[str]) -> str:
    return ", ".join(sorted(types))


RULES: tuple[Rule, ...] = (
    # ------------------------------------------------------------ CRITICAL
    Rule(
        name="cluster-admin-unexpected",
        events=frozenset({ASSOCIATE}),
        severity=Severity.CRITICAL,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: is_cluster_wide_admin(c.change) and not c.principal_expected,
        headline=lambda c: f"{c.who} granted cluster admin ({_policy_label(c)})",
        why="Cluster admin can read every secret and rewrite any RBAC binding; this principal is not an "
        "expected admin of this cluster.",
    ),
    Rule(
        name="system-masters-unexpected",
        events=ENTRY_EVENTS,
        severity=Severity.CRITICAL,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: MASTERS_GROUP in (c.change.groups or ()) and not c.principal_expected,
        headline=lambda c: f"{c.who} added to {MASTERS_GROUP}",
        why="system:masters bypasses RBAC entirely; this principal is not an expected admin of this cluster.",
    ),
    # ------------------------------------------------------------ HIGH
    Rule(
        name="reserved-group",
        events=ENTRY_EVENTS,
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: bool(_reserved_groups(c.change)),
        headline=lambda c: f"{c.who} given reserved Kubernetes group(s) {', '.join(_reserved_groups(c.change))}",
        why="EKS rejects system: groups in access entries; trying one is a typical privilege-escalation probe.",
    ),
    Rule(
        name="audit-logging-disabled",
        events=frozenset({UPDATE_CONFIG}),
        severity=Severity.HIGH,
        attempt_severity=Severity.INFO,
        applies=lambda c: AUDIT_LOG in c.change.logs_disabled,
        headline=lambda c: f"audit logging disabled on {c.where} ({_logs(c.change.logs_disabled)} off)",
        why="Without the audit log, aws-auth edits and every kubectl action on the cluster go unrecorded.",
    ),
    Rule(
        name="endpoint-public-to-world",
        events=frozenset({UPDATE_CONFIG}),
        severity=Severity.HIGH,
        attempt_severity=Severity.INFO,
        applies=lambda c: c.change.endpoint_public is True and c.change.open_to_world,
        headline=lambda c: f"API endpoint of {c.where} made public to {_cidrs(c.change)}",
        why="The Kubernetes API becomes reachable from the whole internet; only credentials protect it.",
    ),
    Rule(
        name="authentication-mode-changed",
        events=frozenset({UPDATE_CONFIG}),
        severity=Severity.HIGH,
        attempt_severity=Severity.INFO,
        applies=lambda c: bool(c.change.auth_mode),
        headline=lambda c: f"authentication mode of {c.where} changed to {c.change.auth_mode}",
        why="The authentication mode decides whether aws-auth, access entries or both grant access; the "
        "change is one-way.",
    ),
    Rule(
        name="new-cluster-public",
        events=frozenset({CREATE_CLUSTER}),
        severity=Severity.HIGH,
        attempt_severity=Severity.INFO,
        applies=lambda c: c.change.endpoint_public is True and c.change.open_to_world,
        headline=lambda c: f"new cluster {c.where} with API endpoint public to {_cidrs(c.change)}",
        why="A new cluster is public to 0.0.0.0/0 unless told otherwise.",
    ),
    Rule(
        name="new-cluster-without-audit-log",
        events=frozenset({CREATE_CLUSTER}),
        severity=Severity.HIGH,
        attempt_severity=Severity.INFO,
        applies=lambda c: bool(c.change.record.request) and AUDIT_LOG not in c.change.logs_enabled,
        headline=lambda c: f"new cluster {c.where} without audit logging",
        why="Control-plane logging is off by default; aws-auth edits on this cluster will not be detected.",
    ),
    Rule(
        name="new-cluster-creator-admin",
        events=frozenset({CREATE_CLUSTER}),
        severity=Severity.HIGH,
        attempt_severity=Severity.INFO,
        applies=lambda c: c.change.bootstrap_admin is True and not c.creator_match.expected,
        headline=lambda c: f"new cluster {c.where} makes its creator {c.creator} cluster admin",
        why="bootstrapClusterCreatorAdminPermissions gives the creating principal permanent cluster admin.",
    ),
    # ------------------------------------------------------------ MEDIUM
    Rule(
        name="namespace-admin",
        events=frozenset({ASSOCIATE}),
        severity=Severity.MEDIUM,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: (
            c.change.policy_name == ADMIN_POLICY and c.change.scope_type == "namespace" and not c.principal_expected
        ),
        headline=lambda c: f"{c.who} granted namespace admin ({_policy_label(c)})",
        why="Namespace admin can read the namespace's secrets and bind roles inside it.",
    ),
    Rule(
        name="custom-kubernetes-groups",
        events=ENTRY_EVENTS,
        severity=Severity.MEDIUM,
        attempt_severity=Severity.INFO,
        applies=lambda c: bool(_custom_groups(c.change)) and _standard_entry(c.change) and not c.principal_expected,
        headline=lambda c: f"{c.who} mapped to custom Kubernetes group(s) {', '.join(_custom_groups(c.change))}",
        why="What these groups may do depends on RBAC bindings inside the cluster, which CloudTrail does not show.",
    ),
    Rule(
        name="endpoint-maybe-public-to-world",
        events=frozenset({UPDATE_CONFIG}),
        severity=Severity.MEDIUM,
        attempt_severity=Severity.INFO,
        applies=lambda c: (
            (c.change.endpoint_public is True and c.change.public_cidrs is None)
            or (c.change.endpoint_public is None and c.change.open_to_world)
        ),
        headline=lambda c: (
            f"API endpoint of {c.where} made public (allowed CIDRs not in the request)"
            if c.change.endpoint_public
            else f"public access CIDRs of {c.where} opened to {_cidrs(c.change)}"
        ),
        why="The endpoint may now be reachable from the whole internet; check the cluster's networking settings.",
    ),
    Rule(
        name="cross-account-principal",
        events=GRANT_EVENTS,
        severity=Severity.MEDIUM,
        attempt_severity=Severity.INFO,
        applies=lambda c: c.change.cross_account and not c.principal_expected,
        headline=lambda c: f"{c.who} from account {arns.account_of(c.change.principal)} given access to {c.where}",
        why="A principal of another account is managed outside this account's IAM.",
    ),
    # ------------------------------------------------------------ INFO
    Rule(
        name="admin-to-expected-admin",
        events=frozenset({ASSOCIATE}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: c.change.policy_name in ADMIN_POLICIES and c.principal_expected,
        headline=lambda c: f"expected admin {c.who} granted admin ({_policy_label(c)})",
        why="The principal is an expected admin of this cluster.",
    ),
    Rule(
        name="read-only-policy",
        events=frozenset({ASSOCIATE}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: c.change.policy_name in READ_ONLY_POLICIES,
        headline=lambda c: f"{c.who} granted read-only {_policy_label(c)}",
        why="Read-only access policy.",
    ),
    Rule(
        name="policy-associated",
        events=frozenset({ASSOCIATE}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: True,
        headline=lambda c: f"{c.who} granted {_policy_label(c)}",
        why="Access policy associated.",
        fallback=True,
    ),
    Rule(
        name="access-entry-created",
        events=frozenset({CREATE_ENTRY}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: True,
        headline=lambda c: f"access entry ({c.change.entry_type or 'STANDARD'}) created for {c.who} on {c.where}",
        why="An access entry alone grants no Kubernetes permission until a policy or group is attached.",
        fallback=True,
    ),
    Rule(
        name="access-entry-updated",
        events=frozenset({UPDATE_ENTRY}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: True,
        headline=lambda c: f"access entry of {c.who} updated on {c.where}",
        why="Access entry updated.",
        fallback=True,
    ),
    Rule(
        name="access-entry-deleted",
        events=frozenset({DELETE_ENTRY}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: True,
        headline=lambda c: f"access entry of {c.who} deleted from {c.where}",
        why="Access removed.",
    ),
    Rule(
        name="policy-disassociated",
        events=frozenset({DISASSOCIATE}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: True,
        headline=lambda c: f"{c.change.policy_name or 'access policy'} removed from {c.who} on {c.where}",
        why="Access removed.",
    ),
    Rule(
        name="endpoint-made-private",
        events=frozenset({UPDATE_CONFIG}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: c.change.endpoint_public is False,
        headline=lambda c: f"API endpoint of {c.where} made private",
        why="Hardening: the Kubernetes API is no longer reachable from the internet.",
    ),
    Rule(
        name="endpoint-public-restricted",
        events=frozenset({UPDATE_CONFIG}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: (
            c.change.endpoint_public is not False and bool(c.change.public_cidrs) and not c.change.open_to_world
        ),
        headline=lambda c: f"public API endpoint of {c.where} restricted to {_cidrs(c.change)}",
        why="Public endpoint limited to listed CIDRs.",
    ),
    Rule(
        name="logging-enabled",
        events=frozenset({UPDATE_CONFIG}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: bool(c.change.logs_enabled),
        headline=lambda c: f"control-plane logging enabled on {c.where} ({_logs(c.change.logs_enabled)})",
        why="Hardening: control-plane logs enabled.",
    ),
    Rule(
        name="other-logs-disabled",
        events=frozenset({UPDATE_CONFIG}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: bool(c.change.logs_disabled - {AUDIT_LOG}),
        headline=lambda c: (
            f"control-plane log types disabled on {c.where} ({_logs(c.change.logs_disabled - {AUDIT_LOG})})"
        ),
        why="Some non-audit control-plane logs turned off.",
    ),
    Rule(
        name="cluster-config-updated",
        events=frozenset({UPDATE_CONFIG}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: True,
        headline=lambda c: f"configuration of {c.where} updated",
        why="No access-related setting in this update.",
        fallback=True,
    ),
    Rule(
        name="new-cluster-creator-admin-expected",
        events=frozenset({CREATE_CLUSTER}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: c.change.bootstrap_admin is True and c.creator_match.expected,
        headline=lambda c: f"new cluster {c.where} makes its creator {c.creator} (expected admin) cluster admin",
        why="The creator is an expected admin of this cluster.",
    ),
    Rule(
        name="cluster-created",
        events=frozenset({CREATE_CLUSTER}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: True,
        headline=lambda c: f"cluster {c.where} created",
        why="New cluster: private endpoint or restricted CIDRs, audit log on, no creator bootstrap.",
        fallback=True,
    ),
    Rule(
        name="cluster-deleted",
        events=frozenset({DELETE_CLUSTER}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: True,
        headline=lambda c: f"cluster {c.where} deleted",
        why="Cluster deleted.",
    ),
    Rule(
        name="unhandled-event",
        events=frozenset(),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: c.change.event_name not in HANDLED_EVENTS,
        headline=lambda c: f"EKS call {c.change.event_name} on {c.where}",
        why="An EKS call this detector does not classify; shown for awareness.",
        fallback=True,
    ),
)


def evaluate(ctx: RuleContext, rules: tuple[Rule, ...] = RULES) -> list[Finding]:
    """Every matching rule as a Finding, highest severity first (table order breaks ties).

    A rule that cannot be evaluated (an unexpected field shape) becomes a MEDIUM finding rather
    than a crash, so the event is still reported and the gap is visible.
    """
    change = ctx.change
    matched: list[Finding] = []
    fallbacks: list[Finding] = []
    for rule in rules:
        if not rule.covers(change.event_name):
            continue
        severity = rule.attempt_severity if change.failed else rule.severity
        try:
            if not rule.applies(ctx):
                continue
            finding = Finding(rule.name, severity, rule.headline(ctx), rule.why, ctx.change.principal)
        except Exception as exc:  # a malformed field must not hide the event
            finding = Finding(
                rule.name,
                Severity.MEDIUM,
                f"rule {rule.name} could not evaluate {change.event_name} ({type(exc).__name__}: {exc})",
                "The record has an unexpected shape; check the CloudTrail event by hand.",
            )
        (fallbacks if rule.fallback else matched).append(finding)
    # sorted() is stable, so table order breaks ties between equal severities.
    return sorted(matched or fallbacks[:1], key=lambda f: -f.severity)
