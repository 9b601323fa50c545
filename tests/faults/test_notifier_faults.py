"""The Slack notifier when its own dependencies fail: DynamoDB (idempotency), Secrets Manager, SQS.

Reuses the notifier world of tests/integration/test_slack_notifier.py (moto SQS + DynamoDB + Secrets
Manager, the real handler, a Slack stand-in on 127.0.0.1) and injects AWS faults below botocore.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from eksguard import aws
from tests.faults.inject import DDB_THROTTLED, UNAVAILABLE, Injector, NoBackoff, always, install_no_backoff
from tests.integration.test_slack_notifier import REGION, Output, World, five_alerts

MAX_ATTEMPTS = 3  # eksguard.aws.RETRY_CONFIG: total_max_attempts=3 (the first request and two retries)


@pytest.fixture
def backoff(world: World, monkeypatch: pytest.MonkeyPatch) -> NoBackoff:
    return install_no_backoff(monkeypatch)


def dynamodb() -> Any:
    return aws.client("dynamodb", REGION)


def test_idempotency_store_down_keeps_every_message_queued_then_posts_each_once(
    world: World, output: Output, backoff: NoBackoff
) -> None:
    """Promise: nothing lost, nothing duplicated, bounded calls. With DynamoDB refusing writes the notifier
    cannot prove an alert was not posted before, so it posts nothing: every record fails and stays
    queued, and after the first store failure the rest of the batch fails fast instead of re-running
    botocore's retries for each record. Once DynamoDB is back each alert is posted exactly once."""
    alerts = five_alerts()
    world.publish(*alerts)
    outage = Injector(dynamodb(), "PutItem", always(DDB_THROTTLED))

    first = world.poll_once()

    assert first is not None and sorted(first.failed_ids) == sorted(first.message_ids)
    assert world.standin.received == []
    assert world.visible_count() == len(alerts)
    assert outage.attempts == MAX_ATTEMPTS  # one record's worth of retries, not five
    retries = output.logs("alert_retry")
    assert len(retries) == len(alerts) and all(
        "idempotency" in r["error"] or "unavailable" in r["error"] for r in retries
    )

    outage.remove()
    world.let_time_pass()
    world.drain()

    assert sorted(world.delivered_ids()) == sorted(a.id for a in alerts)
    assert world.visible_count() == 0 and world.dead_letters() == []


def test_success_record_lost_after_the_post_does_not_post_the_alert_again(
    world: World, output: Output, backoff: NoBackoff
) -> None:
    """Promise: nothing duplicated. Slack accepted the alert but DynamoDB failed to mark it delivered (the
    record stays IN_PROGRESS). Failing the SQS record would bring the message back after the in-progress
    window and post it a second time; the notifier instead treats the alert as delivered, deletes the
    message and logs that the idempotency record was not saved."""
    alert = five_alerts()[0]
    world.publish(alert)
    outage = Injector(dynamodb(), "UpdateItem", always(DDB_THROTTLED))

    first = world.poll_once()

    assert first is not None
    assert world.delivered_ids() == [alert.id]
    outage.remove()
    # Time passes beyond the in-progress window (the Lambda's remaining time when the record was made).
    table = boto3.client("dynamodb", region_name=REGION)
    for item in table.scan(TableName="eksguard-idempotency")["Items"]:
        table.update_item(
            TableName="eksguard-idempotency",
            Key={"id": item["id"]},
            UpdateExpression="SET in_progress_expiration = :past",
            ExpressionAttributeValues={":past": {"N": "1"}},
        )
    world.let_time_pass()
    world.drain()

    assert world.delivered_ids() == [alert.id]
    assert first.failed_ids == []
    assert [entry["alert_id"] for entry in output.logs("idempotency_record_not_saved")] == [alert.id]


def test_secrets_manager_down_keeps_alerts_queued_with_bounded_calls_then_delivers_each_once(
    world: World, output: Output, backoff: NoBackoff
) -> None:
    """Promise: nothing lost, nothing duplicated, bounded calls. GetSecretValue failing on every attempt
    fails every record of the batch (retried later with the growing visibility timeout) after one
    record's worth of botocore retries; when Secrets Manager is back every alert is posted once.
    (A secret that does not exist: tests/integration/test_slack_notifier.py::
    test_missing_secret_is_retried_not_lost.)"""
    alerts = five_alerts()
    world.publish(*alerts)
    outage = Injector(aws.client("secretsmanager", REGION), "GetSecretValue", always(UNAVAILABLE))

    first = world.poll_once()

    assert first is not None and sorted(first.failed_ids) == sorted(first.message_ids)
    assert world.standin.received == []
    assert outage.attempts == MAX_ATTEMPTS
    retries = output.logs("alert_retry")
    assert len(retries) == len(alerts)
    assert {r["visibility_timeout"] for r in retries} == {60}

    outage.remove()
    world.let_time_pass()
    world.drain()

    assert sorted(world.delivered_ids()) == sorted(a.id for a in alerts)
    assert len(world.standin.received) == len(alerts)
    assert world.visible_count() == 0 and world.dead_letters() == []
