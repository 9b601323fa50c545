"""Ask the inventory to read one cluster now: what a detector does when a log entry cannot be read.

An asynchronous invoke (Lambda queues it and retries on its own); the detector never waits for the
inventory. A failure to ask is logged and reported to the caller, never raised: the detector's own
alert ("content unknown") is already out, and the scheduled inventory reads every cluster anyway.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from eksguard import aws

logger = Logger(child=True)


def request_inventory(function_name: str, cluster: str, region: str, reasons: Iterable[str]) -> bool:
    reasons = list(dict.fromkeys(reasons))
    payload = {
        "source": "eksguard.detector",
        "action": "inventory",
        "cluster": cluster,
        "region": region,
        "reason": "; ".join(reasons)[:300],
    }
    try:
        aws.lookup_client("lambda", region).invoke(
            FunctionName=function_name, InvocationType="Event", Payload=json.dumps(payload).encode("utf-8")
        )
    except (ClientError, BotoCoreError) as exc:
        logger.error("inventory_request_failed", extra={"cluster": cluster, "error": f"{type(exc).__name__}: {exc}"})
        return False
    logger.info("inventory_requested", extra={"cluster": cluster, "reasons": reasons[:10]})
    return True
