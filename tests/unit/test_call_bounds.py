"""Every function's AWS calls fit its timeout, by arithmetic on the Configs it uses (eksguard.call_bounds),
and every scheduled or asynchronously invoked function keeps what fails (destinations, dead-letter queues)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config
from cfnlint.decode import decode_str

from eksguard import aws, call_bounds, coverage
from eksguard.inventory import eks_reader, kube_reader
from eksguard.inventory.run import MIN_SECONDS_PER_CLUSTER
from eksguard.stop import run as stop_run
from tests.unit.test_template import TEMPLATE, resources_of


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    parsed, matches = decode_str(TEMPLATE.read_text())
    assert not matches, matches
    return parsed


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}


def timeout_of(template: dict[str, Any], name: str) -> int:
    own = functions(template)[name]["Properties"].get("Timeout")
    return int(own if own is not None else template["Globals"]["Function"]["Timeout"])


def test_worst_call_arithmetic_counts_every_attempt_and_the_backoff():
    # total_max_attempts counts every request; max_attempts counts retries after the first.
    total = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=2, read_timeout=4)
    retries = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=2, read_timeout=4)
    assert aws.worst_call_seconds(total) == 3 * (2 + 4) + (1 + 5) + (2 + 5)
    assert aws.worst_call_seconds(retries) == aws.worst_call_seconds(total)
    # botocore's backoff is capped at 20 s (plus 5 s for x-amz-retry-after) however many attempts.
    many = Config(retries={"mode": "standard", "total_max_attempts": 8}, connect_timeout=1, read_timeout=1)
    assert aws.worst_call_seconds(many) == 8 * 2 + sum(min(2**k, 20) + 5 for k in range(7))


def test_every_config_in_use_is_bounded():
    configs = (
        aws.RETRY_CONFIG,
        aws.EC2_CONFIG,
        aws.LOOKUP_CONFIG,
        aws.ASSUME_CONFIG,
        eks_reader.EKS_CONFIG,
        kube_reader.STS_CONFIG,
        coverage.COVERAGE_CONFIG,
    )
    for config in configs:
        retries = config.retries or {}
        assert retries.get("total_max_attempts"), config  # counted, not botocore's default
        assert config.connect_timeout is not None and config.read_timeout is not None
    assert aws.worst_call_seconds(aws.RETRY_CONFIG) == 31


def test_every_function_has_a_declared_worst_path(template):
    assert set(functions(template)) == set(call_bounds.FUNCTIONS)


@pytest.mark.parametrize("function", call_bounds.FUNCTIONS)
def test_worst_path_fits_the_timeout(template, function):
    timeout = timeout_of(template, function)
    worst = call_bounds.worst_seconds(function)
    steps = ", ".join(f"{s.what} {s.seconds:g}s" for s in call_bounds.longest_unguarded(function))
    assert worst <= timeout, f"{function}: {worst:g}s worst case > {timeout}s timeout ({steps})"


def test_the_stop_run_reserve_is_one_call_and_the_summary_and_leaves_most_of_the_time(template):
    ec2_call = aws.worst_call_seconds(aws.EC2_CONFIG)
    assert ec2_call == 3 * (2 + 20) + (1 + 5) + (2 + 5)
    assert stop_run.call_reserve_seconds() == ec2_call + aws.worst_call_seconds(aws.RETRY_CONFIG) + 5
    assert stop_run.call_reserve_seconds() <= timeout_of(template, "StopInstancesFunction") / 2


def test_an_inventory_cluster_is_started_only_with_its_longest_call_left():
    assert MIN_SECONDS_PER_CLUSTER >= call_bounds.inventory_cluster_step_seconds()


def test_a_hubs_inventory_calls_are_each_within_the_longest_declared_step():
    """A hub adds calls between clusters (AssumeRole, the account alias, the organisation's pages, the coverage
    report's rule reads); each is guarded by the run's deadline and none is longer than the step declared."""
    step = call_bounds.inventory_cluster_step_seconds()
    for config in (aws.ASSUME_CONFIG, aws.LOOKUP_CONFIG, aws.RETRY_CONFIG, coverage.COVERAGE_CONFIG):
        assert aws.worst_call_seconds(config) <= step
    assert aws.worst_call_seconds(coverage.COVERAGE_CONFIG) == 2 * (2 + 4) + (1 + 5)


def test_inventory_lookups_end_before_the_runs_deadline():
    """The expected-admin lookups share a budget that ends one lookup call before the reads' deadline, so the
    last lookup is over before what must follow the reads."""
    from inventory_handler import lookup_seconds

    from eksguard.inventory.run import FINAL_RESERVE_SECONDS

    assert lookup_seconds(300) + aws.worst_lookup_call_seconds() == 300 - FINAL_RESERVE_SECONDS
    assert lookup_seconds(10) == 0


def test_the_alert_queue_outlasts_six_notifier_timeouts(template):
    """AWS's rule for SQS event sources: visibility >= 6x the function timeout, or a record still being
    handled becomes visible again and is delivered twice."""
    queue = template["Resources"]["AlertQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * timeout_of(template, "SlackNotifierFunction")


def scheduled_targets(cfn: dict[str, Any]) -> set[str]:
    targets = set()
    for schedule in resources_of(cfn, "AWS::Scheduler::Schedule").values():
        arn = schedule["Properties"]["Target"]["Arn"]
        targets.add(arn["Fn::GetAtt"][0])
    return targets


def test_every_schedule_retries_and_keeps_what_it_could_not_deliver():
    from tests.unit.test_template import PARAMS, NoManagedPolicies, transform

    parsed, _ = decode_str(TEMPLATE.read_text())
    for resource in parsed["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://bucket/key.zip"
    cfn = transform(parsed, dict(PARAMS), NoManagedPolicies())
    schedules = resources_of(cfn, "AWS::Scheduler::Schedule")
    assert len(schedules) >= 4  # stop, enrol, inventory, digest
    for name, schedule in schedules.items():
        target = schedule["Properties"]["Target"]
        assert target.get("RetryPolicy", {}).get("MaximumRetryAttempts", 0) >= 1, name
        assert target.get("DeadLetterConfig", {}).get("Arn") == {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}, name

    # Every function a schedule invokes (asynchronously) has an on-failure destination, so a run that
    # fails after Lambda's own retries is kept, not gone.
    configs = {
        c["Properties"]["FunctionName"]["Ref"]: c["Properties"]
        for c in resources_of(cfn, "AWS::Lambda::EventInvokeConfig").values()
    }
    scheduled = scheduled_targets(cfn)
    assert {"StopInstancesFunction", "AuditLogEnrolFunction", "InventoryFunction"} <= scheduled
    for function in scheduled:
        assert function in configs, f"{function} has no EventInvokeConfig"
        on_failure = configs[function]["DestinationConfig"]["OnFailure"]["Destination"]
        assert on_failure == {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}, function


def test_a_notifier_record_is_started_only_with_its_worst_case_left():
    from eksguard.slack import deliver, notifier

    one_record = 3 * aws.worst_call_seconds(aws.RETRY_CONFIG) + deliver.REQUEST_TIMEOUT_SECONDS
    assert notifier.RECORD_RESERVE_SECONDS >= one_record + deliver.SAFETY_MARGIN_SECONDS
