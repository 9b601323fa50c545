"""What eksguard has seen of a cluster's roles and bindings, kept between deliveries.

One DynamoDB item per cluster (key `<cluster>#rbac`, beside the aws-auth item `<cluster>`; EKS
cluster names cannot hold `#`; `<cluster>` is `accounts.cluster_key`, so another account's cluster is
`<account>:<name>#rbac`), gzipped JSON: roles as `RoleFacts` (admin-equivalence reasons,
labels, aggregation selectors: not the rules), bindings whole (role reference and subjects), and the
resourceVersion each object was last seen at, so a late delivery never overwrites a newer version.

Writes are optimistic: the item carries a revision, a write succeeds only over the revision it read,
and on a conflict the caller reloads and reapplies its (idempotent) changes.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from eksguard import aws
from eksguard.rbac.model import Binding, RoleRef, Subject, parse_selector
from eksguard.rbac.power import RoleFacts

KEY_SUFFIX = "#rbac"
MAX_ITEM_BYTES = 350_000  # DynamoDB items are capped at 400 KB; keep room for the other attributes
MAX_TOMBSTONES = 1_000  # versions kept for deleted objects (late deliveries of them stay ordered)


@dataclass(frozen=True)
class Put:
    key: str
    resource_version: int | None
    value: RoleFacts | Binding | None  # None: deleted


@dataclass(frozen=True)
class RbacState:
    cluster: str
    roles: Mapping[str, RoleFacts] = field(default_factory=dict)
    bindings: Mapping[str, Binding] = field(default_factory=dict)
    versions: Mapping[str, int] = field(default_factory=dict)
    revision: int = 0

    def apply(self, puts: list[Put]) -> RbacState:
        roles, bindings, versions = dict(self.roles), dict(self.bindings), dict(self.versions)
        for put in puts:
            known = versions.get(put.key)
            if put.resource_version is not None and known is not None and known >= put.resource_version:
                continue  # a late delivery of an older version
            if put.resource_version is not None:
                versions[put.key] = put.resource_version
            if isinstance(put.value, RoleFacts):
                roles[put.key] = put.value
            elif isinstance(put.value, Binding):
                bindings[put.key] = put.value
            else:
                roles.pop(put.key, None)
                bindings.pop(put.key, None)
        return replace(self, roles=roles, bindings=bindings, versions=versions)


def fit(state: RbacState) -> tuple[RbacState, str | None]:
    """`state` within the item size, and what had to be left out (None: nothing).

    First the oldest tombstones go (versions of deleted objects beyond MAX_TOMBSTONES), then, if still
    too large, the RoleBindings outside kube-system: no CRITICAL verdict depends on them (a namespace's
    grant is MEDIUM, and forgetting one only means its subjects are reported again). What does not fit
    after that is not saved, and the caller raises an alert: eksguard's knowledge stops growing."""
    live = set(state.roles) | set(state.bindings)
    tombstones = sorted((v, k) for k, v in state.versions.items() if k not in live)
    if len(tombstones) > MAX_TOMBSTONES:
        dropped = {k for _, k in tombstones[: len(tombstones) - MAX_TOMBSTONES]}
        state = replace(state, versions={k: v for k, v in state.versions.items() if k not in dropped})
    if len(encode(state)) <= MAX_ITEM_BYTES:
        return state, None
    versions = {k: v for k, v in state.versions.items() if k in live}
    bindings = {
        k: b for k, b in state.bindings.items() if b.kind == "ClusterRoleBinding" or b.namespace == "kube-system"
    }
    kept = len(bindings)
    state = replace(state, versions=versions, bindings=bindings)
    note = f"RoleBindings outside kube-system no longer remembered ({len(live) - len(state.roles) - kept} left out)"
    return state, note


def binding_to_json(binding: Binding) -> dict[str, Any]:
    subjects = []
    for s in binding.subjects:
        item = {"kind": s.kind, "name": s.name}
        if s.namespace:
            item["namespace"] = s.namespace
        if s.api_group:
            item["apiGroup"] = s.api_group
        subjects.append(item)
    metadata: dict[str, Any] = {"name": binding.name}
    if binding.namespace:
        metadata["namespace"] = binding.namespace
    return {
        "kind": binding.kind,
        "metadata": metadata,
        "roleRef": {
            "kind": binding.role_ref.kind,
            "name": binding.role_ref.name,
            "apiGroup": binding.role_ref.api_group,
        },
        "subjects": subjects,
    }


def _role_to_json(facts: RoleFacts) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": facts.kind,
        "name": facts.name,
        "own": list(facts.own),
        "own_ns": list(facts.own_in_namespace),
        "source": facts.source,
    }
    if facts.namespace:
        out["namespace"] = facts.namespace
    if facts.labels:
        out["labels"] = dict(facts.labels)
    if facts.aggregation is not None:
        out["aggregation"] = [s.to_json() for s in facts.aggregation]
    return out


def _role_from_json(raw: Mapping[str, Any]) -> RoleFacts:
    aggregation = raw.get("aggregation")
    return RoleFacts(
        kind=raw["kind"],
        name=raw["name"],
        namespace=raw.get("namespace"),
        own=tuple(raw.get("own") or ()),
        own_in_namespace=tuple(raw.get("own_ns") or ()),
        labels=tuple(sorted((raw.get("labels") or {}).items())),
        aggregation=None if aggregation is None else tuple(parse_selector(s) for s in aggregation),
        source=raw.get("source", "seen"),
    )


def _binding_from_json(raw: Mapping[str, Any]) -> Binding:
    ref = raw["roleRef"]
    metadata = raw.get("metadata") or {}
    return Binding(
        kind=raw["kind"],
        name=metadata.get("name", ""),
        namespace=metadata.get("namespace"),
        role_ref=RoleRef(ref["kind"], ref["name"], ref.get("apiGroup", "")),
        subjects=tuple(
            Subject(s["kind"], s["name"], s.get("namespace"), s.get("apiGroup")) for s in raw.get("subjects") or []
        ),
    )


def encode(state: RbacState) -> bytes:
    document = {
        "roles": {k: _role_to_json(v) for k, v in sorted(state.roles.items())},
        "bindings": {k: binding_to_json(v) for k, v in sorted(state.bindings.items())},
        "versions": dict(sorted(state.versions.items())),
    }
    return gzip.compress(json.dumps(document, separators=(",", ":")).encode("utf-8"), mtime=0)


def decode(cluster: str, packed: bytes, revision: int) -> RbacState:
    document = json.loads(gzip.decompress(packed))
    return RbacState(
        cluster=cluster,
        roles={k: _role_from_json(v) for k, v in document.get("roles", {}).items()},
        bindings={k: _binding_from_json(v) for k, v in document.get("bindings", {}).items()},
        versions={k: int(v) for k, v in document.get("versions", {}).items()},
        revision=revision,
    )


class RbacStore(Protocol):
    def load(self, cluster: str) -> RbacState: ...

    def save(self, state: RbacState) -> bool:
        """Write `state` over revision `state.revision`; False when another writer came first."""
        ...


def read_state(table_name: str, region: str, cluster: str, lookup: bool = False) -> RbacState:
    """The stored RBAC state of a cluster; `lookup`: with the short, bounded lookup client (the CloudTrail
    detector asks who RBAC makes admin before it can judge an access entry)."""
    client = aws.lookup_client("dynamodb", region) if lookup else aws.client("dynamodb", region)
    response = client.get_item(TableName=table_name, Key={"cluster": {"S": cluster + KEY_SUFFIX}}, ConsistentRead=True)
    item = response.get("Item")
    if not item:
        return RbacState(cluster=cluster)
    return decode(cluster, item["rbac_gz"]["B"], int(item["revision"]["N"]))
