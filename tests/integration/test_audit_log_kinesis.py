"""AuditLogAlertFunction fed by the hub's Kinesis stream (spokes' EKS audit logs through the hub's CloudWatch
Logs destination), through the real handler against moto (DynamoDB state, SQS queue): every record judged
on its own, failures reported by sequence number, retries producing the same alert ids."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from eksguard import aws
from eksguard.audit_log.intake import delivery_reserve_seconds
from tests.accounts_world import HUB, SPOKE_A, SPOKE_B
from tests.aws_auth_support import BASE, INTRUDER_YAML, VIEWER_YAML, update
from tests.conftest import FakeLambdaContext
from tests.faults.inject import DDB_THROTTLED, Fault, Injector, install_no_backoff
from tests.integration import test_audit_log_alert_handler as handler_tests
from tests.integration.test_audit_log_alert_handler import REGION, invoke, queued
from tests.kinesis_support import batch, control_payload, encode, failed, payload, record, sequence

env = handler_tests.env  # the same moto fixture: state table + alert queue
SPOKE_INTRUDER = f"arn:aws:iam::{SPOKE_A}:role/intruder"


def keys(env: dict[str, Any]) -> set[str]:
    return {item["cluster"]["S"] for item in env["ddb"].scan(TableName="aws-auth-state")["Items"]}


def backdoor(owner: str, rv: int = 7, audit_id: str = "aud-1") -> dict[str, Any]:
    return payload([update(audit_id, BASE + INTRUDER_YAML, rv)], owner)


def test_the_spoke_sample_is_judged_for_its_own_account(env, event_loader, lambda_context) -> None:
    response = invoke(event_loader("audit_log_kinesis_spoke.json"), lambda_context)
    assert response == {"batchItemFailures": []}
    alerts = queued(env)
    assert Counter(a["severity"] for a in alerts) == Counter({"INFO": 1, "CRITICAL": 1})
    assert {(a["account"], a["cluster"], a["region"]) for a in alerts} == {(SPOKE_A, "prod", REGION)}
    (critical,) = [a for a in alerts if a["severity"] == "CRITICAL"]
    assert critical["principal"] == SPOKE_INTRUDER
    assert critical["title"].startswith(f"{SPOKE_INTRUDER} added to system:masters by arn:aws:iam::{SPOKE_A}:")
    # the spoke's prod is recorded under its account; the hub's own `prod` record is untouched
    assert keys(env) == {f"{SPOKE_A}:prod"}


@pytest.mark.parametrize(
    ("poison", "reason"),
    [
        ("not base64 !", "kinesis.data is not base64"),
        (encode({"messageType": "DATA_MESSAGE"})[:-8] + "AAAAAAA=", "kinesis.data is not gzip"),
        ({**backdoor(SPOKE_A), "owner": "CloudwatchLogs"}, "owner 'CloudwatchLogs' is not an account ID"),
        ({**backdoor(SPOKE_A), "owner": ""}, "owner '' is not an account ID"),
        ({**backdoor(SPOKE_A), "logGroup": "/aws/lambda/x"}, "is not an EKS control-plane log group"),
        ({**backdoor(SPOKE_A), "messageType": "SURPRISE"}, "unknown messageType"),
    ],
    ids=["not-base64", "not-gzip", "control-owner-on-data", "no-owner", "not-eks", "unknown-type"],
)
def test_a_poison_record_fails_alone_and_the_good_one_alerts(
    env, lambda_context, caplog, poison: dict[str, Any] | str, reason: str
) -> None:
    response = invoke(batch(record(1, poison), record(2, backdoor(SPOKE_B))), lambda_context)
    assert failed(response) == [sequence(1)]
    (alert,) = queued(env)
    assert alert["severity"] == "CRITICAL" and alert["account"] == SPOKE_B
    assert keys(env) == {f"{SPOKE_B}:prod"}
    logged = [str(getattr(r, "reason", "")) for r in caplog.records if r.getMessage() == "malformed_payload"]
    assert any(reason in why for why in logged), logged  # the log says why


def test_a_record_whose_state_write_fails_is_retried_with_the_same_alert_ids(env, lambda_context, monkeypatch) -> None:
    """DynamoDB refuses A's state write (after botocore's retries): A's record is reported failed after
    its alert was queued, B's record goes through. Lambda retries from A's sequence number, so B's record
    comes back too: A's alert is queued again with the same id (the notifier posts an id once), B's
    line is recognised as a redelivery."""
    install_no_backoff(monkeypatch)
    a, b = record(1, backdoor(SPOKE_A)), record(2, backdoor(SPOKE_B))

    def only_a(_: int, params: dict[str, Any]) -> Fault | None:
        return DDB_THROTTLED if params.get("Item", {}).get("cluster", {}).get("S") == f"{SPOKE_A}:prod" else None

    outage = Injector(aws.client("dynamodb", REGION), "PutItem", only_a)
    first = invoke(batch(a, b), lambda_context)
    assert failed(first) == [sequence(1)]
    before = {alert["account"]: alert["id"] for alert in queued(env)}
    assert set(before) == {SPOKE_A, SPOKE_B}
    assert keys(env) == {f"{SPOKE_B}:prod"}

    outage.remove()
    retry = invoke(batch(a, b), lambda_context)  # from the checkpoint: A's record and every one after it
    assert failed(retry) == []
    again = queued(env)
    assert [(alert["account"], alert["id"]) for alert in again] == [(SPOKE_A, before[SPOKE_A])]
    assert keys(env) == {f"{SPOKE_A}:prod", f"{SPOKE_B}:prod"}


def test_a_redelivered_batch_produces_no_new_alert(env, event_loader, lambda_context) -> None:
    sample = event_loader("audit_log_kinesis_spoke.json")
    invoke(sample, lambda_context)
    ids = sorted(alert["id"] for alert in queued(env))
    assert len(ids) == 2
    assert invoke(sample, lambda_context) == {"batchItemFailures": []}
    assert queued(env) == []  # every line recognised as a redelivery


def test_same_line_in_two_accounts_gives_two_alerts_with_different_ids(env, lambda_context) -> None:
    """Log event ids and lines could coincide across accounts; the alert id says whose cluster it is, so
    the notifier never drops one account's alert as a repeat of another's."""
    response = invoke(batch(record(1, backdoor(SPOKE_A)), record(2, backdoor(SPOKE_B))), lambda_context)
    assert failed(response) == []
    alerts = queued(env)
    assert sorted(a["account"] for a in alerts) == [SPOKE_A, SPOKE_B]
    assert len({a["id"] for a in alerts}) == 2


def test_the_home_account_through_kinesis_keeps_its_plain_key(env, lambda_context) -> None:
    """The hub's own log groups deliver to the function directly; if one reached it through the stream
    too, it is the same cluster record (and its lines are recognised as redeliveries)."""
    line = update("aud-1", BASE + VIEWER_YAML, 5)
    invoke(batch(record(1, payload([line], HUB))), lambda_context)
    assert keys(env) == {"prod"}


def test_a_control_message_is_not_a_failure(env, lambda_context) -> None:
    assert invoke(batch(record(1, control_payload())), lambda_context) == {"batchItemFailures": []}
    assert queued(env) == [] and keys(env) == set()


@dataclass
class ShrinkingContext(FakeLambdaContext):
    """The time left drops to `then_ms` after the first `first_calls` asks."""

    first_calls: int = 1
    then_ms: int = 10_000
    asks: list[int] = field(default_factory=list)

    def get_remaining_time_in_millis(self) -> int:
        self.asks.append(1)
        return self.remaining_ms if len(self.asks) <= self.first_calls else self.then_ms


def template_timeout(function: str) -> float:
    from cfnlint.decode import decode_str

    template, matches = decode_str((Path(__file__).resolve().parents[2] / "template.yaml").read_text(encoding="utf-8"))
    assert not matches, matches
    return float(template["Resources"][function]["Properties"]["Timeout"])


def test_records_are_started_only_with_a_deliverys_worst_case_left(env) -> None:
    timeout = template_timeout("AuditLogAlertFunction")
    assert delivery_reserve_seconds() < timeout, (delivery_reserve_seconds(), timeout)
    context = ShrinkingContext(remaining_ms=300_000, first_calls=1, then_ms=int(delivery_reserve_seconds() * 1000) - 1)
    response = invoke(batch(record(1, backdoor(SPOKE_A)), record(2, backdoor(SPOKE_B))), context)
    assert failed(response) == [sequence(2)]  # not started: it comes back in the next invocation
    (alert,) = queued(env)
    assert alert["account"] == SPOKE_A
    assert keys(env) == {f"{SPOKE_A}:prod"}


def test_with_too_little_time_nothing_is_started(env) -> None:
    context = FakeLambdaContext(remaining_ms=int(delivery_reserve_seconds() * 1000) - 1)
    response = invoke(batch(record(1, backdoor(SPOKE_A)), record(2, control_payload())), context)
    assert failed(response) == [sequence(1), sequence(2)]
    assert queued(env) == [] and keys(env) == set()
