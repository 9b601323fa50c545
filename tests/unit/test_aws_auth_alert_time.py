"""An aws-auth alert says when the change happened (audit stageTimestamp), not when it was read."""

from __future__ import annotations

import json

from eksguard.alerts import Alert
from eksguard.audit_log.payload import decode_awslogs
from eksguard.aws_auth.process import process_batch
from eksguard.aws_auth.state import InMemoryStateStore
from tests.aws_auth_support import ADMIN, BASE, INTRUDER_YAML, delivery, expected_admins, update


def judge(messages: list[str | dict]) -> list[Alert]:
    published: list[Alert] = []
    process_batch(
        decode_awslogs(delivery(messages)), expected_admins(ADMIN), InMemoryStateStore(), "eu-west-1", published.extend
    )
    return published


def test_alert_time_is_the_stage_timestamp():
    alerts = judge([update("a-1", BASE + INTRUDER_YAML, rv=7, ts="2025-05-01T10:05:00.000005Z")])
    assert [a.time for a in alerts] == ["2025-05-01T10:05:00.000005Z"]


def test_truncated_entry_falls_back_to_the_log_event_time():
    line = json.dumps(update("t-1", BASE + INTRUDER_YAML, rv=9), separators=(",", ":"))
    alerts = judge([line[:900] + "[Truncated...]"])
    assert len(alerts) == 1 and alerts[0].severity.name == "MEDIUM"
    # The CloudWatch timestamp of the line (1746093600000 ms), as stageTimestamp is cut off.
    assert alerts[0].time == "2025-05-01T10:00:00Z"
