"""A hub judging several accounts' EKS audit logs: `prod` of one account is never judged against, nor written
over, `prod` of another. Through the real handlers (AuditLogAlertFunction fed by the hub's Kinesis stream,
EksApiAlertFunction for access entries) against moto, with spokes kept apart by assumed-role credentials
(tests/accounts_world.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from eksguard import accounts, expected_admins
from eksguard import aws as eksguard_aws
from tests.accounts_world import HUB, REFUSING, SPOKE_A, SPOKE_B, boto3_session_in, refuse_assume
from tests.aws_auth_support import ADMIN, BASE, NODE_YAML, audit_event, configmap, role, update
from tests.cloudtrail_world import ENVIRONMENT
from tests.integration.test_audit_log_alert_handler import REGION, invoke, queued
from tests.kinesis_support import batch, failed, payload, record
from tests.rbac_support import admin_session, audit_entry, recorded_write

TABLE = "aws-auth-state"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": []})
INTRUDER_OF = {account: f"arn:aws:iam::{account}:role/intruder" for account in (SPOKE_A, SPOKE_B, REFUSING)}


def backdoor_yaml(account: str) -> str:
    return role(INTRUDER_OF[account], "system:masters", username="intruder")


@pytest.fixture
def hub(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value.replace("111122223333", "*"))
    monkeypatch.setenv("EXPECTED_CLUSTER_ADMIN_ARNS", ADMIN)
    monkeypatch.setenv("KUBECTL_ROLE_ARN_PATTERNS", "arn:aws:iam::*:role/eksguard-kubectl-*")
    monkeypatch.setenv("STOP_REGIONS", REGION)
    monkeypatch.setenv("SPOKE_ACCOUNTS", f"{SPOKE_A},{SPOKE_B},{REFUSING}")
    monkeypatch.setenv("SPOKE_ROLE_NAME", "eksguard-spoke")
    monkeypatch.setenv("AUDIT_STATE_TABLE", TABLE)
    expected_admins.reset_caches()
    accounts.reset_caches()
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "cluster", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "cluster", "KeyType": "HASH"}],
    )
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    monkeypatch.setenv("ALERT_QUEUE_URL", queue_url)
    yield {"ddb": ddb, "sqs": sqs, "queue_url": queue_url}
    expected_admins.reset_caches()


def deliver(owner: str, lines: list[Any], context: Any, first_id: int = 0) -> dict[str, Any]:
    """One Kinesis record carrying `owner`'s prod audit lines."""
    response = invoke(batch(record(first_id, payload(lines, owner, first_id=first_id))), context)
    assert failed(response) == [], response
    return response


def item(env: dict[str, Any], key: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = env["ddb"].get_item(TableName=TABLE, Key={"cluster": {"S": key}}).get("Item")
    return found


def aws_auth_alerts(env: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in queued(env) if a["kind"] == "aws-auth"]


# ------------------------------------------------------------------------------------------ aws-auth


def test_another_accounts_prod_cannot_hide_a_backdoor_by_rewriting_the_baseline(hub, lambda_context) -> None:
    """B writes an aws-auth that already maps A's intruder, at a newer resourceVersion than A's baseline.
    Sharing one `prod` record, A's backdoor would then diff as "no change"; kept apart, it is CRITICAL."""
    deliver(SPOKE_A, [update("a-base", BASE, 2990, ts="2025-05-01T09:00:00.000000Z")], lambda_context)
    decoy = BASE + backdoor_yaml(SPOKE_A)
    deliver(SPOKE_B, [update("b-decoy", decoy, 3000, ts="2025-05-01T09:30:00.000000Z")], lambda_context, 10)
    queued(hub)

    deliver(SPOKE_A, [update("a-backdoor", decoy, 3010, ts="2025-05-01T10:00:00.000000Z")], lambda_context, 20)
    (alert,) = aws_auth_alerts(hub)
    assert alert["severity"] == "CRITICAL" and alert["account"] == SPOKE_A and alert["cluster"] == "prod"
    assert alert["title"].startswith(f"{INTRUDER_OF[SPOKE_A]} added to system:masters")
    stored = item(hub, f"{SPOKE_A}:prod")
    assert stored is not None and stored["rv_num"]["N"] == "3010"
    assert item(hub, f"{SPOKE_B}:prod")["rv_num"]["N"] == "3000"  # type: ignore[index]
    assert item(hub, "prod") is None  # the hub's own prod record is nobody's to write but the hub's


def test_a_backdoor_already_recorded_in_one_account_does_not_excuse_the_same_in_another(hub, lambda_context) -> None:
    """A's state already holds the intruder (alerted once). B's same-named cluster gets the same mapping at a
    newer resourceVersion: judged against B's own (empty) history it is CRITICAL, not "no change"."""
    deliver(SPOKE_A, [update("a-base", BASE, 1000)], lambda_context)
    deliver(SPOKE_A, [update("a-backdoor", BASE + backdoor_yaml(SPOKE_A), 1005)], lambda_context, 10)
    a_before = item(hub, f"{SPOKE_A}:prod")
    queued(hub)

    deliver(SPOKE_B, [update("b-backdoor", BASE + backdoor_yaml(SPOKE_A), 2000)], lambda_context, 20)
    alerts = aws_auth_alerts(hub)
    critical = [a for a in alerts if a["severity"] == "CRITICAL"]
    assert [(a["account"], a["principal"]) for a in critical] == [(SPOKE_B, INTRUDER_OF[SPOKE_A])]
    # judged as B's first view of its aws-auth (shared with A's record, it would be "no change")
    assert critical[0]["title"].startswith(f"{INTRUDER_OF[SPOKE_A]} is in system:masters (not an expected admin)")
    assert item(hub, f"{SPOKE_A}:prod") == a_before  # A's baseline untouched


def test_a_late_write_of_one_account_is_not_diffed_against_anothers_history(hub, lambda_context) -> None:
    """B's write names the resourceVersion it replaced (500), which A's history holds: shared, it would be
    diffed against A's version and read as "Admin removed"; kept apart it is B's first view."""
    deliver(SPOKE_A, [update("a-1", BASE, 500), update("a-2", BASE + backdoor_yaml(SPOKE_A), 510)], lambda_context)
    queued(hub)
    deliver(SPOKE_B, [update("b-late", NODE_YAML, 501)], lambda_context, 10)
    alerts = aws_auth_alerts(hub)
    assert alerts and {a["account"] for a in alerts} == {SPOKE_B}
    text = " ".join(f"{a['title']} {a['summary']}" for a in alerts)
    # B never had Admin nor the intruder mapped: nothing of A's history is pinned on B's writer
    assert "removed from system:masters" not in text and "resourceVersion 500" not in text, text


# ------------------------------------------------------------------------------------------ RBAC


def with_role(write: dict[str, Any], name: str) -> dict[str, Any]:
    changed = copy.deepcopy(write)
    for obj in (changed.get("body"), changed.get("response")):
        if isinstance(obj, dict) and isinstance(obj.get("roleRef"), dict):
            obj["roleRef"]["name"] = name
    return changed


def deleted_cluster_role(name: str) -> dict[str, Any]:
    write = copy.deepcopy(recorded_write("crb_delete"))
    write["path"] = f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"
    return write


def test_another_account_deleting_a_same_named_role_does_not_make_it_unknown(hub, lambda_context) -> None:
    """A creates ClusterRole pwn (`*` on `*`). B deletes its own ClusterRole pwn. A's binding of pwn is then
    judged with A's knowledge: admin-equivalent, CRITICAL (shared, it would be MEDIUM "role unknown")."""
    deliver(SPOKE_A, [audit_entry(recorded_write("cr_create_wildcard"), "a-role")], lambda_context)
    a_rbac = item(hub, f"{SPOKE_A}:prod#rbac")
    assert a_rbac is not None
    deliver(SPOKE_B, [audit_entry(deleted_cluster_role("pwn"), "b-del")], lambda_context, 10)
    assert item(hub, f"{SPOKE_A}:prod#rbac") == a_rbac  # B's delivery never touched A's record
    assert item(hub, f"{SPOKE_B}:prod#rbac") is not None
    queued(hub)

    bind = with_role(recorded_write("crb_create_user"), "pwn")
    deliver(SPOKE_A, [audit_entry(bind, "a-bind")], lambda_context, 20)
    (alert,) = [a for a in queued(hub) if a["kind"] == "rbac"]
    assert alert["severity"] == "CRITICAL" and alert["account"] == SPOKE_A
    assert "pwn" in alert["title"]


def test_access_entries_of_another_account_never_carry_a_group(hub, event_loader, lambda_context) -> None:
    """B creates an access entry in its prod with group data-admins (EksApiAlertFunction records it); A binds
    data-admins to cluster-admin in A's prod: the alert must not name B's principal as the carrier."""
    from eks_api_alert_handler import lambda_handler as eks_api_handler

    sample = json.loads(
        json.dumps(event_loader("eks_api_access_entry_custom_groups.json")).replace("111122223333", SPOKE_B)
    )
    assert eks_api_handler(sample, lambda_context)["status"] == "alerted"
    assert item(hub, f"{SPOKE_B}:prod#access-entries") is not None
    assert item(hub, "prod#access-entries") is None
    queued(hub)

    bind = copy.deepcopy(recorded_write("crb_create_group"))
    for obj in (bind["body"], bind["response"]):
        obj["subjects"] = [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "data-admins"}]
    deliver(SPOKE_A, [audit_entry(bind, "a-group", actor=admin_session())], lambda_context)
    (a_alert,) = [a for a in queued(hub) if a["kind"] == "rbac"]
    assert a_alert["account"] == SPOKE_A and f"arn:aws:iam::{SPOKE_B}:role/data-team" not in a_alert["summary"]
    assert "no IAM principal known to eksguard carries it" in a_alert["summary"]

    deliver(SPOKE_B, [audit_entry(bind, "b-group", actor=admin_session())], lambda_context, 10)
    (b_alert,) = [a for a in queued(hub) if a["kind"] == "rbac"]
    assert f"arn:aws:iam::{SPOKE_B}:role/data-team (access entry)" in b_alert["summary"]


# ------------------------------------------------------------------------------------------ lookups in the account


def _kubectl_instance(cluster: str) -> str:
    """A kubectl instance of `cluster` with its profile and role, in the current account; the role's ARN."""
    iam = boto3.client("iam", region_name=REGION)
    name = f"eksguard-kubectl-{cluster}"
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"])
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    boto3.client("ec2", region_name=REGION).run_instances(
        ImageId="ami-03cf127a",
        MinCount=1,
        MaxCount=1,
        IamInstanceProfile={"Name": name},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "kubectl-instance", "Value": cluster}]}],
    )
    return arn


def test_expected_admins_of_a_spokes_cluster_are_looked_up_in_that_spoke(hub, lambda_context, monkeypatch) -> None:
    """The hub's kubectl instance of prod vouches for the hub's prod only: mapped into A's prod it is CRITICAL,
    while A's own kubectl role (found through A's role) is expected."""
    hub_role = _kubectl_instance("prod")
    with monkeypatch.context() as patched:
        seeded = boto3_session_in(SPOKE_A)
        patched.setattr(boto3, "client", lambda service, **kw: seeded.client(service, **kw))
        spoke_role = _kubectl_instance("prod")
    assert hub_role.split(":")[4] == HUB and spoke_role.split(":")[4] == SPOKE_A

    content = BASE + role(spoke_role, "system:masters", username="kubectl") + role(hub_role, "system:masters")
    deliver(SPOKE_A, [update("a-1", content, 100)], lambda_context)
    alerts = aws_auth_alerts(hub)
    critical = [a for a in alerts if a["severity"] == "CRITICAL"]
    assert [a["principal"] for a in critical] == [hub_role]
    assert spoke_role not in " ".join(a["title"] for a in critical)


def test_an_account_whose_role_is_refused_is_still_judged(hub, lambda_context) -> None:
    """Lookups in an account the hub cannot enter fail, and a failed lookup makes nobody expected."""
    asked = refuse_assume(REFUSING)
    kubectl_role = f"arn:aws:iam::{REFUSING}:role/eksguard-kubectl-prod"
    deliver(REFUSING, [update("r-1", BASE + role(kubectl_role, "system:masters"), 100)], lambda_context)
    critical = [a for a in aws_auth_alerts(hub) if a["severity"] == "CRITICAL"]
    assert [(a["account"], a["principal"]) for a in critical] == [(REFUSING, kubectl_role)]
    assert asked and item(hub, f"{REFUSING}:prod") is not None


# ------------------------------------------------------------------------------------------ inventory request


def test_the_inventory_is_asked_to_read_the_spokes_cluster(hub, lambda_context, monkeypatch) -> None:
    monkeypatch.setenv("INVENTORY_FUNCTION_NAME", "eksguard-InventoryFunction")
    metadata_only = audit_event("create", "a-create", uri="/api/v1/namespaces/kube-system/configmaps", level="Metadata")
    lambda_client = eksguard_aws.lookup_client("lambda", REGION)
    requests: list[dict[str, Any]] = []
    with Stubber(lambda_client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 202},
            {"FunctionName": "eksguard-InventoryFunction", "InvocationType": "Event", "Payload": ANY},
        )
        original = lambda_client.invoke

        def capture(**kwargs: Any) -> Any:
            requests.append(json.loads(kwargs["Payload"]))
            return original(**kwargs)

        monkeypatch.setattr(lambda_client, "invoke", capture)
        deliver(SPOKE_A, [metadata_only], lambda_context)
        stub.assert_no_pending_responses()
    [request] = requests
    assert (request["cluster"], request["region"], request["account"]) == ("prod", REGION, SPOKE_A)


def test_no_state_write_of_one_account_ever_lands_on_another(hub, lambda_context) -> None:
    """Every record a spoke's delivery writes is under that spoke's key."""
    deliver(SPOKE_B, [update("b-1", BASE, 1), audit_entry(recorded_write("crb_create_user"), "b-2")], lambda_context)
    keys = {i["cluster"]["S"] for i in hub["ddb"].scan(TableName=TABLE)["Items"]}
    assert keys == {f"{SPOKE_B}:prod", f"{SPOKE_B}:prod#rbac"}
    assert configmap({"mapRoles": BASE})["data"]["mapRoles"] == BASE  # the content judged is B's own
