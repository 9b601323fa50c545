"""Routing is part of the contract: the template's EventBridge rules forward exactly what the detector judges.

Read from the template as CloudFormation will see it (samtranslator output), name by name.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from eksguard.audit_log.enrol import is_relevant_trigger
from eksguard.eks_api.blinding import AUDIT_LOG_GROUP_RE
from eksguard.eks_api.record import EVENT_SOURCES
from eksguard.eks_api.rules import HANDLED_EVENTS, ROUTED, RULES
from tests.unit.test_template import cfn, resources_of, sam_template  # noqa: F401 (fixtures)

CLOUDTRAIL = "AWS API Call via CloudTrail"


def rules_targeting(cfn: dict[str, Any], function: str) -> dict[str, dict[str, Any]]:  # noqa: F811
    found = {}
    for name, rule in resources_of(cfn, "AWS::Events::Rule").items():
        targets = rule["Properties"].get("Targets") or []
        if any(t.get("Arn") == {"Fn::GetAtt": [function, "Arn"]} for t in targets):
            found[name] = rule["Properties"]
    return found


def routed_pairs(rules: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    routed: dict[str, set[str]] = {}
    for name, properties in rules.items():
        pattern = properties["EventPattern"]
        assert pattern["detail-type"] == [CLOUDTRAIL], name
        # The eventSource is always pinned (EFS, for one, also has a DeleteTags call); the source too,
        # except where EventBridge does not document it.
        (event_source,) = pattern["detail"]["eventSource"]
        source = EVENT_SOURCES[event_source]
        # (a rule on the hub's bus, which the organisation may put events on, holds it to AWS's own: aws.*)
        assert pattern.get("source", [source]) in ([source], [{"prefix": "aws."}]), name
        routed.setdefault(source, set()).update(map(call_name, pattern["detail"]["eventName"]))
    return routed


def call_name(entry: str | dict[str, str]) -> str:
    """An event name, or a prefix (Lambda appends its API version: `DeleteFunction2` for DeleteFunction20150331)."""
    return entry if isinstance(entry, str) else re.sub(r"\d+$", "", entry["prefix"])


def test_every_handled_call_is_routed_and_nothing_else(cfn: dict[str, Any]) -> None:  # noqa: F811
    routed = routed_pairs(rules_targeting(cfn, "EksApiAlertFunction"))
    assert routed == {source: set(names) for source, names in ROUTED.items()}


@pytest.mark.parametrize("name", sorted(HANDLED_EVENTS))
def test_each_routed_call_is_judged_by_some_rule(name: str) -> None:
    assert any(name in rule.events for rule in RULES), f"{name} is routed but no rule names it"


def test_every_routed_rule_retries_and_keeps_what_it_cannot_deliver(cfn: dict[str, Any]) -> None:  # noqa: F811
    for name, properties in rules_targeting(cfn, "EksApiAlertFunction").items():
        (target,) = properties["Targets"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 3, name
        assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}, name


def test_create_tags_is_routed_only_for_the_kubectl_tags(cfn: dict[str, Any]) -> None:  # noqa: F811
    rules = rules_targeting(cfn, "EksApiAlertFunction")
    (tags,) = [p for p in rules.values() if p["EventPattern"]["detail"]["eventName"] == ["CreateTags"]]
    keys = tags["EventPattern"]["detail"]["requestParameters"]["tagSet"]["items"]["key"]
    assert keys == [{"Ref": "StopTagKey"}, {"Ref": "ClusterTagKey"}]


def test_log_calls_are_routed_for_eks_log_groups(cfn: dict[str, Any]) -> None:  # noqa: F811
    rules = rules_targeting(cfn, "EksApiAlertFunction")
    by_call = {
        name: p["EventPattern"]["detail"].get("requestParameters")
        for p in rules.values()
        if p["EventPattern"].get("source") == ["aws.logs"]
        for name in p["EventPattern"]["detail"]["eventName"]
    }
    for name in ("DeleteSubscriptionFilter", "PutSubscriptionFilter", "DeleteLogGroup"):
        assert by_call[name] == {"logGroupName": [{"prefix": "/aws/eks/"}]}, name
    # Transformers name the group by name or by ARN.
    assert by_call["PutTransformer"] == {
        "logGroupIdentifier": [{"prefix": "/aws/eks/"}, {"wildcard": "arn:*:logs:*:*:log-group:/aws/eks/*"}]
    }
    assert by_call["PutAccountPolicy"] is None  # account-wide: every policy type is read
    assert AUDIT_LOG_GROUP_RE.pattern.startswith("^/aws/eks/")


def test_a_deleted_or_rewritten_filter_reaches_the_enrolment_at_once(cfn: dict[str, Any]) -> None:  # noqa: F811
    names: set[str] = set()
    for properties in rules_targeting(cfn, "AuditLogEnrolFunction").values():
        names.update(properties["EventPattern"]["detail"]["eventName"])
    filter_calls = {"DeleteSubscriptionFilter", "PutSubscriptionFilter"}
    assert filter_calls <= names
    for name in filter_calls:
        event = {"detail": {"eventName": name, "requestParameters": {"logGroupName": "/aws/eks/prod/cluster"}}}
        assert is_relevant_trigger(event) == (True, name)


def test_every_rule_is_named_after_the_stack_so_its_changes_are_recognised(cfn: dict[str, Any]) -> None:  # noqa: F811
    """self_watch recognises eksguard's rules by the `<stack>-` prefix: the template names every rule so."""
    for name, rule in resources_of(cfn, "AWS::Events::Rule").items():
        rule_name = rule["Properties"].get("Name")
        assert isinstance(rule_name, dict) and rule_name["Fn::Sub"].startswith("${AWS::StackName}-"), name
        assert len(rule_name["Fn::Sub"].replace("${AWS::StackName}", "")) <= 24, name  # room for the stack name
