"""What AuditLogAlertFunction does with an invocation: one CloudWatch Logs delivery or a Kinesis batch of them.

Two envelopes carry the same payload (payload.py): a direct subscription (this account's log groups)
invokes the function with one delivery; the hub's CloudWatch Logs destination writes the spokes'
deliveries to a Kinesis stream, whose event source mapping invokes it with a batch of records.

A Kinesis batch is judged record by record, and each record's failure is its own: the function answers
with a partial batch response (`batchItemFailures`, by sequence number; the event source mapping needs
`FunctionResponseTypes: [ReportBatchItemFailures]`). Lambda then retries from the lowest failed sequence
number, so a record after a failed one may be judged again: it produces the same alert ids (they derive
from the log line) and the notifier drops the repeats; aws-auth recognises the line as a redelivery.
A record that cannot be decoded is reported failed too: retrying will not fix it, but after the mapping's
retries its place in the stream goes to the on-failure destination instead of vanishing.

A delivery is judged for the account that owns its log group (its `owner`): its state records are that
account's (accounts.cluster_key), its alerts carry that account, and who is an expected admin is looked
up there (a spoke's kubectl instances and IAM paths, through the role it grants the hub), never in the
hub, whose same-named cluster and kubectl roles are another account's.

A record is started only with `delivery_reserve_seconds()` left in the invocation (the worst case of
one delivery's calls, tests/unit/test_call_bounds.py): the others are reported failed, not started, and
come back in the next invocation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import accounts, aws
from eksguard.access_entries import AccessEntrySource, DynamoAccessEntryReader
from eksguard.alerts import Alert
from eksguard.audit_log.dispatch import process_delivery
from eksguard.audit_log.payload import LogBatch, PayloadError, decode_awslogs, decode_kinesis_record
from eksguard.aws_auth.state import DynamoStateStore, InMemoryStateStore, StateStore
from eksguard.config import Settings
from eksguard.expected_admins import expected_admins_from_settings
from eksguard.findings import ExpectedAdminsLike
from eksguard.inventory.trigger import InventoryRequest, request_inventory
from eksguard.publish import publish_many
from eksguard.rbac.state import RbacStore
from eksguard.rbac.store import DynamoRbacStore, InMemoryRbacStore

logger = Logger(child=True)

# aws-auth state read and write, access entries read, RBAC state read and write, the queue send.
DELIVERY_WRITES = 6


def delivery_reserve_seconds() -> float:
    """The longest one delivery's calls can take: the lookups' budget, the state reads and writes, the
    queue send and the inventory request (the AuditLogAlertFunction path of eksguard.call_bounds)."""
    return (
        aws.worst_lookup_seconds()
        + DELIVERY_WRITES * aws.worst_call_seconds(aws.RETRY_CONFIG)
        + aws.worst_lookup_call_seconds()
    )


class NotStarted(RuntimeError):
    """A Kinesis record left for the next invocation: too little time left to judge it in this one."""


@dataclass(frozen=True)
class Stores:
    aws_auth: StateStore
    rbac: RbacStore
    access_entries: AccessEntrySource | None

    @classmethod
    def from_settings(cls, settings: Settings) -> Stores:
        table = settings.audit_state_table
        if not table:
            logger.warning(
                "state_not_persisted",
                extra={"reason": "AUDIT_STATE_TABLE not set; every event is judged on its own content"},
            )
            return cls(InMemoryStateStore(), InMemoryRbacStore(), None)
        return cls(
            DynamoStateStore(table, settings.region),
            DynamoRbacStore(table, settings.region),
            DynamoAccessEntryReader(table, settings.region),
        )


@dataclass(frozen=True)
class ExpectedIn:
    """Expected admins of another account's cluster, answered in that account: its kubectl instances and
    IAM paths are looked up through its role (a role that cannot be assumed makes the lookup fail, and a
    failed lookup never makes anyone expected)."""

    expected: ExpectedAdminsLike
    target: accounts.Target

    def check(self, cluster: str | None, principal: str | None) -> Any:
        with self.target.scope():
            return self.expected.check(cluster, principal)


def expected_for(batch: LogBatch, settings: Settings, partition: str) -> ExpectedAdminsLike:
    expected = expected_admins_from_settings(settings)
    target = accounts.for_account(settings, accounts.home(), batch.owner or None, partition)
    return ExpectedIn(expected, target) if target.role_arn else expected


def judge_batch(
    batch: LogBatch, settings: Settings, metrics: Metrics, stores: Stores, partition: str = "aws"
) -> dict[str, Any]:
    """One delivery: judge, publish, remember; ask the inventory for what the log could not say.
    Raises PayloadError for a payload that is not an EKS control-plane delivery, and AWS errors."""

    def publish(alerts: list[Alert]) -> None:
        publish_many(alerts, settings)

    result = process_delivery(
        batch,
        expected_for(batch, settings, partition),
        stores.aws_auth,
        stores.rbac,
        settings.region,
        publish,
        stores.access_entries,
    )
    summary = result.summary()
    if batch.owner and not batch.is_control:
        summary["account"] = batch.owner
    if result.unreadable and batch.cluster and settings.inventory_function_name:
        # what the log could not say, the live state can: the inventory reads this cluster of this account now
        request = InventoryRequest.of(batch.cluster, settings.region, batch.owner, result.unreadable)
        summary["inventoryRequested"] = request_inventory(settings.inventory_function_name, request)
    metrics.add_metric(name="AuditLogEvents", unit=MetricUnit.Count, value=result.aws_auth.log_events)
    metrics.add_metric(name="AwsAuthEvents", unit=MetricUnit.Count, value=result.aws_auth.aws_auth_events)
    metrics.add_metric(name="AwsAuthAlerts", unit=MetricUnit.Count, value=len(result.aws_auth.alerts))
    metrics.add_metric(name="RbacEvents", unit=MetricUnit.Count, value=result.rbac.rbac_events)
    metrics.add_metric(name="RbacAlerts", unit=MetricUnit.Count, value=len(result.rbac.alerts))
    if result.aws_auth.duplicates:
        metrics.add_metric(name="AwsAuthDuplicates", unit=MetricUnit.Count, value=result.aws_auth.duplicates)
    logger.info("batch_done", extra=summary)
    return summary


def judge_awslogs(event: Any, settings: Settings, metrics: Metrics, partition: str = "aws") -> dict[str, Any]:
    """A direct subscription's delivery. A malformed payload is logged and answered, not raised (an async
    retry would only fail again); AWS failures raise, so Lambda retries and then parks the event."""
    aws.LookupBudget.start()
    try:
        batch = decode_awslogs(event)
    except PayloadError as exc:
        keys = sorted(event)[:10] if isinstance(event, Mapping) else None
        return _malformed(metrics, exc, keys=keys)
    try:
        summary = judge_batch(batch, settings, metrics, Stores.from_settings(settings), partition)
    except PayloadError as exc:
        return _malformed(metrics, exc, log_group=batch.log_group)
    return {"status": "ok", **summary}


def _malformed(metrics: Metrics, exc: PayloadError, **where: Any) -> dict[str, Any]:
    logger.error("malformed_payload", extra={"reason": str(exc), **where})
    metrics.add_metric(name="MalformedPayload", unit=MetricUnit.Count, value=1)
    return {"status": "malformed", "reason": str(exc)}


def judge_kinesis(
    event: Mapping[str, Any],
    settings: Settings,
    metrics: Metrics,
    context: LambdaContext,
    time_left: Callable[[], float],
    partition: str = "aws",
) -> PartialItemFailureResponse:
    """A Kinesis batch: every record judged on its own, the failed (or not started) ones reported by
    sequence number for Lambda to retry."""
    stores = Stores.from_settings(settings)
    reserve = delivery_reserve_seconds()

    def judge_record(record: KinesisStreamRecord) -> dict[str, Any]:
        sequence = record.kinesis.sequence_number
        if time_left() < reserve:
            logger.warning("record_not_started", extra={"sequence_number": sequence, "remaining": time_left()})
            metrics.add_metric(name="KinesisRecordsDeferred", unit=MetricUnit.Count, value=1)
            raise NotStarted(f"record {sequence} not started: less than {reserve:.0f}s left")
        aws.LookupBudget.start()  # each delivery gets the budget a direct invocation gets
        try:
            batch = decode_kinesis_record(record.raw_event)
        except PayloadError as exc:
            logger.error("malformed_payload", extra={"reason": str(exc), "sequence_number": sequence})
            metrics.add_metric(name="MalformedPayload", unit=MetricUnit.Count, value=1)
            raise
        logger.append_keys(account=batch.owner or None, sequence_number=sequence)
        try:
            return judge_batch(batch, settings, metrics, stores, partition)
        except PayloadError as exc:
            logger.error("malformed_payload", extra={"reason": str(exc), "log_group": batch.log_group})
            metrics.add_metric(name="MalformedPayload", unit=MetricUnit.Count, value=1)
            raise
        except Exception as exc:  # reported failed for Lambda to retry; the other records go on
            logger.error("record_failed", extra={"error": f"{type(exc).__name__}: {str(exc)[:300]}"})
            raise
        finally:
            logger.remove_keys(["account", "sequence_number"])

    processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event=dict(event), record_handler=judge_record, processor=processor, context=context
    )
    failed = len(response.get("batchItemFailures") or [])
    metrics.add_metric(name="KinesisRecords", unit=MetricUnit.Count, value=len(event.get("Records") or []))
    if failed:
        metrics.add_metric(name="KinesisRecordsFailed", unit=MetricUnit.Count, value=failed)
        logger.warning("records_failed", extra={"failed": failed, "records": len(event.get("Records") or [])})
    return response
