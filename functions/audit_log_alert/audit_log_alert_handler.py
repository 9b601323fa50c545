"""AuditLogAlertFunction: EKS audit-log deliveries -> aws-auth and RBAC verdicts -> alert queue.

Invoked by this account's subscription filters (`awslogs`) and, in a hub, by the Kinesis stream behind
the CloudWatch Logs destination the spokes deliver to (a batch answered with `batchItemFailures`).
A malformed direct payload is logged and counted but not raised: an async retry would only fail again.
AWS failures (DynamoDB state, SQS alert queue) raise, so Lambda retries and then parks the event in
the failure destination; in a Kinesis batch they fail that record only (eksguard.audit_log.intake).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import accounts, aws, tracing
from eksguard.accounts import partition_of
from eksguard.arns import account_of
from eksguard.audit_log.intake import judge_awslogs, judge_kinesis
from eksguard.audit_log.payload import is_kinesis_event
from eksguard.config import load_settings

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracing.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    settings = load_settings()
    arn = context.invoked_function_arn
    # this account's clusters keep their plain state keys; another account's are qualified by its ID
    accounts.set_home(account_of(arn))
    aws.set_session_name(f"eksguard-{context.function_name}")
    metrics.add_metric(name="AuditLogInvocations", unit=MetricUnit.Count, value=1)
    if is_kinesis_event(event):
        return judge_kinesis(
            event,
            settings,
            metrics,
            context,
            time_left=lambda: context.get_remaining_time_in_millis() / 1000.0,
            partition=partition_of(arn),
        )
    return judge_awslogs(event, settings, metrics, partition_of(arn))
