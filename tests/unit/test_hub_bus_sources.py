"""The hub's bus takes PutEvents from every principal of the organisation; EventBridge refuses PutEvents
whose `source` starts with `aws.`, so a hub-bus rule admits only what AWS services emitted (and the spokes'
rules forwarded) when its pattern holds the source to `aws.`. A rule that leaves the source open matches a
custom event any member account can put there, and the judge alerts on it as if CloudTrail had recorded it.

Matched with moto's EventBridge pattern engine (the same content filters: exact values, `prefix`)."""

from __future__ import annotations

from typing import Any

import pytest
from moto.events.models import EventPattern

from scripts import gen_spoke
from tests.unit.test_template import TEMPLATE, cfn, resources_of, sam_template  # noqa: F401 (fixtures)


def hub_bus_patterns(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: r["Properties"]["EventPattern"]
        for name, r in resources_of(template, "AWS::Events::Rule").items()
        if "EventBusName" in r["Properties"]
    }


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    return bool(EventPattern(None, pattern).matches_event(event))  # type: ignore[arg-type]


def cloudtrail_event(source: str, event_source: str, event_name: str, **detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": source,
        "account": "444455556666",
        "region": "eu-west-1",
        "detail": {"eventSource": event_source, "eventName": event_name, "eventID": "forged", **detail},
    }


def sample_detail(pattern: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """A call the pattern names, with the request parameters its other conditions ask for."""
    detail = pattern["detail"]
    extra: dict[str, Any] = {}
    if "requestParameters" in detail:
        key, values = next(iter(detail["requestParameters"].items()))
        value = values[0]
        text = value["prefix"] + "x/cluster" if isinstance(value, dict) and "prefix" in value else value
        extra["requestParameters"] = {key: text}
    if "$or" in detail:
        branch = detail["$or"][0]["requestParameters"]
        key, values = next(iter(branch.items()))
        extra["requestParameters"] = {key: values[0]["prefix"] + "x"}
    return detail["eventSource"][0], detail["eventName"][0], extra


@pytest.mark.parametrize("where", ["committed", "generated"])
def test_no_hub_bus_rule_matches_a_custom_event_a_member_account_can_put(
    cfn: dict[str, Any],  # noqa: F811
    where: str,
) -> None:
    if where == "committed":
        patterns = hub_bus_patterns(cfn)
    else:
        rules = gen_spoke.forwarded(gen_spoke.hub_rules(gen_spoke.load(TEMPLATE.read_text(encoding="utf-8"))))
        patterns = {name: r["Properties"]["EventPattern"] for name, r in gen_spoke.hub_bus_rules(rules).items()}
    assert len(patterns) >= 10
    for name, pattern in patterns.items():
        event_source, event_name, extra = sample_detail(pattern)
        service = event_source.split(".")[0]
        real = cloudtrail_event(f"aws.{service}", event_source, event_name, **extra)
        forged = cloudtrail_event("forged.by.a.member", event_source, event_name, **extra)
        assert matches(pattern, real), (name, "the AWS service's own event must still match")
        assert not matches(pattern, forged), (name, "a custom event put on the hub bus matches")
