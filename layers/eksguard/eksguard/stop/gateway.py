"""EC2 and SSM edges of the stop run: paginated reads, raw StopInstances calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from eksguard.stop.decide import cluster_of
from eksguard.stop.model import Instance

DESCRIBE_PAGE_SIZE = 1000
SESSIONS_PAGE_SIZE = 200


class OutOfTime(RuntimeError):
    """A listing was cut short: its next page would not fit the invocation's time (see stop.run)."""


def _always() -> bool:
    return True


def describe_filters(tag_key: str, tag_value: str) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = [{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    if tag_value == "*":
        filters.append({"Name": "tag-key", "Values": [tag_key]})
    else:
        # EC2 filter values accept the same * and ? wildcards.
        filters.append({"Name": f"tag:{tag_key}", "Values": [tag_value]})
    return filters


def to_instance(raw: dict[str, Any], region: str, stop_tag_key: str, cluster_tag_key: str) -> Instance:
    tags = {t["Key"]: t.get("Value", "") for t in raw.get("Tags") or [] if "Key" in t}
    return Instance(
        instance_id=raw["InstanceId"],
        region=region,
        state=(raw.get("State") or {}).get("Name", "unknown"),
        launch_time=raw.get("LaunchTime"),
        tags=tags,
        lifecycle=raw.get("InstanceLifecycle"),
        root_device_type=raw.get("RootDeviceType"),
        name=tags.get("Name"),
        cluster=cluster_of(tags, stop_tag_key, cluster_tag_key),
    )


def tagged_instances(
    ec2: Any,
    region: str,
    tag_key: str,
    tag_value: str,
    cluster_tag_key: str,
    may_call: Callable[[], bool] = _always,
) -> Iterator[Instance]:
    """Every running or pending instance with the tag; `may_call` is asked before each further page."""
    paginator = ec2.get_paginator("describe_instances")
    pages = paginator.paginate(
        Filters=describe_filters(tag_key, tag_value),
        PaginationConfig={"PageSize": DESCRIBE_PAGE_SIZE},
    )
    for page in pages:
        for reservation in page.get("Reservations") or []:
            for raw in reservation.get("Instances") or []:
                yield to_instance(raw, region, tag_key, cluster_tag_key)
        if page.get("NextToken") and not may_call():
            raise OutOfTime("instances not all listed: the run ran out of time")


def active_sessions(ssm: Any, may_call: Callable[[], bool] = _always) -> list[dict[str, Any]]:
    """Every active Session Manager session in the region: one paginated call chain."""
    sessions: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"State": "Active", "MaxResults": SESSIONS_PAGE_SIZE}
    for _ in range(10_000):  # hard bound; a real region never has this many pages
        if not may_call():
            raise OutOfTime("sessions not all listed: the run ran out of time")
        page = ssm.describe_sessions(**kwargs)
        sessions.extend(s for s in page.get("Sessions") or [] if isinstance(s, dict))
        token = page.get("NextToken")
        if not token:
            break
        kwargs["NextToken"] = token
    return sessions
