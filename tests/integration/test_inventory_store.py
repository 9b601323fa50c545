"""The inventory record in DynamoDB (moto): a write never replaces a newer or equal revision, so two runs
at once (the schedule and a detector's request) cannot roll a cluster's record back."""

from __future__ import annotations

import boto3

from eksguard.inventory.compare import ClusterRecord
from eksguard.inventory.store import DynamoInventoryStore, InMemoryInventoryStore

REGION = "eu-west-1"


def test_revisions_only_move_forward(aws: None) -> None:
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="state",
        AttributeDefinitions=[{"AttributeName": "cluster", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "cluster", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for store in (DynamoInventoryStore("state", REGION), InMemoryInventoryStore()):
        assert store.load("prod", REGION) is None
        first = ClusterRecord("prod", REGION, revision=1, admins={"a": {"doors": [], "expected": True}})
        assert store.save(first) is True
        racing = ClusterRecord("prod", REGION, revision=1, admins={})
        assert store.save(racing) is False  # the other run of the same revision lost
        assert store.save(ClusterRecord("prod", REGION, revision=2, admins={})) is True
        assert store.save(first) is False
        loaded = store.load("prod", REGION)
        assert loaded is not None and loaded.revision == 2 and loaded.admins == {}
        assert store.load("prod", "us-east-1") is None  # one record per cluster and region
