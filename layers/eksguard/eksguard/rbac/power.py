"""Which roles are admin-equivalent, and why: the RBAC rule semantics of the Kubernetes API server.

A rule is matched exactly as the authorizer matches it (kubernetes/kubernetes
pkg/apis/rbac/v1/evaluation_helpers.go: `VerbMatches`, `APIGroupMatches`, `ResourceMatches`,
`ResourceNameMatches`): `*` is a wildcard only as a whole entry, an empty apiGroups list matches no
group, `*/sub` matches that subresource of every resource. A role is admin-equivalent when one of
its rules lets a holder become cluster admin:

* `*` verbs on `*` resources of every API group (`*`) or of the core group (secrets, pods, service
  account tokens); `*` on `*` limited to other groups (an operator's own CRDs) is not enough alone;
* `escalate` on roles/clusterroles: write a role with any permission, the holder's own included;
* `bind` on roles/clusterroles: bind any role (cluster-admin) to anyone;
* `impersonate` on users, groups or serviceaccounts: act as `system:masters` or as a kube-system
  service account;
* `create` on serviceaccounts/token: mint a token for any service account in scope (kube-system ones,
  bound to powerful roles, included).

A rule restricted by `resourceNames` still counts for escalate/bind/impersonate (the named objects
are enough: `bind` on `cluster-admin`, `impersonate` of the user `admin`); it does not count for the
`*`-on-`*` and token checks, which then touch only the named objects.

Aggregation (the clusterrole-aggregation-controller): a ClusterRole with an `aggregationRule` gets
the rules of every ClusterRole whose labels match one of its selectors, so a role labelled
`rbac.authorization.k8s.io/aggregate-to-view: "true"` with `*` rules makes `view` admin-equivalent,
and an aggregationRule whose selector matches `cluster-admin`'s labels (or an empty selector, which
matches every ClusterRole) makes its owner admin-equivalent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from eksguard.rbac.model import RBAC_GROUP, LabelSelector, PolicyRule, Role

ALL = "*"
CORE_GROUP = ""
MAX_AGGREGATION_DEPTH = 16
MAX_AGGREGATION_VISITS = 500
MAX_REASONS = 6
AGGREGATES = "aggregates ClusterRole "


def verb_matches(rule: PolicyRule, verb: str) -> bool:
    return any(v in (ALL, verb) for v in rule.verbs)


def api_group_matches(rule: PolicyRule, group: str) -> bool:
    return any(g in (ALL, group) for g in rule.api_groups)


def resource_matches(rule: PolicyRule, resource: str, subresource: str = "") -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for item in rule.resources:
        if item in (ALL, combined):
            return True
        if subresource and item == f"*/{subresource}":
            return True
    return False


def _names(rule: PolicyRule) -> str:
    return f" named {', '.join(rule.resource_names)}" if rule.resource_names else ""


def rule_reasons(rule: PolicyRule) -> list[tuple[str, bool]]:
    """Why this one rule makes its holder admin-equivalent (empty: it does not), each reason with whether
    it still holds when the role is granted by a RoleBinding (namespaced resources only: escalating a
    ClusterRole and impersonating users or groups are cluster-scoped checks; `bind` on clusterroles is
    checked in the binding's namespace, so a RoleBinding may still delegate cluster-admin there)."""
    reasons: list[tuple[str, bool]] = []
    if (
        ALL in rule.verbs
        and ALL in rule.resources
        and (ALL in rule.api_groups or CORE_GROUP in rule.api_groups)
        and not rule.resource_names
        and not rule.non_resource_urls
    ):
        groups = ", ".join(repr(g) if g in (ALL, CORE_GROUP) else g for g in rule.api_groups)
        reasons.append((f"`*` verbs on `*` resources (apiGroups {groups})", True))
    if api_group_matches(rule, RBAC_GROUP):
        for verb in ("escalate", "bind"):
            if not verb_matches(rule, verb):
                continue
            for resource in ("clusterroles", "roles"):
                if resource_matches(rule, resource):
                    in_namespace = resource == "roles" or verb == "bind"
                    reasons.append((f"`{verb}` on {resource}{_names(rule)}", in_namespace))
    if api_group_matches(rule, CORE_GROUP) and verb_matches(rule, "impersonate"):
        for resource in ("users", "groups", "serviceaccounts"):
            if resource_matches(rule, resource):
                reasons.append((f"`impersonate` on {resource}{_names(rule)}", resource == "serviceaccounts"))
    if (
        api_group_matches(rule, CORE_GROUP)
        and verb_matches(rule, "create")
        and resource_matches(rule, "serviceaccounts", "token")
    ):
        whom = (
            f"the service accounts named {', '.join(rule.resource_names)}"
            if rule.resource_names
            else ("any service account in scope")
        )
        reasons.append((f"`create` on serviceaccounts/token (mints a token for {whom})", True))
    return reasons


def own_reasons(rules: Iterable[PolicyRule], namespaced: bool = False) -> tuple[str, ...]:
    """Why a role is admin-equivalent from its own rules, each reason once, in rule order; `namespaced`:
    only the reasons that hold when a RoleBinding grants the role."""
    seen: dict[str, None] = {}
    for rule in rules:
        for reason, in_namespace in rule_reasons(rule):
            if in_namespace or not namespaced:
                seen.setdefault(reason, None)
    if any(r.startswith("`*` verbs on `*`") for r in seen):
        # everything else follows from the wildcard; name it alone
        return tuple(r for r in seen if r.startswith("`*` verbs on `*`"))
    return tuple(seen)


@dataclass(frozen=True)
class RoleFacts:
    """What eksguard knows about one role: enough to judge bindings of it and aggregation through it."""

    kind: str
    name: str
    namespace: str | None
    own: tuple[str, ...]  # admin-equivalence reasons from its own rules
    own_in_namespace: tuple[str, ...] = ()  # those that hold when a RoleBinding grants it
    labels: tuple[tuple[str, str], ...] = ()
    aggregation: tuple[LabelSelector, ...] | None = None
    source: str = "seen"  # "built-in" (Kubernetes bootstrap policy) or "seen" (written in the audit log)

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"

    @classmethod
    def of(cls, role: Role, source: str = "seen") -> RoleFacts:
        return cls(
            kind=role.kind,
            name=role.name,
            namespace=role.namespace,
            own=own_reasons(role.rules),
            own_in_namespace=own_reasons(role.rules, namespaced=True),
            labels=role.labels,
            aggregation=role.aggregation,
            source=source,
        )


class RoleBook:
    """Known roles by key; `power()` answers "is this role admin-equivalent, and why" with aggregation."""

    def __init__(self, roles: Mapping[str, RoleFacts]) -> None:
        self._roles = dict(roles)
        self._memo: dict[tuple[str, bool], tuple[str, ...]] = {}

    def get(self, key: str) -> RoleFacts | None:
        return self._roles.get(key)

    def with_role(self, facts: RoleFacts) -> RoleBook:
        roles = dict(self._roles)
        roles[facts.key] = facts
        return RoleBook(roles)

    def without(self, key: str) -> RoleBook:
        roles = dict(self._roles)
        roles.pop(key, None)
        return RoleBook(roles)

    def cluster_roles(self) -> Iterable[RoleFacts]:
        return (r for r in self._roles.values() if r.kind == "ClusterRole")

    def aggregated_from(self, facts: RoleFacts) -> list[tuple[RoleFacts, LabelSelector]]:
        """ClusterRoles whose rules the aggregation controller copies into `facts`."""
        if facts.kind != "ClusterRole" or facts.aggregation is None:
            return []
        found = []
        for other in self.cluster_roles():
            if other.key == facts.key:
                continue
            labels = dict(other.labels)
            for selector in facts.aggregation:
                if selector.matches(labels):
                    found.append((other, selector))
                    break
        return found

    def aggregated_into(self, facts: RoleFacts) -> list[tuple[RoleFacts, LabelSelector]]:
        """ClusterRoles that collect the rules of `facts` through their aggregationRule."""
        if facts.kind != "ClusterRole":
            return []
        labels = dict(facts.labels)
        found = []
        for other in self.cluster_roles():
            if other.key == facts.key or other.aggregation is None:
                continue
            for selector in other.aggregation:
                if selector.matches(labels):
                    found.append((other, selector))
                    break
        return found

    def power(self, key: str, namespaced: bool = False) -> tuple[str, ...] | None:
        """Admin-equivalence reasons of a role (empty: not admin-equivalent); None when the role is unknown.
        `namespaced`: as granted by a RoleBinding."""
        facts = self._roles.get(key)
        if facts is None:
            return None
        return self.power_of(facts, namespaced)

    def power_of(self, facts: RoleFacts, namespaced: bool = False) -> tuple[str, ...]:
        return self._power(facts, namespaced, set(), [MAX_AGGREGATION_VISITS])

    def _power(self, facts: RoleFacts, namespaced: bool, in_progress: set[str], budget: list[int]) -> tuple[str, ...]:
        """Own reasons plus those of every aggregated source, each role computed once (memo), a cycle
        cut where it closes, the walk bounded in depth and in roles visited and each role's reasons
        capped: a deep, wide graph of aggregating roles cannot make the judge slow."""
        memo_key = (facts.key, namespaced)
        if memo_key in self._memo:
            return self._memo[memo_key]
        reasons = list(facts.own_in_namespace if namespaced else facts.own)
        if facts.aggregation is not None and facts.key not in in_progress:
            in_progress.add(facts.key)
            for source, _selector in self.aggregated_from(facts):
                if budget[0] <= 0 or len(in_progress) > MAX_AGGREGATION_DEPTH:
                    reasons.append(f"{AGGREGATES}(too many aggregated roles to read them all)")
                    break
                budget[0] -= 1
                for reason in self._power(source, namespaced, in_progress, budget):
                    if reason.startswith(AGGREGATES):
                        reasons.append(f"{AGGREGATES}{source.name} > {reason[len(AGGREGATES) :]}")
                    else:
                        reasons.append(f"{AGGREGATES}{source.name}: {reason}")
            in_progress.discard(facts.key)
        result = tuple(dict.fromkeys(reasons))[:MAX_REASONS]
        self._memo[memo_key] = result
        return result
