"""Turn one aws-auth audit Event into the resulting ConfigMap data, for every write form.

Preference order: the `responseObject` (the object as stored, logged at RequestResponse level);
otherwise the request body applied to the last known data (update/create carry the full object,
patch carries a merge, strategic-merge, JSON-patch or apply-patch body). Only `ResponseComplete`
events with a 2xx status changed anything; other writes are attempts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from eksguard.aws_auth.patches import PatchError, apply_patch, json_patch, merge_patch, strategic_merge_patch

WRITE_VERBS = frozenset({"create", "update", "patch", "delete"})
Outcome = Literal["changed", "deleted", "unknown", "failed"]

MERGE_PATCH = "merge-patch"
STRATEGIC_MERGE_PATCH = "strategic-merge-patch"
JSON_PATCH = "json-patch"
APPLY_PATCH = "apply-patch"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


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
