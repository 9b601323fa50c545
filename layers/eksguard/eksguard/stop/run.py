"""Orchestrate one stop run over every configured region. A failure in one region or on one
instance never prevents the rest from being handled."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from eksguard import accounts, aws
from eksguard.accounts import Target, Targets
from eksguard.config import ConfigError, Settings
from eksguard.stop import gateway
from eksguard.stop.decide import Sessions, classify_sessions, decide
from eksguard.stop.model import Instance, InstanceResult, Outcome, Reason, RegionResult, RunReport
from eksguard.stop.stopper import stop_in_batches

logger = Logger(child=True)

ClientFactory = Callable[[str, str], Any]
# Seconds left in the invocation (the handler passes the Lambda context's clock).
Remaining = Callable[[], float]

# A call is started only while it can finish, worst case, with the summary's queue send still to
# come and a margin: so the run reports what it did not reach instead of being cut off by the
# Lambda timeout with no summary at all.
SUMMARY_RESERVE_SECONDS = aws.worst_call_seconds(aws.RETRY_CONFIG) + 5.0


def call_reserve_seconds() -> float:
    """Time that must be left to start one more EC2/SSM call: its worst case, then the summary's."""
    return aws.worst_call_seconds(aws.EC2_CONFIG) + SUMMARY_RESERVE_SECONDS


def schedule_zone(settings: Settings) -> tzinfo:
    try:
        return ZoneInfo(settings.schedule_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"SCHEDULE_TIMEZONE={settings.schedule_timezone!r} is not an IANA time zone") from None


def _unbounded() -> float:
    return float("inf")


def run_stop(
    settings: Settings,
    *,
    run_id: str,
    now: datetime | None = None,
    client_factory: ClientFactory = aws.client,
    remaining: Remaining = _unbounded,
    targets: Targets | None = None,
) -> RunReport:
    """Every region of every target account. Without targets, the function's own account only (a
    single-account deployment). Each account is handled on its own: one whose role cannot be assumed,
    or that the run has no time left for, is reported and the others go on."""
    now = now or datetime.now(UTC)
    zone = schedule_zone(settings)
    report = RunReport(run_id=run_id, started_at=now.isoformat(), dry_run=settings.dry_run)
    if targets is None or not targets.multi_account:
        _run_regions(settings, report, now, zone, client_factory, remaining, account=None)
        if targets is not None:
            report.problems.extend(targets.problems)
        return report
    report.problems.extend(targets.problems)
    for target in targets:
        if remaining() < call_reserve_seconds():
            report.accounts[target.label] = "not reached: the run ran out of time before this account"
            logger.error("account_out_of_time", extra={"account": target.account, "remaining_seconds": remaining()})
            continue
        with target.scope():
            try:
                aws.assume_for_scope()
            except aws.AccountUnreachable as exc:
                report.accounts[target.label] = exc.reason
                logger.error("account_unreachable", extra={"account": target.account, "error": exc.reason})
                continue
            if remaining() >= call_reserve_seconds():
                target = accounts.named(target, settings.region)
            report.accounts[target.label] = None
            logger.append_keys(account=target.account)
            try:
                _run_regions(settings, report, now, zone, client_factory, remaining, account=target)
            finally:
                logger.remove_keys(["account"])
    return report


def _run_regions(
    settings: Settings,
    report: RunReport,
    now: datetime,
    zone: tzinfo,
    client_factory: ClientFactory,
    remaining: Remaining,
    account: Target | None,
) -> None:
    for region in settings.effective_stop_regions:
        if remaining() < call_reserve_seconds():
            result = RegionResult(region=region, error="not scanned: the run ran out of time before this region")
            logger.error("region_out_of_time", extra={"region": region, "remaining_seconds": remaining()})
        else:
            result = _run_region(settings, region, now, zone, client_factory, remaining)
        if account is not None:
            result.account, result.account_label = account.account, account.label
        report.regions.append(result)


def _run_region(
    settings: Settings,
    region: str,
    now: datetime,
    zone: tzinfo,
    client_factory: ClientFactory,
    remaining: Remaining,
) -> RegionResult:
    result = RegionResult(region=region)

    def may_call() -> bool:
        return remaining() >= call_reserve_seconds()

    try:
        ec2 = client_factory("ec2", region)
        instances = list(
            gateway.tagged_instances(
                ec2, region, settings.stop_tag_key, settings.stop_tag_value, settings.cluster_tag_key, may_call
            )
        )
    except gateway.OutOfTime as exc:
        result.error = f"not scanned: {exc}"
        logger.error("region_out_of_time", extra={"region": region, "error": result.error})
        return result
    except (ClientError, BotoCoreError) as exc:
        result.error = f"cannot list instances: {aws.describe_error(exc)}"
        logger.error("region_failed", extra={"region": region, "error": result.error})
        return result
    if not instances:
        logger.info("region_empty", extra={"region": region})
        return result

    sessions: Sessions | None
    try:
        sessions = classify_sessions(
            gateway.active_sessions(client_factory("ssm", region), may_call),
            now=now,
            orphan_after=timedelta(hours=settings.orphaned_session_hours),
        )
    except (ClientError, BotoCoreError, gateway.OutOfTime) as exc:
        # Fail safe: without knowing who is logged in, stop nothing in this region.
        sessions = None
        warning = f"cannot list SSM sessions ({aws.describe_error(exc)}): no instance stopped in {region}"
        result.warnings.append(warning)
        logger.error("sessions_unknown", extra={"region": region, "error": warning})

    grace = timedelta(minutes=settings.stop_grace_minutes)
    to_stop: list[Instance] = []
    notes: dict[str, str] = {}
    for instance in instances:
        decision = decide(
            instance,
            now=now,
            tag_value_pattern=settings.stop_tag_value,
            stop_tag_key=settings.stop_tag_key,
            keep_alive_tag_key=settings.keep_alive_tag_key,
            grace=grace,
            sessions=sessions,
            zone=zone,
            max_keep_alive=timedelta(days=settings.max_keep_alive_days),
        )
        if decision.stop:
            to_stop.append(instance)
            if decision.note:
                notes[instance.instance_id] = decision.note
                result.warnings.append(f"{instance.instance_id}: {decision.note}")
            continue
        if decision.note:  # an expired or ignored tag, a session open for days: worth a look even if skipped
            result.warnings.append(f"{instance.instance_id}: {decision.note}")
        outcome = Outcome.FAILED if decision.reason is Reason.INSTANCE_STORE_ROOT else Outcome.SKIPPED
        item = InstanceResult(
            instance_id=instance.instance_id,
            outcome=outcome,
            cluster=instance.cluster,
            name=instance.name,
            reason=decision.reason.value if decision.reason else None,
            detail=decision.detail,
            error_code="UnsupportedOperation" if outcome is Outcome.FAILED else None,
            note=decision.note,
        )
        result.instances.append(item)
        logger.info(outcome.value, extra=_log_fields(region, item))

    if to_stop:
        _stop(settings, region, to_stop, notes, client_factory("ec2", region), result, may_call)
    return result


def _stop(
    settings: Settings,
    region: str,
    to_stop: list[Instance],
    notes: dict[str, str],
    ec2: Any,
    result: RegionResult,
    may_call: Callable[[], bool],
) -> None:
    by_id = {i.instance_id: i for i in to_stop}
    try:
        outcome = stop_in_batches(
            ec2,
            list(by_id),
            dry_run=settings.dry_run,
            may_call=may_call,
        )
    except (ClientError, BotoCoreError) as exc:  # the stopper handles both per call; this is a backstop
        error = aws.describe_error(exc)
        for instance in to_stop:
            result.instances.append(
                InstanceResult(
                    instance.instance_id,
                    Outcome.FAILED,
                    instance.cluster,
                    instance.name,
                    reason=Reason.STOP_API_ERROR.value,
                    detail=error,
                    error_code=type(exc).__name__,
                )
            )
        logger.error("stop_failed", extra={"region": region, "error": error, "count": len(to_stop)})
        return
    done = Outcome.WOULD_STOP if settings.dry_run else Outcome.STOPPED
    for instance_id in outcome.stopped:
        instance = by_id[instance_id]
        item = InstanceResult(instance_id, done, instance.cluster, instance.name, note=notes.get(instance_id))
        result.instances.append(item)
        logger.info(done.value, extra=_log_fields(region, item))
    for failure in outcome.failed:
        instance = by_id[failure.instance_id]
        item = InstanceResult(
            failure.instance_id,
            Outcome.FAILED,
            instance.cluster,
            instance.name,
            reason=Reason.STOP_API_ERROR.value,
            detail=failure.message,
            error_code=failure.code,
            note=notes.get(failure.instance_id),
        )
        result.instances.append(item)
        logger.warning("failed", extra=_log_fields(region, item))


def _log_fields(region: str, item: InstanceResult) -> dict[str, Any]:
    """Log record extras; `name` is reserved by logging.LogRecord, so the Name tag is `instance_name`."""
    fields = item.to_dict()
    if "name" in fields:
        fields["instance_name"] = fields.pop("name")
    return {"region": region, **fields}
