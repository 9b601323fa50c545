"""boto3 client factory: standard retry mode, explicit region, endpoints from the environment.

Endpoints are never hard-coded: boto3 honours AWS_ENDPOINT_URL (and per-service variants),
which is how tests and `sam local invoke` point everything at a local moto server.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=20,
    user_agent_extra="eksguard",
)


@functools.lru_cache(maxsize=64)
def client(service: str, region: str) -> Any:
    """A cached client per (service, region); clients are thread-safe and costly to create."""
    return boto3.session.Session().client(service, region_name=region, config=RETRY_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests start a fresh moto backend per test)."""
    client.cache_clear()
