"""The Kinesis envelope of a CloudWatch Logs delivery (the hub's destination stream) and the inventory request
a detector sends: what is accepted, what is refused and why."""

from __future__ import annotations

from typing import Any

import pytest

from eksguard.audit_log.payload import (
    PayloadError,
    decode_awslogs,
    decode_kinesis_record,
    is_kinesis_event,
    kinesis_sequence_number,
)
from eksguard.inventory.trigger import InventoryRequest
from tests.aws_auth_support import BASE, delivery, update
from tests.kinesis_support import batch, control_payload, encode, payload, record, sequence

SPOKE = "111111111111"


def test_a_kinesis_record_holds_the_same_payload_as_a_direct_delivery() -> None:
    line = update("aud-1", BASE, 7)
    direct = decode_awslogs(delivery([line]))
    through_stream = decode_kinesis_record(record(1, payload([line], direct.owner)))
    assert through_stream == direct


def test_the_owner_of_a_data_message_must_be_an_account() -> None:
    assert decode_kinesis_record(record(1, payload([], SPOKE))).owner == SPOKE
    for owner in ("", "CloudwatchLogs", "11111111111", "1111111111111", "11111111111a"):
        with pytest.raises(PayloadError, match="is not an account ID"):
            decode_kinesis_record(record(1, payload([], owner)))


def test_a_control_message_needs_no_account() -> None:
    control = decode_kinesis_record(record(1, control_payload()))
    assert control.is_control and control.owner == "CloudwatchLogs"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"kinesis": {}}, "record has no kinesis.data"),
        ({"kinesis": {"data": 7}}, "kinesis.data is not a string"),
        ({"kinesis": {"data": "%%%"}}, "kinesis.data is not base64"),
        ({"kinesis": {"data": "aGVsbG8="}}, "kinesis.data is not gzip"),
        (
            {"kinesis": {"data": encode({"messageType": "DATA_MESSAGE", "logEvents": {"x": 1}})}},
            "logEvents is not a list",
        ),
        ({}, "record has no kinesis.data"),
    ],
)
def test_a_broken_record_says_why(raw: dict[str, Any], reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        decode_kinesis_record(raw)


def test_what_is_a_kinesis_batch() -> None:
    assert is_kinesis_event(batch(record(1, control_payload())))
    assert not is_kinesis_event(delivery([]))
    assert not is_kinesis_event({"Records": []})
    assert not is_kinesis_event({"Records": [{"eventSource": "aws:sqs"}]})
    assert not is_kinesis_event({"Records": [record(1, control_payload()), {"eventSource": "aws:sqs"}]})
    assert not is_kinesis_event([])


def test_sequence_numbers() -> None:
    assert kinesis_sequence_number(record(3, control_payload())) == sequence(3)
    assert kinesis_sequence_number({"kinesis": {"sequenceNumber": ""}}) is None
    assert kinesis_sequence_number("x") is None


def test_the_inventory_request_names_the_clusters_account() -> None:
    request = InventoryRequest.of(
        "prod", "eu-west-1", SPOKE, ["aws-auth update: truncated", "aws-auth update: truncated"]
    )
    assert request.payload() == {
        "source": "eksguard.detector",
        "action": "inventory",
        "cluster": "prod",
        "region": "eu-west-1",
        "account": SPOKE,
        "reason": "aws-auth update: truncated",
    }
    assert "account" not in InventoryRequest.of("prod", "eu-west-1", "", ["x"]).payload()
    assert len(InventoryRequest.of("prod", "eu-west-1", None, ["y" * 500]).payload()["reason"]) == 300
