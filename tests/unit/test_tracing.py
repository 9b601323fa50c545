"""X-Ray only when the Tracing parameter turns it on: off, the handler is itself and the X-Ray SDK is never imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from eksguard import tracing

ROOT = Path(__file__).resolve().parents[2]


def handler(event, context):
    return {"ok": True}


def test_enabled_follows_powertools_trace_disabled():
    assert tracing.enabled({}) is True
    assert tracing.enabled({"POWERTOOLS_TRACE_DISABLED": "true"}) is False
    assert tracing.enabled({"POWERTOOLS_TRACE_DISABLED": "1"}) is False
    assert tracing.enabled({"POWERTOOLS_TRACE_DISABLED": "false"}) is True


def run(trace_disabled: str) -> str:
    code = (
        "import sys\n"
        "from eksguard import tracing\n"
        "def handler(event, context):\n"
        "    return 1\n"
        "wrapped = tracing.capture_lambda_handler(handler)\n"
        "xray = 'aws_xray_sdk.core' in sys.modules\n"
        "patched = sorted(sys.modules['aws_xray_sdk.core.patcher']._PATCHED_MODULES) if xray else []\n"
        "print(wrapped is handler, xray, ','.join(patched) or '-')\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "layers" / "eksguard"),
        "POWERTOOLS_TRACE_DISABLED": trace_disabled,
        "AWS_LAMBDA_FUNCTION_NAME": "eksguard-test",
        "LAMBDA_TASK_ROOT": "/var/task",  # Powertools traces only inside Lambda
        "AWS_REGION": "eu-west-1",
    }
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout


def test_off_the_handler_is_untouched_and_xray_never_imported():
    assert run("true").split() == ["True", "False", "-"]


def test_on_the_handler_is_traced_by_powertools_with_botocore_only():
    """http.client is never patched: its subsegments would carry the Slack webhook URL, a secret."""
    assert run("false").split() == ["False", "True", "botocore"]
