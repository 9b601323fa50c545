"""Read the aws-auth ConfigMap exactly as EKS's aws-iam-authenticator reads it.

The semantics follow kubernetes-sigs/aws-iam-authenticator (docs/aws-auth-alerts.md names the files):

* `ParseMap` (pkg/mapper/configmap/configmap.go): the top-level keys `mapRoles`, `mapUsers`,
  `mapAccounts` are case-sensitive; a value that is blank, `""`, `''` or two backquotes is skipped.
  `mapRoles`/`mapUsers` go YAML -> JSON (`utilyaml.ToJSON`) -> Go `encoding/json` into
  `[]RoleMapping`/`[]UserMapping`; every entry is `Validate()`d on its own and only the valid ones
  are kept ("Only saving data that was good"): one broken entry never drops its siblings.
* Go `encoding/json`: object keys match struct fields case-insensitively (with Unicode simple
  folding, so `groupſ` is `groups`); a value of the wrong type skips that field and decoding goes
  on; a later key for the same field wins; `null` leaves a string field untouched.
* `mapAccounts` is decoded by `gopkg.in/yaml.v2` into `[]string`: every scalar keeps the text as
  written (`012345670123` stays that, it is not an octal number).
* `saveMap` keys roles by `Key()` (lower-cased ARN, or the SSO ARN pattern) and users by the ARN as
  written: the last entry with a key wins. `Map()` looks a caller's canonical ARN up in the roles
  first, then the users, with `EqualFold` (or `ArnLike` for a rolearn with `*`/`?`).
* Canonical ARNs (pkg/arn/arn.go `Canonicalize`): an assumed role becomes
  `arn:<p>:iam::<acct>:role/<name>` without any IAM path; users keep their ARN as is. So a role
  mapping with a path never matches anybody.
* Group names are used as written, after template rendering (pkg/server/server.go
  `renderTemplate`): `{{SessionName}}`/`{{SessionNameRaw}}` put the caller-chosen STS session name
  into a group, so `system:{{SessionName}}` lets anyone who can assume the role become
  `system:masters`.

The result says both what the authenticator effectively grants and what it drops, with the reason.
Parsing never raises: a broken value is data the verdicts report on.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

MASTERS_GROUP = "system:masters"
NODE_GROUPS = frozenset({"system:bootstrappers", "system:nodes"})
MAP_ROLES, MAP_USERS, MAP_ACCOUNTS = "mapRoles", "mapUsers", "mapAccounts"
MAPPING_KEYS = (MAP_ROLES, MAP_USERS, MAP_ACCOUNTS)
PARTITIONS = frozenset({"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"})
# yaml.v2 refuses documents that expand aliases without bound; so do we (and stay cheap).
MAX_NODES = 200_000

EntryKind = Literal["role", "user"]

_SKIPPABLE = frozenset({"", "``", '""', "''"})
_ACCOUNT_RE = re.compile(r"^[0-9]{12}$")
_PERMISSION_SET_RE = re.compile(r"^[0-9A-Za-z_+=,.@-]{1,32}$")
_CANONICAL_RE = re.compile(
    r"^arn:(?P<partition>[^:]+):(?P<service>iam|sts)::(?P<account>[^:]*):(?P<resource>.+)$", re.DOTALL
)
# What each template placeholder can render to (pkg/server/server.go renderTemplate). Session names
# are chosen by whoever calls sts:AssumeRole: [\w+=,.@-]{2,64}; {{SessionName}} turns @ into -.
_PLACEHOLDERS = {
    "{{SessionName}}": r"[\w+=,.-]*",
    "{{SessionNameRaw}}": r"[\w+=,.@-]*",
    "{{AccountID}}": r"[0-9]{12}",
    "{{AccessKeyID}}": r"[A-Z0-9]*",
    "{{EC2PrivateDNSName}}": r"[a-z0-9.-]*",
}
_CALLER_CHOSEN = ("{{SessionName}}", "{{SessionNameRaw}}")


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class SsoMatcher:
    """`sso:` in a role mapping: matches `AWSReservedSSO_<permissionSetName>_*` roles of one account."""

    permission_set: str
    account: str
    partition: str = ""

    def arn_like(self) -> str:
        # Upstream's SSOArnLike() only fills the partition when none is given: an explicit partition
        # yields `arn::iam::...`, which matches no role. Reproduced, and reported as dead.
        partition = "aws" if self.partition == "" else ""
        return f"arn:{partition}:iam::{self.account}:role/AWSReservedSSO_{self.permission_set}_*".lower()

    def describe(self) -> str:
        return f"SSO permission set {self.permission_set} in account {self.account}"


@dataclass(frozen=True)
class MapEntry:
    """One entry the authenticator keeps (it passed `Validate()`)."""

    kind: EntryKind
    arn: str  # rolearn/userarn as written; "" for an SSO entry
    username: str | None = None
    groups: tuple[str, ...] = ()
    sso: SsoMatcher | None = None
    source: str = MAP_ROLES
    index: int = 0  # 1-based position in its list
    skipped_fields: tuple[str, ...] = ()  # fields Go's decoder skipped, with the reason

    @property
    def key(self) -> tuple[str, str]:
        """The authenticator's map key: roles by lower-cased ARN (or SSO pattern), users as written."""
        if self.kind == "role":
            return ("role", self.sso.arn_like() if self.sso else self.arn.lower())
        return ("user", self.arn)

    @property
    def match_key(self) -> str:
        """What a caller's canonical ARN is compared with (case-insensitively)."""
        return self.sso.arn_like() if self.sso else self.arn.lower()

    @property
    def identity(self) -> str:
        """The principal or pattern, as shown in alerts."""
        return self.sso.describe() if self.sso else self.arn

    @property
    def principal(self) -> str:
        """What the expected-admin list is checked against: the ARN, or the SSO role pattern."""
        if self.sso:
            partition = self.sso.partition or "aws"
            return f"arn:{partition}:iam::{self.sso.account}:role/AWSReservedSSO_{self.sso.permission_set}_*"
        return self.arn

    @property
    def is_pattern(self) -> bool:
        return self.sso is not None or (self.kind == "role" and _has_wildcards(self.arn))

    @property
    def masters_groups(self) -> tuple[str, ...]:
        """The groups that put a caller in system:masters: the literal group, or a template that a
        caller-chosen session name can render into it."""
        return tuple(g for g in self.groups if g == MASTERS_GROUP or _template_can_render(g, MASTERS_GROUP))

    @property
    def is_master(self) -> bool:
        return bool(self.masters_groups)

    @property
    def masters_via_template(self) -> bool:
        return self.is_master and MASTERS_GROUP not in self.groups

    @property
    def misspelt_masters(self) -> tuple[str, ...]:
        """Groups meant as system:masters that grant nothing (group names are compared exactly)."""
        return tuple(g for g in self.groups if g != MASTERS_GROUP and _near_masters(g))

    def matches(self, canonical_arn: str) -> bool:
        """`Matches()`: EqualFold on the ARN, ArnLike for a wildcard rolearn or an SSO pattern."""
        if self.is_pattern:
            return arn_like(canonical_arn, self.match_key)
        return self.arn.lower() == canonical_arn.lower()

    @property
    def is_node(self) -> bool:
        return NODE_GROUPS.issubset(self.groups)

    @functools.cached_property
    def dead_reason(self) -> str | None:
        """Why this kept entry can never match a caller, or None when it can."""
        return _dead_reason(self)

    def describe(self) -> str:
        groups = ", ".join(self.groups) if self.groups else "no groups"
        user = f" as {self.username}" if self.username else ""
        return f"{self.identity}{user} [{groups}]"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "arn": self.arn, "username": self.username}
        data["groups"] = list(self.groups)
        if self.sso:
            data["sso"] = {
                "permissionSetName": self.sso.permission_set,
                "accountID": self.sso.account,
                "partition": self.sso.partition,
            }
        return data


@dataclass(frozen=True)
class DroppedEntry:
    """Something in aws-auth the authenticator ignores, with the reason and what it asked for."""

    source: str
    index: int  # 0 when a whole key is concerned
    reason: str
    identity: str | None = None
    groups: tuple[str, ...] = ()

    @property
    def wants_masters(self) -> bool:
        return any(_near_masters(g) or _template_can_render(g, MASTERS_GROUP) for g in self.groups)

    @property
    def where(self) -> str:
        return f"{self.source} item {self.index}" if self.index else self.source

    def describe(self) -> str:
        who = self.identity or "an entry without a usable ARN"
        groups = f" [{', '.join(self.groups)}]" if self.groups else ""
        return f"{self.where}: {who}{groups}: {self.reason}"


@dataclass(frozen=True)
class AwsAuthContent:
    roles: tuple[MapEntry, ...] = ()
    users: tuple[MapEntry, ...] = ()
    accounts: tuple[str, ...] = ()
    dropped: tuple[DroppedEntry, ...] = ()
    extra_keys: tuple[str, ...] = field(default=())

    @property
    def entries(self) -> tuple[MapEntry, ...]:
        return self.roles + self.users

    def by_key(self) -> dict[tuple[str, str], MapEntry]:
        """The authenticator's lookup maps (`saveMap`): a later entry with the same key wins."""
        return dict(self._by_key)

    @functools.cached_property
    def _by_key(self) -> dict[tuple[str, str], MapEntry]:
        return {entry.key: entry for entry in self.entries}

    def effective(self) -> dict[tuple[str, str], MapEntry]:
        """Entries some caller can really be mapped by: the last of each key, not dead, and not a user
        entry that a role entry also matches (`Map()` looks the roles up first)."""
        return dict(self._effective)

    @functools.cached_property
    def _effective(self) -> dict[tuple[str, str], MapEntry]:
        table = self._by_key
        live_roles = [e for (kind, _), e in table.items() if kind == "role" and e.dead_reason is None]
        return {
            k: e
            for k, e in table.items()
            if e.dead_reason is None and not (e.kind == "user" and any(r.matches(e.arn) for r in live_roles))
        }

    def shadowed(self) -> tuple[MapEntry, ...]:
        """Kept entries that lose to a later entry with the same key (last one wins)."""
        table = self.by_key()
        return tuple(e for e in self.entries if table.get(e.key) is not e)

    def masters(self) -> tuple[MapEntry, ...]:
        return tuple(e for e in self.effective().values() if e.is_master)

    def dead(self) -> tuple[MapEntry, ...]:
        return tuple(e for e in self.by_key().values() if e.dead_reason is not None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "roles": [e.to_dict() for e in self.roles],
            "users": [e.to_dict() for e in self.users],
            "accounts": list(self.accounts),
            "dropped": [d.describe() for d in self.dropped],
        }


# ----------------------------------------------------------------------------- matching rules


def _has_wildcards(value: str) -> bool:
    return "*" in value or "?" in value


def _near_masters(group: str) -> bool:
    """A spelling meant as system:masters that the authenticator does not treat as it."""
    return group.strip().lower() == MASTERS_GROUP


def _template_regex(template: str) -> str:
    parts = re.split(r"(\{\{[A-Za-z0-9]+\}\})", template)
    return "".join(_PLACEHOLDERS.get(p, re.escape(p)) for p in parts)


@functools.lru_cache(maxsize=1024)
def _template_can_render(template: str, target: str) -> bool:
    """True when a caller-chosen placeholder makes `template` render to `target`."""
    if "{{" not in template or not any(p in template for p in _CALLER_CHOSEN):
        return False
    return re.fullmatch(_template_regex(template), target, flags=re.ASCII) is not None


def _arn_like_pattern(pattern: str) -> re.Pattern[str] | None:
    """pkg/arn/arnlike.go: six `:` sections, each a glob (`*` any run, `?` at most one char)."""
    if not pattern.startswith("arn:"):
        return None
    sections = pattern.split(":", 5)
    if len(sections) != 6:
        return None
    regex = ":".join(re.escape(s).replace(r"\*", ".*").replace(r"\?", ".?") for s in sections)
    return re.compile(regex, re.IGNORECASE)


def arn_like(subject: str, pattern: str) -> bool:
    compiled = _arn_like_pattern(pattern)
    return bool(compiled and compiled.fullmatch(subject))


def _dead_reason(entry: MapEntry) -> str | None:
    if entry.sso is not None:
        if entry.sso.partition:
            return (
                f"sso.partition {entry.sso.partition!r} is set: the authenticator's SSOArnLike() then "
                "builds an ARN pattern with an empty partition, which matches no role"
            )
        return None
    arn = entry.arn
    if arn != arn.strip():
        return "the ARN has spaces around it; the authenticator compares it as written"
    if entry.kind == "role" and _has_wildcards(arn):
        if _arn_like_pattern(arn) is None:
            return "the wildcard pattern is not a six-part ARN; ArnLike rejects it"
        return None
    match = _CANONICAL_RE.match(arn)
    if not match:
        return "not an IAM principal ARN; no caller's canonical ARN can equal it"
    service, resource = match["service"], match["resource"]
    kind, _, rest = resource.partition("/")
    if service == "sts":
        if kind == "assumed-role":
            return (
                "an STS assumed-role session ARN; the authenticator maps the role ARN "
                "(arn:aws:iam::<account>:role/<name>), so this never matches"
            )
        return None if kind == "federated-user" else "not a principal ARN the authenticator produces"
    if kind == "role":
        if "/" in rest:
            return (
                "the role ARN has an IAM path; callers' role ARNs are canonicalised without the path, "
                "so it never matches (drop the path)"
            )
        return None
    if kind in ("user", "root") or resource == "root":
        return None
    return "not a role or user ARN"


# ----------------------------------------------------------------------------- YAML -> JSON


# libyaml's parser when the wheel has it (the Lambda layer's PyYAML does): same events, faster.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):
    """YAML 1.1 resolution as gopkg.in/yaml.v2, without PyYAML's base-60 numbers (`1:20`)."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


class YamlProblem(ValueError):
    pass


def _first_document(text: str) -> yaml.Node | None:
    """The first YAML document, as yaml.v2 `Unmarshal` reads only that one."""
    try:
        for node in yaml.compose_all(text, Loader=_Loader):  # noqa: S506 - composes nodes, runs no constructor
            return node
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise YamlProblem(f"invalid YAML{where}: {problem}") from None


_NULL, _BOOL, _INT, _FLOAT = (f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float"))


def _scalar(node: yaml.ScalarNode) -> Any:
    tag, text = node.tag, node.value
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return text.lower() in ("yes", "true", "on", "y")
    if tag == _INT:
        return _Number(text)
    if tag == _FLOAT:
        return _Number(text)
    return text


class _Number(str):
    """A YAML int/float: only its type matters (every field we read is a string or a list)."""


def _to_json(node: yaml.Node, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlProblem("too many YAML nodes (alias expansion); yaml.v2 refuses such documents")
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return [_to_json(child, budget) for child in node.value]
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                for source in value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]:
                    value = _to_json(source, budget)
                    if isinstance(value, dict):
                        merged.update({k: v for k, v in value.items() if k not in merged})
                continue
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(_to_json(key_node, budget))
            result[str(key)] = _to_json(value_node, budget)
        return {**merged, **result} if merged else result
    return None


def _load(text: str) -> Any:
    node = _first_document(text)
    return None if node is None else _to_json(node, [MAX_NODES])


# ----------------------------------------------------------------------------- Go encoding/json


_GO_FOLD = {"ſ": "S", "\u212a": "K"}


def go_fold(name: str) -> str:
    """encoding/json's foldName: ASCII upper-cased, non-ASCII runes folded to the smallest rune of
    their simple-fold orbit (only U+017F and U+212A fold onto ASCII letters)."""
    return "".join(c.upper() if c.isascii() else _GO_FOLD.get(c, c) for c in name)


def _type_name(value: Any) -> str:
    if isinstance(value, _Number):
        return "number"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return "null"


def _decode_struct(obj: Mapping[str, Any], fields: Mapping[str, str], into: dict[str, Any], skipped: list[str]) -> None:
    """Decode a JSON object into a Go struct whose fields are `{json name: kind}`, in key order."""
    folded = {go_fold(name): name for name in fields}
    for key, value in obj.items():
        name = key if key in fields else folded.get(go_fold(key))
        if name is None:
            continue
        kind = fields[name]
        if kind == "string":
            if isinstance(value, str) and not isinstance(value, _Number):
                into[name] = str(value)
            elif value is not None:
                skipped.append(f"{key}: a {_type_name(value)}, not a string (ignored)")
        elif kind == "strings":
            if value is None:
                into[name] = None
            elif isinstance(value, list):
                items: list[str] = []
                for item in value:
                    if isinstance(item, str) and not isinstance(item, _Number):
                        items.append(str(item))
                    else:
                        items.append("")
                        if item is not None:
                            skipped.append(f"{key}: an item is a {_type_name(item)}, read as an empty group")
                into[name] = items
            else:
                skipped.append(f"{key}: a {_type_name(value)}, not a list (ignored)")
        elif kind == "sso":
            if value is None:
                into[name] = None
            elif isinstance(value, dict):
                current = into.get(name)
                target: dict[str, Any] = dict(current) if isinstance(current, dict) else {}
                _decode_struct(value, _SSO_FIELDS, target, skipped)
                into[name] = target
            else:
                skipped.append(f"{key}: a {_type_name(value)}, not a mapping (ignored)")


_ROLE_FIELDS = {"rolearn": "string", "sso": "sso", "username": "string", "groups": "strings", "userid": "string"}
_USER_FIELDS = {"userarn": "string", "username": "string", "groups": "strings", "userid": "string"}
_SSO_FIELDS = {"permissionSetName": "string", "accountID": "string", "partition": "string"}


def _validate_sso(sso: Mapping[str, Any]) -> tuple[SsoMatcher | None, str | None]:
    matcher = SsoMatcher(
        permission_set=str(sso.get("permissionSetName") or ""),
        account=str(sso.get("accountID") or ""),
        partition=str(sso.get("partition") or ""),
    )
    if not _ACCOUNT_RE.match(matcher.account):
        return None, f"sso.accountID {matcher.account!r} is not a 12-digit account id"
    if not _PERMISSION_SET_RE.match(matcher.permission_set):
        return None, f"sso.permissionSetName {matcher.permission_set!r} is not a valid permission set name"
    if matcher.partition and matcher.partition not in PARTITIONS:
        return None, f"sso.partition {matcher.partition!r} is not an AWS partition"
    return matcher, None


def _entry(source: str, index: int, item: Any) -> tuple[MapEntry | None, DroppedEntry | None]:
    kind: EntryKind = "role" if source.endswith("Roles") else "user"
    fields = _ROLE_FIELDS if kind == "role" else _USER_FIELDS
    arn_field = "rolearn" if kind == "role" else "userarn"
    if not isinstance(item, dict):
        return None, DroppedEntry(source, index, f"a {_type_name(item)}, not a mapping")
    decoded: dict[str, Any] = {}
    skipped: list[str] = []
    _decode_struct(item, fields, decoded, skipped)
    arn = decoded.get(arn_field) or ""
    groups = tuple(decoded.get("groups") or ())
    username = decoded.get("username")
    sso_raw = decoded.get("sso") if kind == "role" else None
    identity = arn or None
    why_skipped = f" ({'; '.join(skipped)})" if skipped else ""
    if kind == "role":
        if not arn and sso_raw is None:
            return None, DroppedEntry(source, index, f"neither rolearn nor sso is set{why_skipped}", identity, groups)
        if arn and sso_raw is not None:
            return None, DroppedEntry(source, index, "both rolearn and sso are set (only one is allowed)", arn, groups)
    elif not arn:
        return None, DroppedEntry(source, index, f"no userarn{why_skipped}", identity, groups)
    sso: SsoMatcher | None = None
    if sso_raw is not None:
        sso, problem = _validate_sso(sso_raw)
        if problem:
            name = sso_raw.get("permissionSetName") or "?"
            return None, DroppedEntry(source, index, problem, f"SSO permission set {name}", groups)
    entry = MapEntry(
        kind=kind,
        arn=arn,
        username=username if isinstance(username, str) else None,
        groups=groups,
        sso=sso,
        source=source,
        index=index,
        skipped_fields=tuple(skipped),
    )
    return entry, None


def _mappings(source: str, raw: str) -> tuple[list[MapEntry], list[DroppedEntry]]:
    try:
        loaded = _load(raw)
    except (YamlProblem, RecursionError) as exc:
        reason = str(exc) if isinstance(exc, YamlProblem) else "YAML nested too deeply"
        return [], [DroppedEntry(source, 0, f"{reason}: the authenticator keeps none of its entries")]
    if loaded is None:
        return [], []
    if not isinstance(loaded, list):
        return [], [DroppedEntry(source, 0, f"a {_type_name(loaded)}, not a list: the authenticator keeps none of it")]
    entries: list[MapEntry] = []
    dropped: list[DroppedEntry] = []
    for index, item in enumerate(loaded, start=1):
        entry, problem = _entry(source, index, item)
        if entry is not None:
            entries.append(entry)
        if problem is not None:
            dropped.append(problem)
    return entries, dropped


def _accounts(raw: str) -> tuple[list[str], list[DroppedEntry]]:
    """yaml.v2 into []string: scalars keep their text as written, null reads as ""."""
    try:
        node = _first_document(raw)
    except YamlProblem as exc:
        return [], [DroppedEntry(MAP_ACCOUNTS, 0, f"{exc}: the authenticator keeps none of it")]
    if node is None:
        return [], []
    if not isinstance(node, yaml.SequenceNode):
        return [], [DroppedEntry(MAP_ACCOUNTS, 0, "not a list: the authenticator keeps none of it")]
    accounts: list[str] = []
    dropped: list[DroppedEntry] = []
    for index, item in enumerate(node.value, start=1):
        if isinstance(item, yaml.ScalarNode):
            accounts.append("" if item.tag == _NULL else item.value)
        else:
            dropped.append(DroppedEntry(MAP_ACCOUNTS, index, "not a scalar account id"))
    return accounts, dropped


def is_skippable(value: str) -> bool:
    return value.strip() in _SKIPPABLE


def parse_aws_auth(data: Mapping[str, Any] | None) -> AwsAuthContent:
    """What the authenticator keeps of a ConfigMap `data` map, and what it drops and why."""
    if data is None:
        return AwsAuthContent()
    if not isinstance(data, Mapping):
        return AwsAuthContent(dropped=(DroppedEntry("data", 0, "ConfigMap data is not a mapping"),))
    values = tuple(data.get(k) if isinstance(data.get(k), str) else None for k in MAPPING_KEYS)
    others = tuple(sorted((str(k), v) for k, v in data.items() if k not in MAPPING_KEYS and isinstance(v, str)))
    bad_types = tuple(sorted(str(k) for k in MAPPING_KEYS if k in data and not isinstance(data[k], str)))
    return _parse(values[0], values[1], values[2], others, bad_types)


@functools.lru_cache(maxsize=64)
def _parse(
    roles: str | None,
    users: str | None,
    accounts: str | None,
    others: tuple[tuple[str, str], ...],
    bad_types: tuple[str, ...],
) -> AwsAuthContent:
    """Cached: the same ConfigMap is the "after" of one event and the "before" of the next."""
    role_entries: list[MapEntry] = []
    user_entries: list[MapEntry] = []
    account_list: list[str] = []
    dropped: list[DroppedEntry] = [DroppedEntry(k, 0, "value is not a string") for k in bad_types]
    if roles is not None and not is_skippable(roles):
        role_entries, problems = _mappings(MAP_ROLES, roles)
        dropped.extend(problems)
    if users is not None and not is_skippable(users):
        user_entries, problems = _mappings(MAP_USERS, users)
        dropped.extend(problems)
    if accounts is not None and not is_skippable(accounts):
        account_list, problems = _accounts(accounts)
        dropped.extend(problems)
    dropped.extend(_ignored_keys(others))
    return AwsAuthContent(
        roles=tuple(role_entries),
        users=tuple(user_entries),
        accounts=tuple(account_list),
        dropped=tuple(dropped),
        extra_keys=tuple(k for k, _ in others),
    )


def _ignored_keys(others: Iterable[tuple[str, str]]) -> list[DroppedEntry]:
    """Keys spelled like mapRoles/mapUsers in another case: the authenticator never reads them."""
    result: list[DroppedEntry] = []
    canonical = {k.lower(): k for k in (MAP_ROLES, MAP_USERS)}
    for key, value in others:
        meant = canonical.get(key.lower())
        if meant is None or is_skippable(value):
            continue
        entries, _ = _mappings(meant, value)
        reason = f"key {key!r} is ignored: top-level keys are case-sensitive (the authenticator reads {meant!r})"
        if not entries:
            result.append(DroppedEntry(key, 0, reason))
        for entry in entries:
            result.append(DroppedEntry(key, entry.index, reason, entry.identity, entry.groups))
    return result
