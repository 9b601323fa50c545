"""Kinesis batches as the hub's AuditLogStream delivers the spokes' EKS audit logs to AuditLogAlertFunction.

A CloudWatch Logs destination writes one subscription payload per Kinesis record, base64(gzip(json)) as for
a direct subscription, with `owner` = the account of the log group; the event source mapping hands the
function a batch of records, each with its shard sequence number.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

from tests.aws_auth_support import LOG_GROUP, LOG_STREAM

STREAM_ARN = "arn:aws:kinesis:eu-west-1:123456789012:stream/eksguard-AuditLogStream-TEST"
CONTROL_TEXT = "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."


def payload(
    messages: list[str | dict[str, Any]],
    owner: str,
    *,
    log_group: str = LOG_GROUP,
    log_stream: str = LOG_STREAM,
    first_id: int = 0,
) -> dict[str, Any]:
    """The decoded DATA_MESSAGE of a spoke's log group (log event ids numbered from `first_id`)."""
    return {
        "messageType": "DATA_MESSAGE",
        "owner": owner,
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": ["eksguard-aws-auth"],
        "logEvents": [
            {
                "id": str(first_id + i),
                "timestamp": 1746093600000 + first_id + i,
                "message": m if isinstance(m, str) else json.dumps(m, separators=(",", ":")),
            }
            for i, m in enumerate(messages)
        ],
    }


def control_payload() -> dict[str, Any]:
    return {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [{"id": "", "timestamp": 1746093500000, "message": CONTROL_TEXT}],
    }


def encode(body: dict[str, Any]) -> str:
    return base64.b64encode(gzip.compress(json.dumps(body).encode(), mtime=0)).decode()


def sequence(n: int) -> str:
    return f"4966012{n:049d}"


def record(n: int, data: dict[str, Any] | str) -> dict[str, Any]:
    """Record `n` of the shard; `data` a decoded payload, or the raw `kinesis.data` string as is."""
    seq = sequence(n)
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": f"key-{n}",
            "sequenceNumber": seq,
            "data": data if isinstance(data, str) else encode(data),
            "approximateArrivalTimestamp": 1746093600.0 + n,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{seq}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/eksguard-hub/eksguard-AuditLogAlertFunctionRole-TEST",
        "awsRegion": "eu-west-1",
        "eventSourceARN": STREAM_ARN,
    }


def batch(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def failed(response: dict[str, Any]) -> list[str]:
    """The sequence numbers a partial batch response reports."""
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]
