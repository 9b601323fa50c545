"""The EKS API detector's half of `eksguard.access_entries`: it records access entries as CloudTrail
shows them made, updated and deleted (the audit-log function only reads them)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from eksguard.access_entries import ATTRIBUTE_PREFIX, DynamoAccessEntryReader, merge


class DynamoAccessEntryStore(DynamoAccessEntryReader):
    def record(self, cluster: str, principal: str, username: str | None, groups: Iterable[str] | None) -> None:
        # UpdateAccessEntry without kubernetesGroups keeps them: merge over what is stored
        previous = self.load(cluster).get(principal)
        value = merge(previous, principal, username, groups)
        self._client.update_item(
            TableName=self.table_name,
            Key=self._key(cluster),
            UpdateExpression="SET #e = :v",
            ExpressionAttributeNames={"#e": ATTRIBUTE_PREFIX + principal},
            ExpressionAttributeValues={":v": {"S": json.dumps(value, sort_keys=True)}},
        )

    def forget(self, cluster: str, principal: str) -> None:
        self._client.update_item(
            TableName=self.table_name,
            Key=self._key(cluster),
            UpdateExpression="REMOVE #e",
            ExpressionAttributeNames={"#e": ATTRIBUTE_PREFIX + principal},
        )
