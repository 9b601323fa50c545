"""Shared fixtures: fake AWS credentials, moto, a Lambda context, the events/ folder."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = ROOT / "events"

# Set before any boto3/Powertools import in test modules.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "POWERTOOLS_SERVICE_NAME": "eksguard",
        "POWERTOOLS_METRICS_NAMESPACE": "eksguard",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_DEV": "false",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture
def aws() -> Iterator[None]:
    """A fresh in-process moto backend; clients created inside the test see it."""
    from moto import mock_aws

    from eksguard.aws import reset_clients

    reset_clients()
    with mock_aws():
        yield
    reset_clients()


@dataclass
class FakeLambdaContext:
    function_name: str = "eksguard-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:eksguard-test"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"
    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


def load_event(name: str) -> dict[str, Any]:
    with open(EVENTS_DIR / name, encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


@pytest.fixture
def event_loader():
    return load_event


@pytest.fixture
def slack_standin():
    """A local Slack incoming-webhook stand-in on 127.0.0.1 (random port), stopped after the test."""
    from tests.slack_standin import SlackStandIn

    standin = SlackStandIn().start()
    try:
        yield standin
    finally:
        standin.stop()
