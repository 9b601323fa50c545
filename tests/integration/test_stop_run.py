"""The stop function against moto EC2 (+ Stubber for ssm:DescribeSessions, which moto lacks)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from eksguard import aws as aws_clients
from eksguard.config import load_settings
from eksguard.stop import gateway
from tests.stop_world import launch, states, stub_sessions

LATER = datetime.now(UTC) + timedelta(hours=2)  # past the grace period of freshly launched instances


def settings_for(monkeypatch, **env):
    base = {
        "STOP_REGIONS": "eu-west-1",
        "STOP_TAG_KEY": "kubectl-instance",
        "STOP_TAG_VALUE": "*",
        "DRY_RUN": "false",
        "ALERT_QUEUE_URL": "",
    }
    base.update(env)
    for key, value in base.items():
        monkeypatch.setenv(key, value)
    return load_settings()


def handler():
    import stop_instances_handler

    return stop_instances_handler


def invoke(monkeypatch, lambda_context, event=None, now=LATER):
    module = handler()
    # Freeze "now" for the run while keeping the real handler path.
    import eksguard.stop.service as service

    original = service.stop_and_report

    def frozen(*args, **kwargs):
        kwargs["now"] = now
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "stop_and_report", frozen)
    return module.lambda_handler(
        event or {"source": "eksguard.schedule", "scheduledTime": "2026-11-25T20:00:00Z"}, lambda_context
    )


def test_rules_end_to_end_single_region(aws, monkeypatch, lambda_context):
    settings_for(monkeypatch)
    idle = launch("eu-west-1", 2, {"kubectl-instance": "prod"})
    busy = launch("eu-west-1", 1, {"kubectl-instance": "dev"})
    kept = launch(
        "eu-west-1", 1, {"kubectl-instance": "dev", "KeepAliveUntil": (LATER + timedelta(days=1)).isoformat()}
    )
    expired = launch("eu-west-1", 1, {"kubectl-instance": "dev", "KeepAliveUntil": "2020-01-01T00:00:00Z"})
    garbage = launch("eu-west-1", 1, {"kubectl-instance": "dev", "KeepAliveUntil": "next week"})
    # A keep-alive years ahead (forged, or forgotten) is not honoured beyond MaxKeepAliveDays (7).
    forever = launch("eu-west-1", 1, {"kubectl-instance": "dev", "KeepAliveUntil": "2099-01-01T00:00:00Z"})
    untagged = launch("eu-west-1", 2, {"Name": "web"})
    stub_sessions("eu-west-1", [busy])

    result = invoke(monkeypatch, lambda_context)

    region = result["regions"][0]
    stopped = {r["instance_id"] for r in region["stopped"]}
    skipped = {r["instance_id"]: r["reason"] for r in region["skipped"]}
    assert stopped == set(idle + expired + garbage + forever)
    assert skipped == {busy[0]: "active_session", kept[0]: "keep_alive"}
    assert any("not an ISO-8601" in w for w in region["warnings"])
    assert any(w.startswith(forever[0]) and "MaxKeepAliveDays" in w for w in region["warnings"])
    assert result["severity"] == "MEDIUM"  # the unparseable keep-alive is reported
    now_states = states("eu-west-1", idle + busy + kept + expired + garbage + forever + untagged)
    assert {i for i, s in now_states.items() if s == "stopped"} == stopped
    assert all(now_states[i] == "running" for i in untagged + busy + kept)
    clusters = {r["instance_id"]: r.get("cluster") for r in region["stopped"]}
    assert clusters[idle[0]] == "prod"


def test_multi_region_one_run(aws, monkeypatch, lambda_context):
    settings_for(monkeypatch, STOP_REGIONS="eu-west-1,us-east-1")
    eu = launch("eu-west-1", 2, {"kubectl-instance": "prod"})
    us = launch("us-east-1", 3, {"kubectl-instance": "dev"})
    stub_sessions("eu-west-1", [[]])
    stub_sessions("us-east-1", [[us[0]]])

    result = invoke(monkeypatch, lambda_context)

    by_region = {r["region"]: r for r in result["regions"]}
    assert {r["instance_id"] for r in by_region["eu-west-1"]["stopped"]} == set(eu)
    assert {r["instance_id"] for r in by_region["us-east-1"]["stopped"]} == set(us[1:])
    assert result["totals"] == {"stopped": 4, "would_stop": 0, "skipped": 1, "failed": 0}
    assert result["severity"] == "INFO"


def test_pagination_of_instances_and_sessions(aws, monkeypatch, lambda_context):
    settings_for(monkeypatch)
    monkeypatch.setattr(gateway, "DESCRIBE_PAGE_SIZE", 5)
    # One reservation per instance: EC2 pages by reservation.
    tagged = [i for _ in range(23) for i in launch("eu-west-1", 1, {"kubectl-instance": "prod"})]
    calls: list[str] = []
    aws_clients.client("ec2", "eu-west-1").meta.events.register(
        "before-call.ec2.DescribeInstances", lambda **kw: calls.append("describe")
    )
    # Sessions for three instances spread over three pages.
    stub_sessions("eu-west-1", [[tagged[0]], [tagged[1]], [tagged[2]]])

    result = invoke(monkeypatch, lambda_context)

    region = result["regions"][0]
    assert len(calls) >= 5  # 23 instances in pages of 5
    assert {r["instance_id"] for r in region["skipped"]} == set(tagged[:3])
    assert len(region["stopped"]) == 20


def test_one_bad_instance_among_many_does_not_block_the_others(aws, monkeypatch, lambda_context):
    settings_for(monkeypatch)
    good = launch("eu-west-1", 30, {"kubectl-instance": "prod"})
    protected = launch("eu-west-1", 1, {"kubectl-instance": "prod"}, DisableApiStop=True)
    stub_sessions("eu-west-1", [[]])

    result = invoke(monkeypatch, lambda_context)

    region = result["regions"][0]
    assert {r["instance_id"] for r in region["stopped"]} == set(good)
    assert [(r["instance_id"], r["error_code"]) for r in region["failed"]] == [(protected[0], "OperationNotPermitted")]
    assert states("eu-west-1", protected)[protected[0]] == "running"
    assert result["severity"] == "MEDIUM"


def test_dry_run_stops_nothing_but_reports_everything(aws, monkeypatch, lambda_context):
    settings_for(monkeypatch, DRY_RUN="true")
    tagged = launch("eu-west-1", 3, {"kubectl-instance": "prod"})
    stub_sessions("eu-west-1", [[tagged[0]]])

    result = invoke(monkeypatch, lambda_context)

    region = result["regions"][0]
    assert {r["instance_id"] for r in region["would_stop"]} == set(tagged[1:])
    assert region["stopped"] == []
    assert set(states("eu-west-1", tagged).values()) == {"running"}
    assert result["dry_run"] is True


def test_sessions_unavailable_fails_safe_for_that_region_only(aws, monkeypatch, lambda_context):
    settings_for(monkeypatch, STOP_REGIONS="eu-west-1,us-east-1")
    eu = launch("eu-west-1", 2, {"kubectl-instance": "prod"})
    us = launch("us-east-1", 2, {"kubectl-instance": "dev"})
    stub_sessions("eu-west-1", RuntimeError("service unavailable"))
    stub_sessions("us-east-1", [[]])

    result = invoke(monkeypatch, lambda_context)

    by_region = {r["region"]: r for r in result["regions"]}
    assert {r["reason"] for r in by_region["eu-west-1"]["skipped"]} == {"sessions_unknown"}
    assert set(states("eu-west-1", eu).values()) == {"running"}
    assert {r["instance_id"] for r in by_region["us-east-1"]["stopped"]} == set(us)
    assert result["severity"] == "MEDIUM"


def test_tag_value_selects_one_cluster(aws, monkeypatch, lambda_context):
    settings_for(monkeypatch, STOP_TAG_VALUE="prod")
    prod = launch("eu-west-1", 1, {"kubectl-instance": "prod"})
    dev = launch("eu-west-1", 1, {"kubectl-instance": "dev"})
    stub_sessions("eu-west-1", [[]])

    invoke(monkeypatch, lambda_context)

    assert states("eu-west-1", prod + dev) == {prod[0]: "stopped", dev[0]: "running"}


def test_recently_started_instances_are_kept(aws, monkeypatch, lambda_context):
    settings_for(monkeypatch, STOP_GRACE_MINUTES="30")
    fresh = launch("eu-west-1", 1, {"kubectl-instance": "prod"})
    stub_sessions("eu-west-1", [[]])

    result = invoke(monkeypatch, lambda_context, now=datetime.now(UTC) + timedelta(minutes=5))

    assert result["regions"][0]["skipped"][0]["reason"] == "recently_started"
    assert states("eu-west-1", fresh)[fresh[0]] == "running"


def test_summary_alert_is_queued_once_with_stable_id(aws, monkeypatch, lambda_context):
    sqs = aws_client_sqs()
    queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    settings_for(monkeypatch, ALERT_QUEUE_URL=queue_url)
    launch("eu-west-1", 2, {"kubectl-instance": "prod"})
    stub_sessions("eu-west-1", [[]])

    first = invoke(monkeypatch, lambda_context)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    body = json.loads(messages[0]["Body"])
    assert body["id"] == first["alert_id"]
    assert body["kind"] == "stop-summary" and body["severity"] == "INFO"
    assert "stopped 2" in body["title"] and "prod" in body["title"]

    # A scheduler retry of the same run carries the same scheduled time: same alert id.
    aws_clients.client("ssm", "eu-west-1")  # still stubbed? re-stub for the second run
    stub_sessions("eu-west-1", [[]])
    second = invoke(monkeypatch, lambda_context)
    assert second["alert_id"] == first["alert_id"]


def aws_client_sqs():
    return aws_clients.client("sqs", "eu-west-1")


def test_region_that_cannot_be_scanned_is_reported_high(aws, monkeypatch, lambda_context):
    settings_for(monkeypatch, STOP_REGIONS="eu-west-1,us-east-1")
    us = launch("us-east-1", 1, {"kubectl-instance": "dev"})
    stub_sessions("us-east-1", [[]])
    from botocore.stub import Stubber

    broken = Stubber(aws_clients.client("ec2", "eu-west-1"))
    for _ in range(5):
        broken.add_client_error(
            "describe_instances",
            service_error_code="UnauthorizedOperation",
            service_message="You are not authorized",
            http_status_code=403,
        )
    broken.activate()

    result = invoke(monkeypatch, lambda_context)

    by_region = {r["region"]: r for r in result["regions"]}
    assert "UnauthorizedOperation" in by_region["eu-west-1"]["error"]
    assert states("us-east-1", us)[us[0]] == "stopped"
    assert result["severity"] == "HIGH"


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_tag_value_means_any(monkeypatch, value):
    settings = settings_for(monkeypatch, STOP_TAG_VALUE=value)
    assert settings.stop_tag_value == "*"


def test_instances_with_a_name_tag_are_stopped_and_logged(aws, monkeypatch, lambda_context):
    """`name` is a reserved LogRecord attribute: the per-instance log line must not pass it as extra."""
    settings_for(monkeypatch)
    named = launch("eu-west-1", 1, {"kubectl-instance": "prod", "Name": "kubectl-prod"})
    stub_sessions("eu-west-1", [[]])

    result = invoke(monkeypatch, lambda_context)

    assert states("eu-west-1", named) == {named[0]: "stopped"}
    assert result["totals"]["stopped"] == 1


def test_a_run_out_of_time_reports_what_it_did_not_reach_instead_of_being_cut_off(aws, monkeypatch, lambda_context):
    """With less time left than one call and the summary need, no call is started: the region is
    reported not scanned (HIGH) and the summary still goes out."""
    settings_for(monkeypatch)
    idle = launch("eu-west-1", 2, {"kubectl-instance": "prod"})
    stub_sessions("eu-west-1", [])
    monkeypatch.setattr(lambda_context, "get_remaining_time_in_millis", lambda: 30_000)

    result = invoke(monkeypatch, lambda_context)

    [region] = result["regions"]
    assert "ran out of time" in region["error"]
    assert result["severity"] == "HIGH"
    assert set(states("eu-west-1", idle).values()) == {"running"}


def test_time_running_out_between_pages_stops_the_region_before_the_summary_is_at_risk(aws, monkeypatch):
    """Each page of a listing is a call: with the time left for the summary only, the next page is not asked
    for, the region is reported not scanned, and nothing is stopped on a partial view."""
    from eksguard.config import load_settings
    from eksguard.stop.run import call_reserve_seconds, run_stop

    settings_for(monkeypatch)
    monkeypatch.setattr("eksguard.stop.gateway.DESCRIBE_PAGE_SIZE", 5)
    # One reservation per instance: EC2 pages by reservation.
    launched = [i for _ in range(12) for i in launch("eu-west-1", 1, {"kubectl-instance": "prod"})]
    stub_sessions("eu-west-1", [[]])
    # Enough time for the region's first call; then only the summary's reserve minus a second.
    left = iter([1000.0])

    report = run_stop(load_settings(), run_id="t", now=LATER, remaining=lambda: next(left, call_reserve_seconds() - 1))

    [region] = report.regions
    assert region.error and "ran out of time" in region.error
    assert set(states("eu-west-1", launched).values()) == {"running"}


def test_sessions_through_the_handler_orphaned_ignored_long_held_named_unknown_status_holds(
    aws, monkeypatch, lambda_context
):
    """Evasions of the session rule, through the real handler: a Disconnected session left for days does not
    keep an admin host up (named in the summary); a session held Connected for days still protects whoever
    is there, and is named; a status SSM may add later holds the stop rather than cutting someone off."""
    from botocore.stub import Stubber

    settings_for(monkeypatch)
    orphaned, held, unknown, idle = (launch("eu-west-1", 1, {"kubectl-instance": "prod"})[0] for _ in range(4))
    days_ago = LATER - timedelta(days=3)
    stubber = Stubber(aws_clients.client("ssm", "eu-west-1"))
    stubber.add_response(
        "describe_sessions",
        {
            "Sessions": [
                {"SessionId": "s-left", "Target": orphaned, "Status": "Disconnected", "StartDate": days_ago},
                {"SessionId": "s-held", "Target": held, "Status": "Connected", "StartDate": days_ago},
                {"SessionId": "s-new", "Target": unknown, "Status": "Reconnecting", "StartDate": LATER},
            ]
        },
        {"State": "Active", "MaxResults": 200},
    )
    stubber.activate()

    result = invoke(monkeypatch, lambda_context)

    [region] = result["regions"]
    assert {r["instance_id"] for r in region["stopped"]} == {orphaned, idle}
    assert {r["instance_id"]: r["reason"] for r in region["skipped"]} == {
        held: "active_session",
        unknown: "active_session",
    }
    warnings = " ".join(region["warnings"])
    assert "s-left" in warnings and "orphaned" in warnings and "s-held" in warnings
    assert result["severity"] == "MEDIUM"
