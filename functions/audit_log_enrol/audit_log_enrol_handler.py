"""AuditLogEnrolFunction: keep every EKS audit log group of this region subscribed to AuditLogAlertFunction
and report clusters we cannot see (audit logging off, filter slots taken)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import aws, tracing
from eksguard.audit_log.enrol import account_of_arn, enrol_region, is_relevant_trigger
from eksguard.config import ConfigError, load_settings
from eksguard.publish import publish_many

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracing.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings()
    relevant, reason = is_relevant_trigger(event if isinstance(event, dict) else {})
    metrics.add_metric(name="EnrolRuns", unit=MetricUnit.Count, value=1)
    if not relevant:
        logger.info("skipped", extra={"reason": reason})
        return {"status": "skipped", "reason": reason}
    if not settings.audit_destination_arn:
        raise ConfigError("AUDIT_LOG_DESTINATION_ARN is not set: nothing to subscribe the log groups to")
    result = enrol_region(
        aws.client("logs", settings.region),
        aws.client("eks", settings.region),
        settings.region,
        settings.audit_filter_name,
        settings.audit_destination_arn,
        account_of_arn(settings.audit_destination_arn),
    )
    publish_many(result.alerts, settings)
    metrics.add_metric(name="LogGroupsSubscribed", unit=MetricUnit.Count, value=len(result.subscribed))
    metrics.add_metric(name="LogGroupsBlind", unit=MetricUnit.Count, value=len(result.blind))
    metrics.add_metric(name="ClustersAuditLoggingOff", unit=MetricUnit.Count, value=len(result.audit_logging_off))
    logger.info("enrol_done", extra={"trigger": reason, **result.summary()})
    return {"status": "ok", "trigger": reason, **result.summary()}
