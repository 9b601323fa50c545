"""The RBAC state item: ordering by resourceVersion, bounded size, and what happens when it is full."""

from __future__ import annotations

import pytest

from eksguard.rbac import process as rbac_process
from eksguard.rbac import state as rbac_state
from eksguard.rbac.model import Binding, RoleRef, Subject
from eksguard.rbac.state import MAX_TOMBSTONES, Put, RbacState, decode, encode, fit
from eksguard.severity import Severity
from tests.rbac_harness import World
from tests.rbac_support import audit_entry, recorded_write


def binding(name: str, namespace: str | None = None) -> Binding:
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    return Binding(
        kind, name, namespace, RoleRef("ClusterRole", "view", "rbac.authorization.k8s.io"), (Subject("User", "u"),)
    )


def test_a_late_older_version_never_overwrites_a_newer_one() -> None:
    newer, older = binding("b"), Binding("ClusterRoleBinding", "b", None, RoleRef("ClusterRole", "cluster-admin"))
    state = (
        RbacState("prod")
        .apply([Put("ClusterRoleBinding/b", 20, newer)])
        .apply([Put("ClusterRoleBinding/b", 10, older)])
    )
    assert state.bindings["ClusterRoleBinding/b"] == newer
    assert decode("prod", encode(state), 3).bindings == state.bindings


def test_tombstones_are_pruned_to_the_newest() -> None:
    puts = [Put(f"RoleBinding/ns/b{i}", i, None) for i in range(MAX_TOMBSTONES + 500)]
    fitted, note = fit(RbacState("prod").apply(puts))
    assert note is None and len(fitted.versions) == MAX_TOMBSTONES
    assert min(fitted.versions.values()) == 500


def test_when_the_item_is_full_namespaced_bindings_go_first_and_an_alert_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rbac_state, "MAX_ITEM_BYTES", 2_000)
    monkeypatch.setattr(rbac_process, "MAX_ITEM_BYTES", 2_000)
    world = World()
    state = RbacState("prod").apply(
        [Put(f"RoleBinding/team-{i}/b{i}", i, binding(f"b{i}-{'x' * 40}", f"team-{i}")) for i in range(200)]
    )
    world.rbac.items["prod"] = state
    alerts = world.alerts(audit_entry(recorded_write("crb_create_user")))
    full = [a for a in alerts if a.title.startswith("RBAC knowledge of prod is incomplete")]
    assert [a.severity for a in full] == [Severity.HIGH]
    assert any(a.severity is Severity.CRITICAL for a in alerts)  # the verdict itself is not lost
    kept = world.rbac.load("prod")
    assert "ClusterRoleBinding/backdoor" in kept.bindings
    assert not any(b.kind == "RoleBinding" for b in kept.bindings.values())
