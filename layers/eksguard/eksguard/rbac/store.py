"""Where the RBAC state is kept: DynamoDB (one item per cluster, written with optimistic concurrency) or memory.

Kept apart from `state` so that readers (the CloudTrail detector) import no write.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from eksguard import aws
from eksguard.rbac.state import KEY_SUFFIX, MAX_ITEM_BYTES, RbacState, encode, read_state


class InMemoryRbacStore:
    def __init__(self) -> None:
        self.items: dict[str, RbacState] = {}

    def load(self, cluster: str) -> RbacState:
        return self.items.get(cluster) or RbacState(cluster=cluster)

    def save(self, state: RbacState) -> bool:
        current = self.items.get(state.cluster)
        if (current.revision if current else 0) != state.revision:
            return False
        self.items[state.cluster] = replace(state, revision=state.revision + 1)
        return True


class DynamoRbacStore:
    def __init__(self, table_name: str, region: str) -> None:
        self.table_name = table_name
        self.region = region

    @property
    def _client(self) -> Any:
        return aws.client("dynamodb", self.region)

    def load(self, cluster: str) -> RbacState:
        return read_state(self.table_name, self.region, cluster)

    def save(self, state: RbacState) -> bool:
        packed = encode(state)
        if len(packed) > MAX_ITEM_BYTES:
            raise ValueError(
                f"RBAC state of {state.cluster} is {len(packed)} bytes gzipped, over the {MAX_ITEM_BYTES} kept for it"
            )
        item = {
            "cluster": {"S": state.cluster + KEY_SUFFIX},
            "kind": {"S": "rbac"},
            "rbac_gz": {"B": packed},
            "revision": {"N": str(state.revision + 1)},
            "objects": {"N": str(len(state.roles) + len(state.bindings))},
        }
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(#c) OR revision = :rev",
                ExpressionAttributeNames={"#c": "cluster"},
                ExpressionAttributeValues={":rev": {"N": str(state.revision)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
