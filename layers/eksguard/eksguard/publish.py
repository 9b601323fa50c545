"""Hand alerts to the alert pipeline (SQS queue -> SlackNotifierFunction).

Every detector and the stop function call `publish`. Without a configured queue (unit tests,
a bare `sam local invoke`), the alert is logged instead so nothing is silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_lambda_powertools import Logger

from eksguard import aws
from eksguard.alerts import Alert
from eksguard.config import Settings, load_settings

logger = Logger(child=True)

SQS_BATCH_LIMIT = 10


def publish(alert: Alert, settings: Settings | None = None) -> str | None:
    """Queue one alert; returns the SQS message id (None when only logged)."""
    ids = publish_many([alert], settings)
    return ids[0] if ids else None


def publish_many(alerts: Iterable[Alert], settings: Settings | None = None) -> list[str]:
    """Queue alerts in batches of 10. Raises if any could not be queued, so the caller's
    invocation fails and is retried instead of losing an alert."""
    settings = settings or load_settings()
    pending = list(alerts)
    if not pending:
        return []
    if not settings.alert_queue_url:
        for alert in pending:
            logger.warning(
                "alert_not_queued",
                extra={"reason": "ALERT_QUEUE_URL not set", "alert": alert.to_dict()},
            )
        return []
    sqs = aws.client("sqs", settings.region)
    message_ids: list[str] = []
    for start in range(0, len(pending), SQS_BATCH_LIMIT):
        chunk = pending[start : start + SQS_BATCH_LIMIT]
        entries = [
            {
                "Id": str(index),
                "MessageBody": alert.to_json(),
                "MessageAttributes": {
                    "severity": {"DataType": "String", "StringValue": alert.severity.name},
                    "kind": {"DataType": "String", "StringValue": alert.kind},
                },
            }
            for index, alert in enumerate(chunk)
        ]
        response = sqs.send_message_batch(QueueUrl=settings.alert_queue_url, Entries=entries)
        failed = response.get("Failed") or []
        if failed:
            codes = sorted({f.get("Code", "unknown") for f in failed})
            raise RuntimeError(f"{len(failed)} alert(s) could not be queued: {', '.join(codes)}")
        for ok in response.get("Successful") or []:
            alert = chunk[int(ok["Id"])]
            message_ids.append(ok["MessageId"])
            logger.info(
                "alert_queued",
                extra={"alert_id": alert.id, "severity": alert.severity.name, "kind": alert.kind,
                       "title": alert.title, "message_id": ok["MessageId"]},
            )
    return message_ids
