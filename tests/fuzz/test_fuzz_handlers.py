"""Property: fed a mutated real event, every handler returns normally (a rejection is logged with a
reason) or raises only a designed "retry me" exception for a transient AWS error. AWS is healthy here
(tests/fuzz/harness.py fakes), so in practice any exception is a finding.

A small deterministic run (50 examples per handler); `scripts/fuzz.py --examples 10000` runs the same
properties at scale and prints counts.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import harness

FUZZ = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check(outcome: harness.Outcome) -> None:
    assert outcome.kind in ("accepted", "rejected", "retry"), outcome.reason


@FUZZ
@given(harness.eks_api_events())
def test_eks_api_handler_survives_mutated_cloudtrail_events(event: Any) -> None:
    check(harness.run_eks_api(event))


@FUZZ
@given(harness.awslogs_events())
def test_aws_auth_handler_survives_mutated_audit_deliveries(event: Any) -> None:
    check(harness.run_aws_auth(event))


@FUZZ
@given(harness.stop_cases())
def test_stop_handler_survives_mutated_schedule_events_and_arbitrary_tags(case: Any) -> None:
    check(harness.run_stop_case(case))


@FUZZ
@given(harness.sqs_events())
def test_notifier_survives_mutated_sqs_records(event: Any) -> None:
    check(harness.run_notifier(event))


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(
    st.sampled_from(harness.audit_sources()).flatmap(
        lambda s: harness.yaml_text(
            next(
                iter(
                    m["message"]["responseObject"]["data"]["mapRoles"]
                    for m in s["logEvents"]
                    if isinstance(m.get("message"), dict) and "mapRoles" in str(m["message"].get("responseObject"))
                )
            )
            if any(
                isinstance(m.get("message"), dict) and "mapRoles" in str(m["message"].get("responseObject"))
                for m in s["logEvents"]
            )
            else ""
        )
    )
)
def test_aws_auth_parser_rejects_broken_yaml_only_with_parse_error(text: str) -> None:
    from eksguard.aws_auth.mapping import ParseError, parse_aws_auth

    try:
        parse_aws_auth({"mapRoles": text, "mapUsers": text})
    except ParseError:
        pass


def test_rejections_are_logged_with_a_reason() -> None:
    """The harness's own check: a known-bad payload is rejected and its reason is in the logs."""
    outcome = harness.run_aws_auth({"awslogs": {"data": "not base64 !"}})
    assert outcome.kind == "rejected" and outcome.reason == "awslogs.data is not base64"
    outcome = harness.run_eks_api({"detail": "nope"})
    assert outcome.kind == "rejected" and outcome.reason


def test_a_permanent_aws_error_is_not_a_designed_retry() -> None:
    from botocore.exceptions import ClientError

    throttled = ClientError({"Error": {"Code": "RequestLimitExceeded", "Message": ""}}, "StopInstances")
    too_long = ClientError({"Error": {"Code": "AWS.SimpleQueueService.BatchRequestTooLong", "Message": ""}}, "Send")
    assert harness.is_designed_retry(throttled) and not harness.is_designed_retry(too_long)
