"""One audit-log delivery, every judge: select each entry once, hand it to the judge of its topic.

aws-auth entries go to `aws_auth.process`, RBAC writes to `rbac.process`, in that order: the RBAC
judge names the principals behind a group or user name from the aws-auth mappings (and the access
entries the EKS API detector recorded), so it reads them after this delivery's aws-auth changes are
remembered. The aws-auth judge in turn asks which groups and user names RBAC bindings make admin.

Every state record of the delivery (aws-auth, RBAC, access entries) is read and written under the
cluster's key for the delivery's account (`accounts.cluster_key(cluster, owner)`): in a hub, `prod` of
one account is never judged against, nor written over, `prod` of another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eksguard import accounts
from eksguard.access_entries import AccessEntrySource
from eksguard.alerts import Alert
from eksguard.audit_log.payload import TOPIC_AWS_AUTH, TOPIC_RBAC, LogBatch, PayloadError, audit_records
from eksguard.aws_auth.mapping import parse_aws_auth
from eksguard.aws_auth.process import BatchResult, process_batch
from eksguard.aws_auth.state import StateStore
from eksguard.findings import ExpectedAdminsLike
from eksguard.rbac import process as rbac_process
from eksguard.rbac.admins import admin_subjects
from eksguard.rbac.carriers import Carriers, carriers_from
from eksguard.rbac.state import RbacState, RbacStore

Publisher = Callable[[list[Alert]], object]


@dataclass
class DeliveryResult:
    aws_auth: BatchResult
    rbac: rbac_process.RbacResult

    @property
    def alerts(self) -> list[Alert]:
        return self.aws_auth.alerts + self.rbac.alerts

    @property
    def unreadable(self) -> list[str]:
        """Writes of this delivery whose result could not be read (the live state is then needed)."""
        return self.aws_auth.unreadable + self.rbac.unreadable

    def summary(self) -> dict[str, Any]:
        summary = self.aws_auth.summary()
        summary.update(rbac_process.summary(self.rbac))
        alerts = self.alerts
        highest = max((a.severity for a in alerts), default=None)
        summary["alerts"] = len(alerts)
        summary["highestSeverity"] = highest.name if highest is not None else None
        summary["alertIds"] = [a.id for a in alerts]
        return summary


def process_delivery(
    batch: LogBatch,
    expected: ExpectedAdminsLike,
    aws_auth_store: StateStore,
    rbac_store: RbacStore,
    region: str,
    publish: Publisher,
    access_entries: AccessEntrySource | None = None,
) -> DeliveryResult:
    records = [] if batch.is_control else list(audit_records(batch))
    if records and batch.cluster is None:
        raise PayloadError(f"log group {batch.log_group!r} is not an EKS control-plane log group")
    cluster = batch.cluster or ""
    key = accounts.cluster_key(cluster, batch.owner or None)
    loaded: list[RbacState] = []

    def rbac_state() -> RbacState:
        if not loaded:
            loaded.append(rbac_store.load(key))
        return loaded[0]

    aws_auth = process_batch(
        batch,
        expected,
        aws_auth_store,
        region,
        publish,
        [r for r in records if r.topic == TOPIC_AWS_AUTH],
        rbac_admins=lambda: admin_subjects(rbac_state()),
        state_key=key,
    )

    def carriers() -> Carriers:
        # aws-auth as the aws-auth judge just left it, read again only when it did not read it
        state = aws_auth.state if aws_auth.state is not None else aws_auth_store.load(key)
        content = parse_aws_auth(state.data) if state is not None and state.status == "present" else None
        return carriers_from(content, access_entries.load(key) if access_entries is not None else None)

    rbac = rbac_process.process_records(
        batch,
        cluster,
        [r for r in records if r.topic == TOPIC_RBAC],
        expected,
        rbac_store,
        carriers,
        region,
        publish,
        rbac_state() if any(r.topic == TOPIC_RBAC for r in records) else None,
        state_key=key,
    )
    return DeliveryResult(aws_auth, rbac)
