import json
from dataclasses import replace

import pytest

from eksguard.alerts import Actor, Alert, Fact, SourceRef, alert_id
from eksguard.severity import Severity


def sample() -> Alert:
    return Alert(
        id=alert_id("eks-api", "event-1"),
        kind="eks-api",
        severity=Severity.CRITICAL,
        title="arn:aws:iam::111122223333:role/intruder granted cluster admin",
        cluster="prod",
        principal="arn:aws:iam::111122223333:role/intruder",
        actor=Actor(arn="arn:aws:iam::111122223333:role/Ops", session_name="alice", source_ip="203.0.113.7"),
        account="111122223333",
        region="eu-west-1",
        time="2026-11-25T10:00:00Z",
        facts=(Fact("Policy", "AmazonEKSClusterAdminPolicy"),),
        source=SourceRef("cloudtrail", "CloudTrail event event-1", "https://console.aws.amazon.com/"),
    )


def test_round_trip_is_lossless():
    alert = sample()
    assert Alert.from_json(alert.to_json()) == alert


def test_id_is_stable_and_distinct():
    assert alert_id("a", "b") == alert_id("a", "b")
    assert alert_id("a", "b") != alert_id("ab", "")
    assert len(alert_id("x")) == 32


def test_notification_text_names_severity_cluster_and_title():
    assert sample().notification_text() == (
        "[CRITICAL] prod: arn:aws:iam::111122223333:role/intruder granted cluster admin"
    )


@pytest.mark.parametrize(
    "body",
    ["not json", "[]", json.dumps({"id": "x"}), json.dumps({"id": "x", "kind": "k", "title": "t", "severity": "LOUD"})],
)
def test_poison_payloads_raise_value_error(body):
    with pytest.raises(ValueError):
        Alert.from_json(body)


def test_a_hub_names_the_account_in_the_notification_line_and_fields() -> None:
    from eksguard.slack.render import render

    base = Alert(
        id="a1",
        kind="eks-api",
        severity=Severity.HIGH,
        title="arn:aws:iam::111111111111:role/x granted cluster admin",
        cluster="prod",
        account="111111111111",
        region="eu-west-1",
    )
    # one account: the line is what it always was, and the name is not in the queued message
    assert base.notification_text() == f"[HIGH] prod: {base.title}"
    assert "account_name" not in base.to_dict()
    named = Alert.from_json(replace(base, account_name="payments-prod").to_json())
    assert named.notification_text() == f"[HIGH] prod (111111111111 payments-prod): {base.title}"
    unnamed = replace(base, account_name="")
    assert unnamed.notification_text() == f"[HIGH] prod (111111111111): {base.title}"
    fields = json.dumps(render(named)["blocks"])
    assert "111111111111 (payments-prod) / eu-west-1" in fields
    # an alert about an account, without a cluster (a stop summary, a coverage report)
    about_account = replace(named, cluster=None)
    assert about_account.notification_text() == f"[HIGH] 111111111111 (payments-prod)/eu-west-1: {base.title}"
