"""The subscription filter pattern, checked against real audit lines with tests/cwl_filter.py.

What the pattern must forward is every aws-auth write form (the catalogue in
test_logs_payload_selection.py and the sample events in events/src/aws_auth/); what it should drop is
the everyday noise of an audit log. The evaluator itself is tested on the documentation's examples.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from eksguard.audit_log.enrol import FILTER_PATTERN, EnrolResult, enrol_log_group
from eksguard.audit_log.payload import audit_records, decode_awslogs, is_aws_auth_ref
from scripts.build_awslogs_events import encode_delivery, render_message
from tests import cwl_filter
from tests.unit.test_logs_payload_selection import FORWARDED_BUT_NOT_AWS_AUTH, NOISE, WRITE_FORMS

OLD_PATTERN = '"aws-auth" "kube-system" "configmaps"'
SOURCES = sorted((Path(__file__).resolve().parents[2] / "events" / "src" / "aws_auth").glob("*.json"))


# ------------------------------------------------------------------ the evaluator, on documented examples


@pytest.mark.parametrize(
    ("pattern", "message", "expected"),
    [
        ("%AUTHORIZED%", "[ERROR 401] UNAUTHORIZED REQUEST", True),
        ("%AUTHORIZED%", "[SUCCESS 200] AUTHORIZED REQUEST", True),
        ("%[Ee]rror|[Ff]ail%", "disk fail on sda", True),
        ("%[Ee]rror|[Ff]ail%", "Error: no space", True),
        ("%[Ee]rror|[Ff]ail%", "all good", False),
        (r"%\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}%", "from 203.0.113.10 port 22", True),
        (r"%\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}%", "from localhost", False),
        ("%^[hc]at%", "cat food", True),
        ("%^[hc]at%", "a cat", False),
        ("%[hc]at$%", "a hat", True),
        ("%colou?r%", "color", True),
        ("%colou?r%", "colour", True),
        ("%a{3,5}%", "baaab", True),
        ("%a{3,5}%", "baab", False),
        ("ERROR", "[ERROR 400] BAD REQUEST", True),
        ("ERROR", "[error 400] bad request", False),
        ('"ERROR" "ARGUMENTS"', "[ERROR] Invalid ARGUMENTS", True),
        ('"ERROR" "ARGUMENTS"', "[ERROR] timeout", False),
        ("?ERROR ?ARGUMENTS", "[WARN] bad ARGUMENTS", True),
        ("?ERROR ?ARGUMENTS", "[WARN] timeout", False),
        ('"INTERNAL SERVER ERROR"', "500 INTERNAL SERVER ERROR", True),
        ('"INTERNAL SERVER ERROR"', "INTERNAL ERROR", False),
        ("ERROR -Exiting", "ERROR: Exiting", False),
        ("ERROR -Exiting", "ERROR: retrying", True),
        ("", "anything at all", True),
    ],
)
def test_evaluator_on_documented_examples(pattern: str, message: str, expected: bool) -> None:
    assert cwl_filter.matches(pattern, message) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        "%something!%",  # "!" is not a supported symbol
        "%(aws-auth)%",  # no parentheses, no sub-patterns
        '%"verb":"deletecollection"%',  # no double quotes
        "%aws auth%",  # no spaces
        "%größe%",  # no multi-byte characters
        "%[a-%",  # not a regex at all
        "%%",
        "aws-auth",  # a term with non-alphanumerics must be quoted
        '"aws-auth',
        "?aws auth",  # OR terms mixed with AND terms: not modelled
        '{ $.objectRef.name = "aws-auth" }',  # JSON patterns never match truncated lines; not modelled
        "%" + "a" * 1023 + "%",  # over 1024 characters
    ],
)
def test_evaluator_rejects_what_the_docs_do_not_allow(pattern: str) -> None:
    with pytest.raises(cwl_filter.FilterPatternError):
        cwl_filter.validate(pattern)


# ------------------------------------------------------------------ FILTER_PATTERN


def test_filter_pattern_is_documented_syntax_within_the_limit() -> None:
    assert len(FILTER_PATTERN) <= cwl_filter.MAX_PATTERN_LENGTH
    cwl_filter.validate(FILTER_PATTERN)


@pytest.mark.parametrize("form", sorted(WRITE_FORMS))
def test_every_aws_auth_write_form_is_forwarded(form: str) -> None:
    assert cwl_filter.matches(FILTER_PATTERN, WRITE_FORMS[form])


@pytest.mark.parametrize("name", sorted(NOISE))
def test_everyday_noise_is_dropped(name: str) -> None:
    assert not cwl_filter.matches(FILTER_PATTERN, NOISE[name])


@pytest.mark.parametrize("name", sorted(FORWARDED_BUT_NOT_AWS_AUTH))
def test_what_the_pattern_lets_through_in_excess_the_function_drops(name: str) -> None:
    message = FORWARDED_BUT_NOT_AWS_AUTH[name]
    assert cwl_filter.matches(FILTER_PATTERN, message)
    batch = decode_awslogs({"awslogs": _awslogs([message])})
    assert list(audit_records(batch)) == []


def test_the_old_pattern_missed_deletecollection_without_a_selector() -> None:
    assert not cwl_filter.matches(OLD_PATTERN, WRITE_FORMS["deletecollection, no selector"])
    assert not cwl_filter.matches(OLD_PATTERN, WRITE_FORMS["update cut before objectRef, name percent-encoded"])
    assert cwl_filter.matches(FILTER_PATTERN, WRITE_FORMS["deletecollection, no selector"])


def _awslogs(messages: list[str]) -> dict[str, str]:
    source = {
        "messageType": "DATA_MESSAGE",
        "owner": "111122223333",
        "logGroup": "/aws/eks/prod/cluster",
        "logStream": "kube-apiserver-audit-0",
        "subscriptionFilters": ["eksguard-aws-auth"],
        "logEvents": [{"id": str(i), "timestamp": 0, "message": m} for i, m in enumerate(messages)],
    }
    data: dict[str, str] = encode_delivery(source)["awslogs"]
    return data


def _source_events() -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for path in SOURCES:
        source = json.loads(path.read_text(encoding="utf-8"))
        found += [(f"{path.stem}[{i}]", e) for i, e in enumerate(source.get("logEvents") or [])]
    return found


def test_the_sample_sources_are_there() -> None:
    assert len(SOURCES) >= 10 and any(isinstance(e["message"], dict) for _, e in _source_events())


@pytest.mark.parametrize(("where", "log_event"), _source_events(), ids=[w for w, _ in _source_events()])
def test_every_sample_aws_auth_event_is_forwarded(where: str, log_event: dict[str, Any]) -> None:
    message = render_message(log_event)
    about_aws_auth = isinstance(log_event["message"], dict) and is_aws_auth_ref(log_event["message"].get("objectRef"))
    selected = list(audit_records(decode_awslogs({"awslogs": _awslogs([message])})))
    if about_aws_auth or selected:
        assert cwl_filter.matches(FILTER_PATTERN, message), where


# ------------------------------------------------------------------ enrolment: upgrades replace only our own filter

FILTER = "eksguard-aws-auth"
GROUP = "/aws/eks/prod/cluster"
OURS = "arn:aws:lambda:eu-west-1:111122223333:function:aws-auth-alert"
THEIRS = "arn:aws:lambda:eu-west-1:111122223333:function:siem"


class FakeLogs:
    """describe/put of subscription filters, as CloudWatch Logs answers them (put replaces by name)."""

    def __init__(self, *filters: dict[str, str], refuse: str | None = None) -> None:
        self.filters = [dict(f) for f in filters]
        self.puts: list[dict[str, str]] = []
        self.refuse = refuse

    def describe_subscription_filters(self, logGroupName: str) -> dict[str, Any]:
        return {"subscriptionFilters": [dict(f, logGroupName=logGroupName) for f in self.filters]}

    def put_subscription_filter(self, **kwargs: str) -> None:
        if self.refuse:
            raise ClientError(
                {"Error": {"Code": "LimitExceededException", "Message": self.refuse}}, "PutSubscriptionFilter"
            )
        self.puts.append(kwargs)
        self.filters = [f for f in self.filters if f["filterName"] != kwargs["filterName"]]
        self.filters.append({k: v for k, v in kwargs.items() if k != "logGroupName"})


def _filter(name: str, pattern: str, destination: str) -> dict[str, str]:
    return {"filterName": name, "filterPattern": pattern, "destinationArn": destination}


def _enrol(logs: FakeLogs) -> EnrolResult:
    result = EnrolResult(region="eu-west-1")
    enrol_log_group(logs, GROUP, FILTER, OURS, "eu-west-1", "111122223333", result)
    return result


def test_upgrade_replaces_our_filter_with_the_old_pattern_and_leaves_foreign_ones_alone() -> None:
    siem = _filter("siem", "", THEIRS)
    logs = FakeLogs(_filter(FILTER, OLD_PATTERN, OURS), siem)
    result = _enrol(logs)
    assert result.updated == [GROUP]
    assert logs.puts == [
        {"logGroupName": GROUP, "filterName": FILTER, "filterPattern": FILTER_PATTERN, "destinationArn": OURS}
    ]
    assert siem in logs.filters and len(logs.filters) == 2
    assert _enrol(logs).already == [GROUP] and len(logs.puts) == 1


def test_a_foreign_filter_with_a_narrower_pattern_to_our_function_is_kept_and_ours_added() -> None:
    legacy = _filter("someone-named-it", OLD_PATTERN, OURS)
    logs = FakeLogs(legacy)
    result = _enrol(logs)
    assert result.subscribed == [GROUP]
    assert [p["filterName"] for p in logs.puts] == [FILTER]
    assert legacy in logs.filters


@pytest.mark.parametrize("pattern", [FILTER_PATTERN, ""])
def test_a_foreign_filter_forwarding_all_we_need_counts_as_enrolled(pattern: str) -> None:
    logs = FakeLogs(_filter("someone-named-it", pattern, OURS))
    assert _enrol(logs).already == [GROUP] and logs.puts == []


def test_no_free_slot_means_blind_and_nothing_replaced() -> None:
    logs = FakeLogs(_filter("someone-named-it", OLD_PATTERN, OURS), _filter("siem", "", THEIRS))
    result = _enrol(logs)
    assert result.blind == [GROUP] and logs.puts == []
    assert "2 subscription filters owned by others" in result.alerts[0].title


def test_a_refused_regex_filter_is_reported_blind_with_the_reason() -> None:
    logs = FakeLogs(refuse="Resource limit exceeded.")
    result = _enrol(logs)
    assert result.blind == [GROUP]
    (alert,) = result.alerts
    assert alert.severity.name == "HIGH" and "refused our filter" in alert.title
    assert "Resource limit exceeded." in (alert.summary or "") and "regex" in (alert.summary or "")
