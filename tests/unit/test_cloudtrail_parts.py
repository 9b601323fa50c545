"""The pure parts behind the CloudTrail rules: working hours, trail selectors, instance targets, console links."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from eksguard.console import cloudtrail_event_url, console_url, log_stream_url
from eksguard.eks_api.blinding import JUDGED_SOURCES, extract_blinding
from eksguard.eks_api.host_change import extract_host_change, instance_ids_in
from eksguard.eks_api.record import parse_event
from eksguard.hours import HoursError, parse_hours

# ---------------------------------------------------------------- working hours


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        ("2025-11-18T06:00:00Z", True),  # Tue 07:00 Paris: the window opens
        ("2025-11-18T05:59:00Z", False),  # Tue 06:59 Paris
        ("2025-11-18T18:59:00Z", True),  # Tue 19:59 Paris
        ("2025-11-18T19:00:00Z", False),  # Tue 20:00 Paris: the window has closed
        ("2025-11-22T10:00:00Z", True),  # Sat 11:00 Paris (second window)
        ("2025-11-23T10:00:00Z", False),  # Sunday
        ("2025-07-15T05:30:00Z", True),  # Tue 07:30 Paris in summer time (UTC+2)
    ],
)
def test_working_hours_in_their_time_zone(moment: str, inside: bool) -> None:
    hours = parse_hours("Mon-Fri 07:00-20:00; Sat 09:00-12:00", "Europe/Paris")
    assert hours is not None
    assert hours.contains(datetime.fromisoformat(moment.replace("Z", "+00:00"))) is inside


def test_a_night_shift_wraps_past_midnight() -> None:
    hours = parse_hours("Fri-Sat 22:00-06:00", "UTC")
    assert hours is not None
    assert hours.contains(datetime(2025, 11, 21, 23, 0, tzinfo=UTC))  # Friday night
    assert hours.contains(datetime(2025, 11, 22, 5, 59, tzinfo=UTC))  # Saturday early morning
    assert hours.contains(datetime(2025, 11, 23, 3, 0, tzinfo=UTC))  # Sunday early morning (Sat's shift)
    assert not hours.contains(datetime(2025, 11, 21, 12, 0, tzinfo=UTC))
    assert not hours.contains(datetime(2025, 11, 24, 3, 0, tzinfo=UTC))  # Monday early morning


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("Mon-Fri 7-20", "UTC"),
        ("Mon-Fri 07:00-07:00", "UTC"),
        ("Xyz 07:00-08:00", "UTC"),
        ("Mon 07:00-25:00", "UTC"),
        ("Mon-Fri 07:00-20:00", "Mars/Olympus"),
    ],
)
def test_unreadable_hours_are_refused(text: str, zone: str) -> None:
    with pytest.raises(HoursError):
        parse_hours(text, zone)


def test_no_hours_means_none() -> None:
    assert parse_hours("  ", "UTC") is None


def test_the_template_pattern_accepts_what_the_parser_reads() -> None:
    import re

    from eksguard.hours import TEMPLATE_PATTERN

    for text in ("", "Mon-Fri 07:00-20:00", "Mon-Fri 07:00-20:00; Sat 09:00-12:00", "Sun 22:00-24:00"):
        assert re.fullmatch(TEMPLATE_PATTERN, text), text
        parse_hours(text, "UTC")
    for text in ("Mon-Fri", "weekdays 07:00-20:00", "Mon-Fri 7-20"):
        assert not re.fullmatch(TEMPLATE_PATTERN, text), text


# ---------------------------------------------------------------- trail selectors


def record(source: str, name: str, request: dict[str, Any] | None, response: Any = None) -> Any:
    return parse_event(
        {
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws." + source.split(".")[0],
            "detail": {
                "eventSource": source,
                "eventName": name,
                "requestParameters": request,
                "responseElements": response,
                "eventID": "e-1",
                "recipientAccountId": "111122223333",
                "awsRegion": "eu-west-1",
            },
        }
    )


def unlogged(request: dict[str, Any]) -> tuple[str, ...] | None:
    change = extract_blinding(record("cloudtrail.amazonaws.com", "PutEventSelectors", request))
    assert change is not None
    return change.unlogged_sources


# Every service eksguard reads CloudTrail calls of (eksguard's own pipeline included).
ALL_JUDGED = JUDGED_SOURCES
assert {"eks.amazonaws.com", "iam.amazonaws.com", "lambda.amazonaws.com"} <= set(ALL_JUDGED)


@pytest.mark.parametrize(
    ("selectors", "lost"),
    [
        ([{"readWriteType": "All", "includeManagementEvents": True}], ()),
        ([{"readWriteType": "WriteOnly"}], ()),  # management events are on unless turned off
        ([{"readWriteType": "ReadOnly", "includeManagementEvents": True}], ALL_JUDGED),
        ([{"readWriteType": "All", "includeManagementEvents": False}], ALL_JUDGED),
        ([{"readWriteType": "All", "excludeManagementEventSources": ["kms.amazonaws.com"]}], ()),
        ([{"readWriteType": "All", "excludeManagementEventSources": ["eks.amazonaws.com"]}], ("eks.amazonaws.com",)),
        ([], ALL_JUDGED),
        # a second selector that still records writes keeps them
        ([{"readWriteType": "ReadOnly"}, {"readWriteType": "WriteOnly"}], ()),
    ],
)
def test_classic_selectors(selectors: list[dict[str, Any]], lost: tuple[str, ...]) -> None:
    assert unlogged({"trailName": "t", "eventSelectors": selectors}) == lost


def advanced(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"trailName": "t", "advancedEventSelectors": [{"name": "s", "fieldSelectors": list(conditions)}]}


MANAGEMENT = {"field": "eventCategory", "equals": ["Management"]}


@pytest.mark.parametrize(
    ("request_", "lost"),
    [
        (advanced(MANAGEMENT), ()),
        (advanced(MANAGEMENT, {"field": "readOnly", "equals": ["true"]}), ALL_JUDGED),
        (advanced(MANAGEMENT, {"field": "readOnly", "equals": ["false"]}), ()),
        (advanced(MANAGEMENT, {"field": "eventSource", "notEquals": ["eks.amazonaws.com"]}), ("eks.amazonaws.com",)),
        (
            advanced(MANAGEMENT, {"field": "eventSource", "equals": ["eks.amazonaws.com"]}),
            tuple(s for s in ALL_JUDGED if s != "eks.amazonaws.com"),
        ),
        (
            advanced(MANAGEMENT, {"field": "eventSource", "notStartsWith": ["ec2"]}),
            ("ec2-instance-connect.amazonaws.com", "ec2.amazonaws.com"),
        ),
        (advanced({"field": "eventCategory", "equals": ["Data"]}), ALL_JUDGED),
    ],
)
def test_advanced_selectors(request_: dict[str, Any], lost: tuple[str, ...]) -> None:
    assert unlogged(request_) == lost


def test_an_advanced_operator_not_understood_is_said() -> None:
    change = extract_blinding(
        record(
            "cloudtrail.amazonaws.com",
            "PutEventSelectors",
            advanced(MANAGEMENT, {"field": "eventSource", "like": ["eks*"]}),
        )
    )
    assert change is not None and change.selectors_unreadable and "like" in change.selectors_unreadable


def test_a_failed_call_without_selectors_reads_none() -> None:
    assert unlogged({"trailName": "t"}) is None


@pytest.mark.parametrize(
    ("group", "cluster"),
    [
        ("/aws/eks/prod/cluster", "prod"),
        ("arn:aws:logs:eu-west-1:111122223333:log-group:/aws/eks/prod/cluster:*", "prod"),
        ("/aws/eks/prod/other", None),
        ("/aws/lambda/x", None),
    ],
)
def test_audit_log_groups(group: str, cluster: str | None) -> None:
    key = "logGroupIdentifier" if group.startswith("arn:") else "logGroupName"
    change = extract_blinding(record("logs.amazonaws.com", "DeleteLogGroup", {key: group}))
    assert change is not None and change.audit_cluster == cluster


# ---------------------------------------------------------------- instance targets


def test_instance_ids_are_found_by_their_shape_in_any_field() -> None:
    found = instance_ids_in({"a": [{"b": "i-0123456789abcdef0"}], "c": "see i-12345678 and i-12345678"})
    assert sorted(found) == ["i-0123456789abcdef0", "i-12345678"]
    assert instance_ids_in({"parameters": "i-0123456789abcdef0"}, skip=frozenset({"parameters"})) == ()
    assert instance_ids_in("ami-0123456789abcdef0 vol-0123456789abcdef0 mi-0123456789abcdef0") == ()


def test_padding_cannot_hide_a_target_and_depth_is_bounded() -> None:
    # As much padding as a 256 KB event can carry, the target last.
    padded = {"parameters": {"Padding": ["x"] * 60_000, "InstanceId": ["i-0123456789abcdef0"]}}
    assert instance_ids_in(padded) == ("i-0123456789abcdef0",)
    deep: Any = "i-0123456789abcdef0"
    for _ in range(500):
        deep = {"x": deep}
    assert instance_ids_in(deep) == ()  # far beyond any CloudTrail nesting: not walked, not a crash


def test_ssm_targets() -> None:
    change = extract_host_change(
        record(
            "ssm.amazonaws.com",
            "SendCommand",
            {
                "targets": [
                    {"key": "tag:kubectl-instance", "values": ["prod"]},
                    {"key": "tag-key", "values": ["eks-cluster"]},
                    {"key": "resource-groups:Name", "values": ["admins"]},
                    {"key": "InstanceIds", "values": ["*"]},
                ],
                "documentName": "AWS-RunShellScript",
                "parameters": {"commands": ["echo i-0123456789abcdef0"]},
            },
        )
    )
    assert change is not None
    assert set(change.tag_targets) == {("tag:kubectl-instance", ("prod",)), ("tag-key", ("eks-cluster",))}
    assert change.all_instances and change.opaque_targets == ("resource-groups:Name=admins",)
    assert change.instance_ids == ()  # an ID inside the commands is not a target


def test_profiles_come_from_request_and_response() -> None:
    change = extract_host_change(
        record(
            "ec2.amazonaws.com",
            "RunInstances",
            {"launchTemplate": {"launchTemplateId": "lt-1"}},
            {
                "instancesSet": {
                    "items": [
                        {
                            "instanceId": "i-0aaaaaaaaaaaaaaa1",
                            "iamInstanceProfile": {
                                "arn": "arn:aws:iam::111122223333:instance-profile/admins/kubectl-prod"
                            },
                        }
                    ]
                }
            },
        )
    )
    assert change is not None and change.profiles == ("kubectl-prod",)
    assert change.instance_ids == ("i-0aaaaaaaaaaaaaaa1",)


def test_secrets_are_not_read() -> None:
    change = extract_host_change(
        record(
            "ssm.amazonaws.com",
            "StartSession",
            {"target": "i-0123456789abcdef0"},
            {"sessionId": "s-1", "tokenValue": "Value hidden due to security reasons.", "streamUrl": "wss://x"},
        )
    )
    assert change is not None
    assert "Value hidden" not in repr(change) and "wss://" not in repr(change)


# ---------------------------------------------------------------- console links


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("eu-west-1", "https://eu-west-1.console.aws.amazon.com/"),
        ("cn-north-1", "https://console.amazonaws.cn/"),
        ("us-gov-west-1", "https://console.amazonaws-us-gov.com/"),
    ],
)
def test_console_links_per_partition(region: str, host: str) -> None:
    url = cloudtrail_event_url(region, "a1b2")
    assert url == f"{host}cloudtrailv2/home?region={region}#/events/a1b2"
    stream = log_stream_url(region, "/aws/eks/prod/cluster", "s")
    assert stream is not None and stream.startswith(host)


@pytest.mark.parametrize("region", [None, "", "evil.com/x", "eu-west-1.attacker.net"])
def test_no_link_for_an_unusable_region(region: str | None) -> None:
    assert console_url(region, "eks") is None


def test_conditions_on_one_advanced_field_all_apply() -> None:
    request = advanced(
        MANAGEMENT,
        {"field": "eventSource", "notEquals": ["kms.amazonaws.com"]},
        {"field": "eventSource", "NotEquals": ["eks.amazonaws.com"]},
    )
    assert unlogged(request) == ("eks.amazonaws.com",)
    assert unlogged(advanced(MANAGEMENT, {"field": "readOnly", "notEquals": ["false"]})) == ALL_JUDGED


@pytest.mark.parametrize("value", [7, "x", {"a": 1}, None])
def test_odd_selector_and_pod_identity_shapes_never_crash(value: Any) -> None:
    from eksguard.eks_api.change import extract

    extract_blinding(
        record("cloudtrail.amazonaws.com", "PutEventSelectors", {"advancedEventSelectors": [{"fieldSelectors": value}]})
    )
    extract(record("eks.amazonaws.com", "CreateAddon", {"name": "prod", "podIdentityAssociations": value}))
