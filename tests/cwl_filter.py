"""A small evaluator for the CloudWatch Logs filter-pattern forms eksguard uses, to test FILTER_PATTERN offline.

It follows the documented semantics, not the service's code, and only the forms we need:

* empty pattern: every event;
* terms: space-separated, plain or double-quoted (a quoted term may hold spaces and non-alphanumerics);
  all must appear (AND), or, when every term starts with `?`, any of them (OR); `-term` excludes;
  matching is case-sensitive;
* regex: the whole pattern is `%regex%`, the documented subset, searched anywhere in the message.

Term matching here is a plain substring test. The service may also require term boundaries, so this
evaluator is, if anything, more permissive than CloudWatch for term patterns; for regex patterns the
documentation says the expression is searched in the message (`%AUTHORIZED%` matches "UNAUTHORIZED").

Sources:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/regex-expressions.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutSubscriptionFilter.html (<= 1024 chars)
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

MAX_PATTERN_LENGTH = 1024
REGEX_DELIMITER = "%"
# "Filter patterns with regex can only include": alphanumerics, these symbols and these operators.
REGEX_SYMBOLS = frozenset(":_#=@/;,-")
REGEX_OPERATORS = frozenset("^$?[]{}|\\*+.")
REGEX_ALLOWED = frozenset(string.ascii_letters + string.digits) | REGEX_SYMBOLS | REGEX_OPERATORS


class FilterPatternError(ValueError):
    """The pattern is not valid documented syntax (or uses a form this evaluator does not model)."""


@dataclass(frozen=True)
class _Term:
    text: str
    kind: str  # "all" | "any" | "not"


def validate(pattern: str) -> None:
    """Raise FilterPatternError unless the pattern is documented syntax of a form we evaluate."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise FilterPatternError(f"pattern is {len(pattern)} characters; the limit is {MAX_PATTERN_LENGTH}")
    if _is_regex(pattern):
        _compile_regex(pattern)
    elif pattern.strip().startswith(("{", "[")):
        raise FilterPatternError("JSON and space-delimited patterns are not modelled (and never match truncated lines)")
    else:
        _terms(pattern)


def matches(pattern: str, message: str) -> bool:
    """Whether CloudWatch Logs would forward `message` under `pattern` (for the modelled forms)."""
    validate(pattern)
    if _is_regex(pattern):
        return _compile_regex(pattern).search(message) is not None
    terms = _terms(pattern)
    if not terms:
        return True
    if any(t.text in message for t in terms if t.kind == "not"):
        return False
    wanted_any = [t for t in terms if t.kind == "any"]
    if wanted_any:
        return any(t.text in message for t in wanted_any)
    return all(t.text in message for t in terms if t.kind == "all")


def _is_regex(pattern: str) -> bool:
    stripped = pattern.strip()
    return len(stripped) >= 2 and stripped.startswith(REGEX_DELIMITER) and stripped.endswith(REGEX_DELIMITER)


def _compile_regex(pattern: str) -> re.Pattern[str]:
    body = pattern.strip()[1:-1]
    if not body:
        raise FilterPatternError("empty regex")
    for char in body:
        if char not in REGEX_ALLOWED:
            raise FilterPatternError(f"character {char!r} is not allowed in a regex filter pattern")
    # Every allowed character means the same in Python's re (parentheses, the one divergence risk, are
    # rejected above); ASCII keeps \d \w \s to the documented single-byte world.
    try:
        return re.compile(body, re.ASCII)
    except re.error as exc:
        raise FilterPatternError(f"invalid regex: {exc}") from None


def _terms(pattern: str) -> list[_Term]:
    terms: list[_Term] = []
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == " ":
            i += 1
            continue
        kind = "all"
        if pattern[i] in "?-":
            kind = "any" if pattern[i] == "?" else "not"
            i += 1
        if i < n and pattern[i] == '"':
            end = pattern.find('"', i + 1)
            if end < 0:
                raise FilterPatternError("unterminated quoted term")
            text = pattern[i + 1 : end]
            i = end + 1
            if i < n and pattern[i] != " ":
                raise FilterPatternError("a quoted term must be followed by a space or the end")
        else:
            end = pattern.find(" ", i)
            end = n if end < 0 else end
            text = pattern[i:end]
            i = end
            if any(not (c.isascii() and (c.isalnum() or c == "_")) for c in text):
                raise FilterPatternError(f"term {text!r} has non-alphanumeric characters: quote it")
        if not text:
            raise FilterPatternError("empty term")
        terms.append(_Term(text, kind))
    kinds = {t.kind for t in terms}
    if "any" in kinds and "all" in kinds:
        raise FilterPatternError("mixing ?OR terms with AND terms is not modelled")
    return terms
