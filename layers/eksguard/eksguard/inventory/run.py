"""One inventory run: every cluster of the configured regions (or the one a detector asked for), each in
isolation, in a small thread pool; then, on the digest schedule, the digest.

Per cluster: read (EKS API, then the Kubernetes API), compute the admins, compare with the stored
record, queue the alerts, and only then save the record, so an alert that could not be queued is
found again by the next run instead of being lost. One cluster that fails (unreachable, no access,
an unexpected error) is reported and never stops the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from aws_lambda_powertools import Logger

from eksguard import aws
from eksguard.alerts import Alert, Fact, alert_id, utc_now_iso
from eksguard.inventory.admins import TOO_MANY, AdminReport, effective_admins
from eksguard.inventory.compare import ClusterRecord, Verdict, compare
from eksguard.inventory.digest import build_digest
from eksguard.inventory.eks_reader import EksReader, EksReadError
from eksguard.inventory.kube_reader import KubeError, KubeReader
from eksguard.inventory.model import BlindSpot, ClusterFacts, KubeObjects, Snapshot
from eksguard.inventory.store import InventoryStore
from eksguard.severity import Severity

logger = Logger(child=True)

MAX_WORKERS = 4  # with KubeReader's per-cluster byte budget, the worst case fits the function's memory
MIN_SECONDS_PER_CLUSTER = 45.0  # a cluster is not started with less time left (its longest call, and then some)
# Kept back from the function's timeout for what follows the reads: a cluster's record and alerts, the
# failure alerts, the digest and its records (four writes of aws.RETRY_CONFIG, and a margin). Reads are
# made only while they can end before that (aws.CallDeadline).
FINAL_RESERVE_SECONDS = 4 * aws.worst_call_seconds(aws.RETRY_CONFIG) + 5.0
KIND_FAILED = "inventory-failed"
SETUP_HINT = "see README, 'Inventory: read access' (access entry + eksguard-inventory-reader ClusterRole)"


@dataclass
class Gateways:
    eks: Callable[[str], EksReader]  # region -> a reader (one per cluster: it counts that cluster's calls)
    kube: Callable[[ClusterFacts], KubeReader]  # raises KubeError
    store: InventoryStore
    publish: Callable[[list[Alert]], object]
    verdict: Callable[[str], Verdict]  # cluster -> principal -> (expected, why)
    kubectl_roles: Callable[[str], frozenset[str]]
    now: Callable[[], str] = utc_now_iso


@dataclass
class ClusterOutcome:
    region: str
    cluster: str
    status: str  # ok | failed | not-saved
    alerts: int = 0
    admins: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this worker thread's own CPU (the rest of `seconds` is waiting on APIs)
    error: str | None = None
    record: ClusterRecord | None = field(default=None, repr=False)


@dataclass
class RunResult:
    outcomes: list[ClusterOutcome] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # "cluster (region)" or "region" -> why
    digest_alert: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "clusters": len(self.outcomes),
            "ok": sum(1 for o in self.outcomes if o.status == "ok"),
            "failed": sorted(f"{o.cluster} ({o.region})" for o in self.outcomes if o.status == "failed"),
            "failures": self.failures,
            "alerts": sum(o.alerts for o in self.outcomes),
            "admins": sum(o.admins for o in self.outcomes),
            "apiCalls": sum(o.api_calls for o in self.outcomes),
            "digestAlertId": self.digest_alert,
        }


def _kube_blind_spot(facts: ClusterFacts, error: KubeError) -> BlindSpot:
    what = f"the Kubernetes API of {facts.name}"
    if error.kind in ("forbidden", "unauthorized"):
        text = (
            f"eksguard has no read access to {what} ({error}): admins through aws-auth and RBAC are "
            f"unknown; {SETUP_HINT}"
        )
    elif error.kind == "unreachable":
        text = f"{what} cannot be reached from eksguard ({error})"
        if facts.public_endpoint is False:
            text += "; the endpoint is private: run eksguard in the cluster's VPC (VpcSubnetIds)"
    elif error.kind == "tls":
        text = f"{what} failed TLS verification: {error}"
    else:
        text = f"{what} could not be read ({error})"
    return BlindSpot(f"kubernetes-api:{error.kind}", Severity.HIGH, text)


def read_snapshot(gateways: Gateways, region: str, name: str) -> Snapshot:
    """Raises EksReadError when DescribeCluster itself fails (nothing else can be read then)."""
    eks = gateways.eks(region)
    facts = eks.cluster(name)
    spots: list[BlindSpot] = []
    if facts.audit_logging is False:
        spots.append(
            BlindSpot(
                "audit-logging-off",
                Severity.MEDIUM,
                f"audit logging is off on {name}: aws-auth and RBAC changes reach eksguard only through this inventory",
            )
        )

    def part(key: str, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except EksReadError as exc:
            spots.append(BlindSpot(f"eks-api:{key}", Severity.HIGH, f"EKS API {exc}: admins through it are unknown"))
            return None

    entries = part("access-entries", lambda: eks.access_entries(name)) if facts.reads_access_entries else ()
    providers = part("identity-providers", lambda: eks.identity_providers(name))
    pods = part("pod-identity", lambda: eks.pod_identities(name))
    kube: KubeObjects | None = None
    kube_calls = 0
    try:
        reader = gateways.kube(facts)
        try:
            kube = reader.read()
        finally:
            kube_calls = reader.calls
            reader.close()
    except KubeError as exc:
        spots.append(_kube_blind_spot(facts, exc))
    if kube is not None and kube.unreadable:
        spots.append(
            BlindSpot(
                "kubernetes-unreadable-objects",
                Severity.MEDIUM,
                f"{len(kube.unreadable)} RBAC object(s) could not be read: {'; '.join(kube.unreadable[:5])}",
            )
        )
    return Snapshot(
        cluster=facts,
        access_entries=entries,
        identity_providers=providers,
        pod_identities=pods,
        kube=kube,
        blind_spots=tuple(spots),
        api_calls=eks.calls + kube_calls,
    )


def with_report_spots(snapshot: Snapshot, report: AdminReport) -> Snapshot:
    """A report that could not read everything (too many subjects and templates) is a blind spot too."""
    if TOO_MANY not in report.notes:
        return snapshot
    spot = BlindSpot("kubernetes-rbac-too-large", Severity.HIGH, f"{snapshot.cluster.name}: {TOO_MANY}")
    return replace(snapshot, blind_spots=(*snapshot.blind_spots, spot))


def inventory_cluster(gateways: Gateways, region: str, name: str) -> ClusterOutcome:
    started = time.monotonic()
    cpu_started = time.thread_time()
    now = gateways.now()
    try:
        snapshot = read_snapshot(gateways, region, name)
        report = effective_admins(snapshot)
        snapshot = with_report_spots(snapshot, report)
        previous = gateways.store.load(name, region)
        account = (snapshot.cluster.arn or "").split(":")[4] if (snapshot.cluster.arn or "").count(":") >= 5 else None
        result = compare(previous, snapshot, report, gateways.verdict(name), gateways.kubectl_roles(name), now, account)
        gateways.publish(result.alerts)
        saved = gateways.store.save(result.record)
    except Exception as exc:  # one cluster never stops the run; the failure is reported
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
        logger.exception("inventory_failed", extra={"cluster": name, "region": region, "error": error})
        return ClusterOutcome(region, name, "failed", seconds=time.monotonic() - started, error=error)
    outcome = ClusterOutcome(
        region,
        name,
        "ok" if saved else "not-saved",
        alerts=len(result.alerts),
        admins=len(report.admins),
        api_calls=snapshot.api_calls,
        seconds=time.monotonic() - started,
        cpu_seconds=time.thread_time() - cpu_started,
        record=result.record,
    )
    logger.info(
        "inventoried",
        extra={
            "cluster": name,
            "region": region,
            "admins": outcome.admins,
            "added": result.added,
            "removed": result.removed,
            "blind_spots": sorted(s.key for s in snapshot.blind_spots),
            "alerts": outcome.alerts,
            "api_calls": outcome.api_calls,
            "saved": saved,
        },
    )
    return outcome


def _failure_alert(where: str, why: str, now: str, cluster: str | None, region: str) -> Alert:
    return Alert(
        id=alert_id("inventory-failed", where, now),
        kind=KIND_FAILED,
        severity=Severity.HIGH,
        title=f"inventory of {where} failed: who is admin there is unknown",
        cluster=cluster,
        region=region,
        time=now,
        summary="The live access state could not be read; the last known state stays in the digest.",
        facts=(Fact("Error", why),),
    )


def run(
    gateways: Gateways,
    regions: tuple[str, ...],
    only: tuple[str, str] | None = None,
    digest: bool = False,
    time_left: Callable[[], float] | None = None,
    workers: int = MAX_WORKERS,
) -> RunResult:
    """`only`: (region, cluster) when a detector asked for one cluster. `time_left`: seconds before the
    function times out; reads are made only while they can end FINAL_RESERVE_SECONDS before it, and
    clusters not started with at least MIN_SECONDS_PER_CLUSTER of that left are reported."""
    aws.CallDeadline.start(time_left() - FINAL_RESERVE_SECONDS if time_left is not None else None)
    try:
        return _run(gateways, regions, only, digest, workers)
    finally:
        aws.CallDeadline.start(None)  # a warm container's next invocation starts its own


def _run(
    gateways: Gateways, regions: tuple[str, ...], only: tuple[str, str] | None, digest: bool, workers: int
) -> RunResult:
    result = RunResult()
    now = gateways.now()
    targets: list[tuple[str, str]] = []
    if only is not None:
        targets.append(only)
    else:
        for region in regions:
            try:
                targets.extend((region, name) for name in gateways.eks(region).list_clusters())
            except EksReadError as exc:
                result.failures[region] = str(exc)
                gateways.publish([_failure_alert(f"region {region}", str(exc), now, None, region)])

    def one(target: tuple[str, str]) -> ClusterOutcome:
        region, name = target
        if not aws.CallDeadline.allows(MIN_SECONDS_PER_CLUSTER):
            return ClusterOutcome(region, name, "failed", error="not started: the run ran out of time")
        return inventory_cluster(gateways, region, name)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets) or 1))) as pool:
        result.outcomes = list(pool.map(one, targets))

    failed = [o for o in result.outcomes if o.status == "failed"]
    for outcome in failed:
        where = f"{outcome.cluster} ({outcome.region})"
        result.failures[where] = outcome.error or "unknown error"
    if failed:
        gateways.publish(
            [_failure_alert(f"{o.cluster} ({o.region})", o.error or "", now, o.cluster, o.region) for o in failed]
        )
    if digest:
        records = [o.record for o in result.outcomes if o.record is not None]
        for outcome in failed:
            try:
                kept = gateways.store.load(outcome.cluster, outcome.region)
            except Exception as exc:  # the digest still goes out, naming what it could not read
                logger.exception("digest_record_unreadable", extra={"cluster": outcome.cluster})
                result.failures[f"{outcome.cluster} ({outcome.region})"] += f"; last record unreadable: {exc}"
                continue
            if kept is not None:
                records.append(kept)
        alert, kept_records = build_digest(records, result.failures, now)
        gateways.publish([alert])
        result.digest_alert = alert.id
        for record in kept_records:  # after publishing nothing may raise: Lambda would post the digest again
            try:
                gateways.store.save(record)
            except Exception:
                logger.exception("digest_record_not_saved", extra={"cluster": record.cluster, "region": record.region})
    return result
