"""The one summary alert of a stop run."""

from __future__ import annotations

from eksguard.alerts import Alert, Fact, SourceRef, alert_id
from eksguard.severity import Severity
from eksguard.stop.model import InstanceResult, Outcome, RunReport

MAX_LISTED = 15  # per list in the alert; the full result is in the function's logs and return value


def _label(item: InstanceResult) -> str:
    parts = [item.instance_id]
    if item.cluster:
        parts.append(f"cluster {item.cluster}")
    elif item.name:
        parts.append(item.name)
    text = " / ".join(parts)
    if item.reason or item.error_code:
        why = item.error_code if item.outcome is Outcome.FAILED and item.error_code else item.reason
        text += f" ({why}{': ' + item.detail if item.detail else ''})"
    return text


def _listing(items: list[tuple[str, InstanceResult]]) -> str:
    lines = [f"{region}: {_label(item)}" for region, item in items[:MAX_LISTED]]
    if len(items) > MAX_LISTED:
        lines.append(f"... and {len(items) - MAX_LISTED} more (see the function logs)")
    return "\n".join(lines)


def summary_severity(report: RunReport) -> Severity:
    if report.failed_regions or report.unreachable or report.problems:
        return Severity.HIGH
    if report.count(Outcome.FAILED) or any(r.warnings for r in report.regions):
        return Severity.MEDIUM
    return Severity.INFO


def summary_alert(report: RunReport, *, account: str | None, home_region: str) -> Alert:
    stopped = report.count(Outcome.STOPPED)
    would = report.count(Outcome.WOULD_STOP)
    skipped = report.count(Outcome.SKIPPED)
    failed = report.count(Outcome.FAILED)
    clusters = sorted({i.cluster for r in report.regions for i in r.instances if i.cluster})
    verb = f"would stop {would}" if report.dry_run else f"stopped {stopped}"
    title = f"Scheduled stop {verb}, skipped {skipped}, failed {failed} kubectl instance(s)"
    if clusters:
        shown = ", ".join(clusters[:5]) + (", ..." if len(clusters) > 5 else "")
        title += f" (clusters: {shown})"
    if report.unreachable:
        title += f"; {len(report.unreachable)} account(s) not reached"
    if report.failed_regions:
        title += f"; {len(report.failed_regions)} region(s) not scanned"
    if report.dry_run:
        title = "[dry run] " + title

    def collect(outcome: Outcome) -> list[tuple[str, InstanceResult]]:
        return [(r.where, i) for r in report.regions for i in r.by_outcome(outcome)]

    facts: list[Fact] = []
    if report.accounts:
        facts.append(Fact("Accounts", ", ".join(report.accounts)))
        for label, why in report.unreachable.items():
            facts.append(Fact(f"Account {label} not reached", why))
    for problem in report.problems:
        facts.append(Fact("Accounts not listed", problem))
    regions = list(dict.fromkeys(r.region for r in report.regions))
    facts.append(Fact("Regions", ", ".join(regions) or "none"))
    if clusters:
        facts.append(Fact("Clusters", ", ".join(clusters)))
    for label, outcome in (
        ("Stopped", Outcome.STOPPED),
        ("Would stop", Outcome.WOULD_STOP),
        ("Skipped", Outcome.SKIPPED),
        ("Failed", Outcome.FAILED),
    ):
        items = collect(outcome)
        if items:
            facts.append(Fact(label, _listing(items)))
    for region in report.failed_regions:
        facts.append(Fact(f"Region {region.where} not scanned", region.error or "unknown error"))
    warnings = [f"{r.where}: {w}" for r in report.regions for w in r.warnings]
    if warnings:
        facts.append(Fact("Warnings", "\n".join(warnings[:MAX_LISTED])))

    return Alert(
        id=alert_id("stop-summary", report.run_id),
        kind="stop-summary",
        severity=summary_severity(report),
        title=title,
        cluster=clusters[0] if len(clusters) == 1 else None,
        account=account,
        region=home_region,
        time=report.started_at,
        summary=f"Stop run {report.run_id}" + (" (dry run: nothing was stopped)" if report.dry_run else ""),
        facts=tuple(facts),
        source=SourceRef(kind="scheduler", description=f"StopInstancesFunction run {report.run_id}"),
    )
