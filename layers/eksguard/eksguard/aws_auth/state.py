"""Last known aws-auth per cluster, kept in DynamoDB (table AUDIT_STATE_TABLE, hash key `cluster`).

The key is `accounts.cluster_key(cluster, account)`: the cluster's name for the function's own
account, `<account>:<name>` for another account's cluster (a hub's spokes), so that no account can
write the baseline another account's aws-auth changes are judged against. `StoredState.cluster` holds it.

Ordering policy: audit entries from several API servers arrive on different log streams, so in
different invocations and possibly out of order. A state write is conditional: it only replaces a
stored state that is older, compared by resourceVersion numerically when both sides have a numeric
one (etcd revisions are cluster-wide and increase), otherwise by stageTimestamp. An event older than
the stored state is judged on its own content and does not change the state. The last
`RECENT_IDS` auditIDs are kept so a redelivered entry is recognised and not alerted twice.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal, Protocol, cast

from botocore.exceptions import ClientError

from eksguard import aws
from eksguard.aws_auth.mapping import parse_aws_auth

RECENT_IDS = 50
# Earlier versions kept so a late entry (another API server's stream, delivered after a newer one)
# is diffed against the version it replaced and blamed on the right person.
HISTORY_VERSIONS = 8
HISTORY_LIMIT = 150_000  # bytes of gzipped history in the item; the oldest versions go first
# DynamoDB items are capped at 400 KB. Data above INLINE_DATA_LIMIT is stored gzipped (aws-auth YAML
# compresses about tenfold) and the human-readable `parsed` copy is then left out.
INLINE_DATA_LIMIT = 100_000
Status = Literal["present", "deleted", "unknown"]


@dataclass(frozen=True)
class StoredState:
    cluster: str  # the record's key: the cluster name, qualified by its account when that is not ours
    status: Status
    data: dict[str, Any] | None = None
    resource_version: str | None = None
    stage_timestamp: str | None = None
    audit_id: str | None = None
    recent_audit_ids: tuple[str, ...] = field(default=())
    history: tuple[Version, ...] = field(default=())

    @property
    def rv_number(self) -> int | None:
        return numeric_rv(self.resource_version)

    @property
    def current(self) -> Version | None:
        """This state as a version, when its content is known."""
        if self.resource_version and self.status != "unknown":
            return Version(self.resource_version, self.status, self.data)
        return None

    def known_versions(self) -> tuple[Version, ...]:
        return self.history + ((self.current,) if self.current else ())

    def version(self, resource_version: str | None) -> Version | None:
        """The content at `resource_version`, when it is the current one or still in the history."""
        return next(
            (v for v in self.known_versions() if resource_version and v.resource_version == resource_version), None
        )

    def version_before(self, resource_version: str | None) -> Version | None:
        """The newest known version older than `resource_version` (numeric resourceVersions only)."""
        limit = numeric_rv(resource_version)
        numbered = [(numeric_rv(v.resource_version), v) for v in self.known_versions()]
        older = [(rv, v) for rv, v in numbered if rv is not None and limit is not None and rv < limit]
        return max(older, key=lambda pair: pair[0], default=(None, None))[1]

    def with_version(self, version: Version) -> StoredState:
        """Remember an extra version (a late entry's result), ordered by resourceVersion, bounded."""
        kept = {v.resource_version: v for v in self.history}
        kept[version.resource_version] = version
        ordered = sorted(kept.values(), key=lambda v: numeric_rv(v.resource_version) or 0)
        return replace(self, history=tuple(ordered[-HISTORY_VERSIONS:]))

    def succeeded_by(self, new: StoredState) -> StoredState:
        """`new` as the current state, with this one pushed into the history."""
        history = self.with_version(self.current).history if self.current else self.history
        return replace(new, history=history)

    def seen(self, audit_id: str | None) -> bool:
        return bool(audit_id) and audit_id in self.recent_audit_ids

    def remember(self, audit_id: str | None) -> StoredState:
        if not audit_id or audit_id in self.recent_audit_ids:
            return self
        return replace(self, recent_audit_ids=(self.recent_audit_ids + (audit_id,))[-RECENT_IDS:])


@dataclass(frozen=True)
class Version:
    resource_version: str
    status: Status
    data: dict[str, Any] | None = None


def numeric_rv(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def is_older(resource_version: str | None, stage_timestamp: str | None, state: StoredState | None) -> bool:
    """True when an event at (resourceVersion, stageTimestamp) predates the stored state."""
    if state is None:
        return False
    mine, theirs = numeric_rv(resource_version), state.rv_number
    if mine is not None and theirs is not None:
        return mine < theirs
    if stage_timestamp and state.stage_timestamp:
        return stage_timestamp < state.stage_timestamp
    return False


def is_newer(candidate: StoredState, state: StoredState | None) -> bool:
    if state is None:
        return True
    mine, theirs = candidate.rv_number, state.rv_number
    if mine is not None and theirs is not None:
        return mine > theirs
    if candidate.stage_timestamp and state.stage_timestamp:
        return candidate.stage_timestamp > state.stage_timestamp
    return candidate.audit_id != state.audit_id


class StateStore(Protocol):
    def load(self, cluster: str) -> StoredState | None: ...

    def save(self, new: StoredState, loaded: StoredState | None, advance: bool) -> bool:
        """Write `new`; `advance` = it is a newer aws-auth state (ordered write), otherwise only the
        seen-ids changed (optimistic write against `loaded`). False when the condition failed."""
        ...


class InMemoryStateStore:
    """Same semantics as the DynamoDB store, for tests, local runs and the benchmark."""

    def __init__(self) -> None:
        self.items: dict[str, StoredState] = {}

    def load(self, cluster: str) -> StoredState | None:
        return self.items.get(cluster)

    def save(self, new: StoredState, loaded: StoredState | None, advance: bool) -> bool:
        current = self.items.get(new.cluster)
        if advance:
            ok = current is None or is_newer(new, current)
        else:
            ok = (current is None and loaded is None) or (
                current is not None and loaded is not None and current.audit_id == loaded.audit_id
            )
        if ok:
            self.items[new.cluster] = new
        return ok


class DynamoStateStore:
    def __init__(self, table_name: str, region: str) -> None:
        self.table_name = table_name
        self.region = region

    @property
    def _client(self) -> Any:
        return aws.client("dynamodb", self.region)

    def load(self, cluster: str) -> StoredState | None:
        response = self._client.get_item(
            TableName=self.table_name, Key={"cluster": {"S": cluster}}, ConsistentRead=True
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def save(self, new: StoredState, loaded: StoredState | None, advance: bool) -> bool:
        values: dict[str, Any] = {}
        if advance:
            rv = new.rv_number
            condition = "attribute_not_exists(#c)"
            names = {"#c": "cluster"}
            if new.stage_timestamp:
                values[":ts"] = {"S": new.stage_timestamp}
            if rv is not None:
                values[":rv"] = {"N": str(rv)}
                condition += " OR (attribute_exists(rv_num) AND rv_num < :rv)"
                if new.stage_timestamp:
                    condition += " OR (attribute_not_exists(rv_num) AND stage_ts < :ts)"
            elif new.stage_timestamp:
                condition += " OR stage_ts < :ts"
        elif loaded is None:
            condition, names = "attribute_not_exists(#c)", {"#c": "cluster"}
        else:
            condition, names = "audit_id = :prev", {}
            values[":prev"] = {"S": loaded.audit_id or ""}
        kwargs: dict[str, Any] = {"TableName": self.table_name, "Item": to_item(new), "ConditionExpression": condition}
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = values
        try:
            self._client.put_item(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True


def to_item(state: StoredState) -> dict[str, Any]:
    """DynamoDB item: raw data (to replay later patches), parsed mappings (for people), ordering keys."""
    item: dict[str, Any] = {
        "cluster": {"S": state.cluster},
        "status": {"S": state.status},
        "audit_id": {"S": state.audit_id or ""},
        "recent_ids": {"L": [{"S": i} for i in state.recent_audit_ids]},
    }
    if state.data is not None:
        data = json.dumps(state.data, sort_keys=True)
        if len(data) > INLINE_DATA_LIMIT:
            item["data_gz"] = {"B": gzip.compress(data.encode("utf-8"), mtime=0)}
        else:
            item["data"] = {"S": data}
            parsed = parse_aws_auth(state.data).to_dict()
            item["parsed"] = {"S": json.dumps(parsed, sort_keys=True)[:INLINE_DATA_LIMIT]}
    if state.history:
        item["history_gz"] = {"B": _pack_history(state.history)}
    if state.resource_version:
        item["resource_version"] = {"S": state.resource_version}
        if state.rv_number is not None:
            item["rv_num"] = {"N": str(state.rv_number)}
    if state.stage_timestamp:
        item["stage_ts"] = {"S": state.stage_timestamp}
    return item


def from_item(item: dict[str, Any]) -> StoredState:
    def text(name: str) -> str | None:
        value = item.get(name, {}).get("S")
        return str(value) if value else None

    raw_status = text("status")
    status = cast(Status, raw_status) if raw_status in ("present", "deleted", "unknown") else "unknown"
    data_text = text("data")
    packed = item.get("data_gz", {}).get("B")
    if packed:
        data_text = gzip.decompress(packed).decode("utf-8")
    rv_num = item.get("rv_num", {}).get("N")
    return StoredState(
        cluster=str(item["cluster"]["S"]),
        status=status,
        data=json.loads(data_text) if data_text else None,
        resource_version=text("resource_version") or (str(Decimal(rv_num)) if rv_num else None),
        stage_timestamp=text("stage_ts"),
        audit_id=text("audit_id"),
        recent_audit_ids=tuple(str(v.get("S")) for v in item.get("recent_ids", {}).get("L", [])),
        history=_unpack_history(item.get("history_gz", {}).get("B")),
    )


def _pack_history(history: tuple[Version, ...]) -> bytes:
    versions = list(history)
    while True:
        raw = json.dumps(
            [{"rv": v.resource_version, "status": v.status, "data": v.data} for v in versions], sort_keys=True
        )
        packed = gzip.compress(raw.encode("utf-8"), mtime=0)
        if len(packed) <= HISTORY_LIMIT or len(versions) <= 1:
            return packed if len(packed) <= HISTORY_LIMIT else gzip.compress(b"[]", mtime=0)
        versions = versions[1:]


def _unpack_history(packed: Any) -> tuple[Version, ...]:
    if not packed:
        return ()
    try:
        entries = json.loads(gzip.decompress(bytes(packed)).decode("utf-8"))
    except (OSError, ValueError):
        return ()
    result = []
    for entry in entries if isinstance(entries, list) else []:
        status = entry.get("status") if isinstance(entry, dict) else None
        if status in ("present", "deleted") and isinstance(entry.get("rv"), str):
            data = entry.get("data")
            result.append(Version(entry["rv"], status, data if isinstance(data, dict) else None))
    return tuple(result)
