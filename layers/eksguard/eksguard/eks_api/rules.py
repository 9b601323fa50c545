"""The classification table: one Rule per risk, evaluated on every CloudTrail call eksguard receives.

A rule names the events it looks at, its severity when the call succeeded and when it failed
(an attempt: errorCode present, a dry run included), a predicate and a headline. Every
matching rule is a reason; the alert takes the highest severity. To extend, add a Rule to
RULES (order breaks ties: the first of the highest-severity matches gives the title). The
EventBridge rules of template.yaml route exactly `ROUTED` (a test reads the template).

Calls about instances and IAM roles (`QUIET_EVENTS`) are only reported when they touch a
kubectl instance or a role with admin power: the same calls on any other instance are routine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from eksguard import accounts, arns
from eksguard.access_entries import default_username
from eksguard.eks_api.blinding import ACCOUNT_LOG_EVENTS, LOG_EVENTS, TRAIL_EVENTS
from eksguard.eks_api.change import ApiChange
from eksguard.eks_api.context import RoleVerdict, RuleContext
from eksguard.eks_api.host_change import (
    DISK_EVENTS,
    EC2_EVENTS,
    IMDS_HOSTS,
    LAUNCH_EVENTS,
    PROFILE_EVENTS,
    ROLE_EVENTS,
    SSH_KEY_EVENTS,
    SSM_COMMAND_EVENTS,
    SSM_SESSION_EVENTS,
)
from eksguard.eks_api.self_watch import (
    FUNCTION_EVENTS,
    OWN_FUNCTIONS,
    QUEUE_EVENTS,
    RULE_EVENTS,
    SECRET_EVENTS,
    SELF_EVENTS,
    STACK_EVENTS,
    is_eksguards,
    is_own_name,
    via_cloudformation,
)
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
IDP_ASSOCIATE = "AssociateIdentityProviderConfig"
IDP_DISASSOCIATE = "DisassociateIdentityProviderConfig"
POD_IDENTITY_EVENTS = frozenset({"CreatePodIdentityAssociation", "UpdatePodIdentityAssociation"})
POD_ROLE_EVENTS = POD_IDENTITY_EVENTS | {"CreateAddon", "UpdateAddon", "CreateNodegroup"}
# Calls that may hand a role to pods or nodes (cluster calls: the EKS Auto Mode node role).
ROLE_HANDING_EVENTS = POD_ROLE_EVENTS | {"CreateCluster", "UpdateClusterConfig"}

ENTRY_EVENTS = frozenset({CREATE_ENTRY, UPDATE_ENTRY})
GRANT_EVENTS = frozenset({CREATE_ENTRY, UPDATE_ENTRY, ASSOCIATE})
EKS_EVENTS = (
    frozenset(
        {
            CREATE_ENTRY,
            UPDATE_ENTRY,
            DELETE_ENTRY,
            ASSOCIATE,
            DISASSOCIATE,
            UPDATE_CONFIG,
            CREATE_CLUSTER,
            DELETE_CLUSTER,
            IDP_ASSOCIATE,
            IDP_DISASSOCIATE,
        }
    )
    | POD_ROLE_EVENTS
)
SSM_EVENTS = SSM_SESSION_EVENTS | SSM_COMMAND_EVENTS
# EventBridge source -> event names routed to the detector (template.yaml must say the same).
ROUTED: dict[str, frozenset[str]] = {
    "aws.eks": EKS_EVENTS,
    "aws.cloudtrail": TRAIL_EVENTS,
    "aws.logs": LOG_EVENTS | ACCOUNT_LOG_EVENTS,
    "aws.ssm": SSM_EVENTS,
    "aws.ec2-instance-connect": SSH_KEY_EVENTS,
    "aws.ec2": EC2_EVENTS,
    "aws.iam": ROLE_EVENTS,
    "aws.events": RULE_EVENTS,
    "aws.lambda": FUNCTION_EVENTS,
    "aws.sqs": QUEUE_EVENTS,
    "aws.secretsmanager": SECRET_EVENTS,
    "aws.cloudformation": STACK_EVENTS,
}
HANDLED_EVENTS = frozenset(name for names in ROUTED.values() for name in names)
QUIET_EVENTS = SSM_EVENTS | SSH_KEY_EVENTS | EC2_EVENTS | ROLE_EVENTS | SELF_EVENTS

CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
ADMIN_POLICY = "AmazonEKSAdminPolicy"
EDIT_POLICY = "AmazonEKSEditPolicy"
ADMIN_VIEW_POLICY = "AmazonEKSAdminViewPolicy"
VIEW_POLICY = "AmazonEKSViewPolicy"
ADMIN_POLICIES = frozenset({CLUSTER_ADMIN_POLICY, ADMIN_POLICY})
MASTERS_GROUP = "system:masters"
RESERVED_GROUP_PREFIX = "system:"
KUBE_SYSTEM = "kube-system"
AUDIT_LOG = "audit"


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
    # A rule whose severity depends on the context (working hours, a doubt) returns it here.
    rate: Callable[[RuleContext, Severity], Severity] | None = None

    def covers(self, event_name: str) -> bool:
        return not self.events or event_name in self.events


# ---------------------------------------------------------------- predicates


def _policy_label(ctx: RuleContext) -> str:
    change = ctx.change
    parts = [change.policy_name or "unknown policy"]
    if change.scope_label:
        parts.append(change.scope_label)
    return ", ".join(parts)


def _namespaced(change: ApiChange) -> bool:
    return change.scope_type == "namespace"


def is_cluster_wide_admin(change: ApiChange) -> bool:
    """ClusterAdminPolicy at any scope, or AdminPolicy unless explicitly namespace-scoped."""
    if change.policy_name == CLUSTER_ADMIN_POLICY:
        return True
    return change.policy_name == ADMIN_POLICY and not _namespaced(change)


def reaches_kube_system(change: ApiChange) -> bool:
    """A namespace scope reaching kube-system: EKS accepts a trailing `*` in scope namespaces."""
    return any(fnmatchcase(KUBE_SYSTEM, pattern) for pattern in change.namespaces)


def _scoped_policy(
    change: ApiChange, policies: frozenset[str], *, namespaced: bool, kube_system: bool | None = None
) -> bool:
    if change.policy_name not in policies or _namespaced(change) is not namespaced:
        return False
    return kube_system is None or reaches_kube_system(change) is kube_system


def _grant(policies: frozenset[str], *, namespaced: bool, kube_system: bool | None = None) -> Callable[..., bool]:
    """A grant of one of `policies` at that scope to a principal that is not expected.

    The role of a tagged-but-unconfigured kubectl instance is left to `kubectl-role-not-configured`
    for the admin-equivalent grants only; every other grant is judged as for anyone.
    """

    def applies(ctx: RuleContext) -> bool:
        if not _scoped_policy(ctx.change, policies, namespaced=namespaced, kube_system=kube_system):
            return False
        if ctx.principal_expected:
            return False
        return not (ctx.principal_match.unconfigured_kubectl_role and is_admin_equivalent(ctx.change))

    return applies


def is_admin_equivalent(change: ApiChange) -> bool:
    """Cluster admin, or a path to it: admin policies cluster-wide, Admin/Edit on kube-system, system:masters."""
    kube_system_write = _scoped_policy(
        change, frozenset({ADMIN_POLICY, EDIT_POLICY}), namespaced=True, kube_system=True
    )
    return is_cluster_wide_admin(change) or kube_system_write or MASTERS_GROUP in (change.groups or ())


def _unconfigured_kubectl_admin(ctx: RuleContext) -> bool:
    change = ctx.change
    return is_admin_equivalent(change) and not ctx.principal_expected and ctx.principal_match.unconfigured_kubectl_role


def _other_cluster_kubectl_role(ctx: RuleContext) -> bool:
    hosts = ctx.principal_hosts
    return bool(hosts) and ctx.change.cluster not in {h.cluster for h in hosts}


def _kubectl_clusters(ctx: RuleContext) -> str:
    return ", ".join(sorted({h.cluster or "an unnamed cluster" for h in ctx.principal_hosts}))


def _reserved_groups(change: ApiChange) -> list[str]:
    return [g for g in change.groups or () if g.startswith(RESERVED_GROUP_PREFIX)]


def _custom_groups(change: ApiChange) -> list[str]:
    return [g for g in change.groups or () if not g.startswith(RESERVED_GROUP_PREFIX)]


def _unknown_policy(ctx: RuleContext) -> bool:
    known = {CLUSTER_ADMIN_POLICY, ADMIN_POLICY, EDIT_POLICY, ADMIN_VIEW_POLICY, VIEW_POLICY}
    return ctx.change.policy_name not in known and not ctx.principal_expected


def _custom_username(change: ApiChange) -> str | None:
    """A user name other than the one EKS gives by default: RBAC may bind it to anything."""
    if not change.username or not change.principal_as_sent:
        return None
    default = default_username(change.principal_as_sent)
    return None if change.username in (default, default_username(change.principal or "")) else change.username


def _standard_entry(change: ApiChange) -> bool:
    return change.entry_type in (None, "STANDARD")


def _cidrs(change: ApiChange) -> str:
    return ", ".join(change.public_cidrs or ()) or "no CIDRs given"


def _logs(types: frozenset[str]) -> str:
    return ", ".join(sorted(types))


def _idp_label(ctx: RuleContext) -> str:
    idp = ctx.change.identity_provider
    if idp is None:
        return "an identity provider"
    parts = [f"{idp.name or '?'} (issuer {idp.issuer_url or '?'}"]
    parts.append(f"groups claim {idp.groups_claim or 'none'}")
    if idp.groups_claim:
        parts.append(f"groups prefix {idp.groups_prefix or 'none: any group name, system: ones included'}")
    return ", ".join(parts) + ")"


def _powerful(verdicts: tuple[RoleVerdict, ...]) -> list[RoleVerdict]:
    return [v for v in verdicts if v.reasons]


def _doubtful(verdicts: tuple[RoleVerdict, ...]) -> list[RoleVerdict]:
    return [v for v in verdicts if not v.reasons and v.doubt]


def _role_list(verdicts: list[RoleVerdict]) -> str:
    return "; ".join(
        f"{v.role}{f' to {v.subject}' if v.subject else ''} ({', '.join(v.reasons) or v.doubt})" for v in verdicts
    )


def _pod_roles_in_kube_system(ctx: RuleContext) -> list[str]:
    return [
        p.role_arn
        for p in ctx.change.pod_roles
        if p.namespace == KUBE_SYSTEM and ctx.change.event_name in POD_IDENTITY_EVENTS
    ]


def _blinding_group(ctx: RuleContext) -> bool:
    blinding = ctx.change.blinding
    return blinding is not None and blinding.audit_cluster is not None


def _own_filter_rewritten(ctx: RuleContext) -> bool:
    blinding = ctx.change.blinding
    if blinding is None or blinding.audit_cluster is None or blinding.filter_name != ctx.lookups.filter_name:
        return False
    pattern_changed = blinding.filter_pattern != ctx.lookups.filter_pattern
    destination_changed = bool(ctx.lookups.filter_destination) and (
        blinding.destination_arn != ctx.lookups.filter_destination
    )
    return pattern_changed or destination_changed or bool(blinding.filter_options)


def _unlogged(ctx: RuleContext) -> tuple[str, ...]:
    blinding = ctx.change.blinding
    return blinding.unlogged_sources or () if blinding else ()


def _eksguards(ctx: RuleContext) -> bool:
    own = ctx.change.own
    if own is None:
        return False
    if own.kind == "stack" and _from_a_spoke(ctx):
        # a spoke forwards the calls on its own stack instance only (spoke/template.yaml): deleting it
        # removes the spoke's rules and role, and the hub's view of that account
        return True
    return is_eksguards(own, ctx.lookups.stack_name, ctx.lookups.webhook_secret_arn)


def _from_a_spoke(ctx: RuleContext) -> bool:
    home = accounts.home()
    account = ctx.change.record.account
    return ctx.lookups.spoke_role_name is not None and bool(home) and bool(account) and account != home


def _deploy_like(ctx: RuleContext) -> bool:
    """Made by CloudFormation, or an update of eksguard's stack: what a deploy does (and what a hostile
    stack could do too, so it is INFO, not silent)."""
    return via_cloudformation(ctx.change.record) or ctx.change.event_name in ("UpdateStack", "ExecuteChangeSet")


def _eksguard_role(ctx: RuleContext) -> bool:
    hosts = ctx.change.hosts
    if hosts is None or not hosts.role_name:
        return False
    if ctx.lookups.spoke_role_name and hosts.role_name == ctx.lookups.spoke_role_name:
        return True
    return is_own_name(hosts.role_name, ctx.lookups.stack_name, OWN_FUNCTIONS, suffix="Role")


def _policy_type(ctx: RuleContext) -> str | None:
    return ctx.change.blinding.policy_type if ctx.change.blinding else None


def _touches(ctx: RuleContext) -> bool:
    return ctx.reaches_kubectl


def _may_touch(ctx: RuleContext) -> bool:
    return not ctx.reaches_kubectl and bool(ctx.target_doubt)


def _attributes(ctx: RuleContext) -> set[str]:
    return {a.lower() for a in (ctx.change.hosts.attributes if ctx.change.hosts else ())}


def _tag_keys(ctx: RuleContext) -> set[str]:
    return {k for k, _ in (ctx.change.hosts.tags if ctx.change.hosts else ())}


def _profile_unknown(ctx: RuleContext) -> str | None:
    return ctx.change.hosts.profile_unknown if ctx.change.hosts else None


def _kubectl_tag_removed(ctx: RuleContext) -> bool:
    hosts = ctx.change.hosts
    if hosts is None or not ctx.reaches_kubectl:
        return False
    return hosts.all_tags or bool(_kubectl_tag_keys(ctx) & _tag_keys(ctx))


def _kubectl_tag_added(ctx: RuleContext) -> bool:
    return bool(_kubectl_tag_keys(ctx) & _tag_keys(ctx))


def _tag_values(ctx: RuleContext) -> str:
    hosts = ctx.change.hosts
    pairs = [k if v is None else f"{k}={v}" for k, v in (hosts.tags if hosts else ()) if k in _kubectl_tag_keys(ctx)]
    return ", ".join(pairs) or "every tag"


def _kubectl_tag_keys(ctx: RuleContext) -> set[str]:
    return {ctx.lookups.stop_tag_key, ctx.lookups.cluster_tag_key}


def _instances(ctx: RuleContext) -> str:
    hosts = ctx.change.hosts
    return ", ".join(hosts.instance_ids) if hosts and hosts.instance_ids else "an instance"


def _forward_hosts(ctx: RuleContext) -> set[str]:
    return set(ctx.change.hosts.forward_hosts) if ctx.change.hosts else set()


def _launch_subject(ctx: RuleContext) -> str:
    if ctx.change.event_name in ("CreateLaunchTemplate", "CreateLaunchTemplateVersion"):
        return "launch template"
    if ctx.change.event_name in ("RequestSpotInstances", "RequestSpotFleet", "CreateFleet"):
        return f"{ctx.change.event_name} (instances to launch)"
    return f"instance {_instances(ctx)}"


def _session_target(ctx: RuleContext) -> str:
    if _touches(ctx):
        return ctx.target_label
    return f"an instance that may be a kubectl instance ({ctx.target_doubt})"


def _session_rate(ctx: RuleContext, severity: Severity) -> Severity:
    return Severity.MEDIUM if ctx.outside_hours else severity


def _session_when(ctx: RuleContext) -> str:
    hours, moment = ctx.lookups.hours, ctx.event_moment
    if hours is None or moment is None:
        return ""
    place = "outside" if ctx.outside_hours else "within"
    return f" at {hours.describe(moment)} ({place} working hours {hours.text})"


def _changed_role_powerful(ctx: RuleContext) -> bool:
    return ctx.changed_role is not None and bool(ctx.changed_role.reasons)


def _changed_role_doubtful(ctx: RuleContext) -> bool:
    role = ctx.changed_role
    return role is not None and not role.reasons and bool(role.doubt)


def _role_change_word(ctx: RuleContext) -> str:
    hosts = ctx.change.hosts
    return {
        "UpdateAssumeRolePolicy": "trust policy (who may assume it) replaced",
        "AttachRolePolicy": f"policy {hosts.policy if hosts else '?'} attached",
        "PutRolePolicy": f"inline policy {hosts.policy if hosts else '?'} written",
        "AddRoleToInstanceProfile": f"added to instance profile {hosts.profile_name if hosts else '?'}",
        "PutRolePermissionsBoundary": f"permissions boundary set to {hosts.policy if hosts else '?'}",
        "DeleteRolePermissionsBoundary": "permissions boundary removed",
        "DetachRolePolicy": f"policy {hosts.policy if hosts else '?'} detached",
        "DeleteRolePolicy": f"inline policy {hosts.policy if hosts else '?'} deleted",
    }.get(ctx.change.event_name, ctx.change.event_name)


_KUBECTL_HOST_WHY = (
    "The kubectl instance holds the only cluster-admin role: whoever runs code on it, or gets its "
    "credentials, is cluster admin."
)

RULES: tuple[Rule, ...] = (
    # ------------------------------------------------------------ CRITICAL
    Rule(
        name="cluster-admin-unexpected",
        events=frozenset({ASSOCIATE}),
        severity=Severity.CRITICAL,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: (
            is_cluster_wide_admin(c.change)
            and not c.principal_expected
            and not c.principal_match.unconfigured_kubectl_role
        ),
        headline=lambda c: f"{c.who} granted cluster admin ({_policy_label(c)})",
        why="AmazonEKSClusterAdminPolicy at any scope, or AmazonEKSAdminPolicy at cluster scope, for a "
        "principal that is not an expected admin: it can read every secret and rewrite any RBAC binding.",
    ),
    Rule(
        name="kube-system-admin",
        events=frozenset({ASSOCIATE}),
        severity=Severity.CRITICAL,
        attempt_severity=Severity.MEDIUM,
        applies=_grant(frozenset({ADMIN_POLICY, EDIT_POLICY}), namespaced=True, kube_system=True),
        headline=lambda c: f"{c.who} granted {c.change.policy_name} on kube-system ({_policy_label(c)})",
        why="AmazonEKSAdminPolicy or AmazonEKSEditPolicy scoped to namespaces that include kube-system "
        "(a `*` namespace pattern too): it can run pods as kube-system service accounts, and some of those "
        "are cluster admin.",
    ),
    Rule(
        name="system-masters-unexpected",
        events=ENTRY_EVENTS,
        severity=Severity.CRITICAL,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: (
            MASTERS_GROUP in (c.change.groups or ())
            and not c.principal_expected
            and not c.principal_match.unconfigured_kubectl_role
        ),
        headline=lambda c: f"{c.who} added to {MASTERS_GROUP}",
        why="system:masters bypasses RBAC entirely; this principal is not an expected admin of this cluster.",
    ),
    Rule(
        name="rbac-admin-group",
        events=ENTRY_EVENTS,
        severity=Severity.CRITICAL,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: bool(c.rbac_doors) and not c.principal_expected,
        headline=lambda c: (
            f"{c.who} given {', '.join(door for door, _ in c.rbac_doors)} on {c.where}, cluster admin through RBAC "
            f"({c.rbac_doors[0][1]})"
        ),
        why="An access entry whose Kubernetes group or user name an RBAC binding seen in the audit log makes "
        "cluster admin (cluster-admin or an admin-equivalent role), for a principal that is not expected.",
    ),
    Rule(
        name="kubectl-role-on-other-cluster",
        events=frozenset({CREATE_ENTRY}),
        severity=Severity.CRITICAL,
        attempt_severity=Severity.MEDIUM,
        applies=_other_cluster_kubectl_role,
        headline=lambda c: f"kubectl role {c.who} of {_kubectl_clusters(c)} given an access entry on {c.where}",
        why="An access entry for the role of a kubectl instance of another cluster: it breaks "
        "one-instance-one-cluster (one shell on that instance reaches this cluster too).",
    ),
    Rule(
        name="admin-role-to-pods",
        events=ROLE_HANDING_EVENTS,
        severity=Severity.CRITICAL,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: bool(_powerful(c.pod_role_verdicts)),
        headline=lambda c: (
            f"admin role handed to pods or nodes of {c.where}: {_role_list(_powerful(c.pod_role_verdicts))}"
        ),
        why="A pod identity association, an add-on (pod identity or IRSA), a node group or EKS Auto Mode nodes "
        "given the role of an expected cluster admin or of a kubectl instance: every pod of that service account "
        "(or on those nodes) gets cluster-admin credentials.",
    ),
    # ------------------------------------------------------------ HIGH
    Rule(
        name="kubectl-role-not-configured",
        events=GRANT_EVENTS,
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=_unconfigured_kubectl_admin,
        headline=lambda c: (
            f"{c.who} granted admin on {c.where} "
            f"({_policy_label(c) if c.change.policy_name else MASTERS_GROUP}): {c.principal_match.reason}"
        ),
        why="An admin-equivalent grant (cluster admin, Admin or Edit on kube-system, system:masters) for the role "
        "of an instance tagged as this cluster's kubectl instance, but the role matches no KubectlRoleArnPattern: "
        "a tag alone trusts nobody (anyone with ec2:CreateTags can forge it). Other grants are judged as for "
        "anyone.",
    ),
    Rule(
        name="cluster-wide-admin-view",
        events=frozenset({ASSOCIATE}),
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=_grant(frozenset({ADMIN_VIEW_POLICY}), namespaced=False),
        headline=lambda c: f"{c.who} granted {ADMIN_VIEW_POLICY} on all of {c.where}",
        why="AmazonEKSAdminViewPolicy at cluster scope for a non-expected principal: it reads every Secret of "
        "the cluster, service-account tokens and credentials included.",
    ),
    Rule(
        name="cluster-wide-edit",
        events=frozenset({ASSOCIATE}),
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=_grant(frozenset({EDIT_POLICY}), namespaced=False),
        headline=lambda c: f"{c.who} granted {EDIT_POLICY} on all of {c.where}",
        why="AmazonEKSEditPolicy at cluster scope for a non-expected principal: it can create pods in "
        "kube-system that run as any service account there, a path to cluster admin.",
    ),
    Rule(
        name="identity-provider-associated",
        events=frozenset({IDP_ASSOCIATE}),
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: True,
        headline=lambda c: f"OIDC identity provider {_idp_label(c)} associated with {c.where}",
        why="An external OIDC provider can assert any user and group it likes; any RBAC binding to those "
        "groups (cluster-admin included) is now granted by whoever runs that provider.",
    ),
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
    Rule(
        name="trail-stopped",
        events=frozenset({"StopLogging", "DeleteTrail"}),
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: True,
        headline=lambda c: (
            f"CloudTrail trail {c.change.blinding.trail if c.change.blinding else '?'} "
            f"{'deleted' if c.change.event_name == 'DeleteTrail' else 'stopped'}"
        ),
        why="EventBridge receives CloudTrail API events only while a trail logs them: stopping or deleting a "
        "trail can blind every CloudTrail rule of eksguard (and every other tool).",
    ),
    Rule(
        name="trail-coverage-reduced",
        events=frozenset({"UpdateTrail"}),
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: bool(c.change.blinding and c.change.blinding.coverage_lost),
        headline=lambda c: (
            f"CloudTrail trail {c.change.blinding.trail if c.change.blinding else '?'}: "
            f"{'; '.join(c.change.blinding.coverage_lost if c.change.blinding else ())}"
        ),
        why="UpdateTrail that stops global-service events (IAM, delivered in us-east-1), other regions or the "
        "organization's accounts.",
    ),
    Rule(
        name="management-events-not-logged",
        events=frozenset({"PutEventSelectors"}),
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: bool(_unlogged(c)),
        headline=lambda c: (
            f"CloudTrail trail {c.change.blinding.trail if c.change.blinding else '?'} no longer logs management "
            f"write events of {', '.join(_unlogged(c))}"
        ),
        why="Event selectors (classic or advanced) that no longer record management write events, for every "
        "service or for one eksguard judges (EKS, IAM, SSM, EC2, CloudTrail, CloudWatch Logs).",
    ),
    Rule(
        name="eksguard-changed",
        events=SELF_EVENTS,
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: _eksguards(c) and not _deploy_like(c),
        headline=lambda c: (
            f"eksguard's own {c.change.own.kind if c.change.own else '?'} "
            f"{c.change.own.name if c.change.own else '?'}: {c.change.event_name}"
        ),
        why="A rule that feeds eksguard disabled, deleted or rewritten, a function throttled, replaced or "
        "reconfigured, the alert queue purged, changed or given another consumer, the Slack webhook secret "
        "rewritten, or eksguard's stack deleted, outside CloudFormation: one call blinds every detector or "
        "redirects every alert.",
    ),
    Rule(
        name="eksguard-role-changed",
        events=ROLE_EVENTS,
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: _eksguard_role(c) and not via_cloudformation(c.change.record),
        headline=lambda c: (
            f"eksguard's own role {c.change.hosts.role_name if c.change.hosts else '?'}: {_role_change_word(c)}"
        ),
        why="A policy attached, written, detached or deleted, a boundary set or the trust replaced on one of "
        "eksguard's execution roles: a deny there stops alerts from being queued at all.",
    ),
    Rule(
        name="audit-subscription-deleted",
        events=frozenset({"DeleteSubscriptionFilter"}),
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=_blinding_group,
        headline=lambda c: (
            f"subscription filter {c.change.blinding.filter_name if c.change.blinding else '?'} deleted from the "
            f"audit log of {c.where}"
        ),
        why="Deleting a subscription filter of an EKS audit log group (`/aws/eks/<cluster>/cluster`) can cut "
        "eksguard off the audit log; the enrolment function puts eksguard's filter back on the same event.",
    ),
    Rule(
        name="audit-filter-rewritten",
        events=frozenset({"PutSubscriptionFilter"}),
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=_own_filter_rewritten,
        headline=lambda c: f"eksguard's subscription filter on the audit log of {c.where} rewritten",
        why="eksguard's own subscription filter replaced with another pattern or destination, or with a field "
        "selection or transformed-logs option eksguard never sets: audit-log alerts stop without any error; "
        "enrolment puts it back on the same event.",
    ),
    Rule(
        name="audit-log-transformed",
        events=frozenset({"PutTransformer"}) | ACCOUNT_LOG_EVENTS,
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: (
            _blinding_group(c)
            or (c.change.event_name in ACCOUNT_LOG_EVENTS and (_policy_type(c) == "TRANSFORMER_POLICY"))
        ),
        headline=lambda c: (
            f"log transformer put on the audit log of {c.where}"
            if _blinding_group(c)
            else "account-wide log transformer policy put (it can rewrite every EKS audit log)"
        ),
        why="A transformer rewrites audit events at ingestion, before any subscription filter sees them (a "
        "filter with applyOnTransformedLogs reads the rewritten events): aws-auth and RBAC writes can be made "
        "unrecognisable.",
    ),
    Rule(
        name="audit-log-group-deleted",
        events=frozenset({"DeleteLogGroup"}),
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=_blinding_group,
        headline=lambda c: f"audit log group of {c.where} deleted",
        why="Deleting `/aws/eks/<cluster>/cluster` erases the audit trail and its subscription filter.",
    ),
    Rule(
        name="kubectl-command",
        events=SSM_COMMAND_EVENTS,
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=_touches,
        headline=lambda c: (
            f"{c.change.event_name} ({(c.change.hosts.document if c.change.hosts else None) or 'document ?'}) "
            f"targets {c.target_label}"
        ),
        why="Run Command, Automation or a State Manager association reaching a kubectl instance (by instance "
        "ID, a tag target, or every instance). " + _KUBECTL_HOST_WHY,
    ),
    Rule(
        name="kubectl-ssh-key",
        events=SSH_KEY_EVENTS,
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=_touches,
        headline=lambda c: (
            f"SSH key pushed to {c.target_label} for user {(c.change.hosts.os_user if c.change.hosts else None) or '?'}"
        ),
        why="EC2 Instance Connect (or serial console) key on a kubectl instance: a shell that bypasses Session "
        "Manager and its logging. " + _KUBECTL_HOST_WHY,
    ),
    Rule(
        name="kubectl-user-data",
        events=frozenset({"ModifyInstanceAttribute"}),
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: _touches(c) and "userdata" in _attributes(c),
        headline=lambda c: f"user data of {c.target_label} replaced",
        why="New user data runs as root at the next start of the kubectl instance. " + _KUBECTL_HOST_WHY,
    ),
    Rule(
        name="kubectl-instance-profile",
        events=PROFILE_EVENTS,
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=_touches,
        headline=lambda c: (
            f"instance profile of {c.target_label} set to "
            f"{', '.join(c.change.hosts.profiles) if c.change.hosts and c.change.hosts.profiles else '?'}"
        ),
        why="Swapping the instance profile of a kubectl instance changes which role is cluster admin from it "
        "(and can hand the old role's trust to another).",
    ),
    Rule(
        name="kubectl-role-handed-out",
        events=PROFILE_EVENTS | LAUNCH_EVENTS,
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: not _touches(c) and bool(_powerful(c.handed_profiles)),
        headline=lambda c: f"{_launch_subject(c)} given {_role_list(_powerful(c.handed_profiles))}",
        why="Another instance launched with (RunInstances, Spot, fleets, launch templates), or given, an instance "
        "profile holding the kubectl role or an expected admin's role: its credentials are cluster admin from "
        "any shell there.",
    ),
    Rule(
        name="kubectl-disk",
        events=DISK_EVENTS,
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=_touches,
        headline=lambda c: f"{c.change.event_name} on {c.target_label}",
        why="The root volume of a kubectl instance replaced, detached or another volume attached: an "
        "attacker's disk boots with the kubectl role, or the admin host's disk is read elsewhere.",
    ),
    Rule(
        name="kubectl-credentials-forwarded",
        events=SSM_SESSION_EVENTS,
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: _touches(c) and bool(_forward_hosts(c) & IMDS_HOSTS),
        headline=lambda c: f"port forwarded from {c.target_label} to the instance metadata service",
        why="A Session Manager port-forwarding session through a kubectl instance to its metadata service: the "
        "cluster-admin role's credentials leave the host.",
    ),
    Rule(
        name="admin-role-changed",
        events=ROLE_EVENTS,
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=_changed_role_powerful,
        headline=lambda c: (
            f"role {c.changed_role.role if c.changed_role else '?'}: {_role_change_word(c)} "
            f"({', '.join(c.changed_role.reasons) if c.changed_role else ''})"
        ),
        why="The trust or permissions of the kubectl role (or an expected admin's role) changed, or the role "
        "was put in an instance profile: who can become cluster admin changed with it. IAM events arrive in "
        "us-east-1 only.",
    ),
    Rule(
        name="kubectl-tag-changed",
        events=frozenset({"CreateTags"}),
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: _kubectl_tag_added(c) and _touches(c),
        headline=lambda c: f"kubectl tags of {c.target_label} overwritten with {_tag_values(c)}",
        why="A kubectl instance's stop or cluster tag given another value: it may leave the stop run and this "
        "watch (a stop tag value that no longer matches) or change cluster.",
    ),
    Rule(
        name="kubectl-tag-removed",
        events=frozenset({"DeleteTags"}),
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=_kubectl_tag_removed,
        headline=lambda c: f"kubectl tags ({_tag_values(c)}) removed from {c.target_label}",
        why="Without its tag a kubectl instance leaves the stop run and the watch on commands, keys and "
        "profiles: a first step before using it unseen.",
    ),
    # ------------------------------------------------------------ MEDIUM
    Rule(
        name="namespace-admin",
        events=frozenset({ASSOCIATE}),
        severity=Severity.MEDIUM,
        attempt_severity=Severity.MEDIUM,
        applies=_grant(frozenset({ADMIN_POLICY}), namespaced=True, kube_system=False),
        headline=lambda c: f"{c.who} granted namespace admin ({_policy_label(c)})",
        why="AmazonEKSAdminPolicy on namespaces other than kube-system: it reads those namespaces' secrets "
        "and binds roles inside them.",
    ),
    Rule(
        name="kube-system-admin-view",
        events=frozenset({ASSOCIATE}),
        severity=Severity.MEDIUM,
        attempt_severity=Severity.MEDIUM,
        applies=_grant(frozenset({ADMIN_VIEW_POLICY}), namespaced=True, kube_system=True),
        headline=lambda c: f"{c.who} granted {ADMIN_VIEW_POLICY} on kube-system ({_policy_label(c)})",
        why="AmazonEKSAdminViewPolicy on namespaces that include kube-system: it reads the secrets of the "
        "system components.",
    ),
    Rule(
        name="unknown-access-policy-cluster-wide",
        events=frozenset({ASSOCIATE}),
        severity=Severity.HIGH,
        attempt_severity=Severity.MEDIUM,
        applies=lambda c: _unknown_policy(c) and not _namespaced(c.change) and c.change.policy_name is not None,
        headline=lambda c: f"{c.who} granted {_policy_label(c)} on all of {c.where}",
        why="An access policy other than the five user policies (the Secret reader/admin, EKS Auto Mode, HyperPod "
        "and other service policies) at cluster scope for a non-expected principal: several read every Secret "
        "or write cluster-wide; not judged here, so it is treated as admin-like.",
    ),
    Rule(
        name="unknown-access-policy",
        events=frozenset({ASSOCIATE}),
        severity=Severity.MEDIUM,
        attempt_severity=Severity.INFO,
        applies=lambda c: _unknown_policy(c) and (_namespaced(c.change) or c.change.policy_name is None),
        headline=lambda c: f"{c.who} granted {_policy_label(c)}",
        why="Another access policy at namespace scope (or a policy the record does not name): a person should look.",
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
        name="custom-kubernetes-username",
        events=ENTRY_EVENTS,
        severity=Severity.MEDIUM,
        attempt_severity=Severity.INFO,
        applies=lambda c: bool(_custom_username(c.change)) and _standard_entry(c.change) and not c.principal_expected,
        headline=lambda c: f"{c.who} given the Kubernetes user name {_custom_username(c.change)} on {c.where}",
        why="An access entry with a chosen user name (not EKS's default): RBAC bindings made before eksguard "
        "watched the audit log may bind that name to anything, kubernetes-admin style.",
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
    Rule(
        name="pod-role-unverified",
        events=ROLE_HANDING_EVENTS,
        severity=Severity.MEDIUM,
        attempt_severity=Severity.INFO,
        applies=lambda c: bool(_doubtful(c.pod_role_verdicts)),
        headline=lambda c: (
            f"role handed to pods of {c.where} could not be checked: {_role_list(_doubtful(c.pod_role_verdicts))}"
        ),
        why="Whether the role handed to pods is an admin or kubectl role could not be told (a lookup failed).",
    ),
    Rule(
        name="kube-system-pod-role",
        events=POD_IDENTITY_EVENTS,
        severity=Severity.MEDIUM,
        attempt_severity=Severity.INFO,
        applies=lambda c: bool(_pod_roles_in_kube_system(c)),
        headline=lambda c: (
            f"AWS role {', '.join(_pod_roles_in_kube_system(c))} given to a kube-system service account of {c.where}"
        ),
        why="A pod identity association for a kube-system service account: the system components run as it.",
    ),
    Rule(
        name="audit-filter-changed",
        events=frozenset({"PutSubscriptionFilter"}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: _blinding_group(c) and not _own_filter_rewritten(c),
        headline=lambda c: (
            f"subscription filter {c.change.blinding.filter_name if c.change.blinding else '?'} put on the audit "
            f"log of {c.where}"
        ),
        why="A subscription filter written on an EKS audit log group (eksguard's own, unchanged, or another).",
    ),
    Rule(
        name="trail-delivery-changed",
        events=frozenset({"UpdateTrail"}),
        severity=Severity.MEDIUM,
        attempt_severity=Severity.INFO,
        applies=lambda c: bool(c.change.blinding and c.change.blinding.delivery_moved),
        headline=lambda c: (
            f"CloudTrail trail {c.change.blinding.trail if c.change.blinding else '?'}: "
            f"{'; '.join(c.change.blinding.delivery_moved if c.change.blinding else ())}"
        ),
        why="UpdateTrail that moves where log files go, their encryption, or turns off log file validation.",
    ),
    Rule(
        name="event-selectors-unreadable",
        events=frozenset({"PutEventSelectors"}),
        severity=Severity.MEDIUM,
        attempt_severity=Severity.INFO,
        applies=lambda c: bool(c.change.blinding and c.change.blinding.selectors_unreadable),
        headline=lambda c: (
            f"event selectors of trail {c.change.blinding.trail if c.change.blinding else '?'} could not be read "
            f"({c.change.blinding.selectors_unreadable if c.change.blinding else ''})"
        ),
        why="Advanced event selectors with a condition eksguard does not evaluate: check what the trail still records.",
    ),
    Rule(
        name="kubectl-stop-protection",
        events=frozenset({"ModifyInstanceAttribute"}),
        severity=Severity.MEDIUM,
        attempt_severity=Severity.INFO,
        applies=lambda c: _touches(c) and "disableapistop" in _attributes(c),
        headline=lambda c: f"stop protection changed on {c.target_label}",
        why="Stop protection (disableApiStop) makes the scheduled stop fail on the kubectl instance.",
    ),
    Rule(
        name="kubectl-tag-added",
        events=frozenset({"CreateTags", "RunInstances"}),
        severity=Severity.MEDIUM,
        attempt_severity=Severity.INFO,
        # RunInstances: the new instance may already be in the inventory; it is news either way.
        applies=lambda c: _kubectl_tag_added(c) and (c.change.event_name == "RunInstances" or not _touches(c)),
        headline=lambda c: f"{_instances(c)} tagged {_tag_values(c)}",
        why="An instance tagged (or launched) as a kubectl instance: its role is only trusted if it matches "
        "KubectlRoleArnPattern, but the stop run now acts on it and it looks like an admin host.",
    ),
    Rule(
        name="kubectl-target-unverified",
        events=SSM_COMMAND_EVENTS
        | SSH_KEY_EVENTS
        | PROFILE_EVENTS
        | DISK_EVENTS
        | {"ModifyInstanceAttribute", "DeleteTags"},
        severity=Severity.MEDIUM,
        attempt_severity=Severity.INFO,
        applies=_may_touch,
        headline=lambda c: f"{c.change.event_name} may target a kubectl instance: {c.target_doubt}",
        why="A call that would be HIGH on a kubectl instance, whose target could not be told (a lookup failed "
        "or the target is a resource group).",
    ),
    Rule(
        name="admin-role-change-unverified",
        events=ROLE_EVENTS,
        severity=Severity.MEDIUM,
        attempt_severity=Severity.INFO,
        applies=_changed_role_doubtful,
        headline=lambda c: (
            f"role {c.changed_role.role if c.changed_role else '?'}: {_role_change_word(c)}; whether it is a "
            f"kubectl or admin role could not be told ({c.changed_role.doubt if c.changed_role else ''})"
        ),
        why="An IAM role change whose role could not be checked against the kubectl and admin roles.",
    ),
    Rule(
        name="kubectl-role-handed-out-unverified",
        events=PROFILE_EVENTS | LAUNCH_EVENTS,
        severity=Severity.MEDIUM,
        attempt_severity=Severity.INFO,
        applies=lambda c: not _touches(c) and (bool(_doubtful(c.handed_profiles)) or bool(_profile_unknown(c))),
        headline=lambda c: (
            f"{_launch_subject(c)} given {_role_list(_doubtful(c.handed_profiles))}"
            if _doubtful(c.handed_profiles)
            else f"{_launch_subject(c)}: {_profile_unknown(c)}"
        ),
        why="An instance profile handed out whose roles could not be read, or a launch from a template whose "
        "profile is not in the record.",
    ),
    Rule(
        name="kubectl-remote-forward-unverified",
        events=SSM_SESSION_EVENTS,
        severity=Severity.MEDIUM,
        attempt_severity=Severity.INFO,
        applies=lambda c: _touches(c) and "?" in _forward_hosts(c),
        headline=lambda c: f"port forwarded from {c.target_label} to a host the record does not name",
        why="A port-forwarding session through a kubectl instance to a remote host CloudTrail does not show: "
        "it may be the metadata service.",
    ),
    # ------------------------------------------------------------ INFO (MEDIUM outside working hours)
    Rule(
        name="kubectl-session",
        events=SSM_SESSION_EVENTS,
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: _touches(c) or bool(c.target_doubt),
        headline=lambda c: (
            f"shell {'resumed' if c.change.event_name == 'ResumeSession' else 'opened'} on "
            f"{_session_target(c)}{_session_when(c)}"
        ),
        why="Session Manager shell on a kubectl instance: who opened a shell on which cluster's admin host. "
        "MEDIUM outside the working hours set by KubectlSessionHours.",
        rate=_session_rate,
    ),
    # ------------------------------------------------------------ INFO
    Rule(
        name="admin-to-expected-admin",
        events=frozenset({ASSOCIATE}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: c.principal_expected,
        headline=lambda c: f"expected admin {c.who} granted {_policy_label(c)}",
        why="The principal is an expected admin of this cluster.",
    ),
    Rule(
        name="read-only-policy",
        events=frozenset({ASSOCIATE}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: (
            c.change.policy_name == VIEW_POLICY or (c.change.policy_name == ADMIN_VIEW_POLICY and _namespaced(c.change))
        ),
        headline=lambda c: f"{c.who} granted read-only {_policy_label(c)}",
        why="AmazonEKSViewPolicy (no Secrets), or AmazonEKSAdminViewPolicy on namespaces other than kube-system.",
    ),
    Rule(
        name="policy-associated",
        events=frozenset({ASSOCIATE}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: True,
        headline=lambda c: f"{c.who} granted {_policy_label(c)}",
        why="Access policy associated (e.g. AmazonEKSEditPolicy on namespaces other than kube-system).",
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
        name="identity-provider-disassociated",
        events=frozenset({IDP_DISASSOCIATE}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: True,
        headline=lambda c: f"identity provider {_idp_label(c)} removed from {c.where}",
        why="Access removed.",
    ),
    Rule(
        name="pod-role-handed-out",
        events=POD_ROLE_EVENTS,
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: True,
        headline=lambda c: (
            f"{c.change.event_name} on {c.where}"
            + (
                f": {'; '.join(f'{p.role_arn} to {p.subject}' for p in c.change.pod_roles)}"
                if c.change.pod_roles
                else ""
            )
        ),
        why="A role handed to a service account or node group that is neither an admin nor a kubectl role.",
        fallback=True,
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
        name="eksguard-deployed",
        events=SELF_EVENTS | ROLE_EVENTS,
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: (_eksguards(c) or _eksguard_role(c)) and _deploy_like(c),
        headline=lambda c: (
            f"eksguard's {c.change.own.kind if c.change.own else 'role'} "
            f"{c.change.own.name if c.change.own else (c.change.hosts.role_name if c.change.hosts else '?')}: "
            f"{c.change.event_name} through CloudFormation"
        ),
        why="eksguard's stack updated, or one of its resources changed by CloudFormation: a deploy, or another "
        "stack acting on eksguard's resources (shown so that it is never silent).",
    ),
    Rule(
        name="trail-or-log-change",
        events=TRAIL_EVENTS | LOG_EVENTS | ACCOUNT_LOG_EVENTS,
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: True,
        headline=lambda c: (
            f"{c.change.event_name} on "
            f"{(c.change.blinding.trail or c.change.blinding.log_group) if c.change.blinding else None or '?'}"
        ),
        why="A trail or log change that keeps what eksguard sees (management writes still logged, not an EKS "
        "audit log group).",
        fallback=True,
    ),
    Rule(
        name="kubectl-instance-changed",
        events=frozenset({"ModifyInstanceAttribute"}),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=_touches,
        headline=lambda c: f"{', '.join(sorted(_attributes(c))) or 'an attribute'} changed on {c.target_label}",
        why="Another attribute of a kubectl instance changed.",
        fallback=True,
    ),
    Rule(
        name="unhandled-event",
        events=frozenset(),
        severity=Severity.INFO,
        attempt_severity=Severity.INFO,
        applies=lambda c: c.change.event_name not in HANDLED_EVENTS,
        headline=lambda c: f"{c.change.record.event_source.split('.')[0]} call {c.change.event_name} on {c.where}",
        why="A call this detector does not classify (not routed by the template; seen when invoked by hand).",
        fallback=True,
    ),
)


def evaluate(ctx: RuleContext, rules: tuple[Rule, ...] = RULES) -> list[Finding]:
    """Every matching rule as a Finding, highest severity first (table order breaks ties).

    A rule that cannot be evaluated (an unexpected field shape) becomes a MEDIUM finding rather
    than a crash, so the event is still reported and the gap is visible. An empty list means
    the call concerns nothing eksguard watches (only possible for `QUIET_EVENTS`).
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
            if rule.rate is not None and not change.failed:
                severity = rule.rate(ctx, severity)
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


def markdown_table(rules: tuple[Rule, ...] = RULES) -> str:
    """The CloudTrail verdict table as README.md and docs/ carry it (a test keeps them equal)."""
    lines = ["| Severity | Rule | Calls | Attempt | When |", "|---|---|---|---|---|"]
    for rule in sorted(rules, key=lambda r: -r.severity):
        calls = ", ".join(sorted(rule.events)) if rule.events else "any other"
        lines.append(f"| {rule.severity.name} | `{rule.name}` | {calls} | {rule.attempt_severity.name} | {rule.why} |")
    return "\n".join(lines)


def markdown_routing(routed: dict[str, frozenset[str]] = ROUTED) -> str:
    """The routed calls per EventBridge source, as README.md and docs/ carry them (a test keeps them equal)."""
    lines = ["| EventBridge source | Calls |", "|---|---|"]
    for source, names in routed.items():
        lines.append(f"| `{source}` | {', '.join(f'`{n}`' for n in sorted(names))} |")
    return "\n".join(lines)
