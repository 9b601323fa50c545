"""The coverage report's pure core and its gateway over a fake EventBridge: which forwarding rules are
expected where, what makes a rule a gap, and what the report and the digest's line say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cfnlint.decode import decode_str

from eksguard import aws
from eksguard.accounts import Target
from eksguard.coverage import (
    DISABLED,
    MISSING,
    NO_HUB_TARGET,
    NOT_CHECKED,
    OK,
    SPOKE_RULES,
    UNREADABLE,
    AccountCoverage,
    Coverage,
    CoverageSetup,
    HubBus,
    RegionCoverage,
    RuleState,
    check_coverage,
    check_region,
    coverage_alert,
    expected_rules,
    rule_state,
    unconfigured_accounts,
)
from eksguard.inventory.compare import ClusterRecord
from eksguard.inventory.digest import build_digest
from eksguard.severity import Severity

SPOKE_TEMPLATE = Path(__file__).resolve().parents[2] / "spoke" / "template.yaml"
HUB = HubBus("123456789012", "eu-west-1")
NAMED_HUB = HubBus("123456789012", "eu-west-1", "eksguard-hub")
BUS = "arn:aws:events:eu-west-1:123456789012:event-bus/eksguard-hub"
NOW = "2026-12-07T08:00:00Z"


def test_the_expected_rules_are_the_spoke_templates_forwarding_rules() -> None:
    """The hub cannot read the spoke template at run time; this keeps its list and the template together."""
    template, matches = decode_str(SPOKE_TEMPLATE.read_text(encoding="utf-8"))
    assert not matches, matches
    found = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Events::Rule":
            continue
        props = resource["Properties"]
        if str(props.get("Name", "")).startswith("eksguard-spoke-") and "EventBusName" not in props:
            # a rule of the role's region only is one on a global service's events (IAM)
            found[props["Name"]] = resource.get("Condition") == "InRoleRegion"
            if found[props["Name"]]:
                assert "aws.iam" in props["EventPattern"]["source"]
    assert found == {rule.name: rule.global_events for rule in SPOKE_RULES}


def test_a_rule_on_global_events_is_expected_in_its_one_region_only() -> None:
    expected = expected_rules(["eu-west-1", "eu-central-1"], "aws", "eu-west-1")
    assert list(expected) == ["eu-west-1", "eu-central-1", "us-east-1"]
    assert "eksguard-spoke-kubectl-role-changes" not in expected["eu-west-1"]
    assert expected["us-east-1"] == ("eksguard-spoke-kubectl-role-changes",)
    assert len(expected["eu-central-1"]) == len(SPOKE_RULES) - 1
    with_it = expected_rules(["us-east-1"], "aws", "eu-west-1")
    assert list(with_it) == ["us-east-1"] and len(with_it["us-east-1"]) == len(SPOKE_RULES)
    # another partition: the hub's own region
    assert "eksguard-spoke-kubectl-role-changes" in expected_rules(["cn-north-1"], "aws-cn", "cn-north-1")["cn-north-1"]


@pytest.mark.parametrize(
    ("arn", "hub", "matches"),
    [
        (BUS, HUB, True),
        (BUS, NAMED_HUB, True),
        ("arn:aws:events:eu-west-1:123456789012:event-bus/other", NAMED_HUB, False),
        ("arn:aws:events:eu-west-1:123456789012:event-bus/other", HUB, True),
        ("arn:aws:events:eu-west-1:999999999999:event-bus/eksguard-hub", HUB, False),
        ("arn:aws:events:us-east-1:123456789012:event-bus/eksguard-hub", HUB, False),
        ("arn:aws:lambda:eu-west-1:123456789012:function:x", HUB, False),
        ("not an arn", HUB, False),
    ],
)
def test_only_the_hubs_bus_counts_as_a_target(arn: str, hub: HubBus, matches: bool) -> None:
    assert hub.matches(arn) is matches


@pytest.mark.parametrize(
    ("described", "targets", "state"),
    [
        (None, [], MISSING),
        ({"State": "DISABLED"}, [{"Arn": BUS}], DISABLED),
        ({"State": "ENABLED"}, [], NO_HUB_TARGET),
        ({"State": "ENABLED"}, [{"Arn": "arn:aws:events:eu-west-1:222222222222:event-bus/default"}], NO_HUB_TARGET),
        ({"State": "ENABLED"}, [{"Arn": BUS}], OK),
        ({"State": "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"}, [{"Arn": BUS}], OK),
    ],
)
def test_a_rule_is_covered_only_enabled_and_aimed_at_the_hub(
    described: dict[str, Any] | None, targets: list[dict[str, Any]], state: str
) -> None:
    assert rule_state("eksguard-spoke-trail-changes", described, targets, HUB).state == state


class FakeEvents:
    def __init__(self, rules: dict[str, Any]) -> None:
        self.rules = rules
        self.calls = 0

    def _answer(self, name: str) -> Any:
        self.calls += 1
        found = self.rules.get(name)
        if isinstance(found, str):
            raise ClientError({"Error": {"Code": found, "Message": "no"}}, "DescribeRule")
        if found is None:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}, "DescribeRule")
        return found

    def describe_rule(self, Name: str) -> Any:  # noqa: N803 - boto3's parameter names
        return {"State": self._answer(Name)[0]}

    def list_targets_by_rule(self, Rule: str, **_: Any) -> Any:  # noqa: N803
        return {"Targets": [{"Arn": arn} for arn in self._answer(Rule)[1]]}


def test_the_gateway_reads_each_rule_and_names_what_is_wrong() -> None:
    events = FakeEvents(
        {
            "a": ("ENABLED", [BUS]),
            "b": ("DISABLED", [BUS]),
            "d": "AccessDeniedException",
            "e": ("ENABLED", ["arn:aws:sqs:eu-west-1:123456789012:q"]),
        }
    )
    region = check_region("eu-west-1", ["a", "b", "c", "d", "e"], HUB, events=lambda region: events)
    assert [(r.name, r.state) for r in region.rules] == [
        ("a", OK),
        ("b", DISABLED),
        ("c", MISSING),
        ("d", UNREADABLE),
        ("e", NO_HUB_TARGET),
    ]
    assert not region.covered
    assert region.problems()[0] == "b DISABLED" and "AccessDeniedException" in region.problems()[2]


def test_the_gateway_makes_no_call_past_the_runs_deadline() -> None:
    events = FakeEvents({"a": ("ENABLED", [BUS])})
    aws.CallDeadline.start(5.0)  # less than one call's worst case
    try:
        region = check_region("eu-west-1", ["a"], HUB, events=lambda region: events)
    finally:
        aws.CallDeadline.start(None)
    assert events.calls == 0 and region.rules[0].state == NOT_CHECKED and not region.covered


def covered_account(account: str, label: str | None = None) -> AccountCoverage:
    return AccountCoverage(account, label or account, regions=(RegionCoverage("eu-west-1", (RuleState("r", OK),)),))


def test_all_covered_is_info_and_any_gap_is_high() -> None:
    home = AccountCoverage("123456789012", "123456789012", home=True)
    good = Coverage((home, covered_account("111111111111", "111111111111 (payments-prod)")), regions=("eu-west-1",))
    assert good.covered and good.severity is Severity.INFO and good.gaps() == []
    alert = coverage_alert(good, NOW)
    assert alert.kind == "coverage-report" and alert.severity is Severity.INFO
    assert alert.title == "coverage: all 1 spoke account(s) covered in eu-west-1"
    assert dict((f.label, f.value) for f in alert.facts)["Covered"].splitlines() == [
        "123456789012: the hub (its own rules watch it)",
        "111111111111 (payments-prod): eu-west-1",
    ]

    refused = AccountCoverage("333333333333", "333333333333", reason="cannot assume role: AccessDenied")
    disabled = AccountCoverage(
        "222222222222", "222222222222", regions=(RegionCoverage("eu-west-1", (RuleState("r", DISABLED),)),)
    )
    for gap, line in (
        (Coverage((home, refused)), "333333333333: no spoke reachable, role cannot be assumed"),
        (Coverage((home, disabled)), "222222222222/eu-west-1: r DISABLED"),
        (Coverage((home,), unconfigured=("444444444444 (dev)",)), "444444444444 (dev): in the organisation"),
        (Coverage((home,), problems=("cannot list the organisation's accounts",)), "cannot list the organisation"),
    ):
        assert gap.severity is Severity.HIGH and not gap.covered
        assert gap.gaps()[0].startswith(line)
        assert coverage_alert(gap, NOW).severity is Severity.HIGH
        assert line in dict((f.label, f.value) for f in coverage_alert(gap, NOW).facts)["Not covered"]


def test_the_digest_states_the_coverage_in_one_line_and_a_gap_makes_it_high() -> None:
    home = AccountCoverage("123456789012", "123456789012", home=True)
    refused = AccountCoverage("333333333333", "333333333333", reason="AccessDenied")
    record = ClusterRecord(
        "prod", "eu-west-1", 1, admins={"a": {"doors": [], "expected": True}}, account="123456789012"
    )
    quiet, _ = build_digest([record], {}, NOW, labels={"123456789012": "123456789012"})
    assert quiet.severity is Severity.INFO and "Coverage" not in dict((f.label, f.value) for f in quiet.facts)
    digest, _ = build_digest(
        [record], {}, NOW, labels={"123456789012": "123456789012"}, coverage=Coverage((home, refused))
    )
    facts = dict((f.label, f.value) for f in digest.facts)
    assert digest.severity is Severity.HIGH
    assert facts["Coverage"] == (
        "0 of 1 spoke account(s) covered in every region. "
        "Not covered: 333333333333: no spoke reachable, role cannot be assumed (AccessDenied)"
    )
    assert "\n" not in facts["Coverage"]
    assert "prod (eu-west-1) in 123456789012" in facts


def test_organisation_accounts_that_are_not_targets() -> None:
    assert unconfigured_accounts(None, ["1"], "0") == ()
    assert unconfigured_accounts(["0", "1", "2", "3"], ["1", "3"], "0") == ("2",)


def test_the_hub_and_unreachable_spokes_are_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only spokes whose role was assumed are read (the hub is watched by its own stack); the organisation is
    listed only when the targets do not carry it, and its names label what it lists."""
    read: list[tuple[str | None, str]] = []

    def fake_check(region: str, rules: Any, hub: HubBus, events: Any = None) -> RegionCoverage:
        read.append((aws.scope_account(), region))
        return RegionCoverage(region, tuple(RuleState(r, OK) for r in rules))

    monkeypatch.setattr("eksguard.coverage.check_region", fake_check)
    home = Target("123456789012", None)
    spoke = Target("111111111111", "arn:aws:iam::111111111111:role/eksguard-spoke")
    refused = Target("333333333333", "arn:aws:iam::333333333333:role/eksguard-spoke")
    setup = CoverageSetup(
        HUB, organization=lambda: (("123456789012", "111111111111", "444444444444"), {"444444444444": "dev"})
    )
    report = check_coverage(
        [(home, None), (spoke, None), (refused, "AccessDenied")], ["eu-west-1"], setup, home=home.account
    )
    assert sorted(read) == [("111111111111", "eu-west-1"), ("111111111111", "us-east-1")]
    assert report.unconfigured == ("444444444444 (dev)",) and report.organization_known
    assert [a.covered for a in report.accounts] == [True, True, False]
    assert report.regions == ("eu-west-1", "us-east-1")
