"""EksApiAlertFunction: one CloudTrail call in, at most one alert queued out.

Malformed events are logged, counted and dropped (retrying cannot fix them); a call about an
instance or role eksguard does not watch is logged and dropped; a failure to queue the alert
raises so Lambda's async retries, then the failed-events queue, keep it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard import accounts, aws, eks_api, tracing
from eksguard.accounts import partition_of
from eksguard.alerts import Alert
from eksguard.arns import account_of
from eksguard.config import Settings, load_settings
from eksguard.eks_api.access_entry_log import DynamoAccessEntryStore
from eksguard.eks_api.change import ApiChange
from eksguard.eks_api.lookups import from_settings
from eksguard.publish import publish

logger = Logger()
metrics = Metrics()


ACCESS_ENTRY_WRITES = frozenset({"CreateAccessEntry", "UpdateAccessEntry"})


def remember_access_entry(change: ApiChange | None, settings: Settings) -> None:
    """Keep the groups and user name of access entries for the RBAC judge (after the alert is queued:
    a failure here retries the invocation, and the repeated alert is dropped by the notifier)."""
    if change is None or change.failed or not change.cluster or not change.principal:
        return
    if not settings.audit_state_table:
        return
    store = DynamoAccessEntryStore(settings.audit_state_table, settings.region)
    # under the event's account: a spoke's access entries never join the hub's same-named cluster's
    key = accounts.cluster_key(change.cluster, change.record.account)
    if change.event_name in ACCESS_ENTRY_WRITES:
        store.record(key, change.principal, change.username, change.groups)
    elif change.event_name == "DeleteAccessEntry":
        store.forget(key, change.principal)
    else:
        return
    logger.info(
        "access_entry_remembered", extra={"cluster": change.cluster, "state_key": key, "event": change.event_name}
    )


def _named(alert: Alert, target: accounts.Target, settings: Settings) -> Alert:
    """A spoke's alert carries the account's name: configured, else its IAM alias (one lookup per
    account and container, within the invocation's lookup budget; skipped when it is spent)."""
    name = target.name or ""
    if not name:
        try:
            aws.LookupBudget.check(f"IAM alias of {target.account}")
            name = accounts.alias_in_scope(target.account, settings.region) or ""
        except aws.LookupBudgetExceeded:
            name = ""
    return dataclasses.replace(alert, account_name=name)


def _source_account(event: dict[str, Any]) -> str | None:
    account = event.get("account")
    if isinstance(account, str) and account:
        return account
    detail = event.get("detail")
    recipient = detail.get("recipientAccountId") if isinstance(detail, dict) else None
    return recipient if isinstance(recipient, str) and recipient else None


@logger.inject_lambda_context(clear_state=True)
@tracing.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    settings = load_settings()
    arn = context.invoked_function_arn
    home = account_of(arn)
    accounts.set_home(home)
    aws.set_session_name(f"eksguard-{context.function_name}")
    aws.LookupBudget.start()
    try:
        if not isinstance(event, dict):
            raise eks_api.MalformedEventError(f"event is a {type(event).__name__}, not a JSON object")
        # A spoke's event is judged with lookups in the spoke (its kubectl instances, roles, sessions),
        # through the role it grants the hub; EventBridge sets `account` to the account the event
        # happened in, also when a spoke's rule forwards it to the hub's bus.
        target = accounts.for_account(settings, home, _source_account(event), partition_of(arn))
        with target.scope():
            assessment = eks_api.assess_event(EventBridgeEvent(event), from_settings(settings))
            if assessment.alert is not None and target.role_arn:
                assessment = dataclasses.replace(assessment, alert=_named(assessment.alert, target, settings))
    except eks_api.MalformedEventError as exc:
        logger.error("malformed_event", extra={"reason": str(exc)})
        metrics.add_metric(name="MalformedEvents", unit=MetricUnit.Count, value=1)
        return {"status": "ignored", "reason": str(exc)}

    metrics.add_metric(name="EksApiEventsClassified", unit=MetricUnit.Count, value=1)
    if assessment.lookup_error:
        metrics.add_metric(name="ExpectedAdminLookupFailures", unit=MetricUnit.Count, value=1)
    alert = assessment.alert
    if alert is None:
        reason = "no kubectl instance or admin role concerned"
        logger.info("skipped", extra={"reason": reason, "event": event.get("detail", {}).get("eventName")})
        return {"status": "skipped", "reason": reason}
    logger.info(
        "eks_change_classified",
        extra={
            "alert_id": alert.id,
            "severity": alert.severity.name,
            "cluster": alert.cluster,
            "principal": alert.principal,
            "rules": [f.rule for f in assessment.findings],
        },
    )
    message_id = publish(alert, settings)
    metrics.add_metric(name=f"EksApiAlerts{alert.severity.name.title()}", unit=MetricUnit.Count, value=1)
    logger.info("alert_sent", extra={"alert_id": alert.id, "message_id": message_id})
    remember_access_entry(assessment.change, settings)
    return {
        "status": "alerted",
        "alert_id": alert.id,
        "severity": alert.severity.name,
        "title": alert.title,
        "message_id": message_id,
    }
