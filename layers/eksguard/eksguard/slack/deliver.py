"""Incoming-webhook delivery and classification of Slack's answers.

Slack's answer decides what happens to the alert:
- DELIVERED: 2xx.
- RETRY: 429 (Retry-After honoured only if it fits the Lambda's remaining time), 408, 5xx,
  connection errors and timeouts; the queue keeps the alert and redelivers it later.
- DEGRADE: 400 (`invalid_payload`, `invalid_blocks`, ...): resend once as plain text.
- PERMANENT: 403/404/410 and other 4xx (revoked hook, archived channel): needs a human.

The webhook URL is a credential. It is never logged, never put in an exception message and
never rendered.

An incoming webhook is one HTTPS POST of JSON: the standard library's urllib does it (with
HTTPS_PROXY / NO_PROXY from the environment, as every tool reads them), so the layer does not ship
slack_sdk, whose package import (its Web API client) cost ~20 ms of the notifier's cold start.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from eksguard import aws
from eksguard.alerts import Alert
from eksguard.slack.render import plain_payload, render

SECRET_MAX_AGE_SECONDS = 300
REQUEST_TIMEOUT_SECONDS = 10.0
# Time kept back from the Lambda deadline for bookkeeping (idempotency record, visibility change).
SAFETY_MARGIN_SECONDS = 3.0
MIN_REQUEST_SECONDS = 1.0
MAX_ATTEMPTS = 4
TRANSIENT_RETRY_DELAY_SECONDS = 1.0
# After this many transient failures in one invocation, stop calling Slack until the next one.
CIRCUIT_BREAK_AFTER = 2
DEFAULT_RETRY_AFTER_SECONDS = 1.0
MAX_RETRY_AFTER_SECONDS = 3600.0

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEGRADE_STATUSES = frozenset({400})
RETRY_STATUSES = frozenset({408, 429})

MAX_RESPONSE_BYTES = 64 * 1024  # Slack answers "ok" or a short error code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook never redirects: a 3xx is answered as it is (PERMANENT), the alert never re-sent elsewhere."""

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"
    DEGRADE = "degrade"
    RETRY = "retry"
    PERMANENT = "permanent"


class WebhookConfigError(Exception):
    """The secret does not hold a usable webhook URL (the message never contains the value)."""


class WebhookSecretError(Exception):
    """The secret could not be read right now (permissions, throttling, network)."""


@dataclass(frozen=True)
class Classification:
    outcome: DeliveryOutcome
    status: int | None
    error: str = ""
    retry_after: float | None = None


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one alert: DELIVERED (possibly degraded to plain text), RETRY or PERMANENT."""

    outcome: DeliveryOutcome
    status: int | None
    error: str = ""
    attempts: int = 0
    degraded: bool = False
    retry_after: float | None = None
    attempted: bool = True

    @property
    def delivered(self) -> bool:
        return self.outcome is DeliveryOutcome.DELIVERED


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds (integer form or HTTP date), clamped to [0, 1 h]; None if absent or junk."""
    if value is None or not str(value).strip():
        return None
    raw = str(value).strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted:
            if isinstance(value, list | tuple):
                return str(value[0]) if value else None
            return str(value)
    return None


def classify(status: int | None, body: str = "", headers: Mapping[str, Any] | None = None) -> Classification:
    """Map one webhook response (or a transport failure, status None) to what to do next."""
    reason = " ".join((body or "").split())[:200]
    if status is None:
        return Classification(DeliveryOutcome.RETRY, None, reason or "connection error")
    if 200 <= status < 300:
        return Classification(DeliveryOutcome.DELIVERED, status, reason)
    if status == 429:
        retry_after = parse_retry_after(_header(headers, "Retry-After"))
        return Classification(
            DeliveryOutcome.RETRY,
            status,
            reason or "rate_limited",
            DEFAULT_RETRY_AFTER_SECONDS if retry_after is None else retry_after,
        )
    if status in RETRY_STATUSES or status >= 500:
        return Classification(DeliveryOutcome.RETRY, status, reason or f"http_{status}")
    if status in DEGRADE_STATUSES:
        return Classification(DeliveryOutcome.DEGRADE, status, reason or "invalid_payload")
    return Classification(DeliveryOutcome.PERMANENT, status, reason or f"http_{status}")


def is_loopback(host: str | None) -> bool:
    return (host or "").lower().strip("[]") in LOOPBACK_HOSTS


def validate_webhook_url(url: str) -> str:
    """https:// only, except loopback hosts (local stand-ins); errors never echo the URL."""
    candidate = url.strip()
    # urlsplit drops tabs and line breaks silently, http.client then refuses the URL and quotes it,
    # escaped, in its error (past any redaction): a URL must be printable ASCII without spaces.
    if any(not (0x21 <= ord(ch) <= 0x7E) for ch in candidate):
        raise WebhookConfigError("webhook URL contains spaces, control or non-ASCII characters")
    try:
        parts = urlsplit(candidate)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise WebhookConfigError("webhook URL is malformed") from None
    if not host:
        raise WebhookConfigError("webhook URL has no host")
    if parts.scheme == "https":
        return candidate
    if parts.scheme == "http" and is_loopback(host):
        return candidate
    raise WebhookConfigError(f"webhook URL must use https:// (got scheme {parts.scheme or 'none'!r})")


def parse_webhook_secret(secret: str | bytes | dict[str, Any] | None) -> str:
    """The secret is the URL itself or JSON `{"url": ...}`."""
    if secret is None:
        raise WebhookConfigError("webhook secret is empty")
    value: Any = secret
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise WebhookConfigError("webhook secret looks like JSON but does not parse") from None
    if isinstance(value, dict):
        value = value.get("url")
    if not isinstance(value, str) or not value.strip():
        raise WebhookConfigError('webhook secret holds neither a URL nor JSON with a "url" key')
    return validate_webhook_url(value)


_providers: dict[int, Any] = {}


def _secrets_provider(region: str) -> Any:
    """One Powertools SecretsProvider per boto3 client, so its cache lives as long as the client."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    client = aws.client("secretsmanager", region)
    provider = _providers.get(id(client))
    if provider is None or provider.client is not client:
        provider = SecretsProvider(boto3_client=client)
        _providers.clear()
        _providers[id(client)] = provider
    return provider


def load_webhook_url(
    secret_arn: str, region: str, max_age: int = SECRET_MAX_AGE_SECONDS, force_fetch: bool = False
) -> str:
    """Read and validate the webhook URL (cached for `max_age` seconds by Powertools Parameters)."""
    if not secret_arn:
        raise WebhookConfigError("SLACK_WEBHOOK_SECRET_ARN is not set")
    provider = _secrets_provider(region)
    try:
        secret = provider.get(secret_arn, max_age=max_age, force_fetch=force_fetch)
    except Exception as exc:  # GetParameterError wraps the botocore error
        raise WebhookSecretError(f"could not read the webhook secret: {type(exc).__name__}: {_short(exc)}") from None
    try:
        return parse_webhook_secret(secret)
    except WebhookConfigError:
        forget_webhook_url()
        raise


def forget_webhook_url() -> None:
    """Drop cached secret values so a corrected or rotated webhook is read on the next attempt."""
    for provider in _providers.values():
        provider.clear_cache()


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def redact(text: str, url: str) -> str:
    """Remove the webhook URL, its path and its path segments (the token parts) from a message."""
    if not url:
        return text
    out = text.replace(url, "[webhook]")
    try:
        path = urlsplit(url).path
    except ValueError:
        path = ""
    if len(path) > 1:
        out = out.replace(path, "[webhook-path]")
        for segment in sorted(path.split("/"), key=len, reverse=True):
            if len(segment) >= 6:
                out = out.replace(segment, "[redacted]")
    return out


def _monotonic() -> float:
    return time.monotonic()


class SlackWebhook:
    """Posts alerts to one incoming webhook within a deadline (monotonic seconds).

    One instance serves one Lambda invocation: it remembers transient failures and rate limits
    so the rest of the batch fails fast instead of waiting on a Slack that is down.
    """

    def __init__(
        self,
        url: str,
        *,
        deadline: float | None = None,
        proxy: str | None = None,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
        safety_margin: float = SAFETY_MARGIN_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
        transient_retry_delay: float = TRANSIENT_RETRY_DELAY_SECONDS,
        clock: Callable[[], float] = _monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = validate_webhook_url(url)
        self._host = urlsplit(self._url).hostname
        self._scheme = urlsplit(self._url).scheme
        self._proxy = proxy
        self._timeout = timeout
        self._margin = safety_margin
        self._max_attempts = max(1, max_attempts)
        self._transient_delay = transient_retry_delay
        self._clock = clock
        self._sleep = sleep
        self._deadline = deadline if deadline is not None else clock() + 900.0
        self._transient_failures = 0
        self._rate_limited_until = 0.0

    def __repr__(self) -> str:  # never show the URL
        return "SlackWebhook([webhook])"

    def remaining(self) -> float:
        """Seconds usable for Slack calls before the deadline, after the safety margin."""
        return self._deadline - self._clock() - self._margin

    def request_timeout(self, timeout: float) -> int:
        """Whole seconds for one request, at least one."""
        return max(1, math.ceil(timeout))

    def proxy(self) -> str | None:
        """The proxy a request goes through, by urllib's rules: for https, the one given, else HTTPS_PROXY;
        for http (loopback hosts only: local stand-ins), HTTP_PROXY, which is how a stand-in in another
        container is reached (docs/local.md); none for a host NO_PROXY names."""
        if urllib.request.proxy_bypass(self._host or ""):
            return None
        if self._scheme == "https":
            return self._proxy or urllib.request.getproxies().get("https")
        return urllib.request.getproxies().get("http")

    def _opener(self) -> urllib.request.OpenerDirector:
        proxy = self.proxy()
        return urllib.request.build_opener(
            urllib.request.ProxyHandler({self._scheme: proxy} if proxy else {}), _NoRedirect()
        )

    def post(self, payload: dict[str, Any], timeout: float | None = None) -> Classification:
        """One HTTP request, classified; transport errors become RETRY with a redacted reason."""
        wait = self._timeout if timeout is None else timeout
        request = urllib.request.Request(
            self._url,
            data=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json;charset=utf-8"},
            method="POST",
        )
        try:
            with self._opener().open(request, timeout=self.request_timeout(wait)) as response:  # noqa: S310 - https or loopback only (validate_webhook_url)
                body = response.read(MAX_RESPONSE_BYTES).decode("utf-8", errors="replace")
                return classify(response.status, redact(body, self._url), dict(response.headers.items()))
        except urllib.error.HTTPError as exc:
            try:
                body = exc.read(MAX_RESPONSE_BYTES).decode("utf-8", errors="replace")
            except Exception:  # the error body is only a reason text
                body = ""
            finally:
                exc.close()
            # An error page (a proxy's, say) may quote the URL it refused: redacted like everything else.
            return classify(exc.code, redact(body, self._url), dict(exc.headers.items()) if exc.headers else {})
        except Exception as exc:  # URLError, TimeoutError, ConnectionError, http.client errors
            return Classification(
                DeliveryOutcome.RETRY, None, redact(f"{type(exc).__name__}: {_short(exc)}", self._url)
            )

    def deliver(self, alert: Alert, mention: str = "") -> DeliveryResult:
        """Post the Block Kit message; degrade to plain text on 400; retry briefly within the deadline."""
        payload = render(alert, mention)
        degraded = False
        attempts = 0
        last: Classification | None = None
        for _ in range(self._max_attempts + 1):
            skip = self._skip_reason()
            if skip is not None:
                return self._result(last, attempts, degraded, skip)
            if attempts >= self._max_attempts:
                break
            attempts += 1
            last = self.post(payload, min(self._timeout, self.remaining()))
            if last.outcome is DeliveryOutcome.DELIVERED:
                self._transient_failures = 0
                return DeliveryResult(DeliveryOutcome.DELIVERED, last.status, last.error, attempts, degraded)
            if last.outcome is DeliveryOutcome.DEGRADE:
                if degraded:
                    return DeliveryResult(
                        DeliveryOutcome.PERMANENT, last.status, f"plain text rejected too: {last.error}", attempts, True
                    )
                degraded = True
                payload = plain_payload(alert, mention)
                continue
            if last.outcome is DeliveryOutcome.PERMANENT:
                return DeliveryResult(DeliveryOutcome.PERMANENT, last.status, last.error, attempts, degraded)
            if not self._wait_before_retry(last):
                return self._result(last, attempts, degraded)
        return self._result(last, attempts, degraded)

    def _skip_reason(self) -> str | None:
        if self._transient_failures >= CIRCUIT_BREAK_AFTER:
            return "Slack unavailable earlier in this invocation"
        if self._rate_limited_until > self._clock():
            return "rate limited earlier in this invocation"
        if self.remaining() < MIN_REQUEST_SECONDS:
            return "not enough time left in this invocation"
        return None

    def _wait_before_retry(self, last: Classification) -> bool:
        """Sleep before the next attempt if it fits the deadline; False means give up for now."""
        if last.status == 429:
            wait = last.retry_after if last.retry_after is not None else DEFAULT_RETRY_AFTER_SECONDS
            if wait + MIN_REQUEST_SECONDS <= self.remaining():
                self._sleep(wait)
                return True
            self._rate_limited_until = self._clock() + wait
            return False
        self._transient_failures += 1
        if self._transient_failures >= CIRCUIT_BREAK_AFTER:
            return False
        if self._transient_delay + MIN_REQUEST_SECONDS <= self.remaining():
            self._sleep(self._transient_delay)
            return True
        return False

    def _result(
        self, last: Classification | None, attempts: int, degraded: bool, skipped: str | None = None
    ) -> DeliveryResult:
        retry_after = last.retry_after if last is not None else None
        if skipped and self._rate_limited_until > self._clock():
            retry_after = max(retry_after or 0.0, self._rate_limited_until - self._clock())
        if last is None:
            return DeliveryResult(
                DeliveryOutcome.RETRY, None, skipped or "not attempted", 0, degraded, retry_after, False
            )
        error = last.error if not skipped else f"{last.error}; {skipped}"
        return DeliveryResult(DeliveryOutcome.RETRY, last.status, error, attempts, degraded, retry_after)
