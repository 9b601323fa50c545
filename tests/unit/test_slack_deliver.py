"""Webhook delivery: response classification, time budget, degrade, secret handling, URL secrecy."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from eksguard.slack import deliver as deliver_mod
from eksguard.slack.deliver import (
    MAX_RETRY_AFTER_SECONDS,
    DeliveryOutcome,
    SlackWebhook,
    WebhookConfigError,
    classify,
    parse_retry_after,
    parse_webhook_secret,
    redact,
    validate_webhook_url,
)
from tests.slack_alerts import eks_api_alert, stop_summary_alert
from tests.slack_standin import Reply, SlackStandIn

TOKEN = "s3cr3tW3bh00kT0k3n"


class Sleeps:
    """Records requested sleeps; sleeps for real only when asked to."""

    def __init__(self, real: bool = False) -> None:
        self.calls: list[float] = []
        self.real = real

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.real:
            time.sleep(seconds)


def webhook(standin: SlackStandIn, budget: float = 60.0, **kwargs: object) -> SlackWebhook:
    options: dict[str, object] = {"deadline": time.monotonic() + budget, "sleep": Sleeps(), "timeout": 5.0}
    options.update(kwargs)
    return SlackWebhook(standin.url, **options)  # type: ignore[arg-type]


# -------------------------------------------------------------------- classification
@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, "ok", DeliveryOutcome.DELIVERED),
        (204, "", DeliveryOutcome.DELIVERED),
        (400, "invalid_payload", DeliveryOutcome.DEGRADE),
        (400, "invalid_blocks", DeliveryOutcome.DEGRADE),
        (403, "action_prohibited", DeliveryOutcome.PERMANENT),
        (404, "no_service", DeliveryOutcome.PERMANENT),
        (404, "channel_not_found", DeliveryOutcome.PERMANENT),
        (410, "channel_is_archived", DeliveryOutcome.PERMANENT),
        (401, "", DeliveryOutcome.PERMANENT),
        (408, "", DeliveryOutcome.RETRY),
        (429, "rate_limited", DeliveryOutcome.RETRY),
        (500, "rollup_error", DeliveryOutcome.RETRY),
        (503, "", DeliveryOutcome.RETRY),
        (None, "", DeliveryOutcome.RETRY),
    ],
)
def test_classify(status: int | None, body: str, outcome: DeliveryOutcome) -> None:
    assert classify(status, body).outcome is outcome


def test_classify_reads_retry_after_case_insensitively_with_a_default() -> None:
    assert classify(429, "", {"retry-after": "7"}).retry_after == 7.0
    assert classify(429, "", {"Retry-After": ["3"]}).retry_after == 3.0
    assert classify(429, "", {}).retry_after == deliver_mod.DEFAULT_RETRY_AFTER_SECONDS


def test_parse_retry_after() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" ") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("999999") == MAX_RETRY_AFTER_SECONDS
    now = datetime(2025, 11, 20, 12, 0, 0, tzinfo=UTC)
    http_date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(http_date, now=now.timestamp()) == pytest.approx(30.0)


# -------------------------------------------------------------------- URL and secret
@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T000/B000/XXXX",
        "http://127.0.0.1:8765/services/x",
        "http://localhost:8765/x",
        "http://[::1]:8765/x",
    ],
)
def test_valid_webhook_urls(url: str) -> None:
    assert validate_webhook_url(f"  {url} ") == url


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.slack.com/services/T000/B000/" + TOKEN,
        "ftp://hooks.slack.com/" + TOKEN,
        "hooks.slack.com/services/" + TOKEN,
        "https:///" + TOKEN,
        "http://127.0.0.1:notaport/" + TOKEN,
        "http://10.0.0.1/" + TOKEN,
    ],
)
def test_invalid_webhook_urls_are_rejected_without_echoing_them(url: str) -> None:
    with pytest.raises(WebhookConfigError) as info:
        validate_webhook_url(url)
    assert TOKEN not in str(info.value)


def test_secret_may_be_the_url_or_json_with_url() -> None:
    url = "https://hooks.slack.com/services/T000/B000/" + TOKEN
    assert parse_webhook_secret(url) == url
    assert parse_webhook_secret(f'{{"url": "{url}"}}') == url
    assert parse_webhook_secret(url.encode()) == url
    for bad in ('{"webhook": "x"}', "{not json", "", None):
        with pytest.raises(WebhookConfigError) as info:
            parse_webhook_secret(bad)
        assert TOKEN not in str(info.value)


def test_redact_removes_url_path_and_token() -> None:
    url = "https://hooks.slack.com/services/T0AAA/B0BBB/" + TOKEN
    message = f"failed {url} then /services/T0AAA/B0BBB/{TOKEN} and {TOKEN}"
    cleaned = redact(message, url)
    assert TOKEN not in cleaned
    assert "[webhook]" in cleaned


# -------------------------------------------------------------------- delivery
def test_delivered_payload_is_the_rendered_block_kit(slack_standin: SlackStandIn) -> None:
    result = webhook(slack_standin).deliver(eks_api_alert(), "<!here>")

    assert result.outcome is DeliveryOutcome.DELIVERED
    assert (result.status, result.attempts, result.degraded) == (200, 1, False)
    [payload] = slack_standin.delivered
    assert payload["text"].startswith("[CRITICAL] prod: arn:aws:iam::111122223333:role/intruder")
    assert payload["text"].endswith("<!here>")
    assert payload["blocks"][0]["type"] == "header"


def test_rate_limit_retry_after_is_honoured_within_the_budget(slack_standin: SlackStandIn) -> None:
    slack_standin.enqueue(Reply.rate_limited(1))
    sleeps = Sleeps(real=True)

    result = webhook(slack_standin, sleep=sleeps).deliver(eks_api_alert())

    assert result.outcome is DeliveryOutcome.DELIVERED
    assert result.attempts == 2
    assert sleeps.calls == [1.0]
    first, second = slack_standin.received
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0


def test_rate_limit_longer_than_the_budget_is_not_slept_and_fails_the_rest_fast(slack_standin: SlackStandIn) -> None:
    slack_standin.enqueue(Reply.rate_limited(120))
    sleeps = Sleeps()
    hook = webhook(slack_standin, budget=30.0, sleep=sleeps)

    first = hook.deliver(eks_api_alert())
    second = hook.deliver(stop_summary_alert())

    assert first.outcome is DeliveryOutcome.RETRY
    assert (first.status, first.retry_after) == (429, 120.0)
    assert sleeps.calls == []
    assert second.outcome is DeliveryOutcome.RETRY
    assert second.attempted is False
    assert second.retry_after is not None and second.retry_after > 100
    assert len(slack_standin.received) == 1


def test_one_server_error_is_retried_at_once(slack_standin: SlackStandIn) -> None:
    slack_standin.enqueue(Reply.server_error())
    sleeps = Sleeps()

    result = webhook(slack_standin, sleep=sleeps).deliver(eks_api_alert())

    assert result.outcome is DeliveryOutcome.DELIVERED
    assert result.attempts == 2
    assert sleeps.calls == [deliver_mod.TRANSIENT_RETRY_DELAY_SECONDS]


def test_repeated_server_errors_open_the_circuit_for_the_rest_of_the_invocation(slack_standin: SlackStandIn) -> None:
    slack_standin.set_default(Reply.server_error())
    hook = webhook(slack_standin)

    first = hook.deliver(eks_api_alert())
    later = [hook.deliver(stop_summary_alert()) for _ in range(5)]

    assert (first.outcome, first.status, first.attempts) == (DeliveryOutcome.RETRY, 500, 2)
    assert all(r.outcome is DeliveryOutcome.RETRY and not r.attempted for r in later)
    assert len(slack_standin.received) == 2


def test_invalid_payload_is_resent_once_as_plain_text(slack_standin: SlackStandIn) -> None:
    slack_standin.enqueue(Reply.invalid_payload())

    result = webhook(slack_standin).deliver(eks_api_alert(), "<!here>")

    assert result.outcome is DeliveryOutcome.DELIVERED
    assert result.degraded is True
    blocks_payload, plain_payload = slack_standin.payloads
    assert "blocks" in blocks_payload
    assert set(plain_payload) == {"text", "unfurl_links", "unfurl_media"}
    assert plain_payload["text"].startswith("[CRITICAL] prod: ")
    assert "<!here>" in plain_payload["text"].splitlines()[0]


def test_plain_text_rejected_too_is_permanent(slack_standin: SlackStandIn) -> None:
    slack_standin.enqueue(Reply.invalid_payload(), Reply.invalid_payload())
    result = webhook(slack_standin).deliver(eks_api_alert())
    assert result.outcome is DeliveryOutcome.PERMANENT
    assert len(slack_standin.received) == 2


@pytest.mark.parametrize("reply", [Reply.archived(), Reply.not_found(), Reply.forbidden()])
def test_revoked_or_archived_is_permanent_after_one_request(slack_standin: SlackStandIn, reply: Reply) -> None:
    slack_standin.enqueue(reply)
    result = webhook(slack_standin).deliver(eks_api_alert())
    assert result.outcome is DeliveryOutcome.PERMANENT
    assert (result.status, result.error) == (reply.status, reply.body)
    assert len(slack_standin.received) == 1


def test_slow_answer_times_out_as_retry(slack_standin: SlackStandIn) -> None:
    slack_standin.enqueue(Reply.slow(2.5), Reply.slow(2.5))
    started = time.monotonic()

    result = webhook(slack_standin, timeout=1.0).deliver(eks_api_alert())

    assert result.outcome is DeliveryOutcome.RETRY
    assert result.status is None
    assert "timed out" in result.error.lower()
    assert time.monotonic() - started < 4.0


def test_dropped_connection_is_retry(slack_standin: SlackStandIn) -> None:
    slack_standin.enqueue(Reply.dropped(), Reply.dropped())
    result = webhook(slack_standin).deliver(eks_api_alert())
    assert result.outcome is DeliveryOutcome.RETRY
    assert result.status is None


def test_connection_refused_is_retry_and_never_names_the_url(slack_standin: SlackStandIn) -> None:
    url = slack_standin.url
    slack_standin.stop()

    result = SlackWebhook(url, sleep=Sleeps()).deliver(eks_api_alert())

    assert result.outcome is DeliveryOutcome.RETRY
    assert "refused" in result.error.lower()
    assert TOKEN not in result.error
    assert TOKEN not in repr(SlackWebhook(url))


def test_no_request_when_the_deadline_is_too_close(slack_standin: SlackStandIn) -> None:
    result = webhook(slack_standin, budget=deliver_mod.SAFETY_MARGIN_SECONDS + 0.5).deliver(eks_api_alert())
    assert result.outcome is DeliveryOutcome.RETRY
    assert result.attempted is False
    assert slack_standin.received == []


def test_request_timeout_is_capped_by_the_remaining_time(slack_standin: SlackStandIn) -> None:
    clock_now = [1000.0]
    hook = SlackWebhook(
        slack_standin.url,
        deadline=1000.0 + deliver_mod.SAFETY_MARGIN_SECONDS + 2.0,
        clock=lambda: clock_now[0],
        timeout=10.0,
    )
    assert hook.remaining() == pytest.approx(2.0)
    assert hook.request_timeout(hook.remaining()) == 2


def test_proxy_from_argument_or_environment_by_scheme(
    slack_standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    remote = "https://hooks.slack.com/services/T0/B0/" + TOKEN
    assert SlackWebhook(remote).proxy() == "http://proxy.internal:3128"
    assert SlackWebhook(remote, proxy="http://other:8080").proxy() == "http://other:8080"
    assert webhook(slack_standin).proxy() is None
    monkeypatch.setenv("NO_PROXY", "hooks.slack.com")
    assert SlackWebhook(remote).proxy() is None
    # and the loopback stand-in is really reached despite the (unreachable) https proxy
    assert webhook(slack_standin).deliver(eks_api_alert()).outcome is DeliveryOutcome.DELIVERED
    # A loopback stand-in (http) follows HTTP_PROXY only: how the local Docker set-up reaches its container.
    monkeypatch.setenv("HTTP_PROXY", "http://eksguard-slack:8765")
    assert webhook(slack_standin).proxy() == "http://eksguard-slack:8765"


def test_nothing_logs_the_webhook_url(
    slack_standin: SlackStandIn, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    slack_standin.enqueue(Reply.server_error(), Reply.rate_limited(0), Reply.invalid_payload(), Reply.archived())
    hook = webhook(slack_standin)
    results = [hook.deliver(eks_api_alert()) for _ in range(3)]
    url = slack_standin.url
    slack_standin.stop()
    results.append(SlackWebhook(url, sleep=Sleeps()).deliver(eks_api_alert()))

    captured = capsys.readouterr()
    everything = caplog.text + captured.out + captured.err + " ".join(r.error for r in results)
    # 500 -> retry -> 429 -> 400 -> plain text -> 410, then two clean deliveries, then refused
    assert [r.outcome for r in results] == [
        DeliveryOutcome.PERMANENT,
        DeliveryOutcome.DELIVERED,
        DeliveryOutcome.DELIVERED,
        DeliveryOutcome.RETRY,
    ]
    assert [r.status for r in slack_standin.received] == [500, 429, 400, 410, 200, 200]
    assert TOKEN not in everything


def test_a_redirect_is_never_followed(slack_standin: SlackStandIn) -> None:
    """The payload is posted to the webhook and nowhere else: a 3xx is an answer, not a new destination."""
    slack_standin.enqueue(Reply(302, "moved", (("Location", slack_standin.url + "/elsewhere"),)))
    result = webhook(slack_standin).deliver(eks_api_alert())
    assert result.outcome is DeliveryOutcome.PERMANENT and result.status == 302
    assert len(slack_standin.received) == 1


def test_a_rate_limited_record_waits_for_slack_not_for_an_outage_backoff() -> None:
    from eksguard.slack.notifier import rate_limit_delay_seconds, retry_delay_seconds

    assert [rate_limit_delay_seconds(n, 1.0) for n in (1, 2, 3)] == [2, 4, 8]
    assert rate_limit_delay_seconds(1, 30.0) == 30  # Slack's Retry-After wins when longer
    assert rate_limit_delay_seconds(12, 1.0) == 3600  # capped like the outage backoff
    assert sum(rate_limit_delay_seconds(n, 1.0) for n in range(1, 12)) >= 3600  # no spin to the dead-letter queue
    assert [retry_delay_seconds(n) for n in (1, 2)] == [60, 120]  # outages keep their minute


@pytest.mark.parametrize("bad", ["\n", "\t", " ", "\x7f", "é"])
def test_a_url_with_spaces_control_or_non_ascii_characters_is_refused_without_echoing_it(bad: str) -> None:
    """urlsplit drops tabs and line breaks silently and http.client quotes the refused URL escaped: a wrapped
    paste of the secret must be a configuration error, never a request whose error repeats the token."""
    url = "https://hooks.slack.com/services/T0/B0/abcdefghijkl" + bad + "mnopqrstuvwx"
    with pytest.raises(WebhookConfigError) as caught:
        SlackWebhook(url)
    assert "abcdefghijkl" not in str(caught.value) and "mnopqrstuvwx" not in str(caught.value)


def test_an_error_page_quoting_the_url_is_redacted(slack_standin: SlackStandIn) -> None:
    slack_standin.enqueue(Reply(502, f"proxy could not reach {slack_standin.url}"))
    result = webhook(slack_standin).post({"text": "x"})
    assert result.outcome is DeliveryOutcome.RETRY
    assert slack_standin.url not in result.error and TOKEN not in result.error
