"""AuditLogAlertFunction when DynamoDB or SQS fail mid-invocation: the alert is never lost and a retry
never produces a different alert (ids come from the audit entries).

Reuses the environment of tests/integration/test_audit_log_alert_handler.py (moto DynamoDB + SQS).
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from eksguard import aws
from eksguard.publish import AlertQueueError
from tests.aws_auth_support import BASE, INTRUDER_YAML, VIEWER_YAML, delivery, update
from tests.faults.inject import DDB_THROTTLED, Injector, NoBackoff, always, install_no_backoff
from tests.integration import test_audit_log_alert_handler as handler_tests
from tests.integration.test_audit_log_alert_handler import REGION, invoke, queued

lambda_context = handler_tests.lambda_context  # the function runs in the clusters' own account

MAX_ATTEMPTS = 3  # eksguard.aws.RETRY_CONFIG: total_max_attempts=3 (the first request and two retries)


@pytest.fixture
def backoff(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> NoBackoff:
    return install_no_backoff(monkeypatch)


def stored(env: dict[str, Any]) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        env["ddb"].get_item(TableName="aws-auth-state", Key={"cluster": {"S": "prod"}}).get("Item")
    )
    return item


def test_state_write_failing_after_publish_raises_and_the_retry_yields_the_same_alert(
    env: dict[str, Any], backoff: NoBackoff, lambda_context: Any
) -> None:
    """Promise: clear alert, nothing lost, duplicates recognisable. DynamoDB refusing the state write
    (after botocore's retries) fails the invocation after the alert was queued; Lambda's retry produces
    the same alert id (the notifier posts an id once: tests/integration/test_slack_notifier.py::
    test_the_same_alert_queued_twice_is_posted_once) and then records the state."""
    event = delivery([update("aud-1", BASE + INTRUDER_YAML, 7)])
    outage = Injector(aws.client("dynamodb", REGION), "PutItem", always(DDB_THROTTLED))

    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        invoke(event, lambda_context)

    assert outage.attempts == MAX_ATTEMPTS
    [first] = queued(env)
    assert first["severity"] == "CRITICAL"
    assert stored(env) is None

    outage.remove()
    retry = invoke(event, lambda_context)

    [second] = queued(env)
    assert second["id"] == first["id"] and second["title"] == first["title"]
    assert retry["stateWritten"] is True
    item = stored(env)
    assert item is not None and item["rv_num"]["N"] == "7"


def test_queue_refusing_some_alerts_raises_and_remembers_nothing(
    env: dict[str, Any], backoff: NoBackoff, lambda_context: Any
) -> None:
    """Promise: no half state. SendMessageBatch accepting one alert and refusing the other raises a
    designed retry error (AlertQueueError) before the state is written, so the retry judges the same
    entries again and queues both alerts with the same ids. (Queue missing entirely:
    tests/integration/test_audit_log_alert_handler.py::test_queue_failure_raises_and_state_is_not_written.)"""
    event = delivery([update("aud-1", BASE + VIEWER_YAML, 7), update("aud-2", BASE + VIEWER_YAML + INTRUDER_YAML, 8)])
    sqs = aws.client("sqs", REGION)

    def half(params: dict[str, Any]) -> dict[str, Any]:
        first, second = params["Entries"]
        sqs.send_message(QueueUrl=params["QueueUrl"], MessageBody=first["MessageBody"])
        return {
            "Successful": [{"Id": first["Id"], "MessageId": "m-1", "MD5OfMessageBody": "x"}],
            "Failed": [{"Id": second["Id"], "SenderFault": False, "Code": "InternalError"}],
        }

    partial = Injector(sqs, "SendMessageBatch", lambda _a, _p: None, passthrough=half)
    with pytest.raises(AlertQueueError, match="1 alert\\(s\\) could not be queued: InternalError"):
        invoke(event, lambda_context)
    partial.remove()
    [accepted] = queued(env)
    assert stored(env) is None

    retry = invoke(event, lambda_context)

    ids = [a["id"] for a in queued(env)]
    assert accepted["id"] in ids and len(ids) == 2 and ids == retry["alertIds"]
    assert retry["stateWritten"] is True
