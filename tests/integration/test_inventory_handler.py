"""InventoryFunction end to end on 127.0.0.1: moto (server) for AWS, the local front for the EKS access
APIs moto lacks, and the Kubernetes API stand-in (HTTPS, own CA) that checks eksguard's token and calls
moto's STS with it, as EKS does."""

from __future__ import annotations

from typing import Any

import boto3

from tests.inventory_world import REGION, LocalWorld, admin_entry, invoke, queued_alerts
from tests.kube_world import (
    INTRUDER,
    KUBECTL_ROLE,
    PLATFORM_ADMIN,
    aws_auth,
    cluster_binding,
    group,
    masters_mapping,
    with_objects,
)
from tests.stop_world import launch

ALLOWED_PATHS = {
    "/api/v1/namespaces/kube-system/configmaps/aws-auth",
    "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "/apis/rbac.authorization.k8s.io/v1/roles",
    "/apis/rbac.authorization.k8s.io/v1/rolebindings",
}


def kubectl_instance(cluster: str, role_name: str = "eksguard-kubectl-prod") -> None:
    """A tagged kubectl instance whose instance profile carries the kubectl role (expected admin)."""
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument="{}")
    iam.create_instance_profile(InstanceProfileName=role_name)
    iam.add_role_to_instance_profile(InstanceProfileName=role_name, RoleName=role_name)
    launch(REGION, 1, {"kubectl-instance": "true", "eks-cluster": cluster}, IamInstanceProfile={"Name": role_name})


def test_baseline_then_an_intruder_found_by_inventory(
    inventory_world: LocalWorld, inventory_env: dict[str, Any], lambda_context: Any
) -> None:
    kubectl_instance("prod")
    inventory_world.add_cluster("prod", entries=[admin_entry(KUBECTL_ROLE), admin_entry(PLATFORM_ADMIN)])
    first = invoke({"action": "inventory"}, lambda_context)
    assert first["status"] == "ok" and first["clusters"] == 1 and first["admins"] == 2
    assert queued_alerts(inventory_env["queue"]) == []  # both admins are expected

    # no log shows this: the Kubernetes side changes behind eksguard's back
    inventory_world.add_cluster(
        "prod",
        entries=[
            admin_entry(KUBECTL_ROLE),
            admin_entry(PLATFORM_ADMIN),
            {"principalArn": INTRUDER, "kubernetesGroups": ["ops"]},
        ],
        objects=with_objects(clusterrolebindings=[cluster_binding("ops", "cluster-admin", [group("ops")])]),
    )
    second = invoke({"action": "inventory"}, lambda_context)
    [alert] = queued_alerts(inventory_env["queue"])
    assert alert["severity"] == "CRITICAL" and alert["principal"] == INTRUDER
    assert alert["title"] == f"{INTRUDER} became cluster admin (rbac): found by inventory"
    doors = dict(alert["facts"])["Doors"]
    assert "access entry gives it group ops" in doors and "ClusterRoleBinding ops -> ClusterRole cluster-admin" in doors
    assert second["admins"] == 3

    requests = inventory_world.requests()
    assert requests and all(r["method"] == "GET" and r["status"] == 200 for r in requests)
    assert {r["path"].removeprefix("/clusters/prod") for r in requests} == ALLOWED_PATHS
    assert {r["identity"] for r in requests} == {"arn:aws:sts::123456789012:user/moto"}  # STS said who called


def test_kubectl_role_that_lost_admin_is_medium_and_removed_admin_info(
    inventory_world: LocalWorld, inventory_env: dict[str, Any], lambda_context: Any
) -> None:
    kubectl_instance("prod")
    inventory_world.add_cluster("prod", entries=[admin_entry(KUBECTL_ROLE)], config=aws_auth(masters_mapping(INTRUDER)))
    invoke({"action": "inventory"}, lambda_context)
    [first] = queued_alerts(inventory_env["queue"])
    assert first["severity"] == "HIGH" and "present at the first inventory" in first["title"]
    inventory_world.add_cluster("prod", entries=[])
    invoke({"action": "inventory"}, lambda_context)
    alerts = {a["principal"]: a["severity"] for a in queued_alerts(inventory_env["queue"])}
    assert alerts == {KUBECTL_ROLE: "MEDIUM", INTRUDER: "INFO"}


def test_digest_names_admins_doors_and_blind_spots(
    inventory_world: LocalWorld, inventory_env: dict[str, Any], lambda_context: Any
) -> None:
    inventory_world.add_cluster("prod", entries=[admin_entry(PLATFORM_ADMIN)])
    inventory_world.add_cluster("dev", entries=[admin_entry(INTRUDER)], kube={"fault": 403}, auditLogging=False)
    result = invoke({"action": "digest"}, lambda_context)
    assert result["status"] == "ok" and result["action"] == "digest"
    alerts = queued_alerts(inventory_env["queue"])
    [digest] = [a for a in alerts if a["kind"] == "inventory-digest"]
    facts = dict(digest["facts"])
    assert f"{PLATFORM_ADMIN} via access-policy" in facts[f"prod ({REGION})"]
    dev = facts[f"dev ({REGION})"]
    assert f"{INTRUDER} via access-policy" in dev and "NOT EXPECTED" in dev
    assert "no read access" in dev and "audit logging is off" in dev
    kinds = sorted(a["kind"] for a in alerts if a["kind"] != "inventory-digest")
    assert kinds == ["inventory-admin-found", "inventory-blind-spot", "inventory-blind-spot"]


def test_a_detector_request_inventories_that_cluster_only(
    inventory_world: LocalWorld, inventory_env: dict[str, Any], lambda_context: Any
) -> None:
    inventory_world.add_cluster("prod", entries=[])
    inventory_world.add_cluster("dev", entries=[])
    result = invoke(
        {"action": "inventory", "cluster": "prod", "region": REGION, "reason": "aws-auth write truncated"},
        lambda_context,
    )
    assert result["clusters"] == 1
    assert {r["cluster"] for r in inventory_world.requests()} == {"prod"}


def test_a_bad_request_is_refused_without_reading_anything(
    inventory_world: LocalWorld, inventory_env: dict[str, Any], lambda_context: Any
) -> None:
    inventory_world.add_cluster("prod", entries=[])
    events: list[Any] = [{"action": "delete-everything"}, {"cluster": "../etc"}, {"cluster": "prod", "region": "x"}, []]
    for event in events:
        result = invoke(event, lambda_context)
        assert result["status"] == "invalid"
    assert inventory_world.requests() == []


def test_the_record_is_kept_in_the_audit_state_table(
    inventory_world: LocalWorld, inventory_env: dict[str, Any], lambda_context: Any
) -> None:
    from eksguard.inventory.store import DynamoInventoryStore

    inventory_world.add_cluster("prod", entries=[admin_entry(PLATFORM_ADMIN)])
    invoke({"action": "inventory"}, lambda_context)
    record = DynamoInventoryStore(inventory_env["table"], REGION).load("prod", REGION)
    assert record is not None and record.revision == 1
    assert set(record.admins) == {PLATFORM_ADMIN} and record.sources_read == ("eks", "kubernetes")
    assert record.admins[PLATFORM_ADMIN]["doors"][0]["kind"] == "access-policy"


def test_a_lookup_budget_left_by_an_earlier_invocation_does_not_degrade_the_inventory(
    inventory_world: LocalWorld, inventory_env: dict[str, Any], lambda_context: Any
) -> None:
    """A warm container keeps module state: the inventory starts its own lookup deadline."""
    from eksguard import aws

    kubectl_instance("prod")
    inventory_world.add_cluster("prod", entries=[admin_entry(KUBECTL_ROLE)])
    aws.LookupBudget.start(0)  # spent, as a detector invocation long ago would have left it
    invoke({"action": "inventory"}, lambda_context)
    assert queued_alerts(inventory_env["queue"]) == []  # the kubectl role was looked up: expected
