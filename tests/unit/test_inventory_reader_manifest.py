"""The shipped read-only RBAC for the inventory: it allows exactly the GETs the reader makes, nothing
admin-equivalent, no Secrets, and the aws-auth ConfigMap only by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from eksguard.inventory import kube_reader
from eksguard.rbac.model import parse_binding, parse_role
from eksguard.rbac.power import RoleBook, RoleFacts, api_group_matches, resource_matches, verb_matches

MANIFEST = Path(__file__).resolve().parents[2] / "docs" / "manifests" / "inventory-reader.yaml"


def documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]


def test_the_manifest_is_what_the_reader_needs_and_no_more() -> None:
    docs = {d["kind"]: d for d in documents()}
    cluster_role = parse_role(docs["ClusterRole"], "ClusterRole")
    role = parse_role(docs["Role"], "Role")
    assert RoleBook({}).power_of(RoleFacts.of(cluster_role)) == ()
    assert RoleBook({}).power_of(RoleFacts.of(role), namespaced=True) == ()
    # every list the reader makes is allowed cluster-wide
    for _, path in kube_reader.LISTS:
        resource = path.rsplit("/", 1)[1]
        assert any(
            verb_matches(r, "list")
            and api_group_matches(r, "rbac.authorization.k8s.io")
            and resource_matches(r, resource)
            for r in cluster_role.rules
        ), resource
    # aws-auth by name only, in kube-system only; no Secrets anywhere
    assert role.namespace == "kube-system"
    [rule] = role.rules
    assert rule.resources == ("configmaps",) and rule.resource_names == ("aws-auth",) and rule.verbs == ("get",)
    assert kube_reader.AWS_AUTH_PATH == "/api/v1/namespaces/kube-system/configmaps/aws-auth"
    for r in cluster_role.rules + role.rules:
        assert not resource_matches(r, "secrets") and set(r.verbs) <= {"get", "list"}


def test_both_bindings_name_the_group_the_setup_gives_the_inventory_role() -> None:
    kinds = {"ClusterRoleBinding", "RoleBinding"}
    bindings = [parse_binding(d, d["kind"]) for d in documents() if d["kind"] in kinds]
    assert len(bindings) == 2
    for binding in bindings:
        assert [(s.kind, s.name) for s in binding.subjects] == [("Group", "eksguard-inventory-readers")]
