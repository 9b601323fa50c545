"""SlackNotifierFunction end to end in-process: publish -> SQS (moto) -> handler -> Slack stand-in.

A small poller plays the Lambda SQS event source: it receives up to 10 messages, invokes the real
handler, deletes the records the handler did not report as failed and, to let time pass, makes
failed records visible again. Secrets Manager and DynamoDB (idempotency) are moto too.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import slack_notifier_handler

from eksguard.alerts import Alert
from eksguard.publish import publish_many
from eksguard.severity import Severity
from eksguard.slack import deliver as deliver_mod
from eksguard.slack import notifier
from tests.slack_alerts import aws_auth_alert, eks_api_alert, enrolment_alert, info_alert, stop_summary_alert
from tests.slack_standin import Reply, SlackStandIn

REGION = "eu-west-1"
TOKEN_PART = "s3cr3tW3bh00kT0k3n"
MAX_ROUNDS = 30


@dataclass
class Invocation:
    response: dict[str, Any]
    message_ids: list[str]
    failed_ids: list[str]


@dataclass
class World:
    standin: SlackStandIn
    context: Any
    queue_url: str
    queue_arn: str
    dlq_url: str
    secret_arn: str
    sqs: Any
    invocations: list[Invocation] = field(default_factory=list)
    _failed_handles: dict[str, str] = field(default_factory=dict)

    # producing -----------------------------------------------------------------------
    def publish(self, *alerts: Alert) -> list[str]:
        return publish_many(list(alerts))

    def send_raw(self, body: str) -> str:
        return str(self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)["MessageId"])

    # the event source ----------------------------------------------------------------
    def receive(self, max_messages: int = 10) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max_messages,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=30,
        )
        return list(response.get("Messages", []))

    def to_record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                "SentTimestamp": attributes.get("SentTimestamp", "0"),
                "SenderId": attributes.get("SenderId", "AIDAEXAMPLE"),
                "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0"),
            },
            "messageAttributes": {},
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }

    def invoke(self, messages: list[dict[str, Any]]) -> Invocation:
        event = {"Records": [self.to_record(m) for m in messages]}
        response = slack_notifier_handler.lambda_handler(event, self.context)
        failed = [item["itemIdentifier"] for item in response["batchItemFailures"]]
        for message in messages:
            if message["MessageId"] in failed:
                self._failed_handles[message["MessageId"]] = message["ReceiptHandle"]
            else:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        invocation = Invocation(response, [m["MessageId"] for m in messages], failed)
        self.invocations.append(invocation)
        return invocation

    def poll_once(self) -> Invocation | None:
        messages = self.receive()
        return self.invoke(messages) if messages else None

    def let_time_pass(self) -> None:
        """Failed records become visible again at once (stands in for their visibility timeout)."""
        for handle in self._failed_handles.values():
            try:
                self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
            except Exception:  # noqa: S110 - the message may have moved on (deleted, dead-lettered)
                pass
        self._failed_handles.clear()

    def drain(self, rounds: int = MAX_ROUNDS) -> None:
        for _ in range(rounds):
            if self.poll_once() is None:
                self.let_time_pass()
                if self.poll_once() is None:
                    return
            self.let_time_pass()
        raise AssertionError(f"queue not drained after {rounds} rounds")

    # inspection ----------------------------------------------------------------------
    def visible_count(self) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def dead_letters(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10)
        return list(response.get("Messages", []))

    def delivered_ids(self) -> list[str]:
        """Alert ids as posted to Slack (taken from the context block / plain-text footer)."""
        ids: list[str] = []
        for payload in self.standin.delivered:
            if "attachments" in payload:
                ids.append(payload["attachments"][0]["blocks"][-1]["elements"][-1]["text"].split("`")[1])
            else:
                ids.append(payload["text"].rsplit("Alert id: ", 1)[1].strip())
        return ids


class Output:
    """Everything the functions printed (logs and EMF metrics) plus log records, for assertions."""

    def __init__(
        self, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, log_stream: io.StringIO
    ) -> None:
        self._capsys = capsys
        self._caplog = caplog
        self._log_stream = log_stream
        self.text = ""

    def read(self) -> str:
        captured = self._capsys.readouterr()
        self.text += captured.out + captured.err
        return self.text + self._log_stream.getvalue()

    def everything(self) -> str:
        records = " ".join(f"{r.getMessage()} {r.__dict__}" for r in self._caplog.records)
        return self.read() + records

    def lines(self) -> list[dict[str, Any]]:
        parsed = []
        for line in self.read().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    parsed.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return parsed

    def metric_totals(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for entry in self.lines():
            if "_aws" not in entry:
                continue
            for directive in entry["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = entry[metric["Name"]]
                    values = value if isinstance(value, list) else [value]
                    totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(values)
        return totals

    def logs(self, message: str) -> list[dict[str, Any]]:
        return [entry for entry in self.lines() if entry.get("message") == message]


@pytest.fixture
def output(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Iterator[Output]:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="eksguard")
    caplog.set_level(logging.DEBUG, logger="slack_sdk")
    # Powertools' handler keeps the stream it saw at import time; give it one this test owns.
    handler = getattr(logging.getLogger("eksguard"), "powertools_handler", None)
    log_stream = io.StringIO()
    previous = None
    if isinstance(handler, logging.StreamHandler):
        previous = handler.stream
        handler.stream = log_stream
    yield Output(capsys, caplog, log_stream)
    if isinstance(handler, logging.StreamHandler):
        handler.stream = previous


@pytest.fixture
def world(
    aws: None, slack_standin: SlackStandIn, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, output: Output
) -> Iterator[World]:
    sqs = boto3.client("sqs", region_name=REGION)
    dlq_url = sqs.create_queue(QueueName="eksguard-AlertDeadLetterQueue")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName="eksguard-AlertQueue",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "12"})},
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="eksguard-idempotency",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="eksguard/slack-webhook", SecretString=slack_standin.url
    )["ARN"]
    monkeypatch.setenv("ALERT_QUEUE_URL", queue_url)
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "eksguard-idempotency")
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", secret_arn)
    monkeypatch.setenv("SLACK_CRITICAL_MENTION", "<!here>")
    monkeypatch.setenv("ALERT_MIN_SEVERITY", "INFO")
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    # Keep in-invocation retries instant; the time budget logic is covered in the unit tests.
    monkeypatch.setattr(deliver_mod, "TRANSIENT_RETRY_DELAY_SECONDS", 0.0)
    deliver_mod.forget_webhook_url()
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    yield World(slack_standin, lambda_context, queue_url, queue_arn, dlq_url, secret_arn, sqs)
    deliver_mod.forget_webhook_url()
    parameters.clear_caches()


def five_alerts() -> list[Alert]:
    return [
        eks_api_alert(),
        aws_auth_alert(),
        stop_summary_alert(),
        enrolment_alert(),
        eks_api_alert(id="second-eks-api-alert", title="arn:aws:iam::111122223333:role/other granted admin"),
    ]


# -------------------------------------------------------------------- happy path and duplicates
def test_each_alert_is_posted_once_with_its_notification_line(world: World, output: Output) -> None:
    alerts = five_alerts()
    world.publish(*alerts)

    world.drain()

    assert sorted(world.delivered_ids()) == sorted(a.id for a in alerts)
    assert sorted(world.standin.texts) == sorted(
        a.notification_text() + (" <!here>" if a.severity is Severity.CRITICAL else "") for a in alerts
    )
    assert all(inv.failed_ids == [] for inv in world.invocations)
    assert world.visible_count() == 0
    assert output.metric_totals().get("AlertsDelivered") == 5
    sent = output.logs("alert_sent")
    assert {entry["alert_id"] for entry in sent} == {a.id for a in alerts}


def test_every_message_redelivered_twice_posts_each_alert_once(world: World, output: Output) -> None:
    alerts = five_alerts()
    world.publish(*alerts)
    messages = world.receive()
    assert len(messages) == 5

    for _ in range(3):  # the original delivery plus two redeliveries of the very same messages
        invocation = world.invoke(copy.deepcopy(messages))
        assert invocation.failed_ids == []

    assert sorted(world.delivered_ids()) == sorted(a.id for a in alerts)
    assert len(world.standin.received) == 5
    assert len(output.logs("alert_duplicate")) == 10
    assert output.metric_totals().get("AlertsDelivered") == 5


def test_the_same_alert_queued_twice_is_posted_once(world: World) -> None:
    alert = aws_auth_alert()
    world.publish(alert)
    world.publish(alert)
    world.drain()
    assert world.delivered_ids() == [alert.id]


# -------------------------------------------------------------------- outages
def test_outage_then_recovery_delivers_every_alert_exactly_once(world: World, output: Output) -> None:
    alerts = five_alerts()
    world.publish(*alerts)
    url = world.standin.url

    # 1) Slack unreachable: connection refused
    world.standin.stop()
    first = world.poll_once()
    assert first is not None and sorted(first.failed_ids) == sorted(first.message_ids)
    assert world.receive() == []  # visibility was lengthened: nothing comes back at once
    world.let_time_pass()

    # 2) Slack answers 500 for a while
    world.standin.start()
    assert world.standin.url == url
    world.standin.set_default(Reply.server_error())
    second = world.poll_once()
    assert second is not None and sorted(second.failed_ids) == sorted(second.message_ids)
    assert len(world.standin.received) == 2  # the circuit stops the batch after two failures
    world.let_time_pass()

    # 3) recovery
    world.standin.set_default(Reply.ok())
    world.drain()

    assert sorted(world.delivered_ids()) == sorted(a.id for a in alerts)
    assert world.visible_count() == 0
    assert world.dead_letters() == []
    metrics = output.metric_totals()
    assert metrics.get("AlertsDelivered") == 5
    assert metrics.get("AlertsRetried") == 10
    retries = output.logs("alert_retry")
    first_round = [r for r in retries if r["receive_count"] == 1]
    second_round = [r for r in retries if r["receive_count"] == 2]
    assert {r["visibility_timeout"] for r in first_round} == {60}
    assert {r["visibility_timeout"] for r in second_round} == {120}


def test_rate_limited_beyond_the_invocation_keeps_the_alert_for_later(world: World, output: Output) -> None:
    world.publish(eks_api_alert(), stop_summary_alert())
    world.standin.enqueue(Reply.rate_limited(600))

    invocation = world.poll_once()

    assert invocation is not None and sorted(invocation.failed_ids) == sorted(invocation.message_ids)
    assert len(world.standin.received) == 1  # the second alert was not even tried
    assert {r["visibility_timeout"] for r in output.logs("alert_retry")} == {600}
    world.let_time_pass()
    world.drain()
    assert len(world.delivered_ids()) == 2


def test_rate_limit_within_the_invocation_is_waited_out(world: World) -> None:
    world.publish(eks_api_alert())
    world.standin.enqueue(Reply.rate_limited(1))

    started = time.monotonic()
    invocation = world.poll_once()

    assert invocation is not None and invocation.failed_ids == []
    assert time.monotonic() - started >= 1.0
    assert [r.status for r in world.standin.received] == [429, 200]


def test_invalid_payload_is_resent_as_plain_text(world: World, output: Output) -> None:
    alert = aws_auth_alert()
    world.publish(alert)
    world.standin.enqueue(Reply.invalid_payload())

    world.drain()

    assert world.delivered_ids() == [alert.id]
    [plain] = world.standin.delivered
    assert "blocks" not in plain
    assert plain["text"].startswith("[CRITICAL] prod: arn:aws:iam::111122223333:role/intruder")
    metrics = output.metric_totals()
    assert (metrics.get("AlertsDelivered"), metrics.get("AlertsDegraded")) == (1, 1)


def test_archived_channel_fails_permanently_and_reaches_the_dead_letter_queue(world: World, output: Output) -> None:
    alert = eks_api_alert()
    world.publish(alert)
    world.standin.set_default(Reply.archived())

    first = world.poll_once()
    assert first is not None and first.failed_ids == first.message_ids
    failures = output.logs("alert_failed_permanent")
    assert failures[0]["status"] == 410
    assert failures[0]["visibility_timeout"] == notifier.PERMANENT_VISIBILITY_SECONDS
    assert output.metric_totals().get("AlertsFailedPermanent") == 1

    for _ in range(MAX_ROUNDS):
        world.let_time_pass()
        if world.poll_once() is None:
            break
    dead = world.dead_letters()
    assert [Alert.from_json(m["Body"]).id for m in dead] == [alert.id]
    assert world.standin.delivered == []
    assert output.metric_totals().get("AlertsFailedPermanent") == 12


def test_webhook_fixed_after_a_permanent_failure_is_used_at_once(world: World) -> None:
    alert = eks_api_alert()
    world.publish(alert)
    world.standin.enqueue(Reply.not_found())
    replacement = SlackStandIn().start()
    try:
        assert world.poll_once() is not None
        boto3.client("secretsmanager", region_name=REGION).put_secret_value(
            SecretId=world.secret_arn, SecretString=json.dumps({"url": replacement.url})
        )
        world.let_time_pass()
        world.drain()
        assert [p["text"].split(" <!here>")[0] for p in replacement.delivered] == [alert.notification_text()]
    finally:
        replacement.stop()


# -------------------------------------------------------------------- filtering and poison
def test_below_threshold_alerts_are_dropped_not_posted(
    world: World, output: Output, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_MIN_SEVERITY", "HIGH")
    world.publish(info_alert(), stop_summary_alert(), enrolment_alert())

    world.drain()

    assert world.delivered_ids() == [enrolment_alert().id]
    dropped = output.logs("alert_dropped")
    assert {d["reason"] for d in dropped} == {"below_threshold"}
    assert {d["severity"] for d in dropped} == {"INFO", "MEDIUM"}
    assert output.metric_totals().get("AlertsDroppedBelowThreshold") == 2
    assert world.visible_count() == 0


def test_the_digest_is_posted_whatever_the_threshold(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from eksguard.inventory.compare import ClusterRecord
    from eksguard.inventory.digest import build_digest

    monkeypatch.setenv("ALERT_MIN_SEVERITY", "CRITICAL")
    digest, _ = build_digest([ClusterRecord("prod", "eu-west-1")], {}, "2026-12-07T08:00:00Z")
    assert digest.severity.name == "INFO"
    world.publish(digest, info_alert())
    world.drain()
    assert world.delivered_ids() == [digest.id]


def test_poison_messages_fail_alone(world: World, output: Output) -> None:
    poison = [
        world.send_raw("this is not json"),
        world.send_raw(json.dumps({"id": "x", "kind": "eks-api"})),
        world.send_raw(json.dumps({"id": "y", "kind": "k", "severity": "LOUD", "title": "t"})),
        world.send_raw(json.dumps({"id": "z", "kind": "k", "severity": "HIGH", "title": "t", "actor": "me"})),
    ]
    good = five_alerts()
    world.publish(*good)

    invocation = world.poll_once()

    assert invocation is not None
    assert sorted(invocation.failed_ids) == sorted(poison)
    assert sorted(world.delivered_ids()) == sorted(a.id for a in good)
    rejected = output.logs("alert_rejected")
    assert len(rejected) == 4 and {r["reason"] for r in rejected} == {"poison_message"}
    assert output.metric_totals().get("AlertsFailedPermanent") == 4
    assert world.receive() == []  # good ones deleted, poison ones hidden until their next attempt


def test_missing_secret_is_retried_not_lost(world: World, output: Output, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", world.secret_arn.replace("slack-webhook", "nope"))
    world.publish(eks_api_alert())

    invocation = world.poll_once()

    assert invocation is not None and invocation.failed_ids == invocation.message_ids
    [retry] = output.logs("alert_retry")
    assert "could not read the webhook secret" in retry["error"]
    assert world.standin.received == []


# -------------------------------------------------------------------- secrecy and the sample event
def test_webhook_url_never_appears_in_logs_across_scenarios(world: World, output: Output) -> None:
    world.standin.enqueue(
        Reply.server_error(),
        Reply.server_error(),
        Reply.invalid_payload(),
        Reply.rate_limited(0),
        Reply.archived(),
        Reply.forbidden(),
        Reply.dropped(),
        Reply.dropped(),
    )
    world.publish(*five_alerts())
    world.send_raw("{broken")
    world.drain()
    url = world.standin.url
    world.standin.stop()
    world.publish(eks_api_alert(id="after-stop"))
    world.poll_once()

    everything = output.everything()
    assert "alert_sent" in everything and "alert_retry" in everything
    assert url not in everything
    assert TOKEN_PART not in everything


def test_sample_event_file_is_a_real_alert_and_is_delivered(world: World, event_loader: Any) -> None:
    event = event_loader("slack_notifier_sqs.json")
    alerts = [Alert.from_json(record["body"]) for record in event["Records"]]
    assert alerts and all(a.notification_text().startswith(f"[{a.severity.name}] ") for a in alerts)

    response = slack_notifier_handler.lambda_handler(event, world.context)

    assert response == {"batchItemFailures": []}
    assert sorted(world.delivered_ids()) == sorted(a.id for a in alerts)


def test_a_hub_names_each_alerts_account_in_slack(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cluster names repeat across accounts: a hub's messages say whose `prod` it is."""
    monkeypatch.setenv("SPOKE_ACCOUNTS", "111111111111,222222222222")
    monkeypatch.setenv("ACCOUNT_NAMES", "111111111111=payments-prod")
    first = eks_api_alert(id="spoke-a", account="111111111111", cluster="prod")
    second = eks_api_alert(id="spoke-b", account="222222222222", cluster="prod")
    world.publish(first, second)
    world.drain()
    assert sorted(world.delivered_ids()) == ["spoke-a", "spoke-b"]
    texts = sorted(world.standin.texts)
    assert texts[0].startswith(f"[{first.severity.name}] prod (111111111111 payments-prod): ")
    assert texts[1].startswith(f"[{second.severity.name}] prod (222222222222): ")
    bodies = json.dumps([r.payload for r in world.standin.received])
    assert "111111111111 (payments-prod) / eu-west-1" in bodies
