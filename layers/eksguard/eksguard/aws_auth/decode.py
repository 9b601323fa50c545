"""Turn one aws-auth audit Event into its effect on aws-auth, for every write form.

Preference order: the `responseObject` (the object as stored, logged at RequestResponse level);
otherwise the request body applied to the last known data (update/create carry the full object,
patch carries a merge, strategic-merge, JSON-patch or apply-patch body). Only `ResponseComplete`
events with a 2xx status changed anything; other writes are attempts. A server-side dry run
(`dryRun` in the request URI) is an attempt whatever its status: the API server persisted nothing.
`deletecollection` of ConfigMaps in kube-system deletes aws-auth unless its selector rules it out.
A verb we do not know, or an entry without one, is judged on the body it carries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote_plus

from eksguard.aws_auth.patches import PatchError, apply_patch, json_patch, merge_patch, strategic_merge_patch

READ_VERBS = frozenset({"get", "list", "watch"})
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
# What one audit entry did to aws-auth. `possibly_deleted`: a deletecollection whose selector may
# have matched aws-auth; `dry_run`/`failed`: nothing persisted.
Effect = Literal["changed", "deleted", "possibly_deleted", "unknown", "failed", "dry_run"]
APPLIED_EFFECTS = frozenset({"changed", "deleted", "possibly_deleted", "unknown"})
AWS_AUTH = "aws-auth"

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
    effect: Effect
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
    replaced_version: str | None = None  # the resourceVersion an update/patch said it replaced
    selector: str | None = None  # deletecollection: the selectors it was given
    notes: tuple[str, ...] = field(default=())
    # Replaying the request on the prior it was decoded with does not give the logged result: that
    # prior is not the version this write was applied to (another write sits between them).
    replay_differs: bool = False

    @property
    def applied(self) -> bool:
        return self.effect in APPLIED_EFFECTS


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
    verb: str,
    request_object: object,
    request_uri: str | None,
    prior: Mapping[str, Any] | None,
    prior_version: str | None = None,
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
    # The object as stored: a JSON patch may `test` /metadata/resourceVersion before touching data.
    metadata: dict[str, Any] = {"name": AWS_AUTH, "namespace": "kube-system"}
    if prior_version:
        metadata["resourceVersion"] = prior_version
    document: dict[str, Any] = {"metadata": metadata, "data": dict(prior or {})}
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


def _delete_dry_run(event: Mapping[str, Any], request_object: object, from_query: bool) -> bool | None:
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


def _replaced_version(verb: str, request_object: object) -> str | None:
    """The resourceVersion the request said it replaced (optimistic concurrency), when it says one."""
    if verb in ("update", "patch") and isinstance(request_object, dict):
        return _resource_version(request_object)
    if verb == "patch" and isinstance(request_object, list):
        for op in request_object:
            if isinstance(op, dict) and op.get("op") == "test" and op.get("path") == "/metadata/resourceVersion":
                value = op.get("value")
                return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
    return None


def _selector_verdict(query: Mapping[str, list[str]]) -> tuple[str | None, bool | None]:
    """(selectors as text, whether aws-auth is matched: True sure, None possibly, False ruled out)."""
    # The API server converts each list option from the first value only.
    fields = (query.get("fieldSelector") or [""])[0]
    labels = (query.get("labelSelector") or [""])[0]
    text = "; ".join(
        p for p in (f"fieldSelector={fields}" if fields else "", f"labelSelector={labels}" if labels else "") if p
    )
    if not fields:
        return text or None, None if labels else True
    terms = field_selector_terms(fields)
    if terms is None:
        return text, None  # the API server would refuse it (then the status says so); never rule out
    verdict: bool | None = True
    for name, op, value in terms:
        if name == "metadata.namespace":
            if (op == "=" and value != "kube-system") or (op == "!=" and value == "kube-system"):
                return text, False
            continue
        if name != "metadata.name":
            continue
        if (op == "=" and value != AWS_AUTH) or (op == "!=" and value == AWS_AUTH):
            return text, False
    if labels:
        verdict = None
    return text, verdict


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


def _deletes_aws_auth(response_object: object) -> bool | None:
    """A logged deletecollection response lists what it deleted; None when it was not logged."""
    if not isinstance(response_object, dict) or not isinstance(response_object.get("items"), list):
        return None
    for item in response_object["items"]:
        metadata = item.get("metadata") if isinstance(item, dict) else None
        if isinstance(metadata, dict) and metadata.get("name") == AWS_AUTH:
            return True
    return False


def _status(event: Mapping[str, Any]) -> tuple[int | None, str | None]:
    status = event.get("responseStatus")
    if not isinstance(status, dict):
        return None, None
    code = status.get("code")
    code_int = int(code) if isinstance(code, int | str) and not isinstance(code, bool) and str(code).isdigit() else None
    reason = status.get("reason") or status.get("message")
    return code_int, reason if isinstance(reason, str) else None


def decode_change(
    event: Mapping[str, Any], prior: Mapping[str, Any] | None, prior_version: str | None = None
) -> AuditChange | None:
    """The effect of one aws-auth audit event; None for reads, for stages before the response, and
    for a deletecollection whose selector or response rules aws-auth out.

    `prior` is the last known ConfigMap data (None when unknown); it is only used when the event
    carries no `responseObject`.
    """
    raw_verb = event.get("verb")
    verb = raw_verb if isinstance(raw_verb, str) and raw_verb else ""
    stage = event.get("stage")
    if verb in READ_VERBS or stage in ("RequestReceived", "ResponseStarted"):
        return None
    code, reason = _status(event)
    request_object = event.get("requestObject")
    response_object = event.get("responseObject")
    request_uri = event.get("requestURI") if isinstance(event.get("requestURI"), str) else None
    query = go_query(request_uri)
    common: dict[str, Any] = {
        "audit_id": str(event.get("auditID") or ""),
        "verb": verb or "unknown verb",
        "actor": audit_user_of(event),
        "stage_timestamp": normalise_timestamp(_text(event.get("stageTimestamp"))),
        "status_code": code,
        "status_reason": reason,
        "request_uri": request_uri,
        "replaced_version": _replaced_version(verb, request_object),
    }
    dry_run: bool | None = is_dry_run(request_uri)
    if verb in ("delete", "deletecollection"):
        dry_run = _delete_dry_run(event, request_object, bool(dry_run))
    failed = code is not None and not 200 <= code < 300
    if verb == "deletecollection":
        selector, matches = _selector_verdict(query)
        listed = _deletes_aws_auth(response_object)
        if listed is False or (listed is None and matches is False):
            return None  # the logged response (what the server did) wins over our reading of the selector
        sure = (bool(listed) or bool(matches)) and dry_run is not None
        effect: Effect = "failed" if failed else "dry_run" if dry_run else "deleted" if sure else "possibly_deleted"
        return AuditChange(effect=effect, write_form="deletecollection", selector=selector, **common)
    if stage == "Panic":
        return AuditChange(
            effect="unknown",
            write_form=verb or "unknown",
            unknown_reason="the request panicked in the API server",
            **common,
        )
    if verb == "delete":
        if failed:
            effect = "failed"
        elif dry_run:
            effect = "dry_run"
        elif dry_run is None:
            effect = "possibly_deleted"  # ?dryRun=All, but a DeleteOptions body (not logged) would win
        else:
            effect = "deleted" if code is not None else "unknown"
        return AuditChange(
            effect=effect,
            write_form="delete",
            resource_version=_resource_version(response_object),
            unknown_reason=None if effect != "unknown" else "delete logged without a response status",
            **common,
        )
    if verb in ("create", "update", "patch"):
        form, replayed, why, notes = _replay(verb, request_object, request_uri, prior, prior_version)
    else:
        form, replayed, why, notes = verb or "unknown", None, f"verb {verb or '(none)'} is not a known write", ()
    response_data = _configmap_data(response_object)
    data = response_data if response_data is not None else replayed
    if verb == "patch" and response_data is not None:
        form = patch_form(request_object, request_uri)
        notes = ()
    if failed or dry_run:
        return AuditChange(
            effect="failed" if failed else "dry_run", write_form=form, attempted_data=data, notes=notes, **common
        )
    if data is None:
        if code is None and response_data is None:
            why = f"{why or 'no body'}; no response status was logged"
        return AuditChange(effect="unknown", write_form=form, unknown_reason=why, notes=notes, **common)
    if code is None:
        notes = (*notes, "no response status was logged: judged on the body the entry carries")
    # An apply patch is replayed without managedFields: too approximate to accuse anyone with it.
    replay_differs = (
        response_data is not None and replayed is not None and form != APPLY_PATCH and replayed != response_data
    )
    return AuditChange(
        effect="changed",
        write_form=form,
        data=data,
        resource_version=_resource_version(response_object),
        notes=notes,
        replay_differs=replay_differs,
        **common,
    )
