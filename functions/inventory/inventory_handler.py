"""InventoryFunction: read each cluster's live access state, say who is admin through which door, alert
on what changed, and send the digest on its schedule.

A bad request is logged and answered, never raised (a retry would fail the same way). A cluster that
cannot be read is reported by the run and does not fail the invocation; only a failure to queue
alerts raises, so Lambda retries and the on-failure destination keeps the request.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import aws, tracing
from eksguard.config import load_settings
from eksguard.inventory.live import BadRequest, gateways_from_settings, parse_request
from eksguard.inventory.run import run

INVENTORY_LOOKUP_SECONDS = 60.0  # of the function's 300 s; lookups are cached and answer in well under a second

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracing.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings()
    # The expected-admin lookups (kubectl instances, IAM paths) share one deadline per invocation.
    aws.LookupBudget.start(INVENTORY_LOOKUP_SECONDS)
    try:
        request = parse_request(event, settings.region)
    except BadRequest as exc:
        logger.error("bad_request", extra={"reason": str(exc)})
        return {"status": "invalid", "reason": str(exc)}
    logger.info("inventory_started", extra={"action": request.action, "only": request.only, "reason": request.reason})
    result = run(
        gateways_from_settings(settings),
        settings.effective_stop_regions,
        only=request.only,
        digest=request.action == "digest",
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    summary = result.summary()
    metrics.add_metric(name="InventoryClusters", unit=MetricUnit.Count, value=summary["clusters"])
    metrics.add_metric(name="InventoryFailures", unit=MetricUnit.Count, value=len(summary["failures"]))
    metrics.add_metric(name="InventoryAlerts", unit=MetricUnit.Count, value=summary["alerts"])
    logger.info("inventory_done", extra=summary)
    return {"status": "ok" if not summary["failures"] else "partial", "action": request.action, **summary}
