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


@pytest.fixture(autouse=True)
def _no_home_account() -> Iterator[None]:
    """A handler records the account it runs in (accounts.set_home) for the whole process; every test
    starts without one, so state keys are plain unless the test invokes a handler or sets a home."""
    from eksguard import accounts

    accounts.set_home(None)
    yield
    accounts.set_home(None)


@pytest.fixture(autouse=True)
def _no_lookup_budget() -> Iterator[None]:
    """A handler starts the lookup budget for its invocation (class-level, so it outlives it); a test that
    calls lookups directly must not find a budget a previous test's handler started seconds ago."""
    from eksguard import aws

    aws.LookupBudget.clear()
    yield
    aws.LookupBudget.clear()


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


@pytest.fixture(scope="module")
def inventory_world() -> Iterator[Any]:
    """The inventory's local world (moto server + EKS front + Kubernetes API stand-in), one per module."""
    from tests.inventory_world import LocalWorld

    local = LocalWorld()
    yield local
    local.close()


@pytest.fixture
def inventory_env(inventory_world: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A clean world, the alert queue and state table, and the settings the inventory reads."""
    from eksguard import aws as eksguard_aws
    from eksguard.expected_admins import reset_caches
    from tests.inventory_world import REGION, make_queue_and_table
    from tests.kube_world import ACCOUNT, PLATFORM_ADMIN

    inventory_world.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", inventory_world.endpoint_url)
    eksguard_aws.reset_clients()
    reset_caches()
    queue, table = make_queue_and_table()
    monkeypatch.setenv("ALERT_QUEUE_URL", queue)
    monkeypatch.setenv("AUDIT_STATE_TABLE", table)
    monkeypatch.setenv("STOP_REGIONS", REGION)
    monkeypatch.setenv("EXPECTED_CLUSTER_ADMIN_ARNS", PLATFORM_ADMIN)
    monkeypatch.setenv("KUBECTL_ROLE_ARN_PATTERNS", f"arn:aws:iam::{ACCOUNT}:role/eksguard-kubectl-*")
    yield {"queue": queue, "table": table}
    eksguard_aws.reset_clients()
    reset_caches()
