"""InventoryFunction: read each cluster's live access state, say who is cluster admin through which door, alert
on what changed, and send the digest on its schedule. In a hub (spokes configured), over every account it acts
in, with the coverage report on every full run.

A bad request is logged and answered, never raised (a retry would fail the same way). A cluster or an account
that cannot be read is reported by the run and does not fail the invocation; only a failure to queue
alerts raises, so Lambda retries and the on-failure destination keeps the request.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import accounts, aws, tracing
from eksguard.accounts import partition_of
from eksguard.arns import account_of
from eksguard.config import load_settings
from eksguard.inventory.live import (
    BadRequest,
    account_targets,
    coverage_setup,
    gateways_from_settings,
    parse_request,
)
from eksguard.inventory.run import FINAL_RESERVE_SECONDS, run

logger = Logger()
metrics = Metrics()


def lookup_seconds(time_left: float) -> float:
    """The expected-admin lookups (kubectl instances, IAM paths) share one deadline per invocation: while the
    run's reads may still start, less one lookup call, so the last lookup ends before what must follow the
    reads (FINAL_RESERVE_SECONDS). A hub looks in each account when it gets to its clusters, however late."""
    return max(0.0, time_left - FINAL_RESERVE_SECONDS - aws.worst_lookup_call_seconds())


@logger.inject_lambda_context(clear_state=True)
@tracing.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings()
    arn = context.invoked_function_arn
    home, partition = account_of(arn), partition_of(arn)
    accounts.set_home(home)
    aws.set_session_name(f"eksguard-{context.function_name}")

    def time_left() -> float:
        return context.get_remaining_time_in_millis() / 1000

    aws.LookupBudget.start(lookup_seconds(time_left()))
    try:
        request = parse_request(event, settings.region)
    except BadRequest as exc:
        logger.error("bad_request", extra={"reason": str(exc)})
        return {"status": "invalid", "reason": str(exc)}
    logger.info(
        "inventory_started",
        extra={"action": request.action, "only": request.only, "account": request.account, "reason": request.reason},
    )
    result = run(
        gateways_from_settings(settings),
        settings.effective_stop_regions,
        only=request.only,
        digest=request.action == "digest",
        time_left=time_left,
        targets=account_targets(settings, home, partition, request),
        coverage=coverage_setup(settings, home, partition) if request.only is None else None,
    )
    summary = result.summary()
    metrics.add_metric(name="InventoryClusters", unit=MetricUnit.Count, value=summary["clusters"])
    metrics.add_metric(name="InventoryFailures", unit=MetricUnit.Count, value=len(summary["failures"]))
    metrics.add_metric(name="InventoryAlerts", unit=MetricUnit.Count, value=summary["alerts"])
    if result.accounts:
        unreachable = sum(1 for why in result.accounts.values() if why)
        metrics.add_metric(name="AccountsUnreachable", unit=MetricUnit.Count, value=unreachable)
    if result.coverage is not None:
        metrics.add_metric(name="CoverageGaps", unit=MetricUnit.Count, value=len(result.coverage.gaps()))
    logger.info("inventory_done", extra=summary)
    return {"status": "ok" if not summary["failures"] else "partial", "action": request.action, **summary}
