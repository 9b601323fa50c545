import json

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
