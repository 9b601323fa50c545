"""One SQS record -> at most one Slack message, and never zero for a deliverable alert.

- Poison messages (not JSON, not an alert) fail alone and reach the dead-letter queue.
- Alerts below ALERT_MIN_SEVERITY are dropped (logged, counted) and deleted from the queue.
- Delivery is idempotent on the alert id (Powertools Idempotency, DynamoDB): only a delivered
  alert is recorded, so a failure never masks a later retry and a redelivered message (or the
  same alert queued twice) is posted once.
- A failed delivery raises, so the record becomes a batch item failure; its visibility timeout
  grows with each receive (60 s, 120 s, ... capped at 1 h) so a Slack outage of hours is
  ridden out before the message reaches the dead-letter queue (maxReceiveCount 12).
- A permanent failure (revoked webhook, archived channel, bad secret) keeps failing with a
  short visibility timeout, so it lands in the dead-letter queue (and raises its alarm) within
  minutes instead of hours; fix the webhook, then redrive the queue.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    BaseError as IdempotencyError,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import accounts, aws
from eksguard.alerts import ALWAYS_POSTED, Alert
from eksguard.config import Settings, load_settings
from eksguard.slack import deliver
from eksguard.slack.deliver import (
    DeliveryOutcome,
    DeliveryResult,
    SlackWebhook,
    WebhookConfigError,
    WebhookSecretError,
    forget_webhook_url,
    load_webhook_url,
)

logger = Logger(child=True)
metrics = Metrics()

METRIC_DELIVERED = "AlertsDelivered"
METRIC_RETRIED = "AlertsRetried"
METRIC_DROPPED = "AlertsDroppedBelowThreshold"
METRIC_FAILED_PERMANENT = "AlertsFailedPermanent"
METRIC_DEGRADED = "AlertsDegraded"

# Duplicates come from SQS redelivery (minutes) and from detectors re-publishing after their own
# retries (Lambda async retries, up to 6 h); a day covers both with room to spare.
IDEMPOTENCY_EXPIRY_SECONDS = 24 * 3600
IDEMPOTENCY_KEY_PREFIX = "eksguard-slack-alert"

RETRY_BASE_SECONDS = 60
RETRY_CAP_SECONDS = 3600
# A rate limit is not an outage: Slack says when to come back (Retry-After, usually seconds), so a
# rate-limited alert waits that long, growing from 2 s per receive only so that a limit that lasts
# keeps the record from spinning towards the dead-letter queue (2, 4, 8 ... 2048, 3600 s: about
# 2 hours over the queue's 12 receives). An outage's 60 s doubling made a 429 cost a minute or more
# (docs/benchmarks.md, alert latency).
RATE_LIMIT_BASE_SECONDS = 2
PERMANENT_VISIBILITY_SECONDS = 30
SQS_MAX_VISIBILITY_SECONDS = 43_200
DEFAULT_REMAINING_SECONDS = 150.0  # the template's timeout, when no Lambda context says better
# A record is started only while its worst case still fits: the idempotency claim and result and a
# visibility change (3 writes of aws.RETRY_CONFIG's 31 s), the Slack request (deliver's 10 s) and the
# safety margin. A record not started fails without a call and comes back after the queue's
# visibility timeout, instead of the invocation timing out mid-record (which would redeliver the
# whole batch, the in-progress alert included).
RECORD_RESERVE_SECONDS = (
    3 * aws.worst_call_seconds(aws.RETRY_CONFIG) + deliver.REQUEST_TIMEOUT_SECONDS + deliver.SAFETY_MARGIN_SECONDS
)


class PoisonMessageError(Exception):
    """The SQS body is not an alert; it can never succeed."""


class DeliveryFailedError(Exception):
    """The alert was not delivered; the record must fail so SQS keeps it."""

    def __init__(self, result: DeliveryResult) -> None:
        super().__init__(f"alert not delivered ({result.outcome.value}, status {result.status}): {result.error}")
        self.result = result


def retry_delay_seconds(receive_count: int, base: int = RETRY_BASE_SECONDS, cap: int = RETRY_CAP_SECONDS) -> int:
    """Exponential backoff per receive: base * 2^(n-1), capped (60, 120, 240, ... 3600)."""
    exponent = min(max(receive_count, 1) - 1, 16)
    return int(min(base * (2**exponent), cap))


def rate_limit_delay_seconds(receive_count: int, retry_after: float) -> int:
    """Hide a rate-limited record for Slack's Retry-After, at least 2 s doubling per receive, capped."""
    return max(math.ceil(retry_after), retry_delay_seconds(receive_count, base=RATE_LIMIT_BASE_SECONDS))


def queue_url_from_arn(arn: str) -> tuple[str, str]:
    """(queue name, account id) from `arn:aws:sqs:region:account:name`."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[2] != "sqs":
        raise ValueError("not an SQS queue ARN")
    return parts[5], parts[4]


@dataclass
class NotifierRun:
    """State for one Lambda invocation: settings, deadline, a webhook client, the idempotent sender."""

    settings: Settings
    deadline: float
    context: LambdaContext | None = None
    clock: Callable[[], float] = time.monotonic
    _webhook: SlackWebhook | None = None
    _send_once: Callable[..., Any] | None = None
    _called: bool = False
    _delivered: dict[str, Any] | None = None
    # Set when a dependency (secret, idempotency store) failed: the rest of the batch fails fast
    # instead of running botocore's retries and backoff again for every record.
    _unavailable: str | None = None
    _queue_urls: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        table = self.settings.idempotency_table
        if table:
            persistence = DynamoDBPersistenceLayer(
                table_name=table, boto3_client=aws.client("dynamodb", self.settings.region)
            )
            config = IdempotencyConfig(
                event_key_jmespath="id",
                raise_on_no_idempotency_key=True,
                expires_after_seconds=IDEMPOTENCY_EXPIRY_SECONDS,
            )
            if self.context is not None:
                config.register_lambda_context(self.context)
            self._send_once = idempotent_function(
                data_keyword_argument="alert",
                persistence_store=persistence,
                config=config,
                key_prefix=IDEMPOTENCY_KEY_PREFIX,
            )(self._send)
        else:
            logger.warning("idempotency_disabled", extra={"reason": "IDEMPOTENCY_TABLE not set"})

    # ------------------------------------------------------------------ per record
    def handle_record(self, record: SQSRecord) -> str:
        """Process one record; returns the outcome word, raises to mark the record failed."""
        try:
            alert = Alert.from_json(record.body)
        except Exception as exc:  # anything that does not parse as an alert never will
            logger.error(
                "alert_rejected",
                extra={
                    "reason": "poison_message",
                    "error": str(exc)[:300],
                    "message_id": record.message_id,
                    "receive_count": _receive_count(record),
                },
            )
            metrics.add_metric(name=METRIC_FAILED_PERMANENT, unit=MetricUnit.Count, value=1)
            self._set_visibility(record, PERMANENT_VISIBILITY_SECONDS)
            raise PoisonMessageError(f"message {record.message_id} is not an alert: {str(exc)[:200]}") from None

        log_fields = {
            "alert_id": alert.id,
            "severity": alert.severity.name,
            "kind": alert.kind,
            "cluster": alert.cluster,
            "message_id": record.message_id,
        }
        threshold = self.settings.alert_min_severity
        if not alert.severity.at_least(threshold) and alert.kind not in ALWAYS_POSTED:
            logger.info(
                "alert_dropped", extra={**log_fields, "reason": "below_threshold", "min_severity": threshold.name}
            )
            metrics.add_metric(name=METRIC_DROPPED, unit=MetricUnit.Count, value=1)
            return "dropped"

        if self.deadline - self.clock() < RECORD_RESERVE_SECONDS:
            deferred = DeliveryResult(
                DeliveryOutcome.RETRY, None, "not started: too little time left in this invocation", 0, attempted=False
            )
            logger.warning("alert_deferred", extra={**log_fields, "reason": deferred.error})
            metrics.add_metric(name=METRIC_RETRIED, unit=MetricUnit.Count, value=1)
            raise DeliveryFailedError(deferred)
        if self._unavailable is not None:
            skipped = DeliveryResult(
                DeliveryOutcome.RETRY, None, f"{self._unavailable} (earlier in this invocation)", 0, attempted=False
            )
            self._on_failure(record, alert, skipped, log_fields)
            raise DeliveryFailedError(skipped)
        result: DeliveryResult | None
        try:
            result = self._deliver(alert)
        except DeliveryFailedError as failure:
            self._on_failure(record, alert, failure.result, log_fields)
            raise
        except IdempotencyAlreadyInProgressError:
            result = DeliveryResult(
                DeliveryOutcome.RETRY, None, "another invocation is delivering this alert", 0, attempted=False
            )
            self._on_failure(record, alert, result, log_fields)
            raise DeliveryFailedError(result) from None
        except IdempotencyError as exc:
            if self._called and self._delivered is not None:
                # Slack has the message; only the record of it is missing. Failing the SQS record would
                # post it again once the in-progress record expires, so count it as delivered.
                logger.warning(
                    "idempotency_record_not_saved",
                    extra={
                        **log_fields,
                        "reason": f"idempotency store: {type(exc).__name__}",
                        "consequence": "the same alert queued again within the expiry window may be posted again",
                    },
                )
                result = self._result_from(self._delivered)
            else:
                self._unavailable = f"idempotency store unavailable: {type(exc).__name__}"
                result = DeliveryResult(DeliveryOutcome.RETRY, None, self._unavailable, 0, attempted=False)
                self._on_failure(record, alert, result, log_fields)
                raise DeliveryFailedError(result) from None
        except Exception as exc:  # a defect (rendering, a library): keep the alert, say why, retry later
            logger.exception(
                "alert_failed_unexpected", extra={**log_fields, "reason": f"{type(exc).__name__}: {str(exc)[:200]}"}
            )
            result = DeliveryResult(DeliveryOutcome.RETRY, None, f"unexpected {type(exc).__name__}", 0, attempted=False)
            self._on_failure(record, alert, result, log_fields)
            raise DeliveryFailedError(result) from None

        if result is None:
            logger.info("alert_duplicate", extra={**log_fields, "reason": "already_delivered"})
            return "duplicate"
        metrics.add_metric(name=METRIC_DELIVERED, unit=MetricUnit.Count, value=1)
        if result.degraded:
            metrics.add_metric(name=METRIC_DEGRADED, unit=MetricUnit.Count, value=1)
        logger.info(
            "alert_sent",
            extra={
                **log_fields,
                "status": result.status,
                "attempts": result.attempts,
                "degraded": result.degraded,
                "title": alert.title,
            },
        )
        return "delivered"

    def _deliver(self, alert: Alert) -> DeliveryResult | None:
        """Deliver through the idempotency layer; None means it was already delivered earlier."""
        self._called = False
        self._delivered = None
        if self._send_once is None:
            return self._result_from(self._send(alert=alert.to_dict()))
        stored = self._send_once(alert=alert.to_dict())
        if not self._called:
            return None
        return self._result_from(stored)

    @staticmethod
    def _result_from(stored: dict[str, Any]) -> DeliveryResult:
        return DeliveryResult(
            DeliveryOutcome.DELIVERED,
            stored.get("status"),
            "",
            int(stored.get("attempts") or 0),
            bool(stored.get("degraded")),
        )

    def _send(self, alert: dict[str, Any]) -> dict[str, Any]:
        """The idempotent unit: returns (and so records) only a delivered result, raises otherwise."""
        self._called = True
        parsed = Alert.from_dict(alert)
        if self.settings.multi_account and parsed.account and parsed.account_name is None:
            # a hub names the account of every alert (cluster names repeat across accounts); from
            # ACCOUNT_NAMES, without a call: the detectors that reach an account add its IAM alias
            parsed = dataclasses.replace(parsed, account_name=accounts.configured_name(self.settings, parsed.account))
        try:
            webhook = self._webhook_client()
        except WebhookConfigError as exc:
            raise DeliveryFailedError(
                DeliveryResult(DeliveryOutcome.PERMANENT, None, str(exc), 0, attempted=False)
            ) from None
        except WebhookSecretError as exc:
            self._unavailable = "webhook secret unavailable"
            raise DeliveryFailedError(
                DeliveryResult(DeliveryOutcome.RETRY, None, str(exc), 0, attempted=False)
            ) from None
        result = webhook.deliver(parsed, self.settings.slack_critical_mention)
        if not result.delivered:
            raise DeliveryFailedError(result)
        self._delivered = {
            "outcome": result.outcome.value,
            "status": result.status,
            "attempts": result.attempts,
            "degraded": result.degraded,
            "delivered_at": int(time.time()),
        }
        return self._delivered

    def _webhook_client(self) -> SlackWebhook:
        if self._webhook is None:
            url = load_webhook_url(self.settings.slack_webhook_secret_arn or "", self.settings.region)
            # proxy=None: HTTPS_PROXY and NO_PROXY from the environment decide (SlackWebhook.proxy).
            self._webhook = SlackWebhook(url, deadline=self.deadline, clock=self.clock, proxy=None)
        return self._webhook

    # ------------------------------------------------------------------ failures
    def _on_failure(self, record: SQSRecord, alert: Alert, result: DeliveryResult, log_fields: dict[str, Any]) -> None:
        receive_count = _receive_count(record)
        if result.outcome is DeliveryOutcome.PERMANENT:
            visibility = PERMANENT_VISIBILITY_SECONDS
            forget_webhook_url()
            self._webhook = None
            metrics.add_metric(name=METRIC_FAILED_PERMANENT, unit=MetricUnit.Count, value=1)
            logger.error(
                "alert_failed_permanent",
                extra={
                    **log_fields,
                    "status": result.status,
                    "error": result.error,
                    "attempts": result.attempts,
                    "receive_count": receive_count,
                    "visibility_timeout": visibility,
                    "action": "fix the Slack webhook secret or channel, then redrive the dead-letter queue",
                },
            )
        else:
            if result.retry_after is not None:  # rate limited (a 429, or skipped after one)
                visibility = rate_limit_delay_seconds(receive_count, result.retry_after)
            else:
                visibility = retry_delay_seconds(receive_count)
            metrics.add_metric(name=METRIC_RETRIED, unit=MetricUnit.Count, value=1)
            logger.warning(
                "alert_retry",
                extra={
                    **log_fields,
                    "status": result.status,
                    "error": result.error,
                    "attempts": result.attempts,
                    "attempted": result.attempted,
                    "receive_count": receive_count,
                    "visibility_timeout": visibility,
                },
            )
        self._set_visibility(record, visibility)

    def _set_visibility(self, record: SQSRecord, seconds: int) -> None:
        """Best effort: if this fails the queue's own visibility timeout applies."""
        seconds = max(0, min(int(seconds), SQS_MAX_VISIBILITY_SECONDS))
        try:
            queue_url = self._queue_url(record.event_source_arn)
            aws.client("sqs", self.settings.region).change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=seconds
            )
        except Exception as exc:
            logger.warning(
                "visibility_not_changed",
                extra={"message_id": record.message_id, "error": f"{type(exc).__name__}: {str(exc)[:200]}"},
            )

    def _queue_url(self, arn: str) -> str:
        if arn in self._queue_urls:
            return self._queue_urls[arn]
        name, account = queue_url_from_arn(arn)
        configured = self.settings.alert_queue_url
        if configured and configured.rstrip("/").rsplit("/", 1)[-1] == name:
            url = configured
        else:
            sqs = aws.client("sqs", self.settings.region)
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        self._queue_urls[arn] = url
        return url


def _receive_count(record: SQSRecord) -> int:
    """Best effort: a record without a readable count is treated as a first delivery (never raises)."""
    try:
        return max(1, int(record.attributes.approximate_receive_count or 1))
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
        return 1


def start_run(context: LambdaContext | None, settings: Settings | None = None) -> NotifierRun:
    """Begin an invocation: read settings, fix the deadline from the Lambda's remaining time."""
    remaining = DEFAULT_REMAINING_SECONDS
    if context is not None:
        try:
            remaining = context.get_remaining_time_in_millis() / 1000.0
        except Exception:
            remaining = DEFAULT_REMAINING_SECONDS
    return NotifierRun(settings=settings or load_settings(), deadline=time.monotonic() + remaining, context=context)
