"""The aws-auth state always fits a DynamoDB item (400 KB): a large aws-auth (hundreds of mappings) used
to make every state write fail for good, so each delivery for that cluster raised and was retried while
later changes were diffed against a stale state (found by fuzzing)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from eksguard.aws_auth.state import DynamoStateStore, StoredState

REGION = "eu-west-1"


@pytest.fixture
def table(aws: None) -> str:
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="aws-auth-state",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "cluster", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "cluster", "KeyType": "HASH"}],
    )
    return "aws-auth-state"


def big_map_roles(count: int) -> str:
    return "".join(
        f"- rolearn: arn:aws:iam::111122223333:role/team-{k:05d}-ReadOnlyAccessRole\n"
        f"  username: team-{k:05d}-reader\n  groups:\n    - eksguard:viewers\n"
        for k in range(count)
    )


def test_a_large_aws_auth_is_stored_and_read_back(table: str) -> None:
    data: dict[str, Any] = {"mapRoles": big_map_roles(2500)}  # about 330 KB of YAML
    assert len(data["mapRoles"]) > 300_000
    store = DynamoStateStore(table, REGION)
    state = StoredState("prod", "present", data, "42", "2025-05-01T10:00:00.000000Z", "aud-1", ("aud-1",))

    assert store.save(state, None, advance=True)

    loaded = store.load("prod")
    assert loaded is not None and loaded.data == data and loaded.resource_version == "42"
    assert loaded.recent_audit_ids == ("aud-1",)


def test_small_states_keep_the_readable_parsed_copy(table: str) -> None:
    store = DynamoStateStore(table, REGION)
    data = {"mapRoles": big_map_roles(3)}
    assert store.save(StoredState("prod", "present", data, "7", None, "a"), None, advance=True)
    item = boto3.client("dynamodb", region_name=REGION).get_item(TableName=table, Key={"cluster": {"S": "prod"}})[
        "Item"
    ]
    assert "team-00002-reader" in item["parsed"]["S"] and "data" in item
