"""RBAC objects as the API server stores them: Roles, ClusterRoles, RoleBindings, ClusterRoleBindings.

Parsing follows the API server's own decoding of `rbac.authorization.k8s.io/v1` objects: field
names are case-sensitive (Kubernetes decodes JSON with a case-sensitive decoder, unlike plain Go
`encoding/json`), a list field that is not a list is an invalid object, and a value of the wrong type
is never guessed at. An object that does not parse as its kind is `None`: the caller reports the
content as unknown instead of judging something the API server would have read differently.

Sources: k8s.io/api/rbac/v1/types.go (field names); pkg/apis/rbac/validation (roleRef kinds, subject
kinds); sigs.k8s.io/json (case-sensitive decoding used by apimachinery).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RBAC_GROUP = "rbac.authorization.k8s.io"
ROLE_KINDS = {"roles": "Role", "clusterroles": "ClusterRole"}
BINDING_KINDS = {"rolebindings": "RoleBinding", "clusterrolebindings": "ClusterRoleBinding"}
RBAC_RESOURCES = frozenset(ROLE_KINDS) | frozenset(BINDING_KINDS)
SUBJECT_KINDS = frozenset({"User", "Group", "ServiceAccount"})


@dataclass(frozen=True)
class PolicyRule:
    verbs: tuple[str, ...] = ()
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    def to_json(self) -> dict[str, list[str]]:
        out = {
            "verbs": list(self.verbs),
            "apiGroups": list(self.api_groups),
            "resources": list(self.resources),
            "resourceNames": list(self.resource_names),
            "nonResourceURLs": list(self.non_resource_urls),
        }
        return {k: v for k, v in out.items() if v}


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # In | NotIn | Exists | DoesNotExist
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelSelector:
    """metav1.LabelSelector. An empty selector selects everything (LabelSelectorAsSelector)."""

    match_labels: tuple[tuple[str, str], ...] = ()
    expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, value in self.match_labels:
            if labels.get(key) != value:
                return False
        for req in self.expressions:
            present = key_present = req.key in labels
            if req.operator == "In" and not (present and labels[req.key] in req.values):
                return False
            if req.operator == "NotIn" and key_present and labels[req.key] in req.values:
                return False
            if req.operator == "Exists" and not present:
                return False
            if req.operator == "DoesNotExist" and present:
                return False
        return True

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.match_labels]
        for req in self.expressions:
            values = ",".join(req.values)
            parts.append(f"{req.key} {req.operator} ({values})" if values else f"{req.key} {req.operator}")
        return ", ".join(parts) or "(empty selector: every ClusterRole)"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.match_labels:
            out["matchLabels"] = dict(self.match_labels)
        if self.expressions:
            out["matchExpressions"] = [
                {"key": r.key, "operator": r.operator, **({"values": list(r.values)} if r.values else {})}
                for r in self.expressions
            ]
        return out


@dataclass(frozen=True)
class Role:
    kind: str  # Role | ClusterRole
    name: str
    namespace: str | None
    rules: tuple[PolicyRule, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    aggregation: tuple[LabelSelector, ...] | None = None  # ClusterRole aggregationRule.clusterRoleSelectors

    @property
    def key(self) -> str:
        return object_key(self.kind, self.namespace, self.name)

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class RoleRef:
    kind: str
    name: str
    api_group: str = RBAC_GROUP

    def describe(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Subject:
    kind: str
    name: str
    namespace: str | None = None
    api_group: str | None = None

    def describe(self) -> str:
        if self.kind == "ServiceAccount":
            return f"ServiceAccount {self.namespace or '(no namespace)'}/{self.name}"
        return f"{self.kind} {self.name}"

    @property
    def username(self) -> str | None:
        """The user name the authorizer compares with: a ServiceAccount is `system:serviceaccount:ns:name`."""
        if self.kind == "User":
            return self.name
        if self.kind == "ServiceAccount" and self.namespace:
            return f"system:serviceaccount:{self.namespace}:{self.name}"
        return None


@dataclass(frozen=True)
class Binding:
    kind: str  # RoleBinding | ClusterRoleBinding
    name: str
    namespace: str | None
    role_ref: RoleRef
    subjects: tuple[Subject, ...] = ()

    @property
    def key(self) -> str:
        return object_key(self.kind, self.namespace, self.name)

    def role_key(self) -> str:
        """The role this binding grants: a RoleBinding's Role lives in the binding's namespace."""
        namespace = self.namespace if self.role_ref.kind == "Role" else None
        return object_key(self.role_ref.kind, namespace, self.role_ref.name)


def object_key(kind: str, namespace: str | None, name: str) -> str:
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


class Invalid(ValueError):
    """The object is not a valid RBAC object of its kind: the API server would have refused or read it otherwise."""


def _strings(value: object, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid(f"{field} is not a list of strings")
    return tuple(value)


def _text(value: object, field: str, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise Invalid(f"{field} is missing")
        return None
    if not isinstance(value, str):
        raise Invalid(f"{field} is not a string")
    return value


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise Invalid("metadata is not an object")
    return metadata


def _labels(metadata: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    labels = metadata.get("labels")
    if labels is None:
        return ()
    if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
        raise Invalid("metadata.labels is not a map of strings")
    return tuple(sorted((str(k), v) for k, v in labels.items()))


def parse_rule(raw: object) -> PolicyRule:
    if not isinstance(raw, Mapping):
        raise Invalid("a rule is not an object")
    return PolicyRule(
        verbs=_strings(raw.get("verbs"), "rules[].verbs"),
        api_groups=_strings(raw.get("apiGroups"), "rules[].apiGroups"),
        resources=_strings(raw.get("resources"), "rules[].resources"),
        resource_names=_strings(raw.get("resourceNames"), "rules[].resourceNames"),
        non_resource_urls=_strings(raw.get("nonResourceURLs"), "rules[].nonResourceURLs"),
    )


def parse_selector(raw: object) -> LabelSelector:
    if not isinstance(raw, Mapping):
        raise Invalid("a clusterRoleSelector is not an object")
    labels = raw.get("matchLabels") or {}
    if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
        raise Invalid("matchLabels is not a map of strings")
    expressions = []
    for item in raw.get("matchExpressions") or []:
        if not isinstance(item, Mapping):
            raise Invalid("a matchExpression is not an object")
        operator = item.get("operator")
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise Invalid(f"matchExpression operator {operator!r} is not valid")
        key = _text(item.get("key"), "matchExpressions[].key", required=True)
        assert key is not None
        expressions.append(Requirement(key, operator, _strings(item.get("values"), "matchExpressions[].values")))
    return LabelSelector(tuple(sorted((str(k), v) for k, v in labels.items())), tuple(expressions))


def parse_role(obj: object, kind: str) -> Role:
    """A Role or ClusterRole; raises Invalid for anything the API server would not have stored."""
    if not isinstance(obj, Mapping):
        raise Invalid(f"{kind} is not an object")
    if obj.get("kind") not in (None, kind):
        raise Invalid(f"object kind is {obj.get('kind')!r}, not {kind}")
    metadata = _metadata(obj)
    rules_raw = obj.get("rules")
    if rules_raw is not None and not isinstance(rules_raw, list):
        raise Invalid("rules is not a list")
    aggregation: tuple[LabelSelector, ...] | None = None
    aggregation_raw = obj.get("aggregationRule")
    if aggregation_raw is not None and kind == "ClusterRole":
        if not isinstance(aggregation_raw, Mapping):
            raise Invalid("aggregationRule is not an object")
        selectors = aggregation_raw.get("clusterRoleSelectors")
        if selectors is not None and not isinstance(selectors, list):
            raise Invalid("aggregationRule.clusterRoleSelectors is not a list")
        aggregation = tuple(parse_selector(s) for s in selectors or [])
    return Role(
        kind=kind,
        name=_text(metadata.get("name"), "metadata.name") or "",
        namespace=_text(metadata.get("namespace"), "metadata.namespace") if kind == "Role" else None,
        rules=tuple(parse_rule(r) for r in rules_raw or []),
        labels=_labels(metadata),
        aggregation=aggregation,
    )


def parse_subject(raw: object) -> Subject:
    if not isinstance(raw, Mapping):
        raise Invalid("a subject is not an object")
    kind = _text(raw.get("kind"), "subjects[].kind", required=True)
    name = _text(raw.get("name"), "subjects[].name", required=True)
    assert kind is not None and name is not None
    return Subject(
        kind=kind,
        name=name,
        namespace=_text(raw.get("namespace"), "subjects[].namespace"),
        api_group=_text(raw.get("apiGroup"), "subjects[].apiGroup"),
    )


def parse_binding(obj: object, kind: str) -> Binding:
    """A RoleBinding or ClusterRoleBinding; raises Invalid for anything the API server would not store."""
    if not isinstance(obj, Mapping):
        raise Invalid(f"{kind} is not an object")
    if obj.get("kind") not in (None, kind):
        raise Invalid(f"object kind is {obj.get('kind')!r}, not {kind}")
    metadata = _metadata(obj)
    ref = obj.get("roleRef")
    if not isinstance(ref, Mapping):
        raise Invalid("roleRef is missing")
    ref_kind = _text(ref.get("kind"), "roleRef.kind", required=True)
    ref_name = _text(ref.get("name"), "roleRef.name", required=True)
    assert ref_kind is not None and ref_name is not None
    subjects_raw = obj.get("subjects")
    if subjects_raw is not None and not isinstance(subjects_raw, list):
        raise Invalid("subjects is not a list")
    return Binding(
        kind=kind,
        name=_text(metadata.get("name"), "metadata.name") or "",
        namespace=_text(metadata.get("namespace"), "metadata.namespace") if kind == "RoleBinding" else None,
        role_ref=RoleRef(ref_kind, ref_name, _text(ref.get("apiGroup"), "roleRef.apiGroup") or ""),
        subjects=tuple(parse_subject(s) for s in subjects_raw or []),
    )
