"""SlackNotifierFunction: posts queued alerts to Slack, reporting failed records individually."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import tracing
from eksguard.slack import notifier

logger = Logger()
metrics = Metrics()
# Never fail the whole invocation: each record's failure is reported on its own.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context
@tracing.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    run = notifier.start_run(context)
    return process_partial_response(event=event, record_handler=run.handle_record, processor=processor, context=context)
