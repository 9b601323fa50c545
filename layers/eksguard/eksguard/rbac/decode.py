"""Turn one RBAC audit Event into what it did: which object, by whom, and the object as it ends up.

Preference order for the object: the `responseObject` (the object as stored; EKS logs RBAC writes at
RequestResponse level), then the request body (create/update carry the whole object; a patch is
replayed on the last version eksguard holds, or on an empty object when it holds none, which shows
what the patch sets). Only `ResponseComplete` entries with a 2xx status changed anything; a denied
write or a server-side dry run is an attempt, judged on what it tried.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from eksguard.audit_log.patches import PatchError, replay
from eksguard.audit_log.request import (
    AuditUser,
    audit_user_of,
    delete_dry_run,
    entry_of,
    is_dry_run,
    normalise_timestamp,
    patch_form,
    resource_version_of,
    text_of,
)
from eksguard.rbac.model import (
    BINDING_KINDS,
    RBAC_GROUP,
    RBAC_RESOURCES,
    ROLE_KINDS,
    Binding,
    Invalid,
    Role,
    parse_binding,
    parse_role,
)

Effect = Literal["changed", "deleted", "unknown", "failed", "dry_run"]
RbacObject = Role | Binding


@dataclass(frozen=True)
class Target:
    """What an entry addresses, from its objectRef."""

    resource: str  # clusterrolebindings | rolebindings | clusterroles | roles
    name: str | None
    namespace: str | None

    @property
    def kind(self) -> str:
        return {**ROLE_KINDS, **BINDING_KINDS}[self.resource]

    @property
    def is_binding(self) -> bool:
        return self.resource in BINDING_KINDS

    @property
    def key(self) -> str:
        name = self.name or "*"
        return f"{self.kind}/{self.namespace}/{name}" if self.namespace else f"{self.kind}/{name}"

    def describe(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else ""
        return f"{self.kind} {self.name or '(collection)'}{where}"


@dataclass(frozen=True)
class RbacChange:
    target: Target
    audit_id: str
    verb: str
    effect: Effect
    write_form: str
    actor: AuditUser
    impersonated: str | None = None  # the user the request was made as (Impersonate-User)
    stage_timestamp: str | None = None
    resource_version: str | None = None
    status_code: int | None = None
    status_reason: str | None = None
    request_uri: str | None = None
    obj: RbacObject | None = None  # the result (changed) or what was tried (failed, dry_run)
    unknown_reason: str | None = None
    notes: tuple[str, ...] = ()
    deleted: tuple[str, ...] | None = None  # deletecollection: names its logged response lists (None: not logged)

    @property
    def applied(self) -> bool:
        return self.effect in ("changed", "deleted", "unknown")


def target_of(object_ref: object) -> Target | None:
    if not isinstance(object_ref, Mapping):
        return None
    resource = object_ref.get("resource")
    if not isinstance(resource, str) or resource not in RBAC_RESOURCES:
        return None
    if object_ref.get("apiGroup") != RBAC_GROUP or object_ref.get("subresource"):
        return None
    name = object_ref.get("name")
    namespace = object_ref.get("namespace")
    return Target(
        resource=str(resource),
        name=name if isinstance(name, str) and name else None,
        namespace=namespace if isinstance(namespace, str) and namespace else None,
    )


def parse_object(obj: object, target: Target) -> RbacObject:
    """Raises Invalid when `obj` is not a valid object of the target's kind."""
    if target.is_binding:
        binding = parse_binding(obj, target.kind)
        if target.namespace and not binding.namespace:
            binding = Binding(binding.kind, binding.name, target.namespace, binding.role_ref, binding.subjects)
        if target.name and not binding.name:
            binding = Binding(binding.kind, target.name, binding.namespace, binding.role_ref, binding.subjects)
        return binding
    role = parse_role(obj, target.kind)
    if (target.namespace and not role.namespace) or (target.name and not role.name):
        role = Role(
            role.kind,
            role.name or target.name or "",
            role.namespace or target.namespace,
            role.rules,
            role.labels,
            role.aggregation,
        )
    return role


def _replay(
    verb: str, request_object: object, request_uri: str | None, prior: Mapping[str, Any] | None
) -> tuple[str, object | None, str | None, tuple[str, ...]]:
    """(form, resulting raw object, reason when unknown, notes) from the request body alone."""
    if verb in ("create", "update"):
        if request_object is None:
            return verb, None, f"{verb} logged without its body", ()
        return verb, request_object, None, ()
    form = patch_form(request_object, request_uri)
    if request_object is None:
        return form, None, "patch logged without its body", ()
    notes: list[str] = []
    document: object = dict(prior) if prior is not None else {}
    if prior is None:
        notes.append("no earlier version known to eksguard: judged on what this patch sets")
    try:
        result = replay(form, document, request_object, lenient=prior is None)
    except PatchError as exc:
        return form, None, f"{form} could not be replayed ({exc})", tuple(notes)
    return form, result, None, tuple(notes)


def _listed_names(response_object: object) -> tuple[str, ...] | None:
    """What a deletecollection deleted, from its logged response (a list); None when it was not logged."""
    if not isinstance(response_object, Mapping) or not isinstance(response_object.get("items"), list):
        return None
    names = []
    for item in response_object["items"]:
        metadata = item.get("metadata") if isinstance(item, Mapping) else None
        name = metadata.get("name") if isinstance(metadata, Mapping) else None
        if isinstance(name, str) and name:
            names.append(name)
    return tuple(names)


def _impersonated(event: Mapping[str, Any]) -> str | None:
    value = event.get("impersonatedUser")
    if not isinstance(value, Mapping):
        return None
    name = value.get("username")
    return name if isinstance(name, str) and name else "(impersonated user without a name)"


def decode_change(
    event: Mapping[str, Any], target: Target, prior: Mapping[str, Any] | None = None
) -> RbacChange | None:
    """The effect of one RBAC audit entry; None for reads and for stages before the response.

    `prior` is the last version eksguard holds, as a raw object; it is used only when the entry
    carries no `responseObject` of the target's kind.
    """
    entry = entry_of(event)
    if not entry.judged:
        return None
    verb, stage, code, reason = entry.verb, entry.stage, entry.code, entry.reason
    request_object, response_object, request_uri = entry.request_object, entry.response_object, entry.request_uri
    common: dict[str, Any] = {
        "target": target,
        "audit_id": str(event.get("auditID") or ""),
        "verb": verb or "unknown verb",
        "actor": audit_user_of(event),
        "impersonated": _impersonated(event),
        "stage_timestamp": normalise_timestamp(text_of(event.get("stageTimestamp"))),
        "status_code": code,
        "status_reason": reason,
        "request_uri": request_uri,
    }
    failed = entry.failed
    dry_run: bool | None = is_dry_run(request_uri)
    if verb in ("delete", "deletecollection"):
        dry_run = delete_dry_run(event, request_object, bool(dry_run))
        effect: Effect = "failed" if failed else "dry_run" if dry_run else "deleted"
        return RbacChange(
            effect=effect,
            write_form=verb,
            resource_version=resource_version_of(response_object),
            deleted=_listed_names(response_object) if verb == "deletecollection" else None,
            **common,
        )
    if stage == "Panic":
        return RbacChange(
            effect="unknown", write_form=verb or "unknown", unknown_reason="the request panicked", **common
        )
    if verb in ("create", "update", "patch"):
        form, replayed, why, notes = _replay(verb, request_object, request_uri, prior)
    else:
        form, replayed, why, notes = verb or "unknown", None, f"verb {verb or '(none)'} is not a known write", ()
    raw: object | None = replayed
    if isinstance(response_object, Mapping) and response_object.get("kind") == target.kind:
        raw, why, notes = response_object, None, ()
    obj: RbacObject | None = None
    if raw is not None:
        try:
            obj = parse_object(raw, target)
        except Invalid as exc:
            why = f"the {'logged object' if raw is response_object else 'request'} is not a valid {target.kind}: {exc}"
    if failed or dry_run:
        return RbacChange(effect="failed" if failed else "dry_run", write_form=form, obj=obj, notes=notes, **common)
    if obj is None:
        return RbacChange(effect="unknown", write_form=form, unknown_reason=why or "no body", notes=notes, **common)
    if code is None:
        notes = (*notes, "no response status was logged: judged on the body the entry carries")
    return RbacChange(
        effect="changed",
        write_form=form,
        obj=obj,
        resource_version=resource_version_of(response_object),
        notes=notes,
        **common,
    )
