"""The RBAC writes of one delivery in, alerts out: decode, judge against what eksguard knows, remember.

What eksguard knows: the Kubernetes bootstrap roles, every role and binding it has seen written
(state.py), and who carries which user name or group (the aws-auth mappings it holds, and access
entries recorded by the EKS API detector). Entries are judged in delivery order, each against the
knowledge left by the ones before it, so a role created and bound in the same delivery is judged as
admin-equivalent when it is bound.

Alerts are published before the state is written: a failed publish fails the invocation with nothing
remembered; a failed state write after publishing is retried with the same alert ids (derived from
the log line), which the notifier drops as repeats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from eksguard import accounts
from eksguard.alerts import Alert
from eksguard.audit_log.evidence import LogLocation
from eksguard.audit_log.guard import judge_guarded
from eksguard.audit_log.payload import AuditRecord, LogBatch
from eksguard.audit_log.request import READ_VERBS
from eksguard.findings import ExpectedAdminsLike
from eksguard.rbac.builtin import builtin_roles
from eksguard.rbac.carriers import Carriers
from eksguard.rbac.decode import RbacChange, decode_change, target_of
from eksguard.rbac.model import Binding, Role
from eksguard.rbac.power import RoleBook, RoleFacts
from eksguard.rbac.rules import RbacContext
from eksguard.rbac.state import MAX_ITEM_BYTES, Put, RbacState, RbacStore, binding_to_json, encode, fit
from eksguard.rbac.verdict import judge_change, judge_truncated, state_full_alert

logger = Logger(child=True)

Publisher = Callable[[list[Alert]], object]
MAX_SAVE_ATTEMPTS = 4


class RbacStateConflict(RuntimeError):
    """Concurrent deliveries kept winning the state write."""


@dataclass
class RbacResult:
    rbac_events: int = 0
    ignored: int = 0
    state_written: bool = False
    alerts: list[Alert] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # writes whose result is unknown (see aws_auth)


def _resource_version(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _iso(millis: int) -> str | None:
    try:
        return datetime.fromtimestamp(millis / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


class _Run:
    def __init__(
        self,
        batch: LogBatch,
        cluster: str,
        region: str,
        expected: ExpectedAdminsLike,
        state: RbacState,
        carriers: Carriers,
    ) -> None:
        self.batch, self.cluster, self.region, self.expected = batch, cluster, region, expected
        self.carriers = carriers
        self.roles: dict[str, RoleFacts] = {**builtin_roles(), **state.roles}
        self.bindings: dict[str, Binding] = dict(state.bindings)
        self.puts: list[Put] = []
        self.result = RbacResult()

    def location(self, record: AuditRecord) -> LogLocation:
        return LogLocation(
            log_group=self.batch.log_group,
            log_stream=self.batch.log_stream,
            region=self.region,
            account=self.batch.owner or None,
            log_event_id=record.log_event.id,
            log_event_time=_iso(record.log_event.timestamp),
            entry_key=record.key,
        )

    def truncated(self, record: AuditRecord, why: str | None) -> None:
        fields = record.truncated_fields or {}
        if fields.get("verb") in READ_VERBS:
            self.result.ignored += 1
            return
        self.result.alerts.append(judge_truncated(fields, self.cluster, self.location(record), why))
        self.result.unreadable.append(
            f"{fields.get('resource') or 'RBAC'} {fields.get('verb') or 'write'}: {why or 'entry truncated'}"
        )

    def parsed(self, record: AuditRecord) -> None:
        """Judge one entry; one the decoder cannot handle is reported as unreadable, never dropped."""
        judge_guarded(record, self._parsed, self.truncated, self.result.alerts, self.cluster)

    def _parsed(self, record: AuditRecord) -> None:
        event = record.event or {}
        target = target_of(event.get("objectRef"))
        if target is None:
            self.result.ignored += 1
            return
        prior_binding = self.bindings.get(target.key) if target.is_binding else None
        prior = binding_to_json(prior_binding) if prior_binding is not None else None
        change = decode_change(event, target, prior)
        if change is None:
            self.result.ignored += 1
            return
        ctx = RbacContext(
            change=change,
            cluster=self.cluster,
            expected=self.expected,
            book=RoleBook(self.roles),
            bindings=self.bindings,
            carriers=self.carriers,
            account=self.batch.owner or None,
        )
        alert = judge_change(ctx, self.location(record))
        if alert is not None:
            self.result.alerts.append(alert)
        logger.info(
            "judged",
            extra={
                "cluster": self.cluster,
                "object": target.key,
                "verb": change.verb,
                "effect": change.effect,
                "form": change.write_form,
                "severity": alert.severity.name if alert else None,
            },
        )
        self.remember(change)

    def remember(self, change: RbacChange) -> None:
        key = change.target.key
        version = _resource_version(change.resource_version)
        if change.effect == "changed" and isinstance(change.obj, Binding):
            self.put(Put(change.obj.key, version, change.obj))
        elif change.effect == "changed" and isinstance(change.obj, Role):
            self.put(Put(change.obj.key, version, RoleFacts.of(change.obj)))
        elif change.effect == "deleted" and change.target.name is not None:
            self.put(Put(key, version, None))
        elif change.effect == "deleted" and change.deleted is not None:
            # deletecollection: forget what its logged response lists, nothing else (a selector that
            # matched nothing must not wipe what eksguard knows)
            for name in change.deleted:
                target = replace(change.target, name=name)
                self.put(Put(target.key, None, None))
        elif change.effect == "unknown":
            self.result.unreadable.append(f"{change.target.key} {change.verb}: content unknown")
            if change.target.name is not None:
                # content unknown: what eksguard held for it no longer holds
                self.put(Put(key, version, None))

    def put(self, put: Put) -> None:
        self.puts.append(put)
        if isinstance(put.value, RoleFacts):
            self.roles[put.key] = put.value
        elif isinstance(put.value, Binding):
            self.bindings[put.key] = put.value
        else:
            self.bindings.pop(put.key, None)
            builtin = builtin_roles().get(put.key)
            if builtin is not None:
                self.roles[put.key] = builtin
            else:
                self.roles.pop(put.key, None)


def process_records(
    batch: LogBatch,
    cluster: str,
    records: list[AuditRecord],
    expected: ExpectedAdminsLike,
    store: RbacStore,
    carriers: Callable[[], Carriers],
    region: str,
    publish: Publisher,
    loaded: RbacState | None = None,
    state_key: str | None = None,
) -> RbacResult:
    """Judge the RBAC records of one delivery, publish the alerts, then remember what was seen.
    `loaded`: the state as the caller already read it in this invocation; `state_key`: the key of the
    cluster's state record (default: `accounts.cluster_key` of the cluster and the delivery's account)."""
    if not records:
        return RbacResult()
    key = state_key if state_key is not None else accounts.cluster_key(cluster, batch.owner or None)
    state = loaded if loaded is not None else store.load(key)
    run = _Run(batch, cluster, region, expected, state, carriers())
    run.result.rbac_events = len(records)
    for record in records:
        if record.truncated:
            run.truncated(record, (record.truncated_fields or {}).get("unreadable"))
        else:
            run.parsed(record)
    if run.puts:
        _, full = _fitted(state.apply(run.puts))
        if full:
            logger.error("rbac_state_full", extra={"cluster": cluster, "reason": full})
            run.result.alerts.append(state_full_alert(cluster, full, run.location(records[-1])))
    if run.result.alerts:
        publish(run.result.alerts)
    if run.puts:
        run.result.state_written = _save(store, key, state, run.puts)
    return run.result


def _fitted(state: RbacState) -> tuple[RbacState, str | None]:
    """The state as it will be saved, and why it cannot be saved whole (None: it can)."""
    fitted, note = fit(state)
    size = len(encode(fitted))
    if size > MAX_ITEM_BYTES:
        return fitted, f"{size} bytes gzipped even without RoleBindings outside kube-system: not saved"
    return fitted, note


def _save(store: RbacStore, key: str, state: RbacState, puts: list[Put]) -> bool:
    for _ in range(MAX_SAVE_ATTEMPTS):
        fitted, full = _fitted(state.apply(puts))
        if full and len(encode(fitted)) > MAX_ITEM_BYTES:
            return False  # alerted before publishing; what eksguard knew stays as it was
        if store.save(fitted):
            return True
        state = store.load(key)  # another delivery wrote first: reapply our changes over its
    # Alerts are out already; failing lets Lambda retry (same alert ids, dropped as repeats by the notifier).
    raise RbacStateConflict(f"RBAC state of {key} changed under {MAX_SAVE_ATTEMPTS} save attempts")


def summary(result: RbacResult) -> dict[str, Any]:
    return {
        "rbacEvents": result.rbac_events,
        "rbacAlerts": len(result.alerts),
        "rbacStateWritten": result.state_written,
    }
