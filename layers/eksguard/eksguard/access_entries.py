"""The access entries eksguard has seen created, updated and deleted (from CloudTrail), per cluster.

The EKS API detector records each successful CreateAccessEntry/UpdateAccessEntry (principal, user name,
`kubernetesGroups`) and forgets a DeleteAccessEntry; the RBAC judge reads them to name who carries a
group or user name a binding grants (an access entry's groups may be bound by RBAC later: EKS does not
check that a group is bound when the entry is made).

One DynamoDB item per cluster in the audit state table (key `<cluster>#access-entries`, where `<cluster>`
is `accounts.cluster_key`: `<account>:<name>` for another account's cluster), one attribute
per principal (`e:<principal ARN>` = JSON), so each call is one atomic UpdateItem, never a
read-modify-write race between concurrent invocations. What was made before eksguard was deployed is
not known here (the live inventory reads it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

from eksguard import aws

KEY_SUFFIX = "#access-entries"
ATTRIBUTE_PREFIX = "e:"
Entries = dict[str, dict[str, Any]]


def default_username(principal: str) -> str:
    """EKS's user name for an access entry created without one (docs: access-entries, "username")."""
    if ":role/" in principal:
        head, name = principal.split(":role/", 1)
        return f"{head.replace(':iam::', ':sts::')}:assumed-role/{name.rsplit('/', 1)[-1]}/{{{{SessionName}}}}"
    return principal


class AccessEntrySource(Protocol):
    def load(self, cluster: str) -> Entries: ...


class InMemoryAccessEntryStore:
    def __init__(self) -> None:
        self.items: dict[str, Entries] = {}

    def load(self, cluster: str) -> Entries:
        return {k: dict(v) for k, v in self.items.get(cluster, {}).items()}

    def record(self, cluster: str, principal: str, username: str | None, groups: Iterable[str] | None) -> None:
        entries = self.items.setdefault(cluster, {})
        entries[principal] = merge(entries.get(principal), principal, username, groups)

    def forget(self, cluster: str, principal: str) -> None:
        self.items.get(cluster, {}).pop(principal, None)


def merge(
    previous: dict[str, Any] | None, principal: str, username: str | None, groups: Iterable[str] | None
) -> dict[str, Any]:
    """UpdateAccessEntry replaces what it names and keeps what it leaves out."""
    merged = dict(previous or {"username": default_username(principal), "groups": []})
    if username:
        merged["username"] = username
    if groups is not None:
        merged["groups"] = sorted(set(groups))
    return merged


class DynamoAccessEntryReader:
    """Reads what the EKS API detector recorded (the audit-log function only reads)."""

    def __init__(self, table_name: str, region: str) -> None:
        self.table_name = table_name
        self.region = region

    @property
    def _client(self) -> Any:
        return aws.client("dynamodb", self.region)

    def _key(self, cluster: str) -> dict[str, Any]:
        return {"cluster": {"S": cluster + KEY_SUFFIX}}

    def load(self, cluster: str) -> Entries:
        item = self._client.get_item(TableName=self.table_name, Key=self._key(cluster), ConsistentRead=True).get("Item")
        entries: Entries = {}
        for name, value in (item or {}).items():
            if name.startswith(ATTRIBUTE_PREFIX) and "S" in value:
                try:
                    entries[name[len(ATTRIBUTE_PREFIX) :]] = json.loads(value["S"])
                except ValueError:
                    continue
        return entries
