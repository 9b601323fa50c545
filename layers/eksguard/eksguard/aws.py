"""boto3 client factory: one shared session, standard retry mode, bounded timeouts, explicit region.

Endpoints are never hard-coded: boto3 honours AWS_ENDPOINT_URL (and per-service variants),
which is how tests and `sam local invoke` point everything at a local moto server.

Every client is made from one botocore session per process. A new session per client loads
the endpoint rules, the retry configuration and the service model again each time (six clients
from six sessions cost about 1 s of a cold start; from one session about 0.4 s). boto3 sessions
are not thread-safe, so clients are created under a lock; the clients themselves are.

Every Config bounds a call: `worst_call_seconds(config)` is the longest one call may take
(every attempt connecting and reading to its limit, plus botocore's backoff), and
tests/unit/test_call_bounds.py checks that each function's calls fit its timeout.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

import boto3
from botocore.config import Config

# Writes eksguard must not lose (queue sends, state records, stops): a few attempts, each bounded.
# Worst case per call: 3 x (2 + 4) s + backoff (1 + 5) + (2 + 5) s = 31 s (see worst_call_seconds).
# DynamoDB and SQS answer in milliseconds; 4 s of silence on a read means a retry is the better bet.
# botocore's `max_attempts` counts retries after the first request; `total_max_attempts` counts
# every request, which is what the arithmetic needs, so every Config here uses it.
RETRY_MAX_ATTEMPTS = 3
RETRY_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": RETRY_MAX_ATTEMPTS},
    connect_timeout=2,
    read_timeout=4,
    user_agent_extra="eksguard",
)

# EC2 calls carry up to 1,000 instances (a DescribeInstances page, a StopInstances batch): a longer
# read than DynamoDB's and SQS's. Worst case per call: 3 x (2 + 20) s + 13 s = 79 s.
EC2_CONFIG = RETRY_CONFIG.merge(Config(read_timeout=20))


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
    retries={"mode": "standard", "total_max_attempts": LOOKUP_MAX_ATTEMPTS},
    connect_timeout=LOOKUP_CONNECT_TIMEOUT,
    read_timeout=LOOKUP_READ_TIMEOUT,
    user_agent_extra="eksguard",
)


def worst_call_seconds(config: Config) -> float:
    """Longest one call made with `config` can take: every attempt connects and reads to its limit,
    plus the backoff before each retry. (A server that trickles bytes can stretch a read past
    read_timeout, which bounds each socket read, not the response: no client bound covers that.)"""
    retries = config.retries or {}
    if retries.get("total_max_attempts") is not None:
        attempts = int(retries["total_max_attempts"])
    elif retries.get("max_attempts") is not None:
        attempts = int(retries["max_attempts"]) + 1  # retries after the first request
    else:
        attempts = 3  # botocore's standard-mode default
    connect = float(config.connect_timeout if config.connect_timeout is not None else 60)
    read = float(config.read_timeout if config.read_timeout is not None else 60)
    backoff = sum(min(2.0 ** (retry - 1), _MAX_BACKOFF) + _RETRY_AFTER_EXTRA for retry in range(1, attempts))
    return attempts * (connect + read) + backoff


def worst_lookup_call_seconds() -> float:
    """Longest one lookup call can take: every attempt connects and reads to its limit, plus backoff."""
    return worst_call_seconds(LOOKUP_CONFIG)


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


class CallDeadline:
    """When the calls of a long run (the inventory's clusters) must have ended, so that what follows them
    (failure alerts, the digest) still fits the function's timeout. The run starts it; each reader asks
    `allows(worst)` before a call, and a call that could not end in time is not made (reported instead).
    Unset, every call is allowed (tests, functions without such a loop)."""

    _ends: float | None = None

    @classmethod
    def start(cls, seconds: float | None) -> None:
        cls._ends = None if seconds is None else time.monotonic() + seconds

    @classmethod
    def allows(cls, worst_seconds: float) -> bool:
        return cls._ends is None or time.monotonic() + worst_seconds <= cls._ends


_session_lock = threading.Lock()
_session: boto3.session.Session | None = None


def _make_client(service: str, region: str, config: Config) -> Any:
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(service, region_name=region, config=config)


@functools.lru_cache(maxsize=64)
def client(service: str, region: str) -> Any:
    """A cached client per (service, region); clients are thread-safe and costly to create."""
    return _make_client(service, region, EC2_CONFIG if service == "ec2" else RETRY_CONFIG)


@functools.lru_cache(maxsize=64)
def lookup_client(service: str, region: str) -> Any:
    """A cached client with the short LOOKUP_CONFIG bounds (see above)."""
    return _make_client(service, region, LOOKUP_CONFIG)


@functools.lru_cache(maxsize=64)
def client_with(service: str, region: str, config: Config) -> Any:
    """A cached client with a caller's bounds (a module-level Config, so the cache key is stable)."""
    return _make_client(service, region, config)


def reset_clients() -> None:
    """Forget cached clients and the session (tests start a fresh moto backend, or change the
    environment the session read its credentials and endpoints from)."""
    global _session
    with _session_lock:
        _session = None
    client.cache_clear()
    lookup_client.cache_clear()
    client_with.cache_clear()
