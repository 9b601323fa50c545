"""Slack delivery of eksguard alerts: Block Kit rendering, webhook delivery, the SQS notifier.

`render` is pure (Alert -> payload dict); `deliver` talks to the incoming webhook and classifies
Slack's answers; `notifier` ties an SQS record to exactly-once delivery.
"""

from eksguard.slack.deliver import DeliveryOutcome, DeliveryResult, SlackWebhook, classify, load_webhook_url
from eksguard.slack.render import render, render_plain

__all__ = [
    "DeliveryResult",
    "DeliveryOutcome",
    "SlackWebhook",
    "classify",
    "load_webhook_url",
    "render",
    "render_plain",
]
