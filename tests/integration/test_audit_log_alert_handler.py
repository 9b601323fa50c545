"""AuditLogAlertFunction against moto: DynamoDB state table and SQS alert queue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from eksguard import aws as eksguard_aws
from eksguard.aws_auth.state import DynamoStateStore, StoredState
from eksguard.expected_admins import reset_caches
from tests.aws_auth_support import (
    ACCOUNT,
    ADMIN,
    BASE,
    INTRUDER,
    INTRUDER_YAML,
    VIEWER_YAML,
    delivery,
    entry_keys,
    update,
)
from tests.conftest import FakeLambdaContext

REGION = "eu-west-1"


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    """The function runs in the account of the clusters whose audit logs these deliveries carry (their
    `owner`): its own clusters, whose state keys are the plain cluster names."""
    return FakeLambdaContext(invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:eksguard-test")


@pytest.fixture
def env(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    reset_caches()
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName="aws-auth-state",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "cluster", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "cluster", "KeyType": "HASH"}],
    )
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    monkeypatch.setenv("AUDIT_STATE_TABLE", "aws-auth-state")
    monkeypatch.setenv("ALERT_QUEUE_URL", queue_url)
    monkeypatch.setenv("EXPECTED_CLUSTER_ADMIN_ARNS", f"{ADMIN},arn:aws:iam::111122223333:role/BreakGlass")
    yield {"ddb": ddb, "sqs": sqs, "queue_url": queue_url}
    reset_caches()


def queued(env: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        got = (
            env["sqs"]
            .receive_message(QueueUrl=env["queue_url"], MaxNumberOfMessages=10, MessageAttributeNames=["All"])
            .get("Messages", [])
        )
        if not got:
            return messages
        for m in got:
            messages.append(json.loads(m["Body"]))
            env["sqs"].delete_message(QueueUrl=env["queue_url"], ReceiptHandle=m["ReceiptHandle"])


def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from audit_log_alert_handler import lambda_handler

    result: dict[str, Any] = lambda_handler(event, context)
    return result


def test_backdoor_event_queues_critical_alert_and_stores_state(env, event_loader, lambda_context) -> None:
    result = invoke(event_loader("aws_auth_masters_backdoor.json"), lambda_context)
    assert result["status"] == "ok" and result["highestSeverity"] == "CRITICAL" and result["stateWritten"]
    alerts = queued(env)
    assert [a["severity"] for a in alerts] == ["INFO", "CRITICAL"]
    assert alerts[1]["title"] == f"{INTRUDER} added to system:masters by {ADMIN} (session alice)"
    assert alerts[1]["source"]["kind"] == "audit-log"
    item = env["ddb"].get_item(TableName="aws-auth-state", Key={"cluster": {"S": "prod"}})["Item"]
    assert item["rv_num"]["N"] == "1005" and item["status"]["S"] == "present"
    assert INTRUDER in item["parsed"]["S"]
    # redelivery of the same batch: recognised, nothing queued twice
    again = invoke(event_loader("aws_auth_masters_backdoor.json"), lambda_context)
    assert again["duplicates"] == 2 and again["alerts"] == 0 and queued(env) == []


def test_out_of_order_across_invocations_keeps_newest_state(env, lambda_context) -> None:
    newer = update("aud-new", BASE + VIEWER_YAML, 220, ts="2025-05-01T10:05:00.000000Z")
    older = update("aud-old", BASE + INTRUDER_YAML, 210, ts="2025-05-01T10:01:00.000000Z")
    first = delivery([newer], log_stream="kube-apiserver-audit-a")
    second = delivery([older], log_stream="kube-apiserver-audit-b")
    invoke(first, lambda_context)
    result = invoke(second, lambda_context)
    assert result["late"] == 1 and result["highestSeverity"] == "CRITICAL"
    state = DynamoStateStore("aws-auth-state", REGION).load("prod")
    assert state is not None and state.resource_version == "220"
    assert state.data == {"mapRoles": BASE + VIEWER_YAML}
    assert set(entry_keys(first) + entry_keys(second)) <= set(state.recent_audit_ids)


def test_conditional_write_refuses_older_state(env) -> None:
    store = DynamoStateStore("aws-auth-state", REGION)
    newer = StoredState("prod", "present", {"mapRoles": BASE}, "300", "2025-05-01T10:05:00.000000Z", "n")
    older = StoredState("prod", "present", {"mapRoles": INTRUDER_YAML}, "299", "2025-05-01T10:06:00.000000Z", "o")
    assert store.save(newer, None, advance=True)
    assert not store.save(older, None, advance=True)
    no_rv = StoredState("prod", "deleted", None, None, "2025-05-01T10:04:00.000000Z", "d")
    assert not store.save(no_rv, newer, advance=True)  # timestamp compare: older
    later = StoredState("prod", "deleted", None, None, "2025-05-01T10:07:00.000000Z", "d2")
    assert store.save(later, newer, advance=True)
    loaded = store.load("prod")
    assert loaded is not None and loaded.status == "deleted" and loaded.audit_id == "d2"


def test_malformed_payload_is_logged_not_raised(env, lambda_context) -> None:
    result = invoke({"awslogs": {"data": "not base64 !"}}, lambda_context)
    assert result == {"status": "malformed", "reason": "awslogs.data is not base64"}
    assert invoke({"detail": {}}, lambda_context)["status"] == "malformed"
    assert queued(env) == []


def test_control_message_does_nothing(env, event_loader, lambda_context) -> None:
    result = invoke(event_loader("aws_auth_control_message.json"), lambda_context)
    assert result["messageType"] == "CONTROL_MESSAGE" and result["alerts"] == 0


def test_state_table_failure_raises_for_retry(env, lambda_context) -> None:
    # A throttled GetItem must fail the invocation (async retry), not drop the change.
    client = eksguard_aws.client("dynamodb", REGION)
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "get_item", service_error_code="ProvisionedThroughputExceededException", http_status_code=400
        )
        with pytest.raises(Exception, match="ProvisionedThroughputExceeded"):
            invoke(delivery([update("aud-1", BASE, 1)]), lambda_context)


def test_queue_failure_raises_and_state_is_not_written(env, lambda_context, monkeypatch) -> None:
    monkeypatch.setenv("ALERT_QUEUE_URL", env["queue_url"] + "-missing")
    with pytest.raises(ClientError, match="QueueDoesNotExist|NonExistentQueue"):
        invoke(delivery([update("aud-1", BASE + INTRUDER_YAML, 1)]), lambda_context)
    assert "Item" not in env["ddb"].get_item(TableName="aws-auth-state", Key={"cluster": {"S": "prod"}})
