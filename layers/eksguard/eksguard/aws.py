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

import contextlib
import contextvars
import os
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

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


def describe_error(exc: BaseException) -> str:
    """`Code: Message` of an AWS error, or the exception's type and text: what reports and logs say."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error") or {}
        return f"{err.get('Code', 'Unknown')}: {err.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


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
    """Longest the lookups of one invocation can take: the budget, plus the call started at its end, plus
    (in a hub judging a spoke's event) the spoke role's assume that the first lookup there makes."""
    return LOOKUP_BUDGET_SECONDS + worst_lookup_call_seconds() + worst_call_seconds(ASSUME_CONFIG)


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
    def clear(cls) -> None:
        """No budget: every lookup is allowed (tests that call lookups without a handler)."""
        cls._deadline = None

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

# --------------------------------------------------------------------------- account scopes
#
# With spokes, the hub's functions act in other accounts through a role those accounts grant the
# hub (spoke/template.yaml). Code that calls AWS does not carry credentials around: it runs inside
# `in_account(target)`, and every client made there (client, lookup_client, client_with) speaks
# with that role's credentials. Outside a scope, or for the function's own account, clients use the
# function's own credentials exactly as in a single-account deployment.
#
# The scope is a ContextVar: a thread pool does not inherit it, so code that fans out to threads
# passes `current_scope()` along and re-enters it with `in_account` in each worker.

# Assumed credentials last an hour; a session is replaced this long before they expire, so a call
# never starts with credentials that could lapse during its worst case.
CREDENTIAL_REFRESH_MARGIN_SECONDS = 600.0
ASSUME_ROLE_SECONDS = 3600
# STS answers in milliseconds; a refused role is not retried within one invocation's minute, so
# a dead account costs one bounded call, not one per client. Worst case: 2 x (2 + 4) s + 6 s = 18 s.
ASSUME_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 2},
    connect_timeout=2,
    read_timeout=4,
    user_agent_extra="eksguard",
)
REFUSAL_MEMORY_SECONDS = 60.0


class AccountUnreachable(RuntimeError):
    """The role of an account could not be assumed (trust, missing role, SCP, network)."""

    def __init__(self, account: str, reason: str) -> None:
        super().__init__(f"account {account}: {reason}")
        self.account = account
        self.reason = reason


_scope: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("eksguard_account", default=None)
# role ARN -> (session, monotonic time it must be replaced, generation)
_assumed: dict[str, tuple[boto3.session.Session, float, int]] = {}
# role ARN -> (why it was refused, monotonic time to try again)
_refused: dict[str, tuple[str, float]] = {}
_generation = 0
_session_name = "eksguard"


def set_session_name(name: str) -> None:
    """Names the hub's sessions in the spokes' CloudTrail (`eksguard-<function>`), so a spoke's
    trail says which hub function acted."""
    global _session_name
    cleaned = re.sub(r"[^\w+=,.@-]", "-", name)[:64] or "eksguard"
    _session_name = cleaned


def current_scope() -> tuple[str, str] | None:
    """(account, role ARN) the clients made now act in; None: the function's own account."""
    return _scope.get()


@contextlib.contextmanager
def in_account(account: str | None, role_arn: str | None) -> Iterator[None]:
    """Run the block in `account` through `role_arn` (None: the function's own credentials).

    Entering does not call STS: the role is assumed when the first client is made, so the
    AccountUnreachable that a refused role raises comes from that first client, inside the
    caller's per-account error handling."""
    token = _scope.set((account or "", role_arn) if role_arn else None)
    try:
        yield
    finally:
        _scope.reset(token)


def at_home() -> contextlib.AbstractContextManager[None]:
    """The function's own account, inside a spoke's scope: eksguard's own resources (state tables, the
    alert queue) live in the hub and are always reached with the hub's credentials."""
    return in_account(None, None)


def scope_account() -> str | None:
    """The account the current scope acts in; None for the function's own account."""
    scope = _scope.get()
    return scope[0] if scope else None


def assume_for_scope() -> None:
    """Make sure the current scope's role can be assumed now (raises AccountUnreachable)."""
    _session_for(_scope.get())


def _base_session() -> boto3.session.Session:
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session


def _assume(account: str, role_arn: str) -> tuple[boto3.session.Session, float]:
    sts = _make_client_in("sts", _base_session(), _sts_region(), ASSUME_CONFIG)
    try:
        response = sts.assume_role(RoleArn=role_arn, RoleSessionName=_session_name, DurationSeconds=ASSUME_ROLE_SECONDS)
    except ClientError as exc:
        err = exc.response.get("Error") or {}
        raise AccountUnreachable(account, f"cannot assume {role_arn}: {err.get('Code', 'Unknown')}") from None
    except BotoCoreError as exc:
        raise AccountUnreachable(account, f"cannot assume {role_arn}: {type(exc).__name__}: {exc}") from None
    creds = response["Credentials"]
    expires = creds.get("Expiration")
    lifetime = float(ASSUME_ROLE_SECONDS)
    if isinstance(expires, datetime):
        lifetime = (expires - datetime.now(expires.tzinfo or UTC)).total_seconds()
    session = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    return session, time.monotonic() + lifetime - CREDENTIAL_REFRESH_MARGIN_SECONDS


def _sts_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _session_for(scope: tuple[str, str] | None) -> tuple[boto3.session.Session, int]:
    """The session for a scope, and its generation (part of every client cache key)."""
    global _generation
    if scope is None:
        return _base_session(), 0
    account, role_arn = scope
    with _assume_lock:
        held = _assumed.get(role_arn)
        now = time.monotonic()
        if held is not None and now < held[1]:
            return held[0], held[2]
        refused = _refused.get(role_arn)
        if refused is not None and now < refused[1]:
            raise AccountUnreachable(account, refused[0])
        try:
            session, replace_at = _assume(account, role_arn)
        except AccountUnreachable as exc:
            _refused[role_arn] = (exc.reason, now + REFUSAL_MEMORY_SECONDS)
            raise
        _refused.pop(role_arn, None)
        _generation += 1
        _assumed[role_arn] = (session, replace_at, _generation)
        return session, _generation


_assume_lock = threading.Lock()
_PLAIN, _LOOKUP, _CUSTOM = "plain", "lookup", "custom"  # which factory made a cached client
_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


def _make_client_in(service: str, session: boto3.session.Session, region: str, config: Config) -> Any:
    with _session_lock:  # boto3 sessions are not thread-safe while creating clients
        return session.client(service, region_name=region, config=config)


def _cached_client(kind: str, service: str, region: str, config: Config) -> Any:
    scope = _scope.get()
    session, generation = _session_for(scope)
    key = (kind, service, region, id(config), scope[1] if scope else None, generation)
    with _clients_lock:
        found = _clients.get(key)
    if found is not None:
        return found
    made = _make_client_in(service, session, region, config)
    with _clients_lock:
        return _clients.setdefault(key, made)


def client(service: str, region: str) -> Any:
    """A cached client per (service, region, account scope); clients are thread-safe and costly to create."""
    return _cached_client(_PLAIN, service, region, EC2_CONFIG if service == "ec2" else RETRY_CONFIG)


def lookup_client(service: str, region: str) -> Any:
    """A cached client with the short LOOKUP_CONFIG bounds (see above)."""
    return _cached_client(_LOOKUP, service, region, LOOKUP_CONFIG)


def client_with(service: str, region: str, config: Config) -> Any:
    """A cached client with a caller's bounds (a module-level Config, so the cache key is stable)."""
    return _cached_client(_CUSTOM, service, region, config)


def reset_clients() -> None:
    """Forget cached clients, sessions and assumed roles (tests start a fresh moto backend, or change
    the environment the session read its credentials and endpoints from)."""
    global _session
    with _session_lock:
        _session = None
    with _assume_lock:
        _assumed.clear()
        _refused.clear()
    with _clients_lock:
        _clients.clear()
