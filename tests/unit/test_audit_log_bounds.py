"""The audit-log functions' loops are bounded like the others (eksguard.call_bounds): a Kinesis record of
AuditLogAlertFunction and a spoke account of AuditLogEnrolFunction are started only with their worst case left,
and that worst case fits the function's timeout."""

from __future__ import annotations

from typing import Any

import pytest
from cfnlint.decode import decode_str

from eksguard import aws, call_bounds
from eksguard.audit_log.enrol import step_reserve_seconds, write_seconds
from eksguard.audit_log.intake import delivery_reserve_seconds
from eksguard.audit_log.spoke_enrol import account_reserve_seconds
from tests.unit.test_template import TEMPLATE


@pytest.fixture(scope="module")
def timeouts() -> dict[str, int]:
    parsed, matches = decode_str(TEMPLATE.read_text())
    assert not matches, matches
    default = int(parsed["Globals"]["Function"].get("Timeout", 3))
    resources: dict[str, Any] = parsed["Resources"]
    return {
        name: int(r["Properties"].get("Timeout", default))
        for name, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function"
    }


def test_a_kinesis_record_is_started_only_with_one_deliverys_declared_worst_case(timeouts) -> None:
    """The reserve is the AuditLogAlertFunction path declared in call_bounds: one delivery's calls."""
    declared = sum(step.seconds for step in call_bounds.longest_unguarded("AuditLogAlertFunction"))
    assert delivery_reserve_seconds() == declared
    assert delivery_reserve_seconds() + call_bounds.MARGIN_SECONDS <= timeouts["AuditLogAlertFunction"]


def test_a_spoke_is_started_only_with_its_role_one_log_group_and_the_report_left(timeouts) -> None:
    assume = aws.worst_call_seconds(aws.ASSUME_CONFIG)
    assert account_reserve_seconds() == assume + 3 * write_seconds()  # describe + put + the report's send
    assert step_reserve_seconds(1) == 2 * write_seconds()  # a page (or a cluster) + the report's send
    # started with its reserve left, a spoke's calls and the final send end before the timeout
    assert account_reserve_seconds() + call_bounds.MARGIN_SECONDS <= timeouts["AuditLogEnrolFunction"]
