"""Turn one aws-auth audit Event into the resulting ConfigMap data, for every write form.

Preference order: the `responseObject` (the object as stored, logged at RequestResponse level);
otherwise the request body applied to the last known data (update/create carry the full object,
patch carries a merge, strategic-merge, JSON-patch or apply-patch body). Only `ResponseComplete`
events with a 2xx status changed anything; other writes are attempts.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

WRITE_VERBS = frozenset({"create", "update", "patch", "delete"})
Outcome = Literal["changed", "deleted", "unknown", "failed"]

MERGE_PATCH = "merge-patch"
STRATEGIC_MERGE_PATCH = "strategic-merge-patch"
JSON_PATCH = "json-patch"
APPLY_PATCH = "apply-patch"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class PatchError(ValueError):
    """A patch that cannot be replayed on the data we hold (our state is stale or missing)."""


@dataclass(frozen=True)
class AuditUser:
    username: str | None = None
    arn: str | None = None
    session_name: str | None = None
    access_key_id: str | None = None
    groups: tuple[str, ...] = ()
    source_ips: tuple[str, ...] = ()
    user_agent: str | None = None


@dataclass(frozen=True)
class AuditChange:
    """What one audit event did to aws-auth (`data` is the resulting ConfigMap data when known)."""

    audit_id: str
    verb: str
    outcome: Outcome
    write_form: str
    actor: AuditUser
    stage_timestamp: str | None = None
    resource_version: str | None = None
    status_code: int | None = None
    status_reason: str | None = None
    request_uri: str | None = None
    data: dict[str, Any] | None = None
    attempted_data: dict[str, Any] | None = None
    unknown_reason: str | None = None
    notes: tuple[str, ...] = field(default=())


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


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def audit_user_of(event: Mapping[str, Any]) -> AuditUser:
    """The actor; tolerant of odd shapes (an unexpected type reads as absent, never raises)."""
    user = _mapping(event.get("user"))
    extra = _mapping(user.get("extra"))
    return AuditUser(
        username=_text(user.get("username")),
        arn=_first(extra.get("arn")) or _first(extra.get("canonicalArn")),
        session_name=_first(extra.get("sessionName")),
        access_key_id=_first(extra.get("accessKeyId")),
        groups=_strings(user.get("groups")),
        source_ips=_strings(event.get("sourceIPs")),
        user_agent=_text(event.get("userAgent")),
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
    values = parse_qs(urlsplit(request_uri).query).get("fieldManager")
    return values[0] if values else None


def patch_form(request_object: object, request_uri: str | None) -> str:
    """Name the patch type. The audit event has no Content-Type, so infer it from body and URI."""
    if isinstance(request_object, list):
        return JSON_PATCH
    query = parse_qs(urlsplit(request_uri or "").query)
    manager = (query.get("fieldManager") or [""])[0]
    if "force" in query or (
        isinstance(request_object, dict)
        and request_object.get("apiVersion")
        and request_object.get("kind")
        and manager
        and not manager.startswith(("kubectl-", "before-first-apply"))
    ):
        return APPLY_PATCH
    if _has_directive(request_object) or manager in ("kubectl-edit", "kubectl-client-side-apply"):
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


# --------------------------------------------------------------------------- patch forms


def merge_patch(target: object, patch: object) -> object:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: object, patch: object) -> object:
    """Strategic merge for maps (all a ConfigMap has): merge semantics plus `$patch: replace|delete`,
    `$retainKeys` and ignorable `$setElementOrder/...`/`$deleteFromPrimitiveList/...` directives."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    base = dict(target) if isinstance(target, dict) else {}
    if directive == "replace":
        base = {}
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        base = {k: v for k, v in base.items() if k in retain}
    for key, value in patch.items():
        if str(key).startswith("$"):
            continue
        if value is None:
            base.pop(key, None)
            continue
        merged = strategic_merge_patch(base.get(key), value)
        if merged is None and isinstance(value, dict) and value.get("$patch") == "delete":
            base.pop(key, None)
        else:
            base[key] = merged
    return base


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"JSON pointer {path!r} does not start with /")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchError(f"path segment {part!r} not found")
    return node, parts[-1]


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent, last = _parent(doc, parts)
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise PatchError(f"path /{'/'.join(parts)} not found")


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, last = _parent(doc, parts)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise PatchError(f"array index {last!r} out of range")
    else:
        raise PatchError("cannot add below a scalar")
    return doc


def _remove(doc: Any, parts: list[str]) -> tuple[Any, Any]:
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent, last = _parent(doc, parts)
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return doc, parent.pop(int(last))
    raise PatchError(f"path /{'/'.join(parts)} not found")


def json_patch(target: object, operations: list[Any], lenient: bool = False) -> object:
    """RFC 6902. `lenient` (no earlier state known) creates missing parents, lets `replace` add and
    skips `test`, since the server checked them against data we never saw."""
    doc = copy.deepcopy(target)
    for number, op in enumerate(operations, start=1):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"operation {number} is not a JSON-patch operation")
        kind, parts = op["op"], _pointer(str(op["path"]))
        if lenient and parts and isinstance(doc, dict) and kind in ("add", "replace"):
            node = doc
            for part in parts[:-1]:
                node = node.setdefault(part, {}) if isinstance(node, dict) else node
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc, _ = _remove(doc, parts)
        elif kind == "replace":
            if not lenient:
                _get(doc, parts)
            if parts:
                parent, last = _parent(doc, parts)
                if isinstance(parent, list):
                    parent[int(last)] = copy.deepcopy(op.get("value"))
                else:
                    parent[last] = copy.deepcopy(op.get("value"))
            else:
                doc = copy.deepcopy(op.get("value"))
        elif kind == "test":
            if lenient:
                continue
            if _get(doc, parts) != op.get("value"):
                raise PatchError(f"test at {op['path']} does not hold on the data we know")
        elif kind in ("move", "copy"):
            source = _pointer(str(op.get("from", "")))
            if kind == "move":
                doc, value = _remove(doc, source)
            else:
                value = copy.deepcopy(_get(doc, source))
            doc = _add(doc, parts, value)
        else:
            raise PatchError(f"unknown JSON-patch op {kind!r}")
    return doc


def apply_patch(target: object, intent: object) -> object:
    """Server-side apply approximated without managedFields: the applied keys take the intent's values.
    Keys owned only by this manager and left out of the intent would be removed; without the
    responseObject that is invisible, which the caller records as a note."""
    if not isinstance(intent, dict):
        raise PatchError("apply-patch body is not an object")
    return merge_patch(target, {k: v for k, v in intent.items() if v is not None})


# --------------------------------------------------------------------------- the decision


def _configmap_data(obj: object) -> dict[str, Any] | None:
    if isinstance(obj, dict) and obj.get("kind") == "ConfigMap":
        data = obj.get("data")
        return dict(data) if isinstance(data, dict) else {}
    return None


def _resource_version(obj: object) -> str | None:
    if isinstance(obj, dict):
        metadata = obj.get("metadata") or {}
        value = metadata.get("resourceVersion") if isinstance(metadata, dict) else None
        return str(value) if value else None
    return None


def _replay(
    verb: str, request_object: object, request_uri: str | None, prior: Mapping[str, Any] | None
) -> tuple[str, dict[str, Any] | None, str | None, tuple[str, ...]]:
    """(form, resulting data, reason when unknown, notes) from the request body alone."""
    if verb in ("create", "update"):
        data = _configmap_data(request_object)
        if data is None:
            level = "Metadata level: body not logged" if request_object is None else "body is not a ConfigMap"
            return verb, None, f"{verb} logged at {level}" if request_object is None else level, ()
        return verb, data, None, ()
    form = patch_form(request_object, request_uri)
    if request_object is None:
        return form, None, "patch logged without its body", ()
    notes: list[str] = []
    if prior is None:
        notes.append("no earlier aws-auth state known: judged on the keys this patch sets")
    document: dict[str, Any] = {"data": dict(prior or {})}
    try:
        if form == JSON_PATCH:
            assert isinstance(request_object, list)
            result = json_patch(document, request_object, lenient=prior is None)
        elif form == APPLY_PATCH:
            result = apply_patch(document, request_object)
            notes.append("server-side apply replayed without managedFields: keys this manager dropped are not seen")
        elif form == STRATEGIC_MERGE_PATCH:
            result = strategic_merge_patch(document, request_object)
        else:
            result = merge_patch(document, request_object)
    except PatchError as exc:
        return form, None, f"{form} could not be replayed on the last known state ({exc})", tuple(notes)
    data = result.get("data") if isinstance(result, dict) else None
    return form, dict(data) if isinstance(data, dict) else {}, None, tuple(notes)


def decode_change(event: Mapping[str, Any], prior: Mapping[str, Any] | None) -> AuditChange | None:
    """The effect of one aws-auth audit event; None for reads and for stages other than ResponseComplete.

    `prior` is the last known ConfigMap data (None when unknown); it is only used when the event
    carries no `responseObject`.
    """
    verb = str(event.get("verb") or "")
    if verb not in WRITE_VERBS or event.get("stage") != "ResponseComplete":
        return None
    status = event.get("responseStatus") or {}
    code = status.get("code") if isinstance(status, dict) else None
    code_int = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
    request_object = event.get("requestObject")
    response_object = event.get("responseObject")
    request_uri = event.get("requestURI")
    common: dict[str, Any] = {
        "audit_id": str(event.get("auditID") or ""),
        "verb": verb,
        "actor": audit_user_of(event),
        "stage_timestamp": normalise_timestamp(event.get("stageTimestamp")),
        "status_code": code_int,
        "status_reason": (status.get("reason") or status.get("message")) if isinstance(status, dict) else None,
        "request_uri": request_uri,
    }
    succeeded = code_int is not None and 200 <= code_int < 300
    if not succeeded:
        if verb == "delete":
            return AuditChange(outcome="failed", write_form="delete", **common)
        form, attempted, _, _ = _replay(verb, request_object, request_uri, prior)
        return AuditChange(outcome="failed", write_form=form, attempted_data=attempted, **common)
    if verb == "delete":
        return AuditChange(
            outcome="deleted", write_form="delete", resource_version=_resource_version(response_object), **common
        )
    response_data = _configmap_data(response_object)
    if response_data is not None:
        form = verb if verb != "patch" else patch_form(request_object, request_uri)
        return AuditChange(
            outcome="changed",
            write_form=form,
            data=response_data,
            resource_version=_resource_version(response_object),
            **common,
        )
    form, data, reason, notes = _replay(verb, request_object, request_uri, prior)
    if data is None:
        return AuditChange(outcome="unknown", write_form=form, unknown_reason=reason, notes=notes, **common)
    return AuditChange(outcome="changed", write_form=form, data=data, notes=notes, **common)
