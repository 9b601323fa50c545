"""boto3 client factory: standard retry mode, explicit region, endpoints from the environment.

Endpoints are never hard-coded: boto3 honours AWS_ENDPOINT_URL (and per-service variants),
which is how tests and `sam local invoke` point everything at a local moto server.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import boto3
from botocore.config import Config

RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=20,
    user_agent_extra="eksguard",
)


# Lookups a detector makes before it can judge (kubectl instances, instance profiles, IAM paths):
# short timeouts and one retry, so a slow or unreachable API degrades the verdict ("lookup
# failed", reported in the alert) instead of timing the function out and losing the alert.
LOOKUP_CONNECT_TIMEOUT = 1
LOOKUP_READ_TIMEOUT = 3
LOOKUP_MAX_ATTEMPTS = 2
# botocore's standard mode waits rand() * min(2 ** (retry - 1), 20) seconds before a retry, plus
# up to 5 more when the service sends x-amz-retry-after (botocore/retries/standard.py).
_MAX_BACKOFF = 20.0
_RETRY_AFTER_EXTRA = 5.0
# Total time the lookups of one invocation may start calls in; see LookupBudget.
LOOKUP_BUDGET_SECONDS = 8.0
LOOKUP_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": LOOKUP_MAX_ATTEMPTS},
    connect_timeout=LOOKUP_CONNECT_TIMEOUT,
    read_timeout=LOOKUP_READ_TIMEOUT,
    user_agent_extra="eksguard",
)


def worst_lookup_call_seconds() -> float:
    """Longest one lookup call can take: every attempt connects and reads to its limit, plus backoff."""
    attempts = LOOKUP_MAX_ATTEMPTS
    backoff = sum(min(2.0 ** (retry - 1), _MAX_BACKOFF) + _RETRY_AFTER_EXTRA for retry in range(1, attempts))
    return attempts * (LOOKUP_CONNECT_TIMEOUT + LOOKUP_READ_TIMEOUT) + backoff


def worst_lookup_seconds() -> float:
    """Longest the lookups of one invocation can take: the budget, plus the call started at its end."""
    return LOOKUP_BUDGET_SECONDS + worst_lookup_call_seconds()


class LookupBudgetExceeded(RuntimeError):
    """The invocation's lookup budget is spent; the lookup is reported as failed."""


class LookupBudget:
    """A deadline shared by every lookup of one invocation (the handler starts it).

    Each lookup checks it before calling AWS, so however many lookups a verdict needs, the
    lookups end within `worst_lookup_seconds()`.
    """

    _deadline: float | None = None

    @classmethod
    def start(cls, seconds: float = LOOKUP_BUDGET_SECONDS) -> None:
        cls._deadline = time.monotonic() + seconds

    @classmethod
    def check(cls, what: str) -> None:
        if cls._deadline is not None and time.monotonic() > cls._deadline:
            raise LookupBudgetExceeded(f"{what} not attempted: lookup budget of {LOOKUP_BUDGET_SECONDS:.0f}s spent")


@functools.lru_cache(maxsize=64)
def client(service: str, region: str) -> Any:
    """A cached client per (service, region); clients are thread-safe and costly to create."""
    return boto3.session.Session().client(service, region_name=region, config=RETRY_CONFIG)


@functools.lru_cache(maxsize=64)
def lookup_client(service: str, region: str) -> Any:
    """A cached client with the short LOOKUP_CONFIG bounds (see above)."""
    return boto3.session.Session().client(service, region_name=region, config=LOOKUP_CONFIG)


@functools.lru_cache(maxsize=64)
def client_with(service: str, region: str, config: Config) -> Any:
    """A cached client with a caller's bounds (a module-level Config, so the cache key is stable)."""
    return boto3.session.Session().client(service, region_name=region, config=config)


def reset_clients() -> None:
    """Forget cached clients (tests start a fresh moto backend per test)."""
    client.cache_clear()
    lookup_client.cache_clear()
    client_with.cache_clear()
