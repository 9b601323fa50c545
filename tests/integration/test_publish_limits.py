"""Alerts always fit the alert queue: SQS refuses a message (and a batch) over 256 KB for good, so an
oversized alert used to fail its detector on every retry and never reach Slack (found by fuzzing)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eksguard.alerts import Actor, Alert, Fact
from eksguard.config import load_settings
from eksguard.publish import SQS_MAX_BYTES, publish_many
from eksguard.severity import Severity
from tests.alert_queue import drain_bodies

REGION = "eu-west-1"


@pytest.fixture
def queue(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: ARG001 - fixture dependency
    from eksguard import aws as clients

    url = str(clients.client("sqs", REGION).create_queue(QueueName="alerts")["QueueUrl"])
    monkeypatch.setenv("ALERT_QUEUE_URL", url)
    return url


def drain(url: str) -> list[dict[str, Any]]:
    bodies = drain_bodies(url, REGION)
    for body in bodies:
        assert len(body.encode()) <= SQS_MAX_BYTES
    return [json.loads(body) for body in bodies]


def huge_alert(n: int, size: int = 300_000) -> Alert:
    return Alert(
        id=f"alert-{n}",
        kind="aws-auth",
        severity=Severity.CRITICAL,
        title=f"arn:aws:iam::111122223333:role/intruder-{n} added to system:masters by admin",
        cluster="prod",
        principal=f"arn:aws:iam::111122223333:role/intruder-{n}",
        actor=Actor(arn="arn:aws:iam::111122223333:role/Admin", user_agent="ü" * 50_000),
        facts=(Fact("mapRoles diff", "+ - rolearn: x\n" * (size // 16)), Fact("Verb", "update")),
    )


def test_an_alert_over_the_sqs_limit_is_shrunk_and_queued(queue: str) -> None:
    alert = huge_alert(1)

    publish_many([alert], load_settings())

    [queued] = drain(queue)
    assert queued["id"] == alert.id and queued["severity"] == "CRITICAL"
    assert queued["title"] == alert.title and queued["principal"] == alert.principal
    facts = dict(queued["facts"])
    assert facts["Verb"] == "update"
    assert facts["mapRoles diff"].startswith("+ - rolearn: x") and "[truncated" in facts["mapRoles diff"]
    assert "Truncated" in facts


def test_large_alerts_are_split_across_batches_within_the_limit(queue: str) -> None:
    alerts = [huge_alert(n, size=90_000) for n in range(10)]

    publish_many(alerts, load_settings())

    assert sorted(a["id"] for a in drain(queue)) == sorted(a.id for a in alerts)
