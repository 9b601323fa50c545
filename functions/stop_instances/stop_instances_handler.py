"""StopInstancesFunction: invoked by EventBridge Scheduler; stops tagged kubectl instances."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import aws, tracing
from eksguard.accounts import partition_of
from eksguard.arns import account_of
from eksguard.config import load_settings
from eksguard.stop.service import stop_and_report

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracing.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings()
    aws.set_session_name(f"eksguard-{context.function_name}")
    return stop_and_report(
        event,
        settings,
        metrics,
        fallback_run_id=context.aws_request_id,
        account=account_of(context.invoked_function_arn),
        partition=partition_of(context.invoked_function_arn),
        remaining=lambda: context.get_remaining_time_in_millis() / 1000.0,
    )
