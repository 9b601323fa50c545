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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from eksguard.audit_log.patches import PatchError, replay
from eksguard.audit_log.request import (
    APPLY_PATCH,
    AuditUser,
    audit_user_of,
    delete_dry_run,
    entry_of,
    field_selector_terms,
    go_query,
    is_dry_run,
    normalise_timestamp,
    patch_form,
    replaced_version,
    resource_version_of,
    text_of,
)

# What one audit entry did to aws-auth. `possibly_deleted`: a deletecollection whose selector may
# have matched aws-auth; `dry_run`/`failed`: nothing persisted.
Effect = Literal["changed", "deleted", "possibly_deleted", "unknown", "failed", "dry_run"]
APPLIED_EFFECTS = frozenset({"changed", "deleted", "possibly_deleted", "unknown"})
AWS_AUTH = "aws-auth"


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


# --------------------------------------------------------------------------- the decision


def _configmap_data(obj: object) -> dict[str, Any] | None:
    if isinstance(obj, dict) and obj.get("kind") == "ConfigMap":
        data = obj.get("data")
        return dict(data) if isinstance(data, dict) else {}
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
        result = replay(form, document, request_object, lenient=prior is None)
        if form == APPLY_PATCH:
            notes.append("server-side apply replayed without managedFields: keys this manager dropped are not seen")
    except PatchError as exc:
        return form, None, f"{form} could not be replayed on the last known state ({exc})", tuple(notes)
    data = result.get("data") if isinstance(result, dict) else None
    return form, dict(data) if isinstance(data, dict) else {}, None, tuple(notes)


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


def _deletes_aws_auth(response_object: object) -> bool | None:
    """A logged deletecollection response lists what it deleted; None when it was not logged."""
    if not isinstance(response_object, dict) or not isinstance(response_object.get("items"), list):
        return None
    for item in response_object["items"]:
        metadata = item.get("metadata") if isinstance(item, dict) else None
        if isinstance(metadata, dict) and metadata.get("name") == AWS_AUTH:
            return True
    return False


def decode_change(
    event: Mapping[str, Any], prior: Mapping[str, Any] | None, prior_version: str | None = None
) -> AuditChange | None:
    """The effect of one aws-auth audit event; None for reads, for stages before the response, and
    for a deletecollection whose selector or response rules aws-auth out.

    `prior` is the last known ConfigMap data (None when unknown); it is only used when the event
    carries no `responseObject`.
    """
    entry = entry_of(event)
    if not entry.judged:
        return None
    verb, stage, code, reason = entry.verb, entry.stage, entry.code, entry.reason
    request_object, response_object, request_uri = entry.request_object, entry.response_object, entry.request_uri
    query = go_query(request_uri)
    common: dict[str, Any] = {
        "audit_id": str(event.get("auditID") or ""),
        "verb": verb or "unknown verb",
        "actor": audit_user_of(event),
        "stage_timestamp": normalise_timestamp(text_of(event.get("stageTimestamp"))),
        "status_code": code,
        "status_reason": reason,
        "request_uri": request_uri,
        "replaced_version": replaced_version(verb, request_object),
    }
    dry_run: bool | None = is_dry_run(request_uri)
    if verb in ("delete", "deletecollection"):
        dry_run = delete_dry_run(event, request_object, bool(dry_run))
    failed = entry.failed
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
            resource_version=resource_version_of(response_object),
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
        resource_version=resource_version_of(response_object),
        notes=notes,
        replay_differs=replay_differs,
        **common,
    )
