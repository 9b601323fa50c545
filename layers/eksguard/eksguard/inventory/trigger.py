"""Ask the inventory to read one cluster now: what a detector does when a log entry cannot be read.

An asynchronous invoke (Lambda queues it and retries on its own); the detector never waits for the
inventory. A failure to ask is logged and reported to the caller, never raised: the detector's own
alert ("content unknown") is already out, and the scheduled inventory reads every cluster anyway.

The request names the cluster's account as well as its name and region: cluster names are unique per
account and region only, so in a hub `prod` of a spoke is not the hub's `prod`, and the inventory must
read it through that spoke's role (absent or equal to the function's own account: its own clusters).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from eksguard import aws

logger = Logger(child=True)

SOURCE = "eksguard.detector"
MAX_REASON_CHARS = 300


@dataclass(frozen=True)
class InventoryRequest:
    """One cluster to read now, and why (what the detector could not read)."""

    cluster: str
    region: str
    account: str | None = None  # the cluster's account (an audit log's `owner`); None: the function's own
    reasons: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, cluster: str, region: str, account: str | None, reasons: Iterable[str]) -> InventoryRequest:
        return cls(cluster, region, account or None, tuple(dict.fromkeys(reasons)))

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "source": SOURCE,
            "action": "inventory",
            "cluster": self.cluster,
            "region": self.region,
            "reason": "; ".join(self.reasons)[:MAX_REASON_CHARS],
        }
        if self.account:
            payload["account"] = self.account
        return payload


def request_inventory(function_name: str, request: InventoryRequest) -> bool:
    where = {"cluster": request.cluster, "account": request.account}
    try:
        aws.lookup_client("lambda", request.region).invoke(
            FunctionName=function_name,
            InvocationType="Event",
            Payload=json.dumps(request.payload()).encode("utf-8"),
        )
    except (ClientError, BotoCoreError) as exc:
        logger.error("inventory_request_failed", extra={**where, "error": f"{type(exc).__name__}: {exc}"})
        return False
    logger.info("inventory_requested", extra={**where, "reasons": list(request.reasons[:10])})
    return True
