"""Who is cluster admin of one cluster right now, and through which door: a pure function of a Snapshot.

The doors, each read with the semantics of the component that enforces it:

* `aws-auth`: a mapping whose groups put the caller in `system:masters` (or a template a caller can
  render into it), parsed as aws-iam-authenticator does (`aws_auth.mapping`). `system:masters` is
  the API server's privileged group: it is admin whatever RBAC says. Only when the authentication
  mode reads the ConfigMap (CONFIG_MAP, API_AND_CONFIG_MAP).
* `access-policy`: an access entry with AmazonEKSClusterAdminPolicy (any scope), AmazonEKSAdminPolicy
  or AmazonEKSEditPolicy at cluster scope or on a namespace that holds power (EKS accepts a trailing
  `*`). Only when the mode reads access entries (API, API_AND_CONFIG_MAP).
* `rbac`: a ClusterRoleBinding, or a RoleBinding in a namespace that holds power, of a role that is
  admin-equivalent (`rbac.power`: the API server's rule matching, aggregation included) or that acts
  as the namespace's service accounts (`workload_reasons`), to: a user name or group that an access
  entry, an aws-auth mapping (templates, mapAccounts) or an OIDC identity provider (by prefix) gives
  someone; a service account (or a User spelled as one); everyone (`system:authenticated`,
  `system:serviceaccounts[:<ns>]`, `system:anonymous`).
* `identity-provider`: an OIDC provider with a groups claim and no groups prefix: its tokens can carry
  `system:masters`.
* `pod-identity`: a pod identity association whose IAM role is itself admin of this cluster: every
  pod that runs as that service account is admin.
* `cluster-creator`: in CONFIG_MAP mode with bootstrap admin on, the creator is admin through a door
  that neither aws-auth nor the EKS API lists.

A namespace *holds power* when it is kube-system or one of its service accounts is admin: whoever runs
pods there runs them as that account. This is computed to a fixed point (a new admin service account
makes its namespace count). In kube-system, writing aws-auth is a path too.

Group or user names bound to admin roles that nobody carries yet are returned as latent doors: the
next access entry or mapping that names them makes its principal admin without any RBAC change. The
control plane's own identities (named in CONTROL_PLANE_USERS, `eks:*` users, the bootstrap controller
bindings) are returned apart, as platform identities.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from eksguard.arns import principal_arn
from eksguard.aws_auth.mapping import MASTERS_GROUP, parse_aws_auth
from eksguard.inventory.model import (
    SOURCE_EKS,
    SOURCE_KUBERNETES,
    AccessEntry,
    AccessPolicy,
    IdentityProvider,
    Snapshot,
)
from eksguard.rbac.builtin import builtin_roles
from eksguard.rbac.carriers import Carrier, Carriers, carriers_from
from eksguard.rbac.model import Binding, PolicyRule, Role, Subject
from eksguard.rbac.power import RoleBook, RoleFacts, api_group_matches, resource_matches, verb_matches

KUBE_SYSTEM = "kube-system"
CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
ADMIN_POLICY = "AmazonEKSAdminPolicy"
EDIT_POLICY = "AmazonEKSEditPolicy"
NODE_ENTRY_TYPES = frozenset({"EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "HYBRID_LINUX", "EC2"})
NODE_GROUPS = ("system:nodes", "system:bootstrappers")
# Groups every identity of a kind carries (the API server adds them at authentication).
IMPLICIT_GROUPS = {
    "system:authenticated": "every authenticated identity",
    "system:unauthenticated": "anonymous requests",
    "system:serviceaccounts": "every service account",
}
SERVICE_ACCOUNT_GROUP_PREFIX = "system:serviceaccounts:"
# Identities of the control plane itself (Kubernetes bootstrap policy, EKS components): nobody gets these
# names unless a mapping gives them, and then that principal is the admin and is named.
CONTROL_PLANE_USERS = frozenset(
    {"system:kube-controller-manager", "system:kube-scheduler", "system:kube-proxy", "system:apiserver"}
)
EKS_PREFIX = "eks:"
ANONYMOUS = "system:anonymous"
SERVICE_ACCOUNT_USER = "system:serviceaccount:"
NODE_USERNAME = "system:node:{{EC2PrivateDNSName}}"  # EKS's user name for a node-type access entry
MAX_LISTED = 100  # latent doors and platform identities kept per cluster (the rest are counted)
MAX_DOORS_PER_ADMIN = 20
# (subject, principal) pairs judged per cluster: a ConfigMap of thousands of catch-all templates and a
# binding of thousands of subjects must not exhaust the function; past this, the report says so.
MAX_RBAC_PAIRS = 100_000
WORKLOADS = (
    ("", ("pods", "replicationcontrollers")),
    ("apps", ("deployments", "daemonsets", "statefulsets", "replicasets")),
    ("batch", ("jobs", "cronjobs")),
)

DOOR_AWS_AUTH = "aws-auth"
DOOR_ACCESS_POLICY = "access-policy"
DOOR_RBAC = "rbac"
DOOR_POD_IDENTITY = "pod-identity"
DOOR_CREATOR = "cluster-creator"

CREATOR = "the cluster creator"
DOOR_IDENTITY_PROVIDER = "identity-provider"
_ITEM = re.compile(r" item \d+")
TOO_MANY = "too many RBAC subjects and aws-auth templates to judge them all: some RBAC doors were not read"


@dataclass(frozen=True)
class Door:
    kind: str
    via: str  # how, in words
    sources: frozenset[str] = frozenset()  # what must be read to know this door is (still) there
    key: str = ""  # stable identity (no list positions): two inventories compare doors by it

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "via": self.via, "sources": sorted(self.sources), "key": self.key or self.via}


@dataclass(frozen=True)
class Admin:
    principal: str  # IAM ARN (canonical), SSO role pattern, system:serviceaccount:ns:name, or a description
    doors: tuple[Door, ...]

    @property
    def door_kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.kind for d in self.doors))


@dataclass(frozen=True)
class AdminReport:
    admins: tuple[Admin, ...] = ()
    latent: tuple[str, ...] = ()  # "group eks-admins: ClusterRoleBinding x -> cluster-admin" with no carrier
    platform: tuple[str, ...] = ()  # control-plane identities bound to admin roles (not alerted)
    notes: tuple[str, ...] = field(default=())

    def by_principal(self) -> dict[str, Admin]:
        return {a.principal: a for a in self.admins}


class _Collector:
    """Doors per principal; at most MAX_DOORS_PER_ADMIN are kept (one is enough to be admin, and thousands
    of templated aws-auth entries must not make the inventory run out of memory)."""

    def __init__(self) -> None:
        self.doors: dict[str, list[Door]] = {}
        self.pairs = 0

    def add(self, principal: str, door: Door) -> None:
        doors = self.doors.setdefault(principal, [])
        if door not in doors and len(doors) < MAX_DOORS_PER_ADMIN:
            doors.append(door)

    def admins(self) -> tuple[Admin, ...]:
        return tuple(Admin(p, tuple(d)) for p, d in sorted(self.doors.items()))


def admin_policy(policy: AccessPolicy, powerful: Iterable[str] = (KUBE_SYSTEM,)) -> str | None:
    """Why an access policy is cluster admin or a path to it (None when it is not): see the module docstring.
    `powerful`: the namespaces whose service accounts include an admin."""
    if policy.name == CLUSTER_ADMIN_POLICY:
        return "cluster admin"
    if policy.name not in (ADMIN_POLICY, EDIT_POLICY):
        return None
    if policy.scope != "namespace":
        return "runs pods as any service account, kube-system's included"
    if ALL_NAMESPACES in powerful:
        return "runs pods as service accounts, and every service account is cluster admin"
    reached = sorted(n for n in powerful if any(fnmatchcase(n, pattern) for pattern in policy.namespaces))
    return f"runs pods as the service accounts of {', '.join(reached)}" if reached else None


def _writes(rule: PolicyRule) -> bool:
    return verb_matches(rule, "update") or verb_matches(rule, "patch")


def workload_reasons(role: Role, aws_auth_namespace: bool, aws_auth_exists: bool = True) -> list[str]:
    """Rules that act as the namespace's service accounts, or rewrite aws-auth (`aws_auth_namespace`).

    Pods: create (a resourceNames list never restricts create), update/patch (a running pod's image is
    mutable), `pods/ephemeralcontainers` (a new container in the pod), `pods/exec` and `pods/attach` with
    create or get (exec over WebSocket needs only get) whatever their resourceNames; workloads of apps and
    batch; create and get of Secrets (a token Secret for any service account). aws-auth: update/patch by
    name or on every ConfigMap, delete and create, or create alone while it does not exist."""
    reasons = []
    for rule in role.rules:
        creates = verb_matches(rule, "create") and not rule.resource_names
        core = api_group_matches(rule, "")
        for group, resources in WORKLOADS:
            for resource in resources:
                if api_group_matches(rule, group) and resource_matches(rule, resource) and (creates or _writes(rule)):
                    reasons.append(f"creates or changes {resource} (runs pods as the namespace's service accounts)")
        if core and resource_matches(rule, "pods", "ephemeralcontainers") and _writes(rule):
            reasons.append("adds ephemeral containers to pods (runs as their service accounts)")
        for sub in ("exec", "attach"):
            if (
                core
                and resource_matches(rule, "pods", sub)
                and (verb_matches(rule, "create") or verb_matches(rule, "get"))
            ):
                reasons.append(f"{sub}s into pods (acts as their service accounts)")
        if core and resource_matches(rule, "secrets") and creates and verb_matches(rule, "get"):
            reasons.append("creates and reads Secrets (a token for any service account of the namespace)")
        if aws_auth_namespace and core and resource_matches(rule, "configmaps"):
            named = not rule.resource_names or "aws-auth" in rule.resource_names
            recreates = creates and named and verb_matches(rule, "delete")
            if (named and _writes(rule)) or recreates or (creates and not aws_auth_exists):
                reasons.append("writes aws-auth (can map anyone to system:masters)")
    return list(dict.fromkeys(reasons))


def entry_username(entry: AccessEntry) -> str | None:
    """The user name EKS gives an access entry: its own, or the node name for node types."""
    if entry.username:
        return entry.username
    return NODE_USERNAME if entry.type in NODE_ENTRY_TYPES else None


def entry_groups(entry: AccessEntry) -> tuple[str, ...]:
    """The groups EKS gives an access entry's principal: its own, and the node groups for node types."""
    if entry.type in NODE_ENTRY_TYPES:
        return tuple(dict.fromkeys(entry.groups + NODE_GROUPS))
    return entry.groups


def _canonical(principal: str) -> str:
    if "*" in principal:  # an SSO role pattern stays as written
        return principal
    return principal_arn(principal) or principal


ALL_NAMESPACES = "*"


def _holds_power(namespace: str | None, powerful: frozenset[str]) -> bool:
    return ALL_NAMESPACES in powerful or namespace in powerful


def _admin_bindings(snapshot: Snapshot, powerful: frozenset[str]) -> list[tuple[Binding, str, RoleBook]]:
    """(binding, how, book) for every binding that makes its subjects admin or gives them a path to it."""
    kube = snapshot.kube
    if kube is None:
        return []
    # The live roles are the truth (a binding to a role that does not exist grants nothing); a live
    # aggregated ClusterRole already holds the rules the aggregation controller copied into it.
    roles = {f.key: f for f in (RoleFacts.of(r) for r in kube.roles)}
    by_key = {RoleFacts.of(r).key: r for r in kube.roles}
    book = RoleBook(roles)
    found = []
    for binding in kube.bindings:
        namespaced = binding.kind == "RoleBinding"
        if namespaced and not _holds_power(binding.namespace, powerful):
            continue
        reasons = list(book.power(binding.role_key(), namespaced=namespaced) or ())
        role = by_key.get(binding.role_key())
        if role is not None:
            aws_auth_namespace = not namespaced or binding.namespace == KUBE_SYSTEM
            reasons += workload_reasons(role, aws_auth_namespace, kube.aws_auth is not None)
        if not reasons:
            continue
        if namespaced:
            where = f"in {binding.namespace}"
            if binding.namespace != KUBE_SYSTEM:
                where += " (a namespace with a cluster-admin service account)"
        else:
            where = "cluster-wide"
        how = f"{binding.kind} {binding.name} -> {binding.role_ref.describe()} {where} ({reasons[0]})"
        found.append((binding, how, book))
    return found


def _is_bootstrap_controller(binding: Binding, subject: Subject, book: RoleBook) -> bool:
    """The Kubernetes bootstrap binding `system:controller:<sa>` -> the (Cluster)Role of that name, whose
    rules give no more than the built-in role does, to the kube-system service account `<sa>`. What such a
    controller may do to pods and Secrets is its job (the replicaset controller creates pods)."""
    prefix = "system:controller:"
    if not (binding.name.startswith(prefix) and binding.role_ref.name == binding.name):
        return False
    if subject.namespace != KUBE_SYSTEM or subject.name != binding.name[len(prefix) :]:
        return False
    key = binding.role_key()
    builtin = builtin_roles().get(key)
    live = book.get(key)
    if builtin is None or live is None:
        return False
    namespaced = binding.kind == "RoleBinding"
    return set(book.power_of(live, namespaced)) <= set(RoleBook(builtin_roles()).power_of(builtin, namespaced))


def effective_admins(snapshot: Snapshot) -> AdminReport:
    """Admins through every door, with the namespaces that hold power computed to a fixed point (each round
    can only add namespaces, and there are finitely many)."""
    powerful = frozenset({KUBE_SYSTEM})
    while True:
        report = _effective_admins(snapshot, powerful)
        grown = powerful | _namespaces_of(report)
        if grown == powerful:
            return report
        powerful = grown


def _namespaces_of(report: AdminReport) -> frozenset[str]:
    """Namespaces whose service accounts include a cluster admin (`*`: every namespace)."""
    found = set()
    for admin in report.admins:
        if admin.principal.startswith(SERVICE_ACCOUNT_USER):
            found.add(admin.principal[len(SERVICE_ACCOUNT_USER) :].split(":", 1)[0])
        elif admin.principal.startswith(f"group {SERVICE_ACCOUNT_GROUP_PREFIX}"):
            found.add(admin.principal[len(f"group {SERVICE_ACCOUNT_GROUP_PREFIX}") :].split(" ", 1)[0])
        elif admin.principal.startswith(("group system:serviceaccounts ", "group system:authenticated ")):
            found.add(ALL_NAMESPACES)
    return frozenset(found)


def _effective_admins(snapshot: Snapshot, powerful: frozenset[str]) -> AdminReport:
    cluster = snapshot.cluster
    found = _Collector()
    latent: list[str] = []
    platform: list[str] = []
    notes: list[str] = []
    kube = snapshot.kube
    k8s = frozenset({SOURCE_KUBERNETES})
    eks = frozenset({SOURCE_EKS})

    aws_auth = parse_aws_auth(kube.aws_auth) if kube is not None and cluster.reads_aws_auth else None
    if kube is not None and not cluster.reads_aws_auth and kube.aws_auth:
        notes.append("aws-auth exists but the authentication mode API ignores it")
    if aws_auth is not None:
        for entry in aws_auth.masters():
            via = f"aws-auth {entry.source} item {entry.index} maps it to group {MASTERS_GROUP}"
            if entry.masters_via_template:
                via += f" (through template {', '.join(entry.masters_groups)})"
            found.add(
                _canonical(entry.principal), Door(DOOR_AWS_AUTH, via, k8s, f"aws-auth {entry.source} {entry.key}")
            )

    entries = snapshot.access_entries if cluster.reads_access_entries else None
    for access_entry in entries or ():
        for policy in access_entry.policies:
            why = admin_policy(policy, powerful)
            if why:
                found.add(
                    _canonical(access_entry.principal),
                    Door(
                        DOOR_ACCESS_POLICY,
                        f"access entry: {policy.describe()}: {why}",
                        eks,
                        f"access-policy {policy.name} {policy.scope} {sorted(policy.namespaces)}",
                    ),
                )

    recorded = {e.principal: {"username": entry_username(e), "groups": list(entry_groups(e))} for e in entries or ()}
    carriers = carriers_from(aws_auth, recorded)
    for binding, how, book in _admin_bindings(snapshot, powerful):
        for subject in binding.subjects:
            if found.pairs > MAX_RBAC_PAIRS:
                notes.append(TOO_MANY)
                break
            _rbac_subject(snapshot, subject, binding, how, book, carriers, found, latent, platform)
        if TOO_MANY in notes:
            break

    if snapshot.pod_identities is not None:
        admins = found.doors
        for association in snapshot.pod_identities:
            for role in (association.role_arn, association.target_role_arn):
                if not role:
                    continue
                doors = admins.get(_canonical(role))
                if doors:
                    account = f"system:serviceaccount:{association.namespace}:{association.service_account}"
                    via = (
                        f"pod identity association gives its pods role {role}, cluster admin through "
                        f"{', '.join(dict.fromkeys(d.kind for d in doors))}"
                    )
                    sources = frozenset().union(*(d.sources for d in doors)) | eks
                    found.add(account, Door(DOOR_POD_IDENTITY, via, sources, f"pod-identity {_canonical(role)}"))

    for provider in snapshot.identity_providers or ():
        if provider.groups_claim and not provider.groups_prefix:
            # no prefix: the issuer's tokens can carry the group system:masters (or any system: group)
            via = (
                f"{provider.describe()} has no groups prefix: a token whose {provider.groups_claim} claim holds "
                f"{MASTERS_GROUP} is cluster admin"
            )
            found.add(
                f"{provider.describe()}: {provider.groups_claim} {MASTERS_GROUP}",
                Door(DOOR_IDENTITY_PROVIDER, via, eks, f"identity-provider {provider.name} {MASTERS_GROUP}"),
            )

    if cluster.authentication_mode in (None, "CONFIG_MAP") and cluster.bootstrap_creator_admin:
        via = "bootstrap cluster-creator admin in CONFIG_MAP mode: listed by neither aws-auth nor the EKS API"
        found.add(CREATOR, Door(DOOR_CREATOR, via, eks, DOOR_CREATOR))
    return AdminReport(found.admins(), _capped(latent), _capped(platform), tuple(notes))


def _capped(lines: list[str]) -> tuple[str, ...]:
    unique = list(dict.fromkeys(lines))
    if len(unique) <= MAX_LISTED:
        return tuple(unique)
    return (*unique[:MAX_LISTED], f"... and {len(unique) - MAX_LISTED} more")


def _rbac_subject(
    snapshot: Snapshot,
    subject: Subject,
    binding: Binding,
    how: str,
    book: RoleBook,
    carriers: Carriers,
    found: _Collector,
    latent: list[str],
    platform: list[str],
) -> None:
    k8s = frozenset({SOURCE_KUBERNETES})
    both = frozenset({SOURCE_KUBERNETES, SOURCE_EKS})
    name = subject.name
    key = f"rbac {binding.key} {subject.kind}:{name}"
    if subject.kind == "ServiceAccount" or (subject.kind == "User" and name.startswith(SERVICE_ACCOUNT_USER)):
        # A ServiceAccount subject without a namespace is defaulted to the RoleBinding's namespace; a User
        # named system:serviceaccount:<ns>:<name> is that service account (the authorizer compares names).
        if subject.kind == "ServiceAccount":
            namespace = subject.namespace or binding.namespace or "(no namespace)"
            account = f"{SERVICE_ACCOUNT_USER}{namespace}:{name}"
        else:
            account = name
        if subject.kind == "ServiceAccount" and _is_bootstrap_controller(binding, subject, book):
            platform.append(f"{account}: {how}")
            return
        found.add(account, Door(DOOR_RBAC, how, k8s, key))
        return
    if subject.kind == "Group":
        if name == MASTERS_GROUP:
            return  # its members are the aws-auth door; the group is admin without any binding
        everyone = IMPLICIT_GROUPS.get(name)
        if everyone is None and name.startswith(SERVICE_ACCOUNT_GROUP_PREFIX):
            everyone = f"every service account in namespace {name[len(SERVICE_ACCOUNT_GROUP_PREFIX) :]}"
        if everyone is not None:
            found.add(f"group {name} ({everyone})", Door(DOOR_RBAC, how, k8s, key))
            return
        held: tuple[Carrier, ...] = carriers.of_group(name)
    elif subject.kind == "User":
        if name == ANONYMOUS:
            found.add(f"user {ANONYMOUS} (anonymous requests)", Door(DOOR_RBAC, how, k8s, key))
            return
        held = carriers.of_user(name)
    else:
        return
    found.pairs += len(held) + 1
    for carrier in held:
        sources = both if carrier.door == "access entry" else k8s
        found.add(
            _canonical(carrier.principal),
            Door(
                DOOR_RBAC,
                f"{carrier.door} gives it {subject.kind.lower()} {name}; {how}",
                sources,
                f"{key} by {_ITEM.sub('', carrier.door)}",
            ),
        )
    idp_doors = _identity_provider_doors(snapshot, subject)
    for principal, via in idp_doors:
        found.add(principal, Door(DOOR_RBAC, f"{via}; {how}", both, f"{key} by {principal}"))
    if held or idp_doors:
        return
    if subject.kind == "User" and (name in CONTROL_PLANE_USERS or name.startswith(EKS_PREFIX)):
        platform.append(f"user {name}: {how}")
    else:
        latent.append(f"{subject.kind.lower()} {name}: {how} (no principal carries it yet)")


def username_prefix(provider: IdentityProvider) -> str:
    """What the API server prepends to the username claim (EKS IdentityProviderConfig `usernamePrefix`):
    `-` disables prefixing; when none is given and the claim is not `email`, it is `<issuer>#`."""
    if provider.username_prefix == "-":
        return ""
    if provider.username_prefix:
        return provider.username_prefix
    claim = provider.username_claim or "sub"
    return "" if claim == "email" else f"{provider.issuer}#"


def _identity_provider_doors(snapshot: Snapshot, subject: Subject) -> list[tuple[str, str]]:
    """OIDC identities the API server would give this group or user name (the provider's prefix is
    prepended to every claim value, so a name with the prefix can come from the provider)."""
    doors = []
    for provider in snapshot.identity_providers or ():
        if subject.kind == "Group" and provider.groups_claim:
            prefix = provider.groups_prefix
        elif subject.kind == "User":
            prefix = username_prefix(provider)
        else:
            continue
        if subject.name.startswith(prefix):
            value = subject.name[len(prefix) :]
            claim = provider.groups_claim if subject.kind == "Group" else provider.username_claim or "sub"
            doors.append(
                (
                    f"{provider.describe()}: {claim} {value}",
                    f"tokens of {provider.describe()} with {claim} {value!r} carry {subject.kind.lower()} "
                    f"{subject.name}",
                )
            )
    return doors
