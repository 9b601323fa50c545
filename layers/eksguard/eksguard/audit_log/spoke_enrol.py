"""Subscribe the spokes' EKS audit log groups to the hub's CloudWatch Logs destination.

A hub (SPOKE_ACCOUNTS set) with its AuditLogDestination (AUDIT_LOG_HUB_DESTINATION_ARN) puts eksguard's
subscription filter on every `/aws/eks/<cluster>/cluster` log group of each spoke account, acting there
through the role the spoke grants the hub; the destination's Kinesis stream then invokes
AuditLogAlertFunction (audit_log/intake.py). The filter, its pattern and the rules for foreign filters are
those of this account's enrolment (enrol.py).

* Same region only: a log group may subscribe only to a destination of its own region, so in each spoke
  only the destination's region is enrolled. Every other region the hub watches (StopRegions) is reported
  as "audit logs not delivered from <region>: no hub destination there": a hub stack deployed in that
  region (with its own destination) covers it.
* `roleArn`: the hub's destination policy grants the whole organisation (`aws:PrincipalOrgID`), and then
  CloudWatch Logs checks that the sender may subscribe with a role of the sender that the filter names
  (CloudWatch Logs guide, cross-account subscriptions, "Step 2: (Only if using an organization) Create an
  IAM role"): the spoke template's `<SpokeRoleName>-logs`. The spoke role may pass that role only.
* Each account on its own: an account whose role cannot be assumed, or that refuses a call, is reported
  (a HIGH alert naming the account, once a day) and the others go on. A filter CloudWatch refuses on one log
  group does not keep the account's other groups from being enrolled.
* Bounded: an account is started only with the time for its role, one log group's calls and the report's
  send left; each further call only with its own worst case and the send left. What the run had no time
  for is reported, never silently skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from eksguard import accounts, arns, aws
from eksguard.alerts import Alert, Fact, SourceRef, alert_id
from eksguard.audit_log.enrol import (
    KIND,
    LOG_GROUP_PREFIX,
    EnrolResult,
    OutOfTime,
    TimeLeft,
    _day,
    account_of_arn,
    check_clusters,
    enrol_log_group,
    enrol_region,
    step_reserve_seconds,
)
from eksguard.config import Settings
from eksguard.severity import Severity

logger = Logger(child=True)

# The spoke template names the role CloudWatch Logs checks a subscription to the hub with <SpokeRoleName>-logs.
SUBSCRIPTION_ROLE_SUFFIX = "-logs"
MAX_LISTED = 20


def subscription_role_arn(settings: Settings, partition: str, account: str) -> str:
    return accounts.role_arn(partition, account, f"{settings.spoke_role_name}{SUBSCRIPTION_ROLE_SUFFIX}")


def account_reserve_seconds() -> float:
    """What must be left to start an account: its role assumed, one log group's read and write, the send."""
    return aws.worst_call_seconds(aws.ASSUME_CONFIG) + step_reserve_seconds(2)


def _unbounded() -> float:
    return float("inf")


def _error(exc: BaseException) -> str:
    return aws.describe_error(exc).rstrip(":")


@dataclass
class AccountEnrolment:
    account: str
    label: str
    result: EnrolResult | None = None
    problems: list[str] = field(default_factory=list)  # why it is not (wholly) enrolled


@dataclass
class SpokeReport:
    destination_arn: str
    region: str
    accounts: list[AccountEnrolment] = field(default_factory=list)
    region_gaps: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the spoke list itself is incomplete
    alerts: list[Alert] = field(default_factory=list)

    @property
    def not_enrolled(self) -> dict[str, list[str]]:
        return {entry.label: entry.problems for entry in self.accounts if entry.problems}

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "hubDestination": self.destination_arn,
            "spokes": {e.label: e.result.summary() for e in self.accounts if e.result is not None},
            "spokesNotEnrolled": self.not_enrolled,
            "regionsNotDelivered": self.region_gaps,
            "spokeAlerts": len(self.alerts),
            "spokeAlertIds": [a.id for a in self.alerts],
        }
        if self.problems:
            summary["spokeProblems"] = self.problems
        return summary


def enrol_spokes(
    settings: Settings,
    home: str | None,
    *,
    partition: str = "aws",
    time_left: TimeLeft | None = None,
    only: str | None = None,
    organizations: Callable[[], Any] | None = None,
) -> SpokeReport:
    """Enrol every spoke account (or `only` that one) in the destination's region; report the rest."""
    destination = settings.audit_hub_destination_arn or ""
    parsed = arns.parse_arn(destination)
    region = parsed.region if parsed and parsed.region else settings.region
    report = SpokeReport(destination_arn=destination, region=region)
    left = time_left or _unbounded
    report.region_gaps = [
        f"audit logs not delivered from {r}: no hub destination there"
        for r in settings.effective_stop_regions
        if r != region
    ]
    for gap in report.region_gaps:
        logger.warning("audit_logs_not_delivered", extra={"reason": gap})
    if region not in settings.effective_stop_regions:
        return report
    targets = accounts.resolve(
        settings,
        home,
        partition=partition,
        organizations=organizations,
        may_call=lambda: left() >= step_reserve_seconds(1),  # a page of the organisation's accounts
    )
    report.problems.extend(targets.problems)
    for target in targets:
        if target.role_arn is None or (only is not None and target.account != only):
            continue  # the hub's own log groups deliver to the function directly (enrol.py)
        entry = AccountEnrolment(target.account, target.label)
        report.accounts.append(entry)
        if left() < account_reserve_seconds():
            entry.problems.append("not reached: the run ran out of time before this account")
        else:
            _enrol_account(settings, target, destination, region, partition, entry, left)
        if entry.result is not None:
            report.alerts.extend(entry.result.alerts)
        if entry.problems:
            logger.error("spoke_not_enrolled", extra={"account": target.account, "problems": entry.problems})
            report.alerts.append(spoke_alert(entry, region, destination))
    return report


def _enrol_account(
    settings: Settings,
    target: accounts.Target,
    destination: str,
    region: str,
    partition: str,
    entry: AccountEnrolment,
    time_left: TimeLeft,
) -> None:
    role = subscription_role_arn(settings, partition, target.account)
    with target.scope():
        try:
            aws.assume_for_scope()
        except aws.AccountUnreachable as exc:
            entry.problems.append(exc.reason)
            return
        logs, eks = aws.client("logs", region), aws.client("eks", region)
        result = entry.result = EnrolResult(region=region)
        try:
            groups = _cluster_groups_of(eks, time_left)
        except (ClientError, BotoCoreError, OutOfTime) as exc:
            entry.problems.append(f"clusters of {region} not listed ({_error(exc)})")
            return
        for number, group in enumerate(groups):
            if time_left() < step_reserve_seconds(2):
                result.not_reached.extend(groups[number:])
                entry.problems.append(f"{len(groups) - number} log group(s) not reached: the run ran out of time")
                break
            try:
                enrol_log_group(
                    logs, group, settings.audit_filter_name, destination, region, target.account, result, role
                )
            except (ClientError, BotoCoreError) as exc:
                result.refused[group] = _error(exc)
                logger.error("subscription_refused", extra={"log_group": group, "error": result.refused[group]})
            else:
                done_lists = (result.subscribed, result.updated, result.already, result.blind, result.absent)
                if not any(group in done for done in done_lists):
                    # CloudWatch Logs answered ResourceNotFound: the group went away, or the hub destination did
                    result.refused[group] = "ResourceNotFoundException: the log group or the hub destination is gone"
        if result.refused:
            entry.problems.append(f"subscription filter refused on {len(result.refused)} log group(s)")
        try:
            check_clusters(eks, region, target.account, result, time_left=time_left)
        except (ClientError, BotoCoreError, OutOfTime) as exc:
            entry.problems.append(f"audit logging of the clusters not checked ({_error(exc)})")


def _cluster_groups_of(eks: Any, time_left: TimeLeft) -> list[str]:
    """The audit log groups of the spoke's clusters, from its clusters rather than from its log groups: a
    spoke's admin can make any number of `/aws/eks/*/cluster` log groups at no cost, and listing or
    subscribing them would spend the run and leave the spokes after it unenrolled. A cluster has a price;
    a decoy log group holds no cluster's audit log, only what its own account writes into it."""
    names: list[str] = []
    token: str | None = None
    while True:
        if time_left() < step_reserve_seconds(1):
            raise OutOfTime("the clusters were not all listed: the run ran out of time")
        page = eks.list_clusters(**({"nextToken": token} if token else {}))
        names.extend(str(n) for n in page.get("clusters") or [])
        token = page.get("nextToken")
        if not token:
            return [f"{LOG_GROUP_PREFIX}{name}/cluster" for name in names]


def spoke_alert(entry: AccountEnrolment, region: str, destination: str) -> Alert:
    """HIGH, once a day per account: eksguard does not see (all of) this account's aws-auth and RBAC writes."""
    first = entry.problems[0]
    more = len(entry.problems) - 1
    title = f"EKS audit logs of account {entry.label} are not all delivered to the hub: {first}" + (
        f" (+{more} more)" if more else ""
    )
    facts = [Fact("Account", entry.label), Fact("Region", region), Fact("Hub destination", destination)]
    facts += [Fact("Problem", problem) for problem in entry.problems[:MAX_LISTED]]
    if entry.result is not None:
        for group, why in list(entry.result.refused.items())[:MAX_LISTED]:
            facts.append(Fact(f"Refused on {group}", why))
        if entry.result.not_reached:
            facts.append(Fact("Not reached", ", ".join(entry.result.not_reached[:MAX_LISTED])))
    return Alert(
        id=alert_id(KIND, entry.account, region, "spoke-enrolment", _day()),
        kind=KIND,
        severity=Severity.HIGH,
        title=title,
        cluster=None,
        principal=None,
        account=entry.account,
        region=region,
        summary=(
            "aws-auth and RBAC changes in this account's clusters may go unseen. Check the spoke stack "
            "(its role, trusted by the hub, may describe and put subscription filters on /aws/eks/* and pass "
            "its -logs role to CloudWatch Logs) and the hub destination's policy."
        ),
        facts=tuple(facts),
        source=SourceRef(kind="enrolment", description=f"account {entry.label}, {region}"),
    )


@dataclass
class EnrolRun:
    """One run of AuditLogEnrolFunction: this account's log groups, then (in a hub) the spokes'."""

    home: EnrolResult | None = None
    spokes: SpokeReport | None = None

    @property
    def alerts(self) -> list[Alert]:
        return (self.home.alerts if self.home else []) + (self.spokes.alerts if self.spokes else [])

    def summary(self) -> dict[str, Any]:
        summary = self.home.summary() if self.home else {}
        if self.spokes is not None:
            summary.update(self.spokes.summary())
            summary["alerts"] = len(self.alerts)
            summary["alertIds"] = [a.id for a in self.alerts]
        return summary


def enrol(
    settings: Settings,
    event: dict[str, Any],
    *,
    home: str | None,
    partition: str = "aws",
    time_left: TimeLeft | None = None,
    organizations: Callable[[], Any] | None = None,
) -> EnrolRun:
    """The schedule enrols this account and every spoke; a CloudTrail event (a log group created, a filter
    deleted, a cluster changed) enrols the account it happened in."""
    hub = bool(settings.multi_account and settings.audit_hub_destination_arn)
    source = event.get("account") if hub and event.get("source") != "eksguard.schedule" else None
    source = source if isinstance(source, str) and source and source != home else None
    run = EnrolRun()
    if source is None:
        run.home = enrol_region(
            aws.client("logs", settings.region),
            aws.client("eks", settings.region),
            settings.region,
            settings.audit_filter_name,
            settings.audit_destination_arn or "",
            account_of_arn(settings.audit_destination_arn),
        )
    if hub:
        run.spokes = enrol_spokes(
            settings, home, partition=partition, time_left=time_left, only=source, organizations=organizations
        )
    return run
