"""The RBAC samples in events/ (what `sam local invoke` and the demo use) through the real handler against
moto, every line first checked against the installed subscription filter pattern."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from eksguard.audit_log.enrol import FILTER_PATTERN
from scripts.build_awslogs_events import render_message
from scripts.build_rbac_event_sources import OUT, samples
from tests.cwl_filter import matches
from tests.e2e.test_sam_local_invoke import AUDIT_LOG_SEVERITIES
from tests.integration import test_audit_log_alert_handler as handler_tests
from tests.integration.test_audit_log_alert_handler import invoke, queued

env = handler_tests.env
EVENTS = sorted(p.name for p in (Path(__file__).resolve().parents[2] / "events").glob("rbac_*.json"))


def test_sources_are_what_the_recordings_give() -> None:
    for name, source in samples().items():
        assert json.loads((OUT / f"{name}.json").read_text(encoding="utf-8")) == source, name


@pytest.mark.parametrize("event", EVENTS)
def test_sample_through_filter_and_handler(env: dict[str, Any], event: str, event_loader, lambda_context) -> None:
    source = json.loads((OUT / f"{event.removeprefix('rbac_')}").read_text(encoding="utf-8"))
    for log_event in source["logEvents"]:
        assert matches(FILTER_PATTERN, render_message(log_event)), event
    result = invoke(event_loader(event), lambda_context)
    assert result["status"] == "ok"
    severities = Counter(a["severity"] for a in queued(env))
    assert severities == Counter(AUDIT_LOG_SEVERITIES[event])
