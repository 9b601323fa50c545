"""The scheduled stop under AWS faults, through the real handler, moto EC2 and botocore's retries.

Faults are injected below botocore (tests/faults/inject.py), so the standard retry mode runs as in
Lambda; its backoff sleeps are recorded instead of waited out.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from eksguard import aws
from eksguard.stop import stopper
from tests.alert_queue import drain_bodies
from tests.faults.inject import (
    THROTTLED_EC2,
    UNAVAILABLE,
    Fault,
    Injector,
    NoBackoff,
    always,
    ec2_instance_ids,
    install_no_backoff,
)
from tests.integration.test_stop_run import invoke, settings_for
from tests.stop_world import launch, states

EU, US = "eu-west-1", "us-east-1"
TAG = {"kubectl-instance": "prod"}
MAX_ATTEMPTS = 3  # eksguard.aws.RETRY_CONFIG: total_max_attempts=3 (the first request and two retries)


@pytest.fixture
def backoff(aws: None, monkeypatch: pytest.MonkeyPatch) -> NoBackoff:
    return install_no_backoff(monkeypatch)


def no_sessions(region: str) -> Injector:
    """moto has no ssm:DescribeSessions: answer it (nobody logged in) below botocore."""
    return Injector(
        aws.client("ssm", region), "DescribeSessions", lambda _a, _p: None, passthrough=lambda _p: {"Sessions": []}
    )


def alert_queue(monkeypatch: pytest.MonkeyPatch) -> str:
    url = str(aws.client("sqs", EU).create_queue(QueueName="alerts")["QueueUrl"])
    monkeypatch.setenv("ALERT_QUEUE_URL", url)
    return url


def queued_alerts(url: str) -> list[dict[str, Any]]:
    return [json.loads(body) for body in drain_bodies(url, EU)]


def test_throttling_storm_on_one_batch_is_bounded_and_spares_other_batches_and_regions(
    backoff: NoBackoff, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    """Promise: others unaffected, bounded calls. A StopInstances batch throttled on every attempt is
    retried by botocore (standard mode, 1 + 5 retries, with backoff) and then reported failed as a whole,
    never bisected into more calls; the other batches of the region and the other region still stop."""
    settings_for(monkeypatch, STOP_REGIONS=f"{EU},{US}")
    monkeypatch.setattr(stopper, "BATCH_SIZE", 50)  # two batches in eu with few instances
    eu = launch(EU, 60, TAG)
    us = launch(US, 3, TAG)
    no_sessions(EU), no_sessions(US)
    launched_first = set(eu[:10])
    throttled_batches: set[tuple[str, ...]] = set()

    def storm(_attempt: int, params: dict[str, Any]) -> Fault | None:
        ids = tuple(ec2_instance_ids(params))
        if launched_first & set(ids):
            throttled_batches.add(ids)
            return THROTTLED_EC2
        return None

    eu_stop = Injector(aws.client("ec2", EU), "StopInstances", storm)
    us_stop = Injector(aws.client("ec2", US), "StopInstances", lambda _a, _p: None)

    result = invoke(monkeypatch, lambda_context)

    by_region = {r["region"]: r for r in result["regions"]}
    [throttled] = throttled_batches
    failed = {r["instance_id"]: r["error_code"] for r in by_region[EU]["failed"]}
    assert failed == dict.fromkeys(throttled, "RequestLimitExceeded")
    assert {r["instance_id"] for r in by_region[EU]["stopped"]} == set(eu) - set(throttled)
    assert set(states(EU, throttled).values()) == {"running"}
    assert {r["instance_id"] for r in by_region[US]["stopped"]} == set(us)
    # 2 batches in eu: the throttled one costs exactly the botocore attempts, the other one.
    assert eu_stop.faulted == MAX_ATTEMPTS and eu_stop.attempts == MAX_ATTEMPTS + 1
    assert us_stop.attempts == 1
    assert len(backoff.delays) == MAX_ATTEMPTS - 1
    assert result["severity"] == "MEDIUM"


def test_short_throttling_burst_is_absorbed_by_botocore_retries(
    backoff: NoBackoff, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    """Promise: nothing lost. Two throttled attempts per call are retried with backoff inside botocore;
    every instance is stopped and the run is a clean INFO summary."""
    settings_for(monkeypatch)
    monkeypatch.setattr(stopper, "BATCH_SIZE", 50)  # two batches with few instances
    eu = launch(EU, 60, TAG)
    no_sessions(EU)
    per_call: dict[tuple[str, ...], int] = {}

    def burst(_attempt: int, params: dict[str, Any]) -> Fault | None:
        key = tuple(ec2_instance_ids(params))
        per_call[key] = per_call.get(key, 0) + 1
        return THROTTLED_EC2 if per_call[key] <= 2 else None

    stop = Injector(aws.client("ec2", EU), "StopInstances", burst)

    result = invoke(monkeypatch, lambda_context)

    assert {r["instance_id"] for r in result["regions"][0]["stopped"]} == set(eu)
    assert set(states(EU, eu).values()) == {"stopped"}
    assert stop.attempts == 2 * 3  # two batches (50 + 10), three attempts each
    assert len(backoff.delays) == 4 and all(d > 0 for d in backoff.delays)
    assert result["severity"] == "INFO"


def test_describe_instances_storm_fails_that_region_only_with_a_high_alert(
    backoff: NoBackoff, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    """Promise: others unaffected, clear alert, bounded calls. A region whose DescribeInstances stays
    throttled is reported not scanned (HIGH) after 3 attempts; the other region is stopped."""
    settings_for(monkeypatch, STOP_REGIONS=f"{EU},{US}")
    url = alert_queue(monkeypatch)
    eu = launch(EU, 2, TAG)
    us = launch(US, 2, TAG)
    no_sessions(US)
    describe = Injector(aws.client("ec2", EU), "DescribeInstances", always(THROTTLED_EC2))

    invoke(monkeypatch, lambda_context)

    assert describe.attempts == MAX_ATTEMPTS
    describe.remove()
    assert set(states(EU, eu).values()) == {"running"}
    assert set(states(US, us).values()) == {"stopped"}
    [summary] = queued_alerts(url)
    assert summary["severity"] == "HIGH"
    assert "1 region(s) not scanned" in summary["title"]
    facts = dict(summary["facts"])
    assert "RequestLimitExceeded" in facts[f"Region {EU} not scanned"]


def test_sessions_unavailable_stops_nothing_there_and_the_summary_says_why(
    backoff: NoBackoff, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    """Promise: fail safe, clear alert. DescribeSessions failing on every attempt (6, then give up) means
    no instance of that region is stopped; the queued summary is MEDIUM or higher and its warnings name
    the region and the reason. (Per-instance reasons: tests/integration/test_stop_run.py::
    test_sessions_unavailable_fails_safe_for_that_region_only.)"""
    settings_for(monkeypatch, STOP_REGIONS=f"{EU},{US}")
    url = alert_queue(monkeypatch)
    eu = launch(EU, 3, TAG)
    us = launch(US, 1, TAG)
    sessions = Injector(aws.client("ssm", EU), "DescribeSessions", always(UNAVAILABLE))
    no_sessions(US)
    stop = Injector(aws.client("ec2", EU), "StopInstances", lambda _a, _p: None)

    invoke(monkeypatch, lambda_context)

    assert sessions.attempts == MAX_ATTEMPTS
    assert stop.attempts == 0
    assert set(states(EU, eu).values()) == {"running"}
    assert set(states(US, us).values()) == {"stopped"}
    [summary] = queued_alerts(url)
    assert summary["severity"] in ("MEDIUM", "HIGH", "CRITICAL")
    warnings = dict(summary["facts"])["Warnings"]
    assert "cannot list SSM sessions" in warnings and f"no instance stopped in {EU}" in warnings
    assert "ServiceUnavailable" in warnings


def test_one_unstoppable_instance_among_500_costs_a_few_extra_calls(backoff: NoBackoff) -> None:
    """Promise: others unaffected, bounded calls. One instance that EC2 refuses without naming it
    (UnsupportedOperation, a real EC2 error document parsed by botocore) fails every call it is part
    of; bisection isolates it, the other 499 stop, in at most 10 + 2*log2(50) calls, and botocore does
    not retry the 400. The instances live in a linear fake answering StopInstances below botocore.
    (Same bound on a plain fake: tests/unit/test_stop_stopper.py::test_one_bad_in_500_costs_few_calls;
    the moto path with a protected instance: tests/integration/test_stop_run.py::
    test_one_bad_instance_among_many_does_not_block_the_others.)"""
    from eksguard.stop.stopper import stop_in_batches

    ids = [f"i-{n:017x}" for n in range(1, 501)]
    bad = ids[321]
    stopped: list[str] = []

    def refuse(_attempt: int, params: dict[str, Any]) -> Fault | None:
        if bad in ec2_instance_ids(params):
            return Fault("UnsupportedOperation", "The instance does not support stopping.", 400)
        return None

    def stop_them(params: dict[str, Any]) -> str:
        batch = ec2_instance_ids(params)
        stopped.extend(batch)
        items = "".join(f"<item><instanceId>{i}</instanceId></item>" for i in batch)
        return f"<StopInstancesResponse><instancesSet>{items}</instancesSet></StopInstancesResponse>"

    stop = Injector(aws.client("ec2", EU), "StopInstances", refuse, passthrough=stop_them)

    outcome = stop_in_batches(aws.client("ec2", EU), ids)

    assert [(f.instance_id, f.code) for f in outcome.failed] == [(bad, "UnsupportedOperation")]
    assert sorted(outcome.stopped) == sorted(set(ids) - {bad}) == sorted(stopped)
    assert stop.attempts <= 10 + 2 * 6
    assert backoff.delays == []


def test_alert_queue_unavailable_fails_the_invocation_and_the_retry_reuses_the_alert_id(
    backoff: NoBackoff, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    """Promise: no half state, nothing duplicated. If the summary cannot be queued the invocation raises
    (the Scheduler retries it); the retry of the same scheduled run queues exactly one summary with the
    same id, and instances stopped by the first attempt are not stopped twice."""
    settings_for(monkeypatch)
    url = alert_queue(monkeypatch)
    eu = launch(EU, 4, TAG)
    no_sessions(EU)
    sqs = aws.client("sqs", EU)
    outage = Injector(sqs, "SendMessageBatch", always(UNAVAILABLE))
    stop = Injector(aws.client("ec2", EU), "StopInstances", lambda _a, _p: None)

    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="ServiceUnavailable"):
        invoke(monkeypatch, lambda_context)
    assert outage.attempts == MAX_ATTEMPTS
    assert queued_alerts(url) == []
    assert set(states(EU, eu).values()) == {"stopped"}

    outage.remove()
    retried = invoke(monkeypatch, lambda_context)

    [summary] = queued_alerts(url)
    assert summary["id"] == retried["alert_id"]
    assert stop.attempts == 1  # the retry found nothing left running
    assert retried["totals"]["stopped"] == 0


def test_a_tag_toggled_around_the_schedule_cannot_keep_the_other_hosts_up(
    backoff: NoBackoff, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    """Evasion: whoever can change one instance's tag between the listing and the stop makes the
    tag-conditioned permission refuse every StopInstances call that instance is part of (EC2's
    UnauthorizedOperation names no instance). Through the real handler: the refusal is bisected, the other
    kubectl instances stop, the refused one is reported, and the summary is not INFO."""
    settings_for(monkeypatch)
    hosts = launch(EU, 40, TAG)
    toggled = hosts[17]
    no_sessions(EU)

    def tag_condition(_attempt: int, params: dict[str, Any]) -> Fault | None:
        if toggled in ec2_instance_ids(params):
            return Fault("UnauthorizedOperation", "You are not authorized to perform this operation.", 403)
        return None

    stop = Injector(aws.client("ec2", EU), "StopInstances", tag_condition)

    result = invoke(monkeypatch, lambda_context)

    [region] = result["regions"]
    assert [(r["instance_id"], r["error_code"]) for r in region["failed"]] == [(toggled, "UnauthorizedOperation")]
    assert {r["instance_id"] for r in region["stopped"]} == set(hosts) - {toggled}
    assert states(EU, [toggled]) == {toggled: "running"}
    assert set(states(EU, [h for h in hosts if h != toggled]).values()) == {"stopped"}
    assert stop.attempts <= 2 * 6 + 1  # bisection of 40: about 2 * log2(40) calls
    assert result["severity"] == "MEDIUM"
