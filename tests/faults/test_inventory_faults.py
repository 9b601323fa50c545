"""Inventory faults: the Kubernetes API unreachable, 401, 403, a CA mismatch, throttling, an EKS API
refusal, one cluster failing among many. Each is reported (a blind spot or a failed cluster), the
other clusters and the other doors are still inventoried, and nothing reads as "no admins"."""

from __future__ import annotations

import base64
import socket
from typing import Any

import pytest

from tests.inventory_world import REGION, LocalWorld, admin_entry, invoke, queued_alerts
from tests.kube_world import INTRUDER, PLATFORM_ADMIN, aws_auth, masters_mapping


def blind_spots(alerts: list[dict[str, Any]]) -> dict[str, str]:
    return {dict(a["facts"])["Blind spot"]: a["severity"] for a in alerts if a["kind"] == "inventory-blind-spot"}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_api_is_a_blind_spot_and_eks_doors_still_count(
    inventory_world: LocalWorld, inventory_env: dict[str, Any], lambda_context: Any
) -> None:
    inventory_world.add_cluster("prod", entries=[admin_entry(INTRUDER)])
    inventory_world.front.eks.replace(
        [{**inventory_world.clusters[0], "endpoint": f"https://127.0.0.1:{closed_port()}/clusters/prod"}]
    )
    result = invoke({"action": "inventory"}, lambda_context)
    assert result["status"] == "ok"
    alerts = queued_alerts(inventory_env["queue"])
    assert blind_spots(alerts) == {"kubernetes-api:unreachable": "HIGH"}
    assert [a["principal"] for a in alerts if a["kind"] == "inventory-admin-found"] == [INTRUDER]


@pytest.mark.parametrize(
    ("kube", "key"),
    [
        ({"fault": 401}, "kubernetes-api:unauthorized"),
        ({"readers": ["arn:aws:iam::123456789012:role/other"]}, "kubernetes-api:forbidden"),
    ],
)
def test_no_access_is_reported_once_and_never_as_no_admins(
    inventory_world: LocalWorld, inventory_env: dict[str, Any], lambda_context: Any, kube: dict[str, Any], key: str
) -> None:
    inventory_world.add_cluster("prod", entries=[], config=aws_auth(masters_mapping(INTRUDER)))
    invoke({"action": "inventory"}, lambda_context)
    assert [a["principal"] for a in queued_alerts(inventory_env["queue"])] == [INTRUDER]
    inventory_world.add_cluster("prod", entries=[], config=aws_auth(masters_mapping(INTRUDER)), kube=kube)
    invoke({"action": "inventory"}, lambda_context)
    alerts = queued_alerts(inventory_env["queue"])
    assert blind_spots(alerts) == {key: "HIGH"}
    assert not [a for a in alerts if a["kind"] == "inventory-admin-gone"]  # unknown, not gone
    invoke({"action": "inventory"}, lambda_context)
    assert queued_alerts(inventory_env["queue"]) == []  # once
    invoke({"action": "digest"}, lambda_context)
    [digest] = queued_alerts(inventory_env["queue"])
    text = dict(digest["facts"])[f"prod ({REGION})"]
    assert "unverified" in text and INTRUDER in text


def test_a_certificate_from_another_ca_is_refused(
    inventory_world: LocalWorld, inventory_env: dict[str, Any], lambda_context: Any
) -> None:
    from kube_standin import make_certificates

    other_ca, _, _ = make_certificates(["127.0.0.1"])
    inventory_world.add_cluster("prod", entries=[], ca=base64.b64encode(other_ca.encode()).decode())
    invoke({"action": "inventory"}, lambda_context)
    assert blind_spots(queued_alerts(inventory_env["queue"])) == {"kubernetes-api:tls": "HIGH"}
    assert inventory_world.requests() == []  # the handshake failed: no request (and no token) reached the server


def test_throttling_is_retried_then_reported(
    inventory_world: LocalWorld, inventory_env: dict[str, Any], lambda_context: Any
) -> None:
    inventory_world.add_cluster(
        "prod", entries=[], config=aws_auth(masters_mapping(INTRUDER)), kube={"fault": 429, "fault_count": 1}
    )
    result = invoke({"action": "inventory"}, lambda_context)
    assert result["status"] == "ok" and result["admins"] == 1
    assert [r["status"] for r in inventory_world.requests()][:2] == [429, 200]
    queued_alerts(inventory_env["queue"])
    inventory_world.add_cluster("prod", entries=[], kube={"fault": 429})
    invoke({"action": "inventory"}, lambda_context)
    assert blind_spots(queued_alerts(inventory_env["queue"])) == {"kubernetes-api:throttled": "HIGH"}


def test_an_eks_api_refusal_blinds_that_part_only(
    inventory_world: LocalWorld, inventory_env: dict[str, Any], lambda_context: Any
) -> None:
    inventory_world.add_cluster(
        "prod",
        entries=[admin_entry(PLATFORM_ADMIN)],
        config=aws_auth(masters_mapping(INTRUDER)),
        fault="AccessDeniedException",
    )
    invoke({"action": "inventory"}, lambda_context)
    alerts = queued_alerts(inventory_env["queue"])
    assert blind_spots(alerts) == {
        "eks-api:access-entries": "HIGH",
        "eks-api:identity-providers": "HIGH",
        "eks-api:pod-identity": "HIGH",
    }
    assert [a["principal"] for a in alerts if a["kind"] == "inventory-admin-found"] == [INTRUDER]


def test_one_cluster_failing_among_many(
    inventory_world: LocalWorld, inventory_env: dict[str, Any], lambda_context: Any
) -> None:
    for name in ("a", "b", "c", "d"):
        fault: dict[str, Any] = {"describeFault": "AccessDeniedException"} if name == "b" else {}
        inventory_world.add_cluster(name, entries=[admin_entry(INTRUDER)], **fault)
    result = invoke({"action": "inventory"}, lambda_context)
    assert result["status"] == "partial"
    assert result["failed"] == [f"b ({REGION})"] and result["ok"] == 3
    alerts = queued_alerts(inventory_env["queue"])
    assert sorted(a["cluster"] for a in alerts if a["kind"] == "inventory-admin-found") == ["a", "c", "d"]
    [failed] = [a for a in alerts if a["kind"] == "inventory-failed"]
    assert (
        failed["severity"] == "HIGH" and failed["cluster"] == "b" and "AccessDenied" in dict(failed["facts"])["Error"]
    )
