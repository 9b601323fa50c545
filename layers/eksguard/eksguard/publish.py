"""Hand alerts to the alert pipeline (SQS queue -> SlackNotifierFunction).

Every detector and the stop function call `publish`. Without a configured queue (unit tests,
a bare `sam local invoke`), the alert is logged instead so nothing is silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Logger

from eksguard import aws
from eksguard.alerts import Alert, Fact
from eksguard.config import Settings, load_settings

logger = Logger(child=True)

SQS_BATCH_LIMIT = 10
# SQS's classic 256 KiB message and batch limit (queues can be configured lower or, lately, higher);
# staying under it keeps every alert deliverable whatever the queue's MaximumMessageSize.
SQS_MAX_BYTES = 262_144
ALERT_BUDGET_BYTES = 240_000  # body budget per alert: room left for attributes and the batch envelope
TRUNCATED = " ...[truncated]"
SHRINK_STEPS = (20_000, 4_000, 1_000, 200)
MAX_FACTS_WHEN_SHRUNK = 20


class AlertQueueError(RuntimeError):
    """Some alerts were refused by the queue; raised so the invocation fails and is retried."""


def _size(alert: Alert) -> int:
    return len(alert.to_json().encode("utf-8"))


def _cut(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + TRUNCATED
    return value


def fit(alert: Alert, budget: int = ALERT_BUDGET_BYTES) -> Alert:
    """The alert itself when it fits the queue, else a copy with its long texts cut (id, kind, severity,
    cluster and the start of the title kept), so a big aws-auth diff cannot make an alert undeliverable."""
    original = _size(alert)
    if original <= budget:
        return alert
    note = Fact("Truncated", f"alert shortened from {original} bytes to fit the alert queue; see the function logs")
    logger.warning(
        "alert_truncated", extra={"alert_id": alert.id, "reason": "larger than the queue allows", "bytes": original}
    )
    candidate = alert
    for limit in SHRINK_STEPS:
        actor = alert.actor
        if actor is not None:
            actor = type(actor)(**{k: _cut(v, limit) for k, v in actor.__dict__.items()})
        facts = tuple(Fact(_cut(f.label, 200), _cut(f.value, limit)) for f in alert.facts)
        if limit == SHRINK_STEPS[-1] and len(facts) > MAX_FACTS_WHEN_SHRUNK:
            facts = facts[:MAX_FACTS_WHEN_SHRUNK]
        candidate = replace(
            alert,
            title=_cut(alert.title, max(limit, 200)),
            summary=_cut(alert.summary, limit),
            principal=_cut(alert.principal, 2048),
            cluster=_cut(alert.cluster, 256),
            actor=actor,
            account=_cut(alert.account, 64),
            region=_cut(alert.region, 64),
            time=_cut(alert.time, 64),
            facts=(*facts, note),
            source=replace(
                alert.source, description=_cut(alert.source.description, limit), url=_cut(alert.source.url, 2048)
            )
            if alert.source
            else None,
        )
        if _size(candidate) <= budget:
            return candidate
    return candidate


def _batches(alerts: list[Alert]) -> Iterable[list[Alert]]:
    """At most 10 alerts and SQS_MAX_BYTES of bodies per SendMessageBatch."""
    chunk: list[Alert] = []
    used = 0
    for alert in alerts:
        size = _size(alert) + 512  # attributes and entry envelope
        if chunk and (len(chunk) == SQS_BATCH_LIMIT or used + size > SQS_MAX_BYTES):
            yield chunk
            chunk, used = [], 0
        chunk.append(alert)
        used += size
    if chunk:
        yield chunk


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
    for chunk in _batches([fit(alert) for alert in pending]):
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
            raise AlertQueueError(f"{len(failed)} alert(s) could not be queued: {', '.join(codes)}")
        for ok in response.get("Successful") or []:
            alert = chunk[int(ok["Id"])]
            message_ids.append(ok["MessageId"])
            logger.info(
                "alert_queued",
                extra={
                    "alert_id": alert.id,
                    "severity": alert.severity.name,
                    "kind": alert.kind,
                    "title": alert.title,
                    "message_id": ok["MessageId"],
                },
            )
    return message_ids
