"""Batch stopping with isolation, against a fake EC2 that behaves like the real API:
one un-stoppable ID fails the whole call."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from eksguard.stop.stopper import stop_in_batches


class FakeEc2:
    def __init__(self, bad: dict[str, tuple[str, bool]] | None = None, throttle: bool = False):
        # bad: id -> (error code, whether EC2 names the id in the message)
        self.bad = bad or {}
        self.throttle = throttle
        self.calls: list[list[str]] = []
        self.stopped: list[str] = []

    def stop_instances(self, InstanceIds, DryRun=False):  # noqa: N803 - boto3 spelling
        self.calls.append(list(InstanceIds))
        if self.throttle:
            raise ClientError(
                {"Error": {"Code": "RequestLimitExceeded", "Message": "Request limit exceeded."}}, "StopInstances"
            )
        for instance_id in InstanceIds:
            if instance_id in self.bad:
                code, named = self.bad[instance_id]
                message = f"The instance '{instance_id}' cannot be stopped." if named else "Operation not supported."
                raise ClientError({"Error": {"Code": code, "Message": message}}, "StopInstances")
        if DryRun:
            raise ClientError(
                {"Error": {"Code": "DryRunOperation", "Message": "would have succeeded"}}, "StopInstances"
            )
        self.stopped.extend(InstanceIds)
        return {"StoppingInstances": [{"InstanceId": i} for i in InstanceIds]}


def ids(n: int) -> list[str]:
    return [f"i-{k:017x}" for k in range(1, n + 1)]


def test_all_good_in_batches():
    ec2 = FakeEc2()
    outcome = stop_in_batches(ec2, ids(120), batch_size=50)
    assert sorted(outcome.stopped) == sorted(ids(120))
    assert [len(c) for c in ec2.calls] == [50, 50, 20]
    assert outcome.failed == []


def test_default_batches_are_a_thousand():
    ec2 = FakeEc2()
    outcome = stop_in_batches(ec2, ids(2500))
    assert len(outcome.stopped) == 2500
    assert [len(c) for c in ec2.calls] == [1000, 1000, 500]


def test_one_unnamed_bad_instance_in_a_thousand_costs_a_bounded_bisection():
    all_ids = ids(1000)
    bad = all_ids[613]
    ec2 = FakeEc2({bad: ("UnsupportedOperation", False)})
    outcome = stop_in_batches(ec2, all_ids)
    assert [f.instance_id for f in outcome.failed] == [bad]
    assert len(outcome.stopped) == 999
    assert len(ec2.calls) <= 2 * 10 + 1


def test_out_of_time_reports_what_was_not_attempted():
    calls_left = iter([True, False])
    ec2 = FakeEc2()
    outcome = stop_in_batches(ec2, ids(120), batch_size=50, may_call=lambda: next(calls_left, False))
    assert len(ec2.calls) == 1 and len(outcome.stopped) == 50
    assert len(outcome.failed) == 70 and {f.code for f in outcome.failed} == {"OutOfTime"}


def test_named_bad_instance_is_removed_and_rest_stopped():
    all_ids = ids(50)
    bad = all_ids[17]
    ec2 = FakeEc2({bad: ("IncorrectInstanceState", True)})
    outcome = stop_in_batches(ec2, all_ids)
    assert sorted(outcome.stopped) == sorted(set(all_ids) - {bad})
    assert [(f.instance_id, f.code) for f in outcome.failed] == [(bad, "IncorrectInstanceState")]
    assert len(ec2.calls) == 2


def test_unnamed_failures_are_bisected():
    all_ids = ids(64)
    bad = {all_ids[3]: ("UnsupportedOperation", False), all_ids[40]: ("OperationNotPermitted", False)}
    ec2 = FakeEc2(bad)
    outcome = stop_in_batches(ec2, all_ids, batch_size=64)
    assert sorted(outcome.stopped) == sorted(set(all_ids) - set(bad))
    assert {f.instance_id: f.code for f in outcome.failed} == {k: v[0] for k, v in bad.items()}
    # Bisection stays logarithmic per bad instance, far below one call per instance.
    assert len(ec2.calls) <= 2 * 2 * 7 + 1


def test_one_bad_in_500_costs_few_calls():
    all_ids = ids(500)
    ec2 = FakeEc2({all_ids[250]: ("UnsupportedOperation", False)})
    outcome = stop_in_batches(ec2, all_ids)
    assert len(outcome.stopped) == 499
    assert len(ec2.calls) <= 10 + 2 * 6


def test_persistent_throttling_fails_batch_without_bisecting():
    ec2 = FakeEc2(throttle=True)
    outcome = stop_in_batches(ec2, ids(10))
    assert len(ec2.calls) == 1
    assert {f.code for f in outcome.failed} == {"RequestLimitExceeded"}
    assert len(outcome.failed) == 10 and outcome.stopped == []


def test_dry_run_counts_dry_run_operation_as_success():
    ec2 = FakeEc2()
    outcome = stop_in_batches(ec2, ids(3), dry_run=True)
    assert sorted(outcome.stopped) == ids(3)
    assert ec2.stopped == []


@pytest.mark.parametrize("code", ["UnauthorizedOperation", "AccessDenied"])
def test_a_policy_refusing_everything_costs_a_bounded_number_of_calls(code):
    class Denied(FakeEc2):
        def stop_instances(self, InstanceIds, DryRun=False):  # noqa: N803
            self.calls.append(list(InstanceIds))
            raise ClientError({"Error": {"Code": code, "Message": "not authorized"}}, "StopInstances")

    ec2 = Denied()
    outcome = stop_in_batches(ec2, ids(1000))
    assert len(outcome.failed) == 1000 and {f.code for f in outcome.failed} == {code}
    assert len(ec2.calls) <= 4 * 10 + 4 + 1  # the refusal budget, not a call per instance


def test_one_instance_refused_by_the_tag_condition_does_not_hold_up_the_other_999():
    """The stop permission is conditioned on each instance's tag: whoever can change one instance's tag
    around the schedule makes EC2 refuse a whole call. Bisection stops every other instance."""
    all_ids = ids(1000)
    refused = all_ids[421]

    class TagCondition(FakeEc2):
        def stop_instances(self, InstanceIds, DryRun=False):  # noqa: N803
            self.calls.append(list(InstanceIds))
            if refused in InstanceIds:
                raise ClientError(
                    {"Error": {"Code": "UnauthorizedOperation", "Message": "You are not authorized."}},
                    "StopInstances",
                )
            self.stopped.extend(InstanceIds)
            return {"StoppingInstances": [{"InstanceId": i} for i in InstanceIds]}

    ec2 = TagCondition()
    outcome = stop_in_batches(ec2, all_ids)
    assert [f.instance_id for f in outcome.failed] == [refused]
    assert len(outcome.stopped) == 999 and sorted(ec2.stopped) == sorted(set(all_ids) - {refused})
    assert len(ec2.calls) <= 2 * 10 + 1


def test_a_network_failure_on_one_batch_keeps_what_the_others_stopped():
    from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

    class Flaky(FakeEc2):
        def stop_instances(self, InstanceIds, DryRun=False):  # noqa: N803
            self.calls.append(list(InstanceIds))
            if len(self.calls) == 2:
                raise EndpointConnectionError(endpoint_url="https://ec2.eu-west-1.amazonaws.com/")
            if len(self.calls) == 3:
                raise ReadTimeoutError(endpoint_url="https://ec2.eu-west-1.amazonaws.com/")
            self.stopped.extend(InstanceIds)
            return {"StoppingInstances": [{"InstanceId": i} for i in InstanceIds]}

    ec2 = Flaky()
    outcome = stop_in_batches(ec2, ids(2500))
    assert len(outcome.stopped) == 1000
    codes = [f.code for f in outcome.failed]
    assert codes.count("EndpointConnectionError") == 1000 and codes.count("ReadTimeoutError") == 500
    assert all("may be stopping" in f.message for f in outcome.failed if f.code == "ReadTimeoutError")


def test_duplicate_ids_are_stopped_once():
    ec2 = FakeEc2()
    outcome = stop_in_batches(ec2, ["i-00000000000000001", "i-00000000000000001"])
    assert outcome.stopped == ["i-00000000000000001"]
