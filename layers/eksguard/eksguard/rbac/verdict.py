"""From a decoded RBAC change (or a truncated line) to one alert: findings from the rules table, facts
about the request, the actor and the object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from eksguard.alerts import Actor, Alert, Fact
from eksguard.audit_log.evidence import LogLocation, alert_actor, build_alert, truncated_actor, truncated_facts
from eksguard.audit_log.request import field_manager, truncated_is_dry_run
from eksguard.findings import Finding
from eksguard.rbac.decode import RbacChange
from eksguard.rbac.model import Binding, Role
from eksguard.rbac.rules import LINE_RULES, RbacContext, evaluate

KIND = "rbac"


def _by(ctx_by: str, change: RbacChange) -> str:
    return f"{ctx_by} as {change.impersonated} (impersonated)" if change.impersonated else ctx_by


def change_label(change: RbacChange) -> str:
    manager = field_manager(change.request_uri)
    label = change.verb if change.write_form == change.verb else f"{change.verb} ({change.write_form})"
    return f"{label}, fieldManager={manager}" if manager else label


def _object_facts(change: RbacChange) -> list[Fact]:
    obj = change.obj
    if isinstance(obj, Binding):
        subjects = ", ".join(s.describe() for s in obj.subjects[:20]) or "none"
        return [Fact("Role", obj.role_ref.describe()), Fact("Subjects now", subjects)]
    if isinstance(obj, Role):
        rules = "; ".join(
            f"{','.join(r.verbs) or '-'} on {','.join(r.resources or r.non_resource_urls) or '-'}"
            f" ({','.join(repr(g) for g in r.api_groups) or 'no group'})"
            for r in obj.rules[:10]
        )
        facts = [Fact("Rules", rules or "none")]
        if obj.aggregation is not None:
            facts.append(Fact("Aggregates", " | ".join(s.describe() for s in obj.aggregation) or "nothing"))
        if obj.labels:
            facts.append(Fact("Labels", ", ".join(f"{k}={v}" for k, v in obj.labels[:10])))
        return facts
    return []


def judge_change(ctx: RbacContext, location: LogLocation) -> Alert | None:
    """The alert for one decoded RBAC write, or None when nothing in it touches admin access."""
    change = ctx.change
    actor = alert_actor(change.actor)
    ctx.by = _by(actor.display(), change)
    findings = evaluate(ctx)
    if not findings:
        return None
    fallback = actor.arn or actor.username
    findings = [f if f.principal else replace(f, principal=fallback) for f in findings]
    facts = [
        Fact("Object", change.target.describe()),
        Fact("Change", change_label(change)),
        Fact("Actor", ctx.by),
        Fact("Kubernetes user", change.actor.username or "unknown"),
        Fact("Source IP", actor.source_ip or "unknown"),
        Fact("User agent", change.actor.user_agent or "unknown"),
        Fact("Audit ID", change.audit_id or "unknown"),
        Fact("Status", str(change.status_code) if change.status_code is not None else "unknown"),
        Fact("Time", change.stage_timestamp or "unknown"),
        *_object_facts(change),
    ]
    facts.extend(Fact("Note", n) for n in change.notes)
    return build_alert(
        KIND,
        findings,
        ctx.cluster,
        location.entry_key or change.audit_id or location.log_event_id,
        actor,
        location,
        facts,
        when=change.stage_timestamp,
    )


def judge_truncated(
    fields: Mapping[str, str | None], cluster: str, location: LogLocation, why: str | None = None
) -> Alert:
    """An RBAC write whose entry cannot be read (truncated past 256 KB, or JSON eksguard cannot load)."""
    actor = truncated_actor(fields)
    by = actor.display()
    verb = fields.get("verb") or "write"
    kind = {
        "clusterrolebindings": "ClusterRoleBinding",
        "rolebindings": "RoleBinding",
        "clusterroles": "ClusterRole",
        "roles": "Role",
    }.get(fields.get("rbac_resource") or "", "RBAC object")
    name = fields.get("rbac_name") or ("(collection)" if verb == "deletecollection" else "(name not visible)")
    namespace = fields.get("rbac_namespace")
    what = f"{kind} {name}" + (f" in namespace {namespace}" if namespace else "")
    cause = "audit entry over 256 KB was truncated by CloudWatch Logs" if why is None else "audit entry unreadable"
    code = fields.get("code") or ""
    denied = bool(code) and not code.startswith("2")
    if truncated_is_dry_run(fields) or denied:
        attempt = "dry run" if not denied else f"denied ({code})"
        rule = LINE_RULES["truncated_attempt"]
        finding = Finding(
            rule.name,
            rule.severity,
            f"{what}: {verb} by {by} not applied ({attempt}); content unknown ({cause})",
            f"{verb} of {what} was not applied ({attempt}); its body cannot be read",
            actor.arn or fields.get("username"),
        )
    elif verb in ("delete", "deletecollection"):
        rule = LINE_RULES["truncated_removed"]
        finding = Finding(
            rule.name,
            rule.severity,
            f"{what} deleted by {by} ({cause})",
            f"{verb} of {what}; the entry could not be read whole",
            actor.arn or fields.get("username"),
        )
    else:
        rule = LINE_RULES["content_truncated"]
        finding = Finding(
            rule.name,
            rule.severity,
            f"{what} written by {by}: content unknown ({cause}); read the object in the cluster",
            (
                f"{verb} of {what}: no RBAC object is this large unless padded; padding past the 256 KB "
                "CloudWatch limit hides its subjects and rules"
                if why is None
                else f"{verb} of {what}: unreadable audit entry: {why}"
            ),
            actor.arn or fields.get("username"),
        )
    facts = [Fact("Object", what), *truncated_facts(fields, location, why, by)]
    return build_alert(
        KIND,
        [finding],
        cluster,
        location.entry_key or fields.get("auditID") or location.log_event_id,
        actor,
        location,
        facts,
        when=fields.get("stageTimestamp"),
    )


def state_full_alert(cluster: str, why: str, location: LogLocation) -> Alert:
    """eksguard can no longer remember every role and binding it sees: later verdicts know less."""
    rule = LINE_RULES["state_full"]
    finding = Finding(
        rule.name,
        rule.severity,
        f"RBAC knowledge of {cluster} is incomplete: the roles and bindings eksguard remembers outgrew its state",
        f"{why}; later bindings of roles it forgets are judged as 'role unknown', and the live inventory is "
        "the way to settle them. Many short-lived RoleBindings (or someone creating them on purpose) cause this.",
    )
    day = (location.log_event_time or "")[:10]  # one alert per cluster and day, however many deliveries
    return build_alert(KIND, [finding], cluster, f"state-full:{day}", Actor(), location, [])
