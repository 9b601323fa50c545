"""Parse the aws-auth ConfigMap data (`mapRoles`, `mapUsers`, `mapAccounts` YAML strings) into typed entries.

The aws-iam-authenticator refuses a ConfigMap it cannot parse and then maps nobody: every IAM
principal except the cluster creator is locked out. So a parse failure is a finding in its own
right (`ParseError` with a reason), never something to skip.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

# libyaml's safe loader when the wheel has it (the Lambda layer's PyYAML does): same rules, faster.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MASTERS_GROUP = "system:masters"
NODE_GROUPS = frozenset({"system:bootstrappers", "system:nodes"})
MAPPING_KEYS = ("mapRoles", "mapUsers", "mapAccounts")

EntryKind = Literal["role", "user"]


class ParseError(ValueError):
    """aws-auth data the authenticator would reject; `key` names the offending data key."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class MapEntry:
    kind: EntryKind
    arn: str
    username: str | None = None
    groups: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        # The authenticator compares ARNs case-insensitively.
        return (self.kind, self.arn.lower())

    @property
    def is_master(self) -> bool:
        return MASTERS_GROUP in self.groups

    @property
    def is_node(self) -> bool:
        return NODE_GROUPS.issubset(self.groups)

    def describe(self) -> str:
        groups = ", ".join(self.groups) if self.groups else "no groups"
        user = f" as {self.username}" if self.username else ""
        return f"{self.arn}{user} [{groups}]"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "arn": self.arn, "username": self.username, "groups": list(self.groups)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MapEntry:
        kind: EntryKind = "user" if data.get("kind") == "user" else "role"
        return cls(
            kind=kind,
            arn=str(data["arn"]),
            username=data.get("username"),
            groups=tuple(str(g) for g in data.get("groups") or ()),
        )


@dataclass(frozen=True)
class AwsAuthContent:
    roles: tuple[MapEntry, ...] = ()
    users: tuple[MapEntry, ...] = ()
    accounts: tuple[str, ...] = ()
    extra_keys: tuple[str, ...] = field(default=())

    @property
    def entries(self) -> tuple[MapEntry, ...]:
        return self.roles + self.users

    def by_key(self) -> dict[tuple[str, str], MapEntry]:
        """Last entry wins for a repeated ARN, as when the authenticator builds its lookup map."""
        return {entry.key: entry for entry in self.entries}

    def masters(self) -> tuple[MapEntry, ...]:
        return tuple(e for e in self.by_key().values() if e.is_master)

    def to_dict(self) -> dict[str, Any]:
        return {
            "roles": [e.to_dict() for e in self.roles],
            "users": [e.to_dict() for e in self.users],
            "accounts": list(self.accounts),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AwsAuthContent:
        return cls(
            roles=tuple(MapEntry.from_dict(e) for e in data.get("roles") or ()),
            users=tuple(MapEntry.from_dict(e) for e in data.get("users") or ()),
            accounts=tuple(str(a) for a in data.get("accounts") or ()),
        )


def _load_list(key: str, raw: object) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, str):
        raise ParseError(key, f"value is a {type(raw).__name__}, not a YAML string")
    if not raw.strip():
        return []
    try:
        loaded = yaml.load(raw, Loader=_SafeLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise ParseError(key, f"invalid YAML{where}: {problem}") from None
    if loaded is None:
        return []
    if not isinstance(loaded, list):
        raise ParseError(key, f"YAML is a {type(loaded).__name__}, not a list of mappings")
    return loaded


def _entries(key: str, raw: object, kind: EntryKind, arn_field: str) -> tuple[MapEntry, ...]:
    entries: list[MapEntry] = []
    for index, item in enumerate(_load_list(key, raw), start=1):
        if not isinstance(item, dict):
            raise ParseError(key, f"item {index} is a {type(item).__name__}, not a mapping")
        arn = item.get(arn_field)
        if not isinstance(arn, str) or not arn.strip():
            raise ParseError(key, f"item {index} has no {arn_field}")
        groups_raw = item.get("groups") or []
        if not isinstance(groups_raw, list) or not all(isinstance(g, str) for g in groups_raw):
            raise ParseError(key, f"item {index} ({arn.strip()}): groups is not a list of strings")
        username = item.get("username")
        entries.append(
            MapEntry(
                kind=kind,
                arn=arn.strip(),
                username=str(username) if username is not None else None,
                groups=tuple(g.strip() for g in groups_raw),
            )
        )
    return tuple(entries)


def _accounts(raw: object) -> tuple[str, ...]:
    accounts: list[str] = []
    for index, item in enumerate(_load_list("mapAccounts", raw), start=1):
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise ParseError("mapAccounts", f"item {index} is not an account id")
        account = str(item).strip()
        # An unquoted YAML number loses leading zeros; account ids are 12 digits.
        if isinstance(item, int):
            account = account.zfill(12)
        accounts.append(account)
    return tuple(accounts)


def parse_aws_auth(data: Mapping[str, Any] | None) -> AwsAuthContent:
    """Typed content of a ConfigMap `data` map; raises ParseError on anything the authenticator rejects."""
    data = data or {}
    if not isinstance(data, Mapping):
        raise ParseError("data", "ConfigMap data is not a mapping")
    roles, users, accounts = (data.get(k) for k in MAPPING_KEYS)
    extra = tuple(sorted(str(k) for k in data if k not in MAPPING_KEYS))
    if all(v is None or isinstance(v, str) for v in (roles, users, accounts)):
        return _parse_cached(roles, users, accounts, extra)
    return _parse(roles, users, accounts, extra)


@functools.lru_cache(maxsize=64)
def _parse_cached(roles: str | None, users: str | None, accounts: str | None, extra: tuple[str, ...]) -> AwsAuthContent:
    """The same ConfigMap is parsed as "after" of one event and "before" of the next: parse it once."""
    return _parse(roles, users, accounts, extra)


def _parse(roles: object, users: object, accounts: object, extra: tuple[str, ...]) -> AwsAuthContent:
    return AwsAuthContent(
        roles=_entries("mapRoles", roles, "role", "rolearn"),
        users=_entries("mapUsers", users, "user", "userarn"),
        accounts=_accounts(accounts),
        extra_keys=extra,
    )
