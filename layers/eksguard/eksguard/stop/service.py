"""Entry point used by the stop handler: run, log, measure, publish one summary alert."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from eksguard import accounts
from eksguard.config import Settings
from eksguard.publish import publish
from eksguard.stop.model import Outcome, RunReport
from eksguard.stop.report import summary_alert
from eksguard.stop.run import ClientFactory, Remaining, call_reserve_seconds, run_stop

logger = Logger(child=True)


def run_id_from_event(event: Any, fallback: str) -> str:
    """The scheduler passes its scheduled time; retries of one scheduled run share the run id
    (and so the summary alert id), which keeps the summary from being posted twice."""
    if isinstance(event, dict):
        for key in ("scheduledTime", "executionId", "time", "id"):
            value = event.get(key)
            if isinstance(value, str) and value and not value.startswith("<aws.scheduler"):
                return value
    return fallback


def stop_and_report(
    event: Any,
    settings: Settings,
    metrics: Metrics,
    *,
    fallback_run_id: str,
    account: str | None,
    now: datetime | None = None,
    client_factory: ClientFactory | None = None,
    remaining: Remaining | None = None,
    partition: str = "aws",
    organizations: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    run_id = run_id_from_event(event, fallback_run_id)
    kwargs: dict[str, Any] = {"run_id": run_id, "now": now or datetime.now(UTC)}
    if settings.multi_account:
        left = remaining or (lambda: float("inf"))
        kwargs["targets"] = accounts.resolve(
            settings,
            account,
            partition=partition,
            organizations=organizations,
            may_call=lambda: left() >= call_reserve_seconds(),
        )
    if client_factory is not None:
        kwargs["client_factory"] = client_factory
    if remaining is not None:
        kwargs["remaining"] = remaining
    report: RunReport = run_stop(settings, **kwargs)
    for outcome, metric in (
        (Outcome.STOPPED, "InstancesStopped"),
        (Outcome.WOULD_STOP, "InstancesWouldStop"),
        (Outcome.SKIPPED, "InstancesSkipped"),
        (Outcome.FAILED, "InstancesFailed"),
    ):
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=report.count(outcome))
    metrics.add_metric(name="RegionsFailed", unit=MetricUnit.Count, value=len(report.failed_regions))
    if report.accounts:
        metrics.add_metric(name="AccountsUnreachable", unit=MetricUnit.Count, value=len(report.unreachable))
    result = report.to_dict()
    logger.info("stop_run_finished", extra={"result": result})
    alert = summary_alert(report, account=account, home_region=settings.region)
    publish(alert, settings)
    result["alert_id"] = alert.id
    result["severity"] = alert.severity.name
    return result
