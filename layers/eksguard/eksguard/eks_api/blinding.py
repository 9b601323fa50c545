"""Calls that could blind eksguard: CloudTrail trail changes and CloudWatch Logs changes on EKS audit logs.

eksguard sees CloudTrail events only while a trail logs management events (EventBridge
delivers "AWS API Call via CloudTrail" events for what a trail records), and it sees the EKS
audit log only through its subscription filter. So:

* `StopLogging` and `DeleteTrail` stop a trail;
* `UpdateTrail` can drop global-service (IAM) events or every other region, or redirect the
  logs; `PutEventSelectors` can stop management *write* events altogether or for the very
  services eksguard judges (classic `excludeManagementEventSources`, advanced selectors on
  `eventCategory`, `readOnly` and `eventSource`);
* `DeleteSubscriptionFilter`, a `PutSubscriptionFilter` that rewrites eksguard's own filter and
  `DeleteLogGroup` on `/aws/eks/<cluster>/cluster` cut the audit-log path.

Selector reading follows the CloudTrail API reference: a classic selector records management
events unless `includeManagementEvents` is false, writes unless `readWriteType` is ReadOnly;
an advanced selector records management events when `eventCategory` equals Management, writes
unless `readOnly` equals true, for the event sources its `eventSource` conditions admit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from eksguard.eks_api.record import EVENT_SOURCES, CloudTrailRecord, as_bool, as_dict, as_str

TRAIL_EVENTS = frozenset({"StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"})
LOG_EVENTS = frozenset({"DeleteSubscriptionFilter", "PutSubscriptionFilter", "DeleteLogGroup", "PutTransformer"})
# Account-wide policies: a transformer (or a field index) policy can rewrite every log group's events.
ACCOUNT_LOG_EVENTS = frozenset({"PutAccountPolicy"})
AUDIT_LOG_GROUP_RE = re.compile(r"^/aws/eks/(?P<cluster>[^/]+)/cluster$")
JUDGED_SOURCES = tuple(sorted(EVENT_SOURCES))
_OPERATORS = frozenset({"equals", "notequals", "startswith", "notstartswith", "endswith", "notendswith"})


@dataclass(frozen=True)
class BlindingChange:
    trail: str | None = None
    # UpdateTrail settings that shrink what eksguard sees, or move where logs go.
    coverage_lost: tuple[str, ...] = ()
    delivery_moved: tuple[str, ...] = ()
    # PutEventSelectors: judged event sources whose management writes are no longer logged
    # (None: no selector in the record to read).
    unlogged_sources: tuple[str, ...] | None = None
    selectors_unreadable: str | None = None
    log_group: str | None = None
    filter_name: str | None = None
    filter_pattern: str | None = None
    destination_arn: str | None = None
    # PutSubscriptionFilter options that narrow or reshape what reaches the destination
    filter_options: tuple[str, ...] = ()
    policy_type: str | None = None  # PutAccountPolicy

    @property
    def audit_cluster(self) -> str | None:
        """The cluster whose EKS audit log group this is, if it is one."""
        match = AUDIT_LOG_GROUP_RE.match(self.log_group or "")
        return match["cluster"] if match else None


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _classic_writes(selectors: list[Any]) -> set[str]:
    logged: set[str] = set()
    for raw in selectors:
        selector = as_dict(raw)
        if as_bool(selector.get("includeManagementEvents")) is False:
            continue
        if (as_str(selector.get("readWriteType")) or "All") not in ("All", "WriteOnly"):
            continue
        excluded = set(_strings(selector.get("excludeManagementEventSources")))
        logged.update(s for s in JUDGED_SOURCES if s not in excluded)
    return logged


def _admits(condition: dict[str, Any], source: str) -> bool:
    checks = {
        "equals": lambda values: source in values,
        "notequals": lambda values: source not in values,
        "startswith": lambda values: any(source.startswith(v) for v in values),
        "notstartswith": lambda values: not any(source.startswith(v) for v in values),
        "endswith": lambda values: any(source.endswith(v) for v in values),
        "notendswith": lambda values: not any(source.endswith(v) for v in values),
    }
    return all(checks[key.lower()](_strings(values)) for key, values in condition.items() if key.lower() in checks)


def _all_admit(fields: dict[str, list[dict[str, Any]]], field: str, value: str) -> bool:
    """Every condition a selector puts on `field` admits `value` (they are ANDed)."""
    return all(_admits(condition, value) for condition in fields.get(field, []))


def _advanced_writes(selectors: list[Any]) -> tuple[set[str], str | None]:
    logged: set[str] = set()
    for raw in selectors:
        fields: dict[str, list[dict[str, Any]]] = {}
        conditions = as_dict(raw).get("fieldSelectors")
        for condition in conditions if isinstance(conditions, list) else []:
            condition = as_dict(condition)
            field = (as_str(condition.get("field")) or "").lower()
            unknown = [k for k in condition if k.lower() not in _OPERATORS | {"field"}]
            if unknown:
                return logged, f"advanced selector operator {unknown[0]} not understood"
            fields.setdefault(field, []).append(condition)  # conditions on one field all apply

        if not fields.get("eventcategory") or not _all_admit(fields, "eventcategory", "Management"):
            continue
        if not _all_admit(fields, "readonly", "false"):  # this selector records read-only events alone
            continue
        logged.update(s for s in JUDGED_SOURCES if _all_admit(fields, "eventsource", s))
    return logged, None


def _selectors(request: dict[str, Any]) -> tuple[tuple[str, ...] | None, str | None]:
    classic = request.get("eventSelectors")
    advanced = request.get("advancedEventSelectors")
    if classic is None and advanced is None:
        return None, None
    logged: set[str] = set()
    unreadable = None
    if isinstance(classic, list):
        logged |= _classic_writes(classic)
    if isinstance(advanced, list):
        more, unreadable = _advanced_writes(advanced)
        logged |= more
    return tuple(s for s in JUDGED_SOURCES if s not in logged), unreadable


def _trail_settings(request: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    lost: list[str] = []
    moved: list[str] = []
    if as_bool(request.get("includeGlobalServiceEvents")) is False:
        lost.append("global-service events (IAM) no longer logged")
    if as_bool(request.get("isMultiRegionTrail")) is False:
        lost.append("other regions no longer logged")
    if as_bool(request.get("isOrganizationTrail")) is False:
        lost.append("no longer an organization trail")
    if as_bool(request.get("enableLogFileValidation")) is False:
        moved.append("log file validation turned off (tampering no longer detectable)")
    for key, label in (
        ("s3BucketName", "log files now go to bucket"),
        ("cloudWatchLogsLogGroupArn", "CloudWatch Logs delivery now to"),
        ("kmsKeyId", "log files now encrypted with"),
    ):
        if key in request:
            moved.append(f"{label} {as_str(request.get(key)) or '(none)'}")
    return tuple(lost), tuple(moved)


def _filter_options(request: dict[str, Any]) -> tuple[str, ...]:
    """Options of a subscription filter eksguard never sets: each can keep audit events from it."""
    options = []
    if as_str(request.get("fieldSelectionCriteria")):
        options.append(f"fieldSelectionCriteria {as_str(request.get('fieldSelectionCriteria'))}")
    if as_bool(request.get("applyOnTransformedLogs")) is True:
        options.append("applyOnTransformedLogs (a transformer rewrites the events first)")
    return tuple(options)


def _log_group_name(value: str | None) -> str | None:
    """`logGroupIdentifier` may be the group's ARN (`...:log-group:/aws/eks/x/cluster:*`)."""
    if value and value.startswith("arn:") and ":log-group:" in value:
        value = value.split(":log-group:", 1)[1]
        return value[:-2] if value.endswith(":*") else value
    return value


def extract_blinding(record: CloudTrailRecord) -> BlindingChange | None:
    """The BlindingChange of a CloudTrail or CloudWatch Logs call; None for other calls."""
    name, request = record.event_name, record.request
    if name in TRAIL_EVENTS:
        trail = as_str(request.get("name")) or as_str(request.get("trailName"))
        lost, moved = _trail_settings(request) if name == "UpdateTrail" else ((), ())
        unlogged, unreadable = _selectors(request) if name == "PutEventSelectors" else (None, None)
        return BlindingChange(
            trail=trail,
            coverage_lost=lost,
            delivery_moved=moved,
            unlogged_sources=unlogged,
            selectors_unreadable=unreadable,
        )
    if name in ACCOUNT_LOG_EVENTS:
        return BlindingChange(policy_type=as_str(request.get("policyType")))
    if name in LOG_EVENTS:
        return BlindingChange(
            log_group=_log_group_name(as_str(request.get("logGroupName")) or as_str(request.get("logGroupIdentifier"))),
            filter_name=as_str(request.get("filterName")),
            filter_pattern=request.get("filterPattern") if isinstance(request.get("filterPattern"), str) else None,
            destination_arn=as_str(request.get("destinationArn")),
            filter_options=_filter_options(request),
        )
    return None
