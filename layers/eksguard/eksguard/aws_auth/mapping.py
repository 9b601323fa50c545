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
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

MASTERS_GROUP = "system:masters"
NODE_GROUPS = frozenset({"system:bootstrappers", "system:nodes"})
MAP_ROLES, MAP_USERS, MAP_ACCOUNTS = "mapRoles", "mapUsers", "mapAccounts"
MAPPING_KEYS = (MAP_ROLES, MAP_USERS, MAP_ACCOUNTS)
PARTITIONS = frozenset({"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"})

EntryKind = Literal["role", "user"]

_SKIPPABLE = frozenset({"", "``", '""', "''"})
_ACCOUNT_RE = re.compile(r"[0-9]{12}")  # used with fullmatch: Go's `$` does not accept a trailing newline
_PERMISSION_SET_RE = re.compile(r"[0-9A-Za-z_+=,.@-]{1,32}")
_CANONICAL_RE = re.compile(
    r"^arn:(?P<partition>[^:]+):(?P<service>iam|sts)::(?P<account>[^:]*):(?P<resource>.+)$", re.DOTALL
)
# What each template placeholder can render to (pkg/server/server.go renderTemplate). Session names
# are chosen by whoever calls sts:AssumeRole: [\w+=,.@-]{2,64}; {{SessionName}} turns @ into -.
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
    def masters_groups(self) -> tuple[str, ...]:
        """The groups that put a caller in system:masters: the literal group, or a template that a
        caller-chosen session name can render into it."""
        return tuple(g for g in self.groups if g == MASTERS_GROUP or template_can_render(g, MASTERS_GROUP))

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
        """`Matches()`: EqualFold on the ARN, ArnLike for an SSO pattern."""
        if self.sso is not None:
            return arn_like(canonical_arn, self.sso.arn_like())
        return go_equal_fold(self.arn, canonical_arn)

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
    # eksguard could not read it although the authenticator may: nothing can be concluded from it
    unverifiable: bool = False

    @property
    def wants_masters(self) -> bool:
        return any(_near_masters(g) or template_can_render(g, MASTERS_GROUP) for g in self.groups)

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

    def entry_for(self, key: tuple[str, str]) -> MapEntry | None:
        """`by_key().get(key)` without copying the map (a diff asks it once per removed entry)."""
        return self._by_key.get(key)

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


_WORD = frozenset(string.ascii_letters + string.digits + "_")
# Each placeholder as (the characters it can render, how many: None = any number).
_PLACEHOLDER_CHARS: dict[str, tuple[frozenset[str], int | None]] = {
    "{{SessionName}}": (_WORD | frozenset("+=,.-"), None),
    "{{SessionNameRaw}}": (_WORD | frozenset("+=,.@-"), None),
    "{{AccountID}}": (frozenset(string.digits), 12),
    "{{AccessKeyID}}": (frozenset(string.ascii_uppercase + string.digits), None),
    "{{EC2PrivateDNSName}}": (frozenset(string.ascii_lowercase + string.digits + ".-"), None),
}
Token = tuple[frozenset[str], bool]  # (characters, repeated any number of times)


@functools.lru_cache(maxsize=4096)
def template_tokens(template: str) -> tuple[Token, ...]:
    """A template as a sequence of character sets; an unknown placeholder stays literal text."""
    tokens: list[Token] = []
    for part in re.split(r"(\{\{[A-Za-z0-9]+\}\})", template):
        placeholder = _PLACEHOLDER_CHARS.get(part)
        if placeholder is None:
            tokens.extend((frozenset(char), False) for char in part)
            continue
        chars, count = placeholder
        if count is not None:
            tokens.extend([(chars, False)] * count)
        elif not (tokens and tokens[-1] == (chars, True)):  # adjacent repeats of one set are one
            tokens.append((chars, True))
    return tuple(tokens)


def _renders(tokens: tuple[Token, ...], text: str) -> bool:
    """Whether the template can render `text`: a set of positions walked character by character, never
    backtracking (a regular expression of many adjacent placeholders backtracks for minutes)."""
    end = len(tokens)

    def closure(states: set[int]) -> set[int]:
        result, pending = set(states), list(states)
        while pending:
            state = pending.pop()
            if state < end and tokens[state][1] and state + 1 not in result:
                result.add(state + 1)
                pending.append(state + 1)
        return result

    states = closure({0})
    for char in text:
        following = set()
        for state in states:
            if state < end and char in tokens[state][0]:
                following.add(state if tokens[state][1] else state + 1)
        if not following:
            return False
        states = closure(following)
    return end in states


@functools.lru_cache(maxsize=1024)
def template_can_render(template: str, target: str) -> bool:
    """True when a caller-chosen placeholder makes `template` render to `target`."""
    if "{{" not in template or not any(p in template for p in _CALLER_CHOSEN):
        return False
    return _renders(template_tokens(template), target)


def template_may_render(template: str, target: str) -> bool:
    """True when some caller mapped by this entry may get `target` from `template`: any placeholder
    ({{AccountID}}, {{EC2PrivateDNSName}}, {{SessionName}}, ...) takes any value it can have."""
    return "{{" in template and _renders(template_tokens(template), target)


def _glob_match(text: str, pattern: str) -> bool:
    """One ArnLike section (`*` any run, `?` at most one character), matched without backtracking."""
    states = {0}
    for char in text:
        following: set[int] = set()
        for state in _glob_closure(states, pattern):
            if state < len(pattern):
                token = pattern[state]
                if token == "*":
                    following.add(state)
                elif token == "?" or token == char:
                    following.add(state + 1)
        states = following
        if not states:
            return False
    return len(pattern) in _glob_closure(states, pattern)


def _glob_closure(states: set[int], pattern: str) -> set[int]:
    """States reachable without consuming a character (`*` and `?` may match nothing)."""
    result, pending = set(states), list(states)
    while pending:
        state = pending.pop()
        if state < len(pattern) and pattern[state] in "*?" and state + 1 not in result:
            result.add(state + 1)
            pending.append(state + 1)
    return result


def arn_like(subject: str, pattern: str) -> bool:
    """pkg/arn/arnlike.go `ArnLike`: six `:` sections compared one by one, case-insensitively here
    because `Map()` lower-cases the caller's ARN and `SSOArnLike()` lower-cases the pattern."""
    if not subject.startswith("arn:") or not pattern.startswith("arn:"):
        return False
    subject_parts, pattern_parts = subject.lower().split(":", 5), pattern.lower().split(":", 5)
    if len(subject_parts) != 6 or len(pattern_parts) != 6:
        return False
    return all(_glob_match(s, p) for s, p in zip(subject_parts, pattern_parts, strict=True))


_SIMPLE_FOLD = {"ſ": "s", "\u212a": "k"}


def go_simple_fold(text: str) -> str:
    """A key for Go's strings.EqualFold: ASCII case plus the two runes that fold onto ASCII letters."""
    return "".join(_SIMPLE_FOLD.get(c, c.lower()) for c in text)


def go_equal_fold(left: str, right: str) -> bool:
    return go_simple_fold(left) == go_simple_fold(right)


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
    if _has_wildcards(arn):
        return (
            "aws-iam-authenticator compares rolearn/userarn literally (strings.EqualFold) and IAM names cannot "
            "contain * or ?, so it matches no one (a build with wildcard matching would grant it to every "
            "matching principal)"
        )
    match = _CANONICAL_RE.match(go_simple_fold(arn))
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
# In eksguard.aws_auth.yaml_v2, imported when a mapping is first read: PyYAML costs ~20 ms of the
# cold start of every function that never reads aws-auth.


class YamlProblem(ValueError):
    """YAML the authenticator cannot read either (`certain`), or that eksguard cannot read although
    the authenticator might (`certain=False`: then nothing can be concluded from it)."""

    def __init__(self, message: str, certain: bool = True) -> None:
        super().__init__(message)
        self.certain = certain


class _Number(str):
    """A YAML int/float: only its type matters (every field we read is a string or a list)."""


def _is_text(value: Any) -> bool:
    """A JSON string for Go's decoder (a YAML number is not, though we keep its text)."""
    return isinstance(value, str) and not isinstance(value, _Number)


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
    # sigs.k8s.io/yaml builds the JSON with json.Marshal of a map: keys sorted by bytes. Among keys
    # that fold to the same field, the last in that order wins.
    for key, value in sorted(obj.items(), key=lambda item: item[0].encode("utf-8", "surrogatepass")):
        name = key if key in fields else folded.get(go_fold(key))
        if name is None:
            continue
        kind = fields[name]
        if kind == "string":
            if _is_text(value):
                into[name] = str(value)
            elif value is not None:
                skipped.append(f"{key}: a {_type_name(value)}, not a string (ignored)")
        elif kind == "strings":
            if value is None:
                into[name] = None
            elif isinstance(value, list):
                items: list[str] = []
                for item in value:
                    if _is_text(item):
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
    if not _ACCOUNT_RE.fullmatch(matcher.account):
        return None, f"sso.accountID {matcher.account!r} is not a 12-digit account id"
    if not _PERMISSION_SET_RE.fullmatch(matcher.permission_set):
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
    from eksguard.aws_auth import yaml_v2

    try:
        loaded = yaml_v2.load(raw)
    except YamlProblem as exc:
        if not exc.certain:
            return [], [DroppedEntry(source, 0, f"{exc}: the authenticator may still read it", unverifiable=True)]
        return [], [DroppedEntry(source, 0, f"{exc}: the authenticator keeps none of its entries")]
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
    from eksguard.aws_auth import yaml_v2

    return yaml_v2.accounts(raw)


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
