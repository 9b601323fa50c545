"""One inventory run: every cluster of the configured regions (or the one a detector asked for), each in
isolation, in a small thread pool; then, on the digest schedule, the digest.

Per cluster: read (EKS API, then the Kubernetes API), compute the admins, compare with the stored
record, queue the alerts, and only then save the record, so an alert that could not be queued is
found again by the next run instead of being lost. One cluster that fails (unreachable, no access,
an unexpected error) is reported and never stops the others.

A hub (spokes configured) runs over every account it acts in, its own first. Accounts are entered one
at a time: the role assumed (one bounded call), the account named, its clusters listed per region; an
account whose role cannot be assumed is one HIGH alert and the others go on. The accounts' clusters are
started in turn (one of each account, then the next of each: `in_turn`). Each cluster is read in its
account's scope, which the worker thread enters itself (a scope does not cross threads): its EKS
calls, its Kubernetes token and the expected-admin lookups are the spoke role's. Its record and alerts
go to the hub's own table and queue (`aws.at_home`), its record under `accounts.cluster_key`. A full
run of a hub (not a detector's one-cluster request) ends with the coverage report (eksguard.coverage).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from aws_lambda_powertools import Logger

from eksguard import accounts, aws
from eksguard.accounts import Target, Targets
from eksguard.alerts import Alert, Fact, alert_id, utc_now_iso
from eksguard.coverage import Coverage as CoverageReport
from eksguard.coverage import CoverageSetup, check_coverage, coverage_alert
from eksguard.inventory.admins import TOO_MANY, AdminReport, effective_admins
from eksguard.inventory.compare import ClusterRecord, Verdict, compare
from eksguard.inventory.digest import build_digest, cluster_label
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
# Entering an account: its role assumed (the first client of the scope does it), within the run's deadline.
ACCOUNT_ENTRY_SECONDS = aws.worst_call_seconds(aws.ASSUME_CONFIG)
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
    account: str | None = None  # a hub's run: the cluster's account (None: a single-account deployment)
    account_label: str | None = None

    @property
    def where(self) -> str:
        return cluster_label(self.cluster, self.region, self.account_label)


@dataclass(frozen=True)
class Job:
    """One cluster to inventory, in `target`'s account (None: the function's own, single-account)."""

    region: str
    cluster: str
    target: Target | None = None

    def outcome(self, status: str, **values: Any) -> ClusterOutcome:
        account = self.target.account if self.target is not None else None
        label = self.target.label if self.target is not None else None
        return ClusterOutcome(self.region, self.cluster, status, account=account, account_label=label, **values)


@dataclass
class RunResult:
    outcomes: list[ClusterOutcome] = field(default_factory=list)
    # "cluster (region)", "region", and in a hub "account <label>" or "... in <label>" -> why
    failures: dict[str, str] = field(default_factory=dict)
    digest_alert: str | None = None
    accounts: dict[str, str | None] = field(default_factory=dict)  # a hub's run: label -> None, or why not reached
    coverage: CoverageReport | None = None
    coverage_alert: str | None = None

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "clusters": len(self.outcomes),
            "ok": sum(1 for o in self.outcomes if o.status == "ok"),
            "failed": sorted(o.where for o in self.outcomes if o.status == "failed"),
            "failures": self.failures,
            "alerts": sum(o.alerts for o in self.outcomes),
            "admins": sum(o.admins for o in self.outcomes),
            "apiCalls": sum(o.api_calls for o in self.outcomes),
            "digestAlertId": self.digest_alert,
        }
        if self.accounts:
            summary["accounts"] = self.accounts
        if self.coverage is not None:
            summary["coverage"] = "covered" if self.coverage.covered else "gaps"
            summary["coverageAlertId"] = self.coverage_alert
        return summary


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


def _load(store: InventoryStore, cluster: str, region: str, account: str | None) -> ClusterRecord | None:
    """The stored record, from the hub's table (a spoke's cluster under its account's key)."""
    with aws.at_home():
        return store.load(accounts.cluster_key(cluster, account) if account is not None else cluster, region)


def _publish(gateways: Gateways, alerts: list[Alert]) -> None:
    with aws.at_home():  # the hub's queue, also from inside a spoke's scope
        gateways.publish(alerts)


def inventory_cluster(gateways: Gateways, region: str, name: str, target: Target | None = None) -> ClusterOutcome:
    """One cluster, in the current account scope (`target`: the account a hub entered for it)."""
    job = Job(region, name, target)
    account = target.account if target is not None else None
    started = time.monotonic()
    cpu_started = time.thread_time()
    now = gateways.now()
    try:
        snapshot = read_snapshot(gateways, region, name)
        report = effective_admins(snapshot)
        snapshot = with_report_spots(snapshot, report)
        previous = _load(gateways.store, name, region, account)
        arn = snapshot.cluster.arn or ""
        account_of_arn = arn.split(":")[4] if arn.count(":") >= 5 else None
        key = accounts.cluster_key(name, account) if account is not None else name
        result = compare(
            previous,
            snapshot,
            report,
            gateways.verdict(name),
            gateways.kubectl_roles(name),
            now,
            account or account_of_arn,
            key=key,
        )
        record = replace(result.record, account=account) if account is not None else result.record
        _publish(gateways, result.alerts)
        with aws.at_home():
            saved = gateways.store.save(record)
    except Exception as exc:  # one cluster never stops the run; the failure is reported
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
        logger.exception(
            "inventory_failed", extra={"cluster": name, "region": region, "account": account, "error": error}
        )
        return job.outcome("failed", seconds=time.monotonic() - started, error=error)
    outcome = job.outcome(
        "ok" if saved else "not-saved",
        alerts=len(result.alerts),
        admins=len(report.admins),
        api_calls=snapshot.api_calls,
        seconds=time.monotonic() - started,
        cpu_seconds=time.thread_time() - cpu_started,
        record=record,
    )
    logger.info(
        "inventoried",
        extra={
            "cluster": name,
            "region": region,
            "account": account,
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


def _failure_alert(
    where: str, why: str, now: str, cluster: str | None, region: str | None, account: str | None = None
) -> Alert:
    return Alert(
        id=alert_id("inventory-failed", where, now),
        kind=KIND_FAILED,
        severity=Severity.HIGH,
        title=f"inventory of {where} failed: who is admin there is unknown",
        cluster=cluster,
        account=account,
        region=region,
        time=now,
        summary="The live access state could not be read; the last known state stays in the digest.",
        facts=(Fact("Error", why),),
    )


def _account_alert(target: Target, why: str, now: str) -> Alert:
    """One alert for an account the hub cannot act in, not one per cluster (it cannot even list them)."""
    return Alert(
        id=alert_id("inventory-failed", "account", target.account, now),
        kind=KIND_FAILED,
        severity=Severity.HIGH,
        title=f"account {target.label} not inventoried: {why}",
        account=target.account,
        time=now,
        summary=(
            "The hub could not act in this account: none of its clusters was listed or read, so who is admin "
            "there is unknown. Check the spoke stack (its role and the hub's trust) in that account."
        ),
        facts=(Fact("Account", target.label), Fact("Role", target.role_arn or "(own credentials)"), Fact("Error", why)),
    )


def run(
    gateways: Gateways,
    regions: tuple[str, ...],
    only: tuple[str, str] | None = None,
    digest: bool = False,
    time_left: Callable[[], float] | None = None,
    workers: int = MAX_WORKERS,
    targets: Callable[[], Targets] | None = None,
    coverage: CoverageSetup | None = None,
) -> RunResult:
    """`only`: (region, cluster) when a detector asked for one cluster. `time_left`: seconds before the
    function times out; reads are made only while they can end FINAL_RESERVE_SECONDS before it, and
    clusters not started with at least MIN_SECONDS_PER_CLUSTER of that left are reported.

    `targets` (a hub): the accounts to act in, resolved once the deadline runs (listing the organisation
    is a call too); with `only`, the one account of that cluster. `coverage`: the coverage report's setup
    (a full run only)."""
    aws.CallDeadline.start(time_left() - FINAL_RESERVE_SECONDS if time_left is not None else None)
    try:
        if targets is None:
            return _run(gateways, regions, only, digest, workers)
        return _run_accounts(gateways, regions, only, digest, workers, targets, coverage)
    finally:
        aws.CallDeadline.start(None)  # a warm container's next invocation starts its own


def _inventory_all(gateways: Gateways, jobs: list[Job], workers: int) -> list[ClusterOutcome]:
    def one(job: Job) -> ClusterOutcome:
        if not aws.CallDeadline.allows(MIN_SECONDS_PER_CLUSTER):
            return job.outcome("failed", error="not started: the run ran out of time")
        if job.target is None:
            return inventory_cluster(gateways, job.region, job.cluster)
        with job.target.scope():  # a worker thread does not inherit the caller's scope
            return inventory_cluster(gateways, job.region, job.cluster, job.target)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs) or 1))) as pool:
        return list(pool.map(one, jobs))


def in_turn(jobs: list[Job]) -> list[Job]:
    """The clusters of every account in turn: the first of each account, then the second of each, and so on.

    A cluster is started only while the run has time for it, so in account order an account with many
    clusters, or clusters slow to read, would spend the run and leave the accounts after it unread on
    every run; in turn, each account's first clusters are read before any account's later ones."""
    queues: dict[str | None, list[Job]] = {}
    for job in jobs:
        queues.setdefault(job.target.account if job.target is not None else None, []).append(job)
    longest = max((len(queue) for queue in queues.values()), default=0)
    return [queue[i] for i in range(longest) for queue in queues.values() if i < len(queue)]


def _run(
    gateways: Gateways, regions: tuple[str, ...], only: tuple[str, str] | None, digest: bool, workers: int
) -> RunResult:
    result = RunResult()
    now = gateways.now()
    jobs: list[Job] = []
    if only is not None:
        jobs.append(Job(*only))
    else:
        for region in regions:
            try:
                jobs.extend(Job(region, name) for name in gateways.eks(region).list_clusters())
            except EksReadError as exc:
                result.failures[region] = str(exc)
                gateways.publish([_failure_alert(f"region {region}", str(exc), now, None, region)])
    result.outcomes = _inventory_all(gateways, jobs, workers)
    _finish(gateways, result, now, digest)
    return result


def _enter(target: Target, region: str) -> tuple[Target, str | None]:
    """The account ready to act in (role assumed, named) or why not: one bounded STS call, then the alias."""
    if not aws.CallDeadline.allows(ACCOUNT_ENTRY_SECONDS):
        return target, "not reached: the run ran out of time before this account"
    with target.scope():
        try:
            aws.assume_for_scope()
        except aws.AccountUnreachable as exc:
            logger.error("account_unreachable", extra={"account": target.account, "error": exc.reason})
            return target, exc.reason
    if aws.CallDeadline.allows(aws.worst_lookup_call_seconds()):
        target = accounts.named(target, region)
    return target, None


def _run_accounts(
    gateways: Gateways,
    regions: tuple[str, ...],
    only: tuple[str, str] | None,
    digest: bool,
    workers: int,
    resolve: Callable[[], Targets],
    setup: CoverageSetup | None,
) -> RunResult:
    result = RunResult()
    now = gateways.now()
    targets = resolve()
    home = next((t.account for t in targets if t.role_arn is None), None)
    if home and accounts.home() is None:
        accounts.set_home(home)  # the hub's own clusters keep their plain state keys
    for problem in targets.problems:
        result.failures["organisation"] = problem
    entered: list[tuple[Target, str | None]] = []
    jobs: list[Job] = []
    iam_region = only[0] if only else next(iter(regions), "us-east-1")  # IAM is global: any endpoint
    for target in targets:
        target, why = _enter(target, iam_region)
        entered.append((target, why))
        result.accounts[target.label] = why
        if why is not None:
            result.failures[f"account {target.label}"] = why
            _publish(gateways, [_account_alert(target, why, now)])
            continue
        if only is not None:
            jobs.append(Job(only[0], only[1], target))
            continue
        with target.scope():
            for region in regions:
                try:
                    names = gateways.eks(region).list_clusters()
                except EksReadError as exc:
                    where = f"region {region} in {target.label}"
                    result.failures[where] = str(exc)
                    _publish(gateways, [_failure_alert(where, str(exc), now, None, region, target.account)])
                    continue
                jobs.extend(Job(region, name, target) for name in names)
    logger.info(
        "accounts_entered",
        extra={"accounts": len(entered), "unreachable": sum(1 for _, why in entered if why), "clusters": len(jobs)},
    )
    result.outcomes = _inventory_all(gateways, in_turn(jobs), workers)
    report: CoverageReport | None = None
    if setup is not None and only is None:
        report = check_coverage(
            entered,
            regions,
            setup,
            home=home,
            organization=targets.organization,
            names=targets.names,
            problems=targets.problems,
            workers=workers,
        )
        alert = coverage_alert(report, now)
        _publish(gateways, [alert])
        result.coverage, result.coverage_alert = report, alert.id
        logger.info("coverage_reported", extra={"covered": report.covered, "gaps": report.gaps()[:50]})
    labels = {t.account: t.label for t, _ in entered}
    _finish(gateways, result, now, digest, labels, report)
    return result


def _finish(
    gateways: Gateways,
    result: RunResult,
    now: str,
    digest: bool,
    labels: dict[str, str] | None = None,
    coverage: CoverageReport | None = None,
) -> None:
    """The failed clusters' alerts, then (on the digest schedule) the digest and its records."""
    failed = [o for o in result.outcomes if o.status == "failed"]
    for outcome in failed:
        result.failures[outcome.where] = outcome.error or "unknown error"
    if failed:
        _publish(
            gateways,
            [_failure_alert(o.where, o.error or "", now, o.cluster, o.region, o.account) for o in failed],
        )
    if not digest:
        return
    records = [o.record for o in result.outcomes if o.record is not None]
    for outcome in failed:
        try:
            kept = _load(gateways.store, outcome.cluster, outcome.region, outcome.account)
        except Exception as exc:  # the digest still goes out, naming what it could not read
            logger.exception("digest_record_unreadable", extra={"cluster": outcome.cluster})
            result.failures[outcome.where] += f"; last record unreadable: {exc}"
            continue
        if kept is not None:
            records.append(kept)
    alert, kept_records = build_digest(records, result.failures, now, labels=labels, coverage=coverage)
    _publish(gateways, [alert])
    result.digest_alert = alert.id
    for record in kept_records:  # after publishing nothing may raise: Lambda would post the digest again
        try:
            with aws.at_home():
                gateways.store.save(record)
        except Exception:
            logger.exception("digest_record_not_saved", extra={"cluster": record.cluster, "region": record.region})
