"""AuditLogEnrolFunction of a hub, with a spoke that holds many EKS-named log groups (log groups cost its
admin nothing): the accounts after it must still be enrolled, not left "not reached" run after run. A spoke's
log groups are enrolled for its clusters, so decoys without a cluster cost the run nothing.

Time is played by a clock that every log group's enrolment (a read and a write) advances."""

from __future__ import annotations

from typing import Any

import pytest

from eksguard.audit_log import spoke_enrol
from eksguard.audit_log.spoke_enrol import account_reserve_seconds
from tests.accounts_world import SPOKE_A, SPOKE_B
from tests.conftest import FakeLambdaContext
from tests.integration.test_multi_account_enrol import SCHEDULE, filters_of, hub, invoke, logs_in  # noqa: F401

SECONDS_PER_CALL = 2.0


class Clock(FakeLambdaContext):
    spent: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return int(self.remaining_ms - self.spent * 1000)


def test_a_spoke_with_many_log_groups_does_not_leave_the_next_spoke_unenrolled(
    hub: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logs = logs_in(SPOKE_A)
    for number in range(120):
        logs.create_log_group(logGroupName=f"/aws/eks/decoy{number:03}/cluster")
    clock = Clock(remaining_ms=int((account_reserve_seconds() * 2 + 120) * 1000))

    real = spoke_enrol.enrol_log_group

    def enrol_log_group(*args: Any, **kwargs: Any) -> Any:  # a describe and a put
        clock.spent += 2 * SECONDS_PER_CALL
        return real(*args, **kwargs)

    monkeypatch.setattr(spoke_enrol, "enrol_log_group", enrol_log_group)
    result = invoke(SCHEDULE, clock)
    assert SPOKE_B not in result["spokesNotEnrolled"], result["spokesNotEnrolled"]
    assert filters_of(SPOKE_B, "/aws/eks/prod/cluster")
    assert not filters_of(SPOKE_A, "/aws/eks/decoy000/cluster")  # no cluster: not enrolled
    assert filters_of(SPOKE_A, "/aws/eks/prod/cluster")
