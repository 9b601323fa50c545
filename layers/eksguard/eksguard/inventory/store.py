"""Where each cluster's last inventory is kept: one DynamoDB item per cluster and region in the audit
state table (key `<cluster key>#inventory@<region>`, gzipped JSON), written only if nobody wrote a newer
revision in between (two runs at once: the schedule and a detector's request).

The cluster key is `accounts.cluster_key`: the plain name in the hub's own account (the records a
single-account deployment already has), `<account>:<name>` in a spoke, so `prod` of one account never
reads or overwrites the record of `prod` in another. The table is the hub's: callers reach it with the
hub's own credentials (`aws.at_home()`), whatever account they are inventorying."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from typing import Any, Protocol

from botocore.exceptions import ClientError

from eksguard import accounts, aws
from eksguard.inventory.compare import ClusterRecord

KEY_MARK = "#inventory@"
MAX_ITEM_BYTES = 350_000


def item_key(key: str, region: str) -> str:
    """`key`: the cluster's state key (accounts.cluster_key: the plain name in the hub's own account)."""
    return f"{key}{KEY_MARK}{region}"


def record_key(record: ClusterRecord) -> str:
    return accounts.cluster_key(record.cluster, record.account)


class InventoryStore(Protocol):
    def load(self, cluster: str, region: str) -> ClusterRecord | None:
        """`cluster`: the cluster's state key (accounts.cluster_key)."""
        ...

    def save(self, record: ClusterRecord) -> bool:
        """False when a newer revision is already stored (this run's view is then not kept)."""
        ...


class InMemoryInventoryStore:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], ClusterRecord] = {}

    def load(self, cluster: str, region: str) -> ClusterRecord | None:
        return self.records.get((cluster, region))

    def save(self, record: ClusterRecord) -> bool:
        key = (record_key(record), record.region)
        current = self.records.get(key)
        if current is not None and current.revision >= record.revision:
            return False
        self.records[key] = record
        return True


def pack(record: ClusterRecord) -> bytes:
    """The record gzipped, trimmed to fit an item: first the lists that are only shown (latent doors,
    control-plane identities), then each admin's doors beyond the first. Raises if even that is too big."""
    for candidate in (record, _trimmed(record, doors=False), _trimmed(record, doors=True)):
        packed = gzip.compress(json.dumps(candidate.to_dict(), sort_keys=True).encode("utf-8"))
        if len(packed) <= MAX_ITEM_BYTES:
            return packed
    raise ValueError(
        f"inventory of {record.cluster} is {len(packed)} bytes gzipped even trimmed, over {MAX_ITEM_BYTES}"
    )


def _trimmed(record: ClusterRecord, doors: bool) -> ClusterRecord:
    note = ("... trimmed to fit the record",)
    admins = record.admins
    if doors:
        admins = {p: {**a, "doors": list(a.get("doors") or [])[:1]} for p, a in record.admins.items()}
    return replace(
        record, latent=note if record.latent else (), platform=note if record.platform else (), admins=admins
    )


class DynamoInventoryStore:
    def __init__(self, table_name: str, region: str) -> None:
        self.table_name = table_name
        self.region = region

    @property
    def _client(self) -> Any:
        with aws.at_home():  # the hub's table, also when called inside a spoke's scope
            return aws.client("dynamodb", self.region)

    def load(self, cluster: str, region: str) -> ClusterRecord | None:
        item = self._client.get_item(
            TableName=self.table_name, Key={"cluster": {"S": item_key(cluster, region)}}, ConsistentRead=True
        ).get("Item")
        if not item or "inventory_gz" not in item:
            return None
        return ClusterRecord.from_dict(json.loads(gzip.decompress(item["inventory_gz"]["B"])))

    def save(self, record: ClusterRecord) -> bool:
        packed = pack(record)
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item={
                    "cluster": {"S": item_key(record_key(record), record.region)},
                    "kind": {"S": "inventory"},
                    "inventory_gz": {"B": packed},
                    "revision": {"N": str(record.revision)},
                },
                ConditionExpression="attribute_not_exists(revision) OR revision < :revision",
                ExpressionAttributeValues={":revision": {"N": str(record.revision)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
