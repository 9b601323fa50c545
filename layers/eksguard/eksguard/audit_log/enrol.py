r"""Subscribe the audit-log alert function to every EKS control-plane log group of this region.

The filter pattern,
`%aws-auth|deletecollection.*configmaps|verb.:.[cdpu].*rbac\.authorization\.k8s\.io|\[Truncated\.\.\.\]%`,
is a regex searched anywhere in the line (case-sensitive). It forwards a line that:
* names aws-auth: every write of it by name (create, update, patch, delete, dry runs, Metadata or
  RequestResponse level) carries `"name":"aws-auth"` in `objectRef`, and its `requestURI` path does too;
* is a deletecollection of ConfigMaps: deletecollection deletes aws-auth without naming it (no name in
  `objectRef`, `/api/v1/namespaces/kube-system/configmaps` with any or no selector). The audit entry
  writes `verb` before `objectRef`, whose `"resource":"configmaps"` follows. The old pattern
  `"aws-auth" "kube-system" "configmaps"` missed the selector-less form;
* is an RBAC write: the API server writes `"verb":"<verb>"` before `objectRef`, whose
  `"apiGroup":"rbac.authorization.k8s.io"` follows; the write verbs (create, update, patch, delete,
  deletecollection) start with c, u, p or d and the read verbs (get, list, watch) do not, so
  `verb.:.[cdpu]` (`.` standing for the quotes the regex subset cannot spell) keeps every write of
  bindings and roles and drops their reads, the bulk of RBAC lines (every controller watches them);
* was truncated by CloudWatch Logs (over 256 KB, `[Truncated...]` appended, not JSON). Padding
  `user.extra` (Impersonate-Extra-*) or `sourceIPs` (X-Forwarded-For) can push the cut before
  `objectRef`, and a percent-encoded path (`aws%2Dauth`) hides the name from a substring test, so
  every truncated line is forwarded and the function reads its `requestURI` like the API server does.

What else it forwards: reads of aws-auth (as before), namespace deletions' one deletecollection of
ConfigMaps per namespace, and the rare over-256 KB entries (big CRDs); kubelet watches of kube-system
ConfigMaps, leases, pods etc. are dropped. The function does the exact selection
(`logs_payload.audit_records`); tests/unit/test_filter_pattern.py checks the pattern on real lines.

Why not the alternatives: a JSON pattern (`{ $.objectRef.name = "aws-auth" }`) only matches lines that
parse as JSON, so it never forwards a truncated one. Matching the collection path
`kube-system/configmaps` would forward every kubelet watch of coredns/kube-proxy; the regex subset has
no parentheses and no `"` to say "the verb field is deletecollection", hence `deletecollection.*configmaps`.
Only documented regex characters are used (letters, `-`, `:`, `|`, `.`, `*`, `\`, `[`, `]`), 103 of the
1024 allowed characters. One filter carries both judges' lines, so eksguard uses one of the two
subscription filters a log group allows and leaves the other to the user. A log group takes at most 5
filter patterns that contain a regex (metric and subscription filters together); beyond that the put
fails and the group is reported blind.
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/regex-expressions.html

CloudWatch Logs allows two subscription filters per log group. We only replace our own filter (same
name) when its pattern or destination differs, never a filter we do not own: a group whose two slots
are taken by others is reported (HIGH: blind there). A foreign filter that already delivers to our
function counts as enrolment only if it forwards at least what ours would (same pattern, or the empty
pattern); otherwise ours is added beside it when a slot is free (the function drops duplicate
deliveries by auditID). Subscriptions to Lambda must stay in the log group's region, so this covers the
stack's region; deploy the stack in every region that runs clusters. A hub also subscribes its spokes'
log groups, to its CloudWatch Logs destination (spoke_enrol.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from eksguard import aws
from eksguard.alerts import Alert, Fact, SourceRef, alert_id
from eksguard.console import eks_cluster_url
from eksguard.severity import Severity

logger = Logger(child=True)

KIND = "aws-auth-coverage"
FILTER_PATTERN = (
    r"%aws-auth|deletecollection.*configmaps|verb.:.[cdpu].*rbac\.authorization\.k8s\.io|\[Truncated\.\.\.\]%"
)
# A foreign filter with one of these patterns forwards everything ours would.
_COVERING_PATTERNS = frozenset({FILTER_PATTERN, ""})
MAX_FILTERS_PER_GROUP = 2
LOG_GROUP_PREFIX = "/aws/eks/"
_GROUP_RE = re.compile(r"^/aws/eks/(?P<cluster>[^/]+)/cluster$")
# Longest a log groups page may list before the next page is asked for (DescribeLogGroups allows 50).
MAX_LOG_GROUP_PAGES = 100
# Seconds left in the invocation (None: unbounded); a loop checks it before each call.
TimeLeft = Callable[[], float]


def write_seconds() -> float:
    """One CloudWatch Logs, EKS or SQS call with the standard client's bounds."""
    return aws.worst_call_seconds(aws.RETRY_CONFIG)


def step_reserve_seconds(calls: int) -> float:
    """What must be left to start `calls` calls and still send the report afterwards."""
    return (calls + 1) * write_seconds()


@dataclass
class EnrolResult:
    region: str
    subscribed: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    blind: list[str] = field(default_factory=list)
    audit_logging_off: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    # a spoke's log groups whose filter a call refused (group -> why), and what the run had no time for
    refused: dict[str, str] = field(default_factory=dict)
    not_reached: list[str] = field(default_factory=list)
    # a cluster's log group that does not exist (yet): nothing to subscribe
    absent: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "region": self.region,
            "subscribed": self.subscribed,
            "updated": self.updated,
            "alreadySubscribed": self.already,
            "blindLogGroups": self.blind,
            "auditLoggingOff": self.audit_logging_off,
            "alerts": len(self.alerts),
            "alertIds": [a.id for a in self.alerts],
        }
        if self.refused:
            summary["refused"] = dict(self.refused)
        if self.not_reached:
            summary["notReached"] = list(self.not_reached)
        return summary


def cluster_log_groups(logs: Any, time_left: TimeLeft | None = None) -> list[str]:
    """Every EKS control-plane log group; with `time_left`, a page is asked for only while it and the
    report's send still fit (OutOfTime otherwise)."""
    groups: list[str] = []
    if time_left is None:
        for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=LOG_GROUP_PREFIX):
            groups.extend(_cluster_groups(page))
        return groups
    token: str | None = None
    for _ in range(MAX_LOG_GROUP_PAGES):
        if time_left() < step_reserve_seconds(1):
            raise OutOfTime("the log groups were not all listed: the run ran out of time")
        page = logs.describe_log_groups(logGroupNamePrefix=LOG_GROUP_PREFIX, **({"nextToken": token} if token else {}))
        groups.extend(_cluster_groups(page))
        token = page.get("nextToken")
        if not token:
            break
    return groups


def _cluster_groups(page: dict[str, Any]) -> list[str]:
    names = (str(group.get("logGroupName", "")) for group in page.get("logGroups") or [])
    return [name for name in names if _GROUP_RE.match(name)]


class OutOfTime(RuntimeError):
    """The run has no time left for the next call (and the report's send after it)."""


def _day() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def blind_alert(
    log_group: str, filters: list[dict[str, Any]], region: str, account: str | None, refused: str | None = None
) -> Alert:
    """Stable per group and day, so the schedule re-raises it daily and the notifier drops repeats.

    `refused` is CloudWatch's message when it refused our filter although a slot looked free: either a
    filter was added meanwhile or the group already has 5 filter patterns containing a regex."""
    match = _GROUP_RE.match(log_group)
    cluster = match["cluster"] if match else log_group
    names = ", ".join(f"{f.get('filterName')} -> {f.get('destinationArn')}" for f in filters)
    if refused is not None and len(filters) < MAX_FILTERS_PER_GROUP:
        title = f"aws-auth changes on {cluster} are not watched: CloudWatch Logs refused our filter on {log_group}"
        summary = (
            f"PutSubscriptionFilter: {refused}. Our pattern is a regex and a log group takes at most 5 filter "
            "patterns containing one (metric and subscription filters together); free one to restore coverage."
        )
    else:
        title = (
            f"aws-auth changes on {cluster} are not watched: {log_group} already has "
            f"{len(filters)} subscription filters owned by others"
        )
        summary = (
            "CloudWatch Logs allows two subscription filters per log group; eksguard never removes "
            "someone else's. Free a slot (or chain through a filter you own) to restore coverage."
        )
    return Alert(
        id=alert_id(KIND, account, region, log_group, "filter-limit", _day()),
        kind=KIND,
        severity=Severity.HIGH,
        title=title,
        cluster=cluster,
        principal=None,
        account=account,
        region=region,
        summary=summary,
        facts=(Fact("Log group", log_group), Fact("Existing filters", names)),
        source=SourceRef(kind="enrolment", description=log_group),
    )


def logging_off_alert(cluster: str, region: str, account: str | None, enabled: list[str]) -> Alert:
    return Alert(
        id=alert_id(KIND, account, region, cluster, "audit-off", _day()),
        kind=KIND,
        severity=Severity.HIGH,
        title=f"EKS audit logging is off for {cluster}: aws-auth changes (who enters system:masters) are invisible",
        cluster=cluster,
        principal=None,
        account=account,
        region=region,
        summary=f"Enable it: aws eks update-cluster-config --region {region} --name {cluster} "
        '--logging \'{"clusterLogging":[{"types":["audit"],"enabled":true}]}\'',
        facts=(Fact("Enabled log types", ", ".join(enabled) or "none"),),
        source=SourceRef(
            kind="eks-cluster", description=f"{cluster} logging configuration", url=eks_cluster_url(region, cluster)
        ),
    )


def _healthy(existing: dict[str, Any], destination_arn: str, role_arn: str | None = None) -> bool:
    """eksguard's filter as eksguard writes it: its pattern, its destination (and, to a hub destination,
    the role CloudWatch Logs checks the subscription with), and none of the options that narrow
    (fieldSelectionCriteria) or reshape (applyOnTransformedLogs) what the destination receives."""
    return (
        existing.get("filterPattern") == FILTER_PATTERN
        and existing.get("destinationArn") == destination_arn
        and (role_arn is None or existing.get("roleArn") == role_arn)
        and not existing.get("fieldSelectionCriteria")
        and not existing.get("applyOnTransformedLogs")
    )


def enrol_log_group(
    logs: Any,
    log_group: str,
    filter_name: str,
    destination_arn: str,
    region: str,
    account: str | None,
    result: EnrolResult,
    role_arn: str | None = None,
) -> None:
    """`role_arn`: for a hub's CloudWatch Logs destination, the sender's role that CloudWatch Logs assumes
    to check that the sender may subscribe (required when the destination policy grants an organisation)."""
    try:
        filters = list(logs.describe_subscription_filters(logGroupName=log_group).get("subscriptionFilters") or [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            result.absent.append(log_group)
            return
        raise
    mine = [f for f in filters if f.get("filterName") == filter_name]
    foreign = [f for f in filters if f.get("filterName") != filter_name]
    if mine and _healthy(mine[0], destination_arn, role_arn):
        result.already.append(log_group)
        return
    if not mine and any(
        f.get("destinationArn") == destination_arn and f.get("filterPattern") in _COVERING_PATTERNS for f in foreign
    ):
        # The function already receives all it needs through a filter someone else named: do not add a second.
        result.already.append(log_group)
        return
    if not mine and len(foreign) >= MAX_FILTERS_PER_GROUP:
        result.blind.append(log_group)
        result.alerts.append(blind_alert(log_group, foreign, region, account))
        logger.warning("skipped", extra={"reason": "two foreign subscription filters", "log_group": log_group})
        return
    try:
        logs.put_subscription_filter(
            logGroupName=log_group,
            filterName=filter_name,
            filterPattern=FILTER_PATTERN,
            destinationArn=destination_arn,
            **({"roleArn": role_arn} if role_arn else {}),
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "LimitExceededException":
            # A filter was added between our describe and put, or the group's regex-pattern quota is used up.
            refused = str(exc.response.get("Error", {}).get("Message") or code)
            result.blind.append(log_group)
            result.alerts.append(blind_alert(log_group, foreign, region, account, refused))
            logger.warning("skipped", extra={"reason": f"filter refused: {refused}", "log_group": log_group})
            return
        if code == "ResourceNotFoundException":
            return
        raise
    (result.updated if mine else result.subscribed).append(log_group)
    logger.info("subscribed", extra={"log_group": log_group, "filter": filter_name, "updated": bool(mine)})


def audit_logging_enabled(cluster: dict[str, Any]) -> tuple[bool, list[str]]:
    enabled: list[str] = []
    for setting in (cluster.get("logging") or {}).get("clusterLogging") or []:
        if setting.get("enabled"):
            enabled.extend(str(t) for t in setting.get("types") or [])
    return "audit" in enabled, enabled


def check_clusters(
    eks: Any,
    region: str,
    account: str | None,
    result: EnrolResult,
    only: Iterable[str] | None = None,
    time_left: TimeLeft | None = None,
) -> None:
    """Alert on clusters whose audit logging is off. With `time_left`, a call is made only while it and the
    report's send still fit (OutOfTime otherwise)."""

    def guard() -> None:
        if time_left is not None and time_left() < step_reserve_seconds(1):
            raise OutOfTime("the clusters' logging was not all checked: the run ran out of time")

    if only is not None:
        names = list(only)
    else:
        guard()
        names = [name for page in eks.get_paginator("list_clusters").paginate() for name in page.get("clusters") or []]
    for name in names:
        guard()
        try:
            cluster = eks.describe_cluster(name=name)["cluster"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                continue
            raise
        on, enabled = audit_logging_enabled(cluster)
        if not on:
            result.audit_logging_off.append(name)
            result.alerts.append(logging_off_alert(name, region, account, enabled))
            logger.warning("audit_logging_off", extra={"cluster": name, "enabled": enabled})


def enrol_region(
    logs: Any, eks: Any, region: str, filter_name: str, destination_arn: str, account: str | None = None
) -> EnrolResult:
    """Idempotent: run it on a schedule and on log-group/cluster changes."""
    result = EnrolResult(region=region)
    for log_group in cluster_log_groups(logs):
        enrol_log_group(logs, log_group, filter_name, destination_arn, region, account, result)
    check_clusters(eks, region, account, result)
    return result


def account_of_arn(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


LOG_GROUP_TRIGGERS = ("CreateLogGroup", "DeleteSubscriptionFilter", "PutSubscriptionFilter")
CLUSTER_TRIGGERS = ("CreateCluster", "UpdateClusterConfig")


def is_relevant_trigger(event: dict[str, Any]) -> tuple[bool, str]:
    """Scheduler input or an EventBridge CloudTrail event that may have changed coverage: a new
    EKS log group, a cluster created or reconfigured, or a subscription filter deleted or
    rewritten on an EKS log group (eksguard's filter is put back at once, not at the next run)."""
    if event.get("source") == "eksguard.schedule":
        return True, "schedule"
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else None
    if detail is None:
        return False, "not a schedule or CloudTrail event"
    name = str(detail.get("eventName") or "")
    if name in LOG_GROUP_TRIGGERS:
        group = str((detail.get("requestParameters") or {}).get("logGroupName") or "")
        if not _GROUP_RE.match(group):
            return False, f"log group {group or '?'} is not an EKS control-plane group"
        return True, name
    if name in CLUSTER_TRIGGERS:
        return True, name
    return False, f"event {name or '?'} does not affect coverage"
