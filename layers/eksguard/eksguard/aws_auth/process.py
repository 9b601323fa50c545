"""One CloudWatch Logs delivery in, alerts out: decode, filter, replay, diff, judge, remember.

Alerts are published before the state is written: if publishing fails the invocation fails and is
retried with nothing remembered; if the state write fails after publishing, the retry produces the
same alert ids (derived from the log line, not from the auditID a client may choose) and the notifier
drops the repeats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from eksguard import accounts
from eksguard.alerts import Alert
from eksguard.audit_log.evidence import LogLocation
from eksguard.audit_log.guard import judge_guarded
from eksguard.audit_log.payload import (
    TOPIC_AWS_AUTH,
    AuditRecord,
    LogBatch,
    PayloadError,
    audit_records,
)
from eksguard.audit_log.request import truncated_is_dry_run
from eksguard.aws_auth.decode import AuditChange, decode_change
from eksguard.aws_auth.mapping import AwsAuthContent, parse_aws_auth
from eksguard.aws_auth.state import StateStore, Status, StoredState, Version, is_newer, is_older
from eksguard.aws_auth.verdict import (
    UNKNOWN_PRIOR,
    ExpectedAdminsLike,
    Prior,
    judge_change,
    judge_truncated,
    prior_from_data,
)
from eksguard.severity import Severity

logger = Logger(child=True)

Publisher = Callable[[list[Alert]], object]
READ_VERBS = frozenset({"get", "list", "watch"})


@dataclass
class BatchResult:
    message_type: str
    log_group: str
    log_stream: str
    cluster: str | None = None
    log_events: int = 0
    aws_auth_events: int = 0
    ignored: int = 0
    duplicates: int = 0
    late: int = 0
    state_written: bool = False
    state_superseded: bool = False
    # aws-auth as this delivery left it (None: not read, or another writer's newer state won)
    state: StoredState | None = field(default=None, repr=False, compare=False)
    alerts: list[Alert] = field(default_factory=list)
    # writes whose result could not be read (truncated, Metadata-only, no response): the live state
    # is then the only way to know who is admin, so the handler asks for an inventory
    unreadable: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        highest = max((a.severity for a in self.alerts), default=None)
        return {
            "messageType": self.message_type,
            "cluster": self.cluster,
            "logGroup": self.log_group,
            "logStream": self.log_stream,
            "logEvents": self.log_events,
            "awsAuthEvents": self.aws_auth_events,
            "ignored": self.ignored,
            "duplicates": self.duplicates,
            "late": self.late,
            "alerts": len(self.alerts),
            "highestSeverity": highest.name if highest is not None else None,
            "alertIds": [a.id for a in self.alerts],
            "stateWritten": self.state_written,
            "stateSuperseded": self.state_superseded,
        }


def prior_of(state: StoredState | None) -> Prior:
    if state is None or state.status == "unknown":
        return UNKNOWN_PRIOR
    if state.status == "deleted":
        return Prior(known=True, content=AwsAuthContent())
    return prior_from_data(state.data, known=True)


def uncertain_blame(change: AuditChange, state: StoredState | None) -> str | None:
    """Why the actor of a diff is uncertain: the request replaced a version that is not the one
    eksguard holds, so another write (on another API server's log stream, not delivered yet, or
    lost) sits between them and its changes would be pinned on this actor."""
    replaced = change.replaced_version
    if not replaced or state is None or state.status == "unknown" or not state.resource_version:
        return None
    if replaced == state.resource_version:
        return None
    return (
        f"between resourceVersion {state.resource_version} (last seen by eksguard) and "
        f"{change.resource_version or 'this write'}; this request replaced version {replaced}, "
        "so part of the change may be another writer's"
    )


def _prior_data(state: StoredState | None) -> Mapping[str, Any] | None:
    if state is None or state.status == "unknown":
        return None
    return state.data or {}


def _text_field(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) else None


def _ms_to_timestamp(ms: int) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Run:
    def __init__(
        self,
        batch: LogBatch,
        cluster: str,
        expected: ExpectedAdminsLike,
        region: str,
        loaded: StoredState | None,
        result: BatchResult,
        rbac_admins: Any = None,
        key: str | None = None,
    ) -> None:
        self.batch, self.cluster, self.expected, self.region = batch, cluster, expected, region
        self.key = key or cluster  # the state record's key (the cluster, qualified by a foreign account)
        self.rbac_admins = rbac_admins
        self.loaded = loaded
        self.state = loaded
        self.result = result

    def location(self, record: AuditRecord) -> LogLocation:
        return LogLocation(
            log_group=self.batch.log_group,
            log_stream=self.batch.log_stream,
            region=self.region,
            account=self.batch.owner or None,
            log_event_id=record.log_event.id,
            log_event_time=_iso_from_millis(record.log_event.timestamp),
            entry_key=record.key,
        )

    def remember(self, audit_id: str) -> None:
        if self.state is None:
            self.state = StoredState(cluster=self.key, status="unknown")
        self.state = self.state.remember(audit_id)

    def advance(self, new: StoredState) -> None:
        previous = self.state.recent_audit_ids if self.state else ()
        if self.state is not None:
            new = self.state.succeeded_by(new)
        self.state = replace(new, recent_audit_ids=previous).remember(new.audit_id)

    def seen(self, audit_id: str) -> bool:
        if self.state is not None and self.state.seen(audit_id):
            self.result.duplicates += 1
            logger.info(
                "skipped", extra={"reason": "duplicate delivery", "audit_id": audit_id, "cluster": self.cluster}
            )
            return True
        return False

    def truncated(self, record: AuditRecord, why: str | None = None) -> None:
        fields = record.truncated_fields or {}
        verb = fields.get("verb")
        if verb in READ_VERBS:
            self.result.ignored += 1
            return
        audit_id = record.key
        if self.seen(audit_id):
            return
        self.result.alerts.append(judge_truncated(fields, self.cluster, self.location(record), why))
        self.result.unreadable.append(f"aws-auth {verb or 'write'}: {why or 'entry truncated'}")
        timestamp = _ms_to_timestamp(record.log_event.timestamp)
        code = fields.get("code") or ""
        persisted = not truncated_is_dry_run(fields) and not (code and not code.startswith("2"))
        complete = fields.get("stage") in (None, "ResponseComplete")
        if persisted and complete and not is_older(None, timestamp, self.state):
            self.advance(StoredState(cluster=self.key, status="unknown", stage_timestamp=timestamp, audit_id=audit_id))
        else:
            self.remember(audit_id)

    def parsed(self, record: AuditRecord) -> None:
        """Judge one entry; an entry the decoder cannot handle is reported as content unknown instead of
        failing the delivery (and hiding the other entries of the batch)."""
        judge_guarded(record, self._parsed, self.truncated, self.result.alerts, self.cluster)

    def _parsed(self, record: AuditRecord) -> None:
        event = record.event or {}
        audit_id = record.key  # the log line's identity: a client can reuse an auditID on purpose
        if self.seen(audit_id):
            return
        prior_version = self.state.resource_version if self.state and self.state.status == "present" else None
        change = decode_change(event, _prior_data(self.state), prior_version)
        if change is None:
            self.result.ignored += 1
            return
        applied = change.applied
        late = applied and is_older(change.resource_version, change.stage_timestamp, self.state)
        blame = None
        if late:
            self.result.late += 1
            replaced = self.state.version(change.replaced_version) if self.state else None
            if replaced is None and self.state is not None and not change.replaced_version:
                replaced = self.state.version_before(change.resource_version)
                if replaced is not None:
                    blame = (
                        f"diffed against resourceVersion {replaced.resource_version}, the newest earlier version "
                        "eksguard knows; this write does not name the version it replaced"
                    )
            if replaced is not None:
                # The version this late write replaced is still known: diff against it, exact blame.
                change = decode_change(event, replaced.data if replaced.status == "present" else {}) or change
                prior = Prior(known=True, content=parse_aws_auth(replaced.data if replaced.status == "present" else {}))
            else:
                change = decode_change(event, None) or change
                prior = UNKNOWN_PRIOR
            if self.state is not None and change.resource_version and change.effect == "changed":
                self.state = self.state.with_version(Version(change.resource_version, "present", change.data))
        else:
            prior = prior_of(self.state)
            blame = uncertain_blame(change, self.state)
            if blame is None and not change.replaced_version and self.state is not None:
                if self.state.status == "present" and change.replay_differs:
                    blame = (
                        f"after resourceVersion {self.state.resource_version} (last seen by eksguard): this write's "
                        "logged result does not follow from it, so another write sits between them and part of "
                        "the change may be another writer's"
                    )
        alert = judge_change(
            change,
            self.cluster,
            prior,
            self.expected,
            self.location(record),
            late=late,
            blame=blame,
            rbac_admins=self.rbac_admins,
        )
        if alert is not None:
            self.result.alerts.append(alert)
        logger.info(
            "judged",
            extra={
                "audit_id": audit_id,
                "cluster": self.cluster,
                "verb": change.verb,
                "effect": change.effect,
                "form": change.write_form,
                "late": late,
                "severity": alert.severity.name if alert else None,
            },
        )
        if applied and change.effect in ("unknown", "possibly_deleted"):
            self.result.unreadable.append(f"aws-auth {change.write_form}: {change.unknown_reason or change.effect}")
        if applied and not late:
            status: Status = (
                "present" if change.effect == "changed" else "deleted" if change.effect == "deleted" else "unknown"
            )
            self.advance(
                StoredState(
                    cluster=self.key,
                    status=status,
                    data=change.data if change.effect == "changed" else None,
                    resource_version=change.resource_version,
                    stage_timestamp=change.stage_timestamp or _ms_to_timestamp(record.log_event.timestamp),
                    audit_id=audit_id,
                )
            )
        else:
            self.remember(audit_id)


def process_batch(
    batch: LogBatch,
    expected: ExpectedAdminsLike,
    store: StateStore,
    region: str,
    publish: Publisher,
    records: list[AuditRecord] | None = None,
    rbac_admins: Callable[[], Any] | None = None,
    state_key: str | None = None,
) -> BatchResult:
    """Judge every aws-auth entry of one delivery, publish the alerts, then remember the new state.

    `records`: the delivery's aws-auth records when the caller has selected them already.
    `rbac_admins`: gives the groups and user names RBAC makes admin (eksguard.rbac.admins), read only
    when the delivery holds aws-auth records.
    `state_key`: the key of the cluster's state record (default: the cluster, qualified by the
    delivery's account when that is not the function's own, `accounts.cluster_key`)."""
    result = BatchResult(
        message_type=batch.message_type,
        log_group=batch.log_group,
        log_stream=batch.log_stream,
        log_events=len(batch.events),
    )
    if batch.is_control:
        return result
    cluster = batch.cluster
    if cluster is None:
        raise PayloadError(f"log group {batch.log_group!r} is not an EKS control-plane log group")
    result.cluster = cluster
    if records is None:
        records = [r for r in audit_records(batch) if r.topic == TOPIC_AWS_AUTH]
    result.aws_auth_events = len(records)
    if not records:
        return result
    key = state_key if state_key is not None else accounts.cluster_key(cluster, batch.owner or None)
    loaded = store.load(key)
    run = _Run(batch, cluster, expected, region, loaded, result, rbac_admins() if rbac_admins else None, key)
    for record in records:
        if record.truncated:
            run.truncated(record, (record.truncated_fields or {}).get("unreadable"))
        else:
            run.parsed(record)
    if result.alerts:
        publish(result.alerts)
    if run.state is not None and run.state != loaded:
        advance = loaded is None or (run.state.audit_id != loaded.audit_id and is_newer(run.state, loaded))
        written = store.save(run.state, loaded, advance=advance)
        result.state_written = written
        result.state_superseded = not written
        if not written:
            logger.warning(
                "state_superseded",
                extra={
                    "cluster": cluster,
                    "state_key": key,
                    "reason": "a newer aws-auth state or a concurrent delivery was written first",
                },
            )
    if not result.state_superseded:
        result.state = run.state
    return result


def highest_severity(alerts: list[Alert]) -> Severity | None:
    return max((a.severity for a in alerts), default=None)


def _iso_from_millis(millis: int) -> str | None:
    try:
        return datetime.fromtimestamp(millis / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None
