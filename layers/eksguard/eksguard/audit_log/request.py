"""What an audit entry says about its request, whatever object it addresses: the actor, the query
as the API server parses it (dry runs, field managers, selectors), the patch form, the status.

Shared by the aws-auth and RBAC judges. Everything here is tolerant of odd shapes: an unexpected type
reads as absent, never raises.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

READ_VERBS = frozenset({"get", "list", "watch"})
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})

MERGE_PATCH = "merge-patch"
STRATEGIC_MERGE_PATCH = "strategic-merge-patch"
JSON_PATCH = "json-patch"
APPLY_PATCH = "apply-patch"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# kubectl commands that always send a strategic-merge patch (`kubectl patch` sends any type under one
# manager, `kubectl label`/`annotate` send merge patches).
STRATEGIC_MANAGERS = frozenset({"kubectl-edit", "kubectl-client-side-apply", "kubectl-set"})


@dataclass(frozen=True)
class AuditUser:
    username: str | None = None
    arn: str | None = None
    session_name: str | None = None
    access_key_id: str | None = None
    groups: tuple[str, ...] = ()
    source_ips: tuple[str, ...] = ()
    user_agent: str | None = None


def _first(values: object) -> str | None:
    """`user.extra` values are lists of strings."""
    if isinstance(values, list):
        return str(values[0]) if values else None
    if isinstance(values, str):
        return values
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()


def text_of(value: object) -> str | None:
    return value if isinstance(value, str) else None


def audit_user_of(event: Mapping[str, Any]) -> AuditUser:
    """The actor; tolerant of odd shapes (an unexpected type reads as absent, never raises)."""
    user = _mapping(event.get("user"))
    extra = _mapping(user.get("extra"))
    return AuditUser(
        username=text_of(user.get("username")),
        arn=_first(extra.get("arn")) or _first(extra.get("canonicalArn")),
        session_name=_first(extra.get("sessionName")),
        access_key_id=_first(extra.get("accessKeyId")),
        groups=_strings(user.get("groups")),
        source_ips=_strings(event.get("sourceIPs")),
        user_agent=text_of(event.get("userAgent")),
    )


def normalise_timestamp(value: str | None) -> str | None:
    """RFC 3339 with microseconds in UTC, so string order is time order (DynamoDB compares strings)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def field_manager(request_uri: object) -> str | None:
    if not request_uri or not isinstance(request_uri, str):
        return None
    values = go_query(request_uri).get("fieldManager")
    return values[0] if values else None


def patch_form(request_object: object, request_uri: str | None) -> str:
    """Name the patch type. The audit event has no Content-Type, so infer it from body and URI."""
    if isinstance(request_object, list):
        return JSON_PATCH
    query = go_query(request_uri)
    manager = (query.get("fieldManager") or [""])[0]
    if "force" in query or (
        isinstance(request_object, dict)
        and request_object.get("apiVersion")
        and request_object.get("kind")
        and manager
        and not manager.startswith(("kubectl-", "before-first-apply"))
    ):
        return APPLY_PATCH
    if _has_directive(request_object) or manager in STRATEGIC_MANAGERS:
        return STRATEGIC_MERGE_PATCH
    metadata = request_object.get("metadata") if isinstance(request_object, dict) else None
    if isinstance(metadata, dict) and LAST_APPLIED in (metadata.get("annotations") or {}):
        return STRATEGIC_MERGE_PATCH
    return MERGE_PATCH


def _has_directive(value: object) -> bool:
    if isinstance(value, dict):
        return any(str(k).startswith("$") or _has_directive(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_directive(v) for v in value)
    return False


def resource_version_of(obj: object) -> str | None:
    if isinstance(obj, dict):
        metadata = obj.get("metadata") or {}
        value = metadata.get("resourceVersion") if isinstance(metadata, dict) else None
        return str(value) if value else None
    return None


_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def go_query(request_uri: object) -> dict[str, list[str]]:
    """The query as the API server reads it (Go's url.ParseQuery): pairs split on `&` only; a pair with
    `;` or a malformed `%` escape is dropped, not kept; `+` is a space. Python's parse_qs is laxer, and
    a value it keeps that Go drops (`?dryRun=All;`) would make a real write look like a dry run."""
    if not isinstance(request_uri, str) or "?" not in request_uri:
        return {}
    query = request_uri.split("?", 1)[1].split("#", 1)[0]
    result: dict[str, list[str]] = {}
    for pair in query.split("&"):
        if not pair or ";" in pair or _ESCAPE.search(pair):
            continue
        key, _, value = pair.partition("=")
        try:
            key = unquote_plus(key, errors="strict")
            value = unquote_plus(value, errors="strict")
        except UnicodeDecodeError:
            key, value = unquote_plus(key, errors="replace"), unquote_plus(value, errors="replace")
        result.setdefault(key, []).append(value)
    return result


def truncated_is_dry_run(fields: Mapping[str, str | None]) -> bool:
    """A truncated line is a dry run only when its requestURI was read whole: the cut-off rest of a
    query may void a `dryRun` (Go drops a pair holding `;`)."""
    return fields.get("requestURIComplete") == "yes" and is_dry_run(fields.get("requestURI"))


def is_dry_run(request_uri: object) -> bool:
    """A server-side dry run: the API server validates and admits the request, then persists nothing."""
    values = go_query(request_uri).get("dryRun")
    # The API server accepts only "All"; any other value fails the request (then it is not applied).
    if not values:
        return False
    return all(v == "All" for v in values)


def delete_dry_run(event: Mapping[str, Any], request_object: object, from_query: bool) -> bool | None:
    """delete/deletecollection read their options from the DeleteOptions body when there is one, and
    from the query only when there is none (apiserver handlers/delete.go). True/False when the entry
    shows which; None when the body may exist but was not logged (Metadata level) and the query says
    dry run: then it is not proof."""
    if isinstance(request_object, dict) and request_object.get("kind") == "DeleteOptions":
        values = request_object.get("dryRun")
        return isinstance(values, list) and bool(values) and all(v == "All" for v in values)
    if request_object is not None:
        return from_query
    if from_query and event.get("level") not in ("Request", "RequestResponse"):
        return None
    return from_query


def replaced_version(verb: str, request_object: object) -> str | None:
    """The resourceVersion the request said it replaced (optimistic concurrency), when it says one."""
    if verb in ("update", "patch") and isinstance(request_object, dict):
        return resource_version_of(request_object)
    if verb == "patch" and isinstance(request_object, list):
        for op in request_object:
            if isinstance(op, dict) and op.get("op") == "test" and op.get("path") == "/metadata/resourceVersion":
                value = op.get("value")
                return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
    return None


def field_selector_terms(selector: str) -> list[tuple[str, str, str]] | None:
    """apimachinery fields.ParseSelector: terms split on unescaped `,`; each split at the first
    `!=`, `==` or `=` from the left; values unescaped (backslash escapes of backslash, comma and `=`);
    nothing is trimmed.
    None when the API server would reject the selector."""
    terms: list[str] = []
    start, in_slash = 0, False
    for index, char in enumerate(selector):
        if in_slash:
            in_slash = False
        elif char == "\\":
            in_slash = True
        elif char == ",":
            terms.append(selector[start:index])
            start = index + 1
    terms.append(selector[start:])
    parsed: list[tuple[str, str, str]] = []
    for term in terms:
        if term == "":
            continue
        split = _split_term(term)
        if split is None:
            return None
        name, op, raw = split
        value = _unescape_field_value(raw)
        if value is None:
            return None
        parsed.append((name, op, value))
    return parsed


def _split_term(term: str) -> tuple[str, str, str] | None:
    for index in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, index):
                return term[:index], "!=" if op == "!=" else "=", term[index + len(op) :]
    return None


def _unescape_field_value(raw: str) -> str | None:
    out: list[str] = []
    in_slash = False
    for char in raw:
        if in_slash:
            if char not in "\\,=":
                return None
            out.append(char)
            in_slash = False
        elif char == "\\":
            in_slash = True
        elif char in ",=":
            return None
        else:
            out.append(char)
    return None if in_slash else "".join(out)


def response_status(event: Mapping[str, Any]) -> tuple[int | None, str | None]:
    status = event.get("responseStatus")
    if not isinstance(status, dict):
        return None, None
    code = status.get("code")
    code_int = int(code) if isinstance(code, int | str) and not isinstance(code, bool) and str(code).isdigit() else None
    reason = status.get("reason") or status.get("message")
    return code_int, reason if isinstance(reason, str) else None


@dataclass(frozen=True)
class Entry:
    """The request parts of an audit entry every judge reads (odd shapes read as absent)."""

    verb: str  # "" when missing or not a string
    stage: object
    code: int | None
    reason: str | None
    request_object: object
    response_object: object
    request_uri: str | None

    @property
    def judged(self) -> bool:
        """A write at its final stage: reads and the stages logged before the response say nothing yet."""
        return self.verb not in READ_VERBS and self.stage not in ("RequestReceived", "ResponseStarted")

    @property
    def failed(self) -> bool:
        return self.code is not None and not 200 <= self.code < 300


def entry_of(event: Mapping[str, Any]) -> Entry:
    raw_verb = event.get("verb")
    code, reason = response_status(event)
    request_uri = event.get("requestURI")
    return Entry(
        verb=raw_verb if isinstance(raw_verb, str) else "",
        stage=event.get("stage"),
        code=code,
        reason=reason,
        request_object=event.get("requestObject"),
        response_object=event.get("responseObject"),
        request_uri=request_uri if isinstance(request_uri, str) else None,
    )
