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

from tests.aws_auth_strategies import Disguised, disguised_grants
from tests.aws_auth_support import audit_event, configmap, delivery
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
@given(st.text(max_size=400))
def test_aws_auth_parser_never_raises(text: str) -> None:
    from eksguard.aws_auth.mapping import parse_aws_auth

    content = parse_aws_auth({"mapRoles": text, "mapUsers": text, "mapAccounts": text})
    assert all(d.reason for d in content.dropped)


@FUZZ
@given(disguised_grants())
def test_disguised_masters_grant_through_the_handler_is_critical_and_named(case: Disguised) -> None:
    """Beyond "no crash": a grant the authenticator would apply, however disguised, is CRITICAL and named
    by the real handler (decode, judge, publish to the queue)."""
    event = audit_event("update", "aud-1", request=configmap(case.data, 100), response=configmap(case.data, 101))
    outcome, alerts = harness.run_aws_auth_collecting(delivery([event]))
    assert outcome.kind == "accepted", outcome.reason
    (alert,) = alerts
    assert alert["severity"] == "CRITICAL"
    assert case.named in alert["title"] and alert["principal"] == case.principal


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
