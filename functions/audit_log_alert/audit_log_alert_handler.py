"""AuditLogAlertFunction: EKS audit-log subscription -> aws-auth and RBAC verdicts -> alert queue.

A malformed payload is logged and counted but not raised: an async retry would only fail again.
AWS failures (DynamoDB state, SQS alert queue) raise, so Lambda retries and then parks the event
in the failure destination.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import aws, tracing
from eksguard.access_entries import DynamoAccessEntryReader
from eksguard.alerts import Alert
from eksguard.audit_log.dispatch import process_delivery
from eksguard.audit_log.payload import PayloadError, decode_awslogs
from eksguard.aws_auth.state import DynamoStateStore, InMemoryStateStore, StateStore
from eksguard.config import Settings, load_settings
from eksguard.expected_admins import expected_admins_from_settings
from eksguard.inventory.trigger import request_inventory
from eksguard.publish import publish_many
from eksguard.rbac.state import RbacStore
from eksguard.rbac.store import DynamoRbacStore, InMemoryRbacStore

logger = Logger()
metrics = Metrics()


def state_store(settings: Settings) -> StateStore:
    if settings.audit_state_table:
        return DynamoStateStore(settings.audit_state_table, settings.region)
    logger.warning(
        "state_not_persisted",
        extra={"reason": "AUDIT_STATE_TABLE not set; every event is judged on its own content"},
    )
    return InMemoryStateStore()


def access_entries(settings: Settings) -> DynamoAccessEntryReader | None:
    if settings.audit_state_table:
        return DynamoAccessEntryReader(settings.audit_state_table, settings.region)
    return None


def rbac_store(settings: Settings) -> RbacStore:
    if settings.audit_state_table:
        return DynamoRbacStore(settings.audit_state_table, settings.region)
    return InMemoryRbacStore()


@logger.inject_lambda_context(clear_state=True)
@tracing.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings()
    aws.LookupBudget.start()
    metrics.add_metric(name="AuditLogInvocations", unit=MetricUnit.Count, value=1)
    try:
        batch = decode_awslogs(event)
    except PayloadError as exc:
        logger.error(
            "malformed_payload",
            extra={"reason": str(exc), "keys": sorted(event)[:10] if isinstance(event, dict) else None},
        )
        metrics.add_metric(name="MalformedPayload", unit=MetricUnit.Count, value=1)
        return {"status": "malformed", "reason": str(exc)}

    def publish(alerts: list[Alert]) -> None:
        publish_many(alerts, settings)

    try:
        result = process_delivery(
            batch,
            expected_admins_from_settings(settings),
            state_store(settings),
            rbac_store(settings),
            settings.region,
            publish,
            DynamoAccessEntryReader(settings.audit_state_table, settings.region)
            if settings.audit_state_table
            else None,
        )
    except PayloadError as exc:
        logger.error("malformed_payload", extra={"reason": str(exc), "log_group": batch.log_group})
        metrics.add_metric(name="MalformedPayload", unit=MetricUnit.Count, value=1)
        return {"status": "malformed", "reason": str(exc)}
    summary = result.summary()
    if result.unreadable and batch.cluster and settings.inventory_function_name:
        # what the log could not say, the live state can: the inventory reads this cluster now
        summary["inventoryRequested"] = request_inventory(
            settings.inventory_function_name, batch.cluster, settings.region, result.unreadable
        )
    metrics.add_metric(name="AuditLogEvents", unit=MetricUnit.Count, value=result.aws_auth.log_events)
    metrics.add_metric(name="AwsAuthEvents", unit=MetricUnit.Count, value=result.aws_auth.aws_auth_events)
    metrics.add_metric(name="AwsAuthAlerts", unit=MetricUnit.Count, value=len(result.aws_auth.alerts))
    metrics.add_metric(name="RbacEvents", unit=MetricUnit.Count, value=result.rbac.rbac_events)
    metrics.add_metric(name="RbacAlerts", unit=MetricUnit.Count, value=len(result.rbac.alerts))
    if result.aws_auth.duplicates:
        metrics.add_metric(name="AwsAuthDuplicates", unit=MetricUnit.Count, value=result.aws_auth.duplicates)
    logger.info("batch_done", extra=summary)
    return {"status": "ok", **summary}
