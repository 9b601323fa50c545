"""AuditLogEnrolFunction: keep every EKS audit log group of this region subscribed to AuditLogAlertFunction
(and, in a hub, the spokes' log groups to the hub's CloudWatch Logs destination) and report clusters we
cannot see (audit logging off, filter slots taken, spoke accounts not reached)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import aws, tracing
from eksguard.accounts import partition_of
from eksguard.arns import account_of
from eksguard.audit_log.enrol import is_relevant_trigger
from eksguard.audit_log.spoke_enrol import enrol
from eksguard.config import ConfigError, load_settings
from eksguard.publish import publish_many

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracing.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings()
    event = event if isinstance(event, dict) else {}
    relevant, reason = is_relevant_trigger(event)
    metrics.add_metric(name="EnrolRuns", unit=MetricUnit.Count, value=1)
    if not relevant:
        logger.info("skipped", extra={"reason": reason})
        return {"status": "skipped", "reason": reason}
    if not settings.audit_destination_arn:
        raise ConfigError("AUDIT_LOG_DESTINATION_ARN is not set: nothing to subscribe the log groups to")
    arn = context.invoked_function_arn
    aws.set_session_name(f"eksguard-{context.function_name}")
    run = enrol(
        settings,
        event,
        home=account_of(arn),
        partition=partition_of(arn),
        time_left=lambda: context.get_remaining_time_in_millis() / 1000.0,
    )
    publish_many(run.alerts, settings)
    if run.home is not None:
        metrics.add_metric(name="LogGroupsSubscribed", unit=MetricUnit.Count, value=len(run.home.subscribed))
        metrics.add_metric(name="LogGroupsBlind", unit=MetricUnit.Count, value=len(run.home.blind))
        metrics.add_metric(name="ClustersAuditLoggingOff", unit=MetricUnit.Count, value=len(run.home.audit_logging_off))
    if run.spokes is not None:
        metrics.add_metric(name="SpokesNotEnrolled", unit=MetricUnit.Count, value=len(run.spokes.not_enrolled))
        subscribed = sum(len(e.result.subscribed) for e in run.spokes.accounts if e.result is not None)
        metrics.add_metric(name="SpokeLogGroupsSubscribed", unit=MetricUnit.Count, value=subscribed)
    summary = run.summary()
    logger.info("enrol_done", extra={"trigger": reason, **summary})
    return {"status": "ok", "trigger": reason, **summary}
