"""aws-auth YAML read as aws-iam-authenticator reads it: gopkg.in/yaml.v2 resolution of plain scalars,
its alias and depth limits, then sigs.k8s.io/yaml's conversion to JSON values (see eksguard.aws_auth.mapping,
which imports this module only when it first reads a mapping: PyYAML is not on every cold path)."""

from __future__ import annotations

import base64
import binascii
import re
import sys
from dataclasses import dataclass
from typing import Any

import yaml

from eksguard.aws_auth.mapping import MAP_ACCOUNTS, DroppedEntry, YamlProblem, _Number

# libyaml's parser when the wheel has it (the Lambda layer's PyYAML does): same events, faster.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_NULL, _BOOL, _INT, _FLOAT, _STR, _MERGE, _BINARY = (
    f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "str", "merge", "binary")
)
_V2_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_V2_BOOLS = frozenset("y Y yes Yes YES on On ON true True TRUE n N no No NO off Off OFF false False FALSE".split())
_V2_SPECIAL_FLOATS = frozenset(
    f"{sign}.{word}" for sign in ("", "+", "-") for word in ("inf", "Inf", "INF")
) | frozenset({".nan", ".NaN", ".NAN"})
# strconv.ParseInt/ParseUint(plain, 0, 64) forms (after yaml.v2 removed every "_"), and yamlStyleFloat.
_V2_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_V2_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_V2_DOT_FLOAT = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?")


def v2_plain_tag(value: str) -> str:
    """The tag gopkg.in/yaml.v2's resolve() gives an untagged plain scalar (resolve.go)."""
    if value in _V2_NULLS:
        return _NULL
    if value in _V2_BOOLS:
        return _BOOL
    if value == "<<":
        return _MERGE
    if value in _V2_SPECIAL_FLOATS:
        return _FLOAT
    first = value[0]
    if first.isdigit() or first in "+-":
        plain = value.replace("_", "")
        if _V2_INT.fullmatch(plain):
            return _INT
        if _V2_FLOAT.fullmatch(plain):
            return _FLOAT
    elif first == "." and _V2_DOT_FLOAT.fullmatch(value):
        return _FLOAT
    return _STR


class _Loader(_BaseLoader):
    """Composes YAML with yaml.v2's resolution of plain scalars (YAML 1.1 as Go reads it: `y`/`n` are
    booleans, `012345678901` is a number, no base-60 numbers)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return v2_plain_tag(value)
        return super().resolve(kind, value, implicit)


def first_document(text: str) -> yaml.Node | None:
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
    except RecursionError:
        raise YamlProblem("YAML nested too deeply for eksguard to read", certain=False) from None


def _binary(text: str) -> str:
    """yaml.v2 decodes a `!!binary` scalar (base64.StdEncoding ignores line breaks)."""
    try:
        raw = base64.b64decode("".join(text.split("\n")).replace("\r", ""), validate=True)
    except (ValueError, binascii.Error):
        raise YamlProblem("!!binary value contains invalid base64 data") from None
    return raw.decode("utf-8", errors="replace")


def _scalar(node: yaml.ScalarNode) -> Any:
    tag, text = node.tag, node.value
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return text in ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE")
    if tag in (_INT, _FLOAT):
        return _Number(text)
    if tag == _BINARY:
        return _binary(text)
    return text


@dataclass
class _Budget:
    """yaml.v2's decoder limits: excessive aliasing (decode.go allowedAliasRatio) and nesting depth."""

    decodes: int = 0
    aliased: int = 0
    alias_depth: int = 0
    depth: int = 0

    def count(self) -> None:
        self.decodes += 1
        if self.alias_depth:
            self.aliased += 1
        if (
            self.aliased > 100
            and self.decodes > 1000
            and self.aliased / self.decodes > _allowed_alias_ratio(self.decodes)
        ):
            raise YamlProblem("document contains excessive aliasing (yaml.v2 refuses it too)")


def _allowed_alias_ratio(decodes: int) -> float:
    low, high = 400_000, 4_000_000
    if decodes <= low:
        return 0.99
    if decodes >= high:
        return 0.10
    return 0.99 - 0.89 * ((decodes - low) / (high - low))


MAX_DEPTH = 10_000  # yaml.v2 and encoding/json both stop at 10000 levels


def _to_json(node: yaml.Node, budget: _Budget, seen: set[int]) -> Any:
    """yaml.v2 Unmarshal into interface{}, then sigs.k8s.io/yaml's conversion to JSON values."""
    budget.count()
    # PyYAML hands an alias back as the anchored node itself: a node met again outside an alias being
    # expanded is an alias (yaml.v2 decodes the alias node, then its target under aliasDepth > 0).
    alias = id(node) in seen and budget.alias_depth == 0
    seen.add(id(node))
    if alias:
        budget.alias_depth += 1
        budget.count()
    budget.depth += 1
    if budget.depth > MAX_DEPTH:
        raise YamlProblem(f"YAML nested deeper than {MAX_DEPTH} levels")
    try:
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return [_to_json(child, budget, seen) for child in node.value]
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE:
                    _merge(value_node, result, budget, seen)
                    continue
                key = _to_json(key_node, budget, seen)
                result[_key_text(key)] = _to_json(value_node, budget, seen)
            return result
        return None
    finally:
        budget.depth -= 1
        if alias:
            budget.alias_depth -= 1


def _merge(value_node: yaml.Node, into: dict[str, Any], budget: _Budget, seen: set[int]) -> None:
    """yaml.v2 `merge`: applied in place where `<<` stands (later keys override it, it overrides
    earlier ones); in a list of maps the earlier maps win."""
    sources = list(reversed(value_node.value)) if isinstance(value_node, yaml.SequenceNode) else [value_node]
    for source in sources:
        if not isinstance(source, yaml.MappingNode):
            raise YamlProblem("map merge requires map or sequence of maps as the value")
        merged = _to_json(source, budget, seen)
        into.update(merged)


def _key_text(key: Any) -> str:
    if key is None:
        raise YamlProblem("a mapping key is null")
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def load(text: str) -> Any:
    node = first_document(text)
    if node is None:
        return None
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, MAX_DEPTH * 3 + 1000))
    try:
        return _to_json(node, _Budget(), set())
    except RecursionError:
        raise YamlProblem("YAML nested too deeply for eksguard to read", certain=False) from None
    finally:
        sys.setrecursionlimit(limit)


def accounts(raw: str) -> tuple[list[str], list[DroppedEntry]]:
    """yaml.v2 into []string: scalars keep their text as written, null reads as ""."""
    try:
        node = first_document(raw)
    except YamlProblem as exc:
        suffix = "the authenticator keeps none of it" if exc.certain else "the authenticator may still read it"
        return [], [DroppedEntry(MAP_ACCOUNTS, 0, f"{exc}: {suffix}", unverifiable=not exc.certain)]
    if node is None:
        return [], []
    if not isinstance(node, yaml.SequenceNode):
        return [], [DroppedEntry(MAP_ACCOUNTS, 0, "not a list: the authenticator keeps none of it")]
    accounts: list[str] = []
    dropped: list[DroppedEntry] = []
    for index, item in enumerate(node.value, start=1):
        if isinstance(item, yaml.ScalarNode):
            try:
                accounts.append("" if item.tag == _NULL else _binary(item.value) if item.tag == _BINARY else item.value)
            except YamlProblem as exc:
                return [], [DroppedEntry(MAP_ACCOUNTS, 0, f"{exc}: the authenticator keeps none of it")]
        else:
            dropped.append(DroppedEntry(MAP_ACCOUNTS, index, "not a scalar account id"))
    return accounts, dropped
