"""Inputs found by fuzzing (tests/fuzz, scripts/fuzz.py) that used to crash a handler, kept as plain tests."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from eksguard.alerts import Alert
from eksguard.audit_log.payload import PayloadError, decode_awslogs
from eksguard.audit_log.request import audit_user_of, field_manager
from eksguard.aws_auth.process import process_batch
from eksguard.aws_auth.state import InMemoryStateStore
from eksguard.severity import Severity
from tests.aws_auth_support import ADMIN, BASE, INTRUDER, INTRUDER_YAML, delivery, entry_keys, expected_admins, update


def raw_delivery(log_events: list[dict[str, Any]]) -> dict[str, Any]:
    body = {
        "messageType": "DATA_MESSAGE",
        "owner": "111122223333",
        "logGroup": "/aws/eks/prod/cluster",
        "logStream": "kube-apiserver-audit-1",
        "subscriptionFilters": ["f"],
        "logEvents": log_events,
    }
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(body).encode(), mtime=0)).decode()}}


@pytest.mark.parametrize("timestamp", ["soon", [1], {"t": 1}, 1e400, "1e3"])
def test_a_log_event_timestamp_that_is_not_a_number_is_a_payload_error(timestamp: Any) -> None:
    with pytest.raises(PayloadError, match="timestamp"):
        decode_awslogs(raw_delivery([{"id": "1", "timestamp": timestamp, "message": "{}"}]))


def test_numeric_timestamps_still_decode() -> None:
    batch = decode_awslogs(
        raw_delivery(
            [
                {"id": "1", "timestamp": "1746093600000", "message": "{}"},
                {"id": "2", "timestamp": 1746093600001.0, "message": "{}"},
            ]
        )
    )
    assert [e.timestamp for e in batch.events] == [1746093600000, 1746093600001]


@pytest.mark.parametrize("filters", [True, 3.5, "eksguard", {"a": 1}, None])
def test_subscription_filters_of_any_shape_do_not_break_decoding(filters: Any) -> None:
    event = raw_delivery([{"id": "1", "timestamp": 1, "message": "{}"}])
    body = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    body["subscriptionFilters"] = filters
    batch = decode_awslogs({"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(body).encode())).decode()}})
    assert len(batch.events) == 1 and all(isinstance(f, str) for f in batch.subscription_filters)


@pytest.mark.parametrize("user", ["alice", ["alice"], {"username": "alice", "extra": "x"}, {"extra": [1]}])
def test_audit_user_of_odd_shapes(user: Any) -> None:
    actor = audit_user_of({"user": user, "sourceIPs": "203.0.113.1"})
    assert actor.arn is None


@pytest.mark.parametrize("uri", [["/api?fieldManager=x"], {"a": 1}, 7])
def test_field_manager_of_a_request_uri_that_is_not_a_string(uri: Any) -> None:
    assert field_manager(uri) is None


def test_an_odd_entry_does_not_hide_the_backdoor_next_to_it() -> None:
    """One audit entry with an odd shape (user is a string) used to raise AttributeError and fail the whole
    delivery, so the CRITICAL change in the same batch was never alerted."""
    odd = update("aud-odd", BASE, 5)
    odd["user"] = "alice"
    backdoor = update("aud-bad", BASE + INTRUDER_YAML, 6)
    published: list[Alert] = []

    result = process_batch(
        decode_awslogs(delivery([odd, backdoor])),
        expected_admins(ADMIN),
        InMemoryStateStore(),
        "eu-west-1",
        published.extend,
    )

    assert result.aws_auth_events == 2
    assert any(a.severity is Severity.CRITICAL and INTRUDER in a.title for a in published)


def test_an_entry_the_decoder_fails_on_is_alerted_as_unknown_and_the_rest_still_judged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Safety net: whatever a decoder bug raises on one entry, that entry becomes a MEDIUM "content
    unknown" alert naming the error, and the other entries of the delivery are judged as usual."""
    from eksguard.aws_auth import process

    real = process.decode_change

    def flaky(event: Any, prior: Any, prior_version: Any = None) -> Any:
        if event.get("auditID") == "aud-odd":
            raise TypeError("unhashable type: 'list'")
        return real(event, prior, prior_version)

    monkeypatch.setattr(process, "decode_change", flaky)
    store = InMemoryStateStore()
    published: list[Alert] = []

    both = delivery([update("aud-odd", BASE, 5), update("aud-bad", BASE + INTRUDER_YAML, 6)])
    process_batch(
        decode_awslogs(both),
        expected_admins(ADMIN),
        store,
        "eu-west-1",
        published.extend,
    )

    by_severity = {a.severity: a for a in published}
    assert INTRUDER in by_severity[Severity.CRITICAL].title
    unknown = by_severity[Severity.MEDIUM]
    assert "content unknown" in unknown.title
    assert "TypeError" in dict((f.label, f.value) for f in unknown.facts)["Why unknown"]
    state = store.load("prod")
    assert state is not None and set(entry_keys(both)) <= set(state.recent_audit_ids)


@pytest.mark.parametrize(
    "record",
    [
        {"messageId": "m-1"},
        {"messageId": "m-1", "body": "not json", "attributes": {}},
        {"messageId": "m-1", "body": "{}", "attributes": ["1"]},
    ],
)
def test_a_poison_record_missing_sqs_fields_is_still_rejected_with_a_logged_reason(record: dict[str, Any]) -> None:
    """The poison path read ApproximateReceiveCount for its log line; a record without it raised KeyError
    from inside the handler, so the record failed with no reason logged."""
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from eksguard.config import Settings
    from eksguard.slack.notifier import NotifierRun, PoisonMessageError
    from tests.fuzz.harness import captured_logs

    run = NotifierRun(settings=Settings(), deadline=float("inf"))
    with captured_logs() as logs, pytest.raises(PoisonMessageError):
        run.handle_record(SQSRecord(record))
    assert ("alert_rejected", "poison_message") in logs.problems()


@pytest.mark.parametrize(
    "field,value",
    [
        ("account", ["111122223333"]),
        ("cluster", {"name": "prod"}),
        ("summary", 7),
        ("actor", "alice"),
        ("actor", {"arn": ["x"]}),
        ("facts", [["a"]]),
        ("facts", "Verb: patch"),
        ("source", {"kind": "x", "bogus": 1}),
    ],
)
def test_an_alert_with_a_field_of_the_wrong_type_is_a_poison_message(field: str, value: Any) -> None:
    """Such a body parsed, then crashed rendering (TypeError) outside every handled path: the record failed
    with no reason logged and was retried for hours before reaching the dead-letter queue."""
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from eksguard.config import Settings
    from eksguard.slack.notifier import NotifierRun, PoisonMessageError
    from tests.fuzz.harness import captured_logs
    from tests.slack_alerts import eks_api_alert

    body = eks_api_alert().to_dict()
    body[field] = value
    run = NotifierRun(settings=Settings(), deadline=float("inf"))
    record = SQSRecord({"messageId": "m-1", "body": json.dumps(body), "attributes": {"ApproximateReceiveCount": "1"}})
    with captured_logs() as logs, pytest.raises(PoisonMessageError, match=field):
        run.handle_record(record)
    assert ("alert_rejected", "poison_message") in logs.problems()


def test_an_unexpected_error_while_delivering_keeps_the_alert_and_logs_why(monkeypatch: pytest.MonkeyPatch) -> None:
    """Safety net: a defect below the notifier (here: rendering) fails only that record, as a retry with
    the growing visibility timeout, and the log says what broke."""
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from eksguard.config import Settings
    from eksguard.slack import deliver
    from eksguard.slack.notifier import DeliveryFailedError, NotifierRun
    from tests.fuzz.harness import captured_logs
    from tests.slack_alerts import eks_api_alert

    def broken(*_: Any, **__: Any) -> Any:
        raise TypeError("unsupported operand")

    monkeypatch.setattr(deliver, "render", broken)
    monkeypatch.setattr(NotifierRun, "_webhook_client", lambda self: deliver.SlackWebhook("https://hooks.example/x"))
    run = NotifierRun(settings=Settings(), deadline=float("inf"))
    record = SQSRecord(
        {"messageId": "m-1", "body": eks_api_alert().to_json(), "attributes": {"ApproximateReceiveCount": "3"}}
    )
    with captured_logs() as logs, pytest.raises(DeliveryFailedError):
        run.handle_record(record)
    problems = logs.problems()
    assert ("alert_failed_unexpected", "TypeError: unsupported operand") in problems
    assert any(event == "alert_retry" for event, _ in problems)


def test_an_rbac_entry_with_a_list_for_its_resource_or_verb_is_dropped_not_a_crash() -> None:
    """Found by the fuzz suite: `objectRef.resource` (or `verb`) holding a list made a set lookup raise."""
    from eksguard.audit_log.payload import audit_records, decode_awslogs
    from tests.aws_auth_support import delivery

    for field, value in (("resource", ["clusterrolebindings"]), ("verb", ["create"])):
        entry: dict[str, Any] = {
            "kind": "Event",
            "verb": "delete",
            "objectRef": {"resource": "clusterrolebindings", "apiGroup": "rbac.authorization.k8s.io", "name": "b"},
        }
        if field == "verb":
            entry["verb"] = value
        else:
            entry["objectRef"]["resource"] = value
        records = list(audit_records(decode_awslogs(delivery([entry]))))
        assert [r.topic for r in records] == ([] if field == "resource" else ["rbac"])
