"""The digest: per cluster, who is admin and through which door, what changed since the last digest,
and what eksguard cannot see. One Slack message; the notifier posts it whatever AlertMinSeverity says.

A hub (spokes configured) labels every cluster with its account (`<id> (<name>)`), lists the clusters
account by account (the hub's own first), and says in one line how much of the organisation it covers.

Pure: records in, one Alert and the records to keep (with the digest's view of the admins) out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from eksguard.alerts import KIND_DIGEST, Alert, Fact, alert_id
from eksguard.coverage import Coverage
from eksguard.inventory.compare import ClusterRecord
from eksguard.severity import Severity

MAX_DOOR_TEXT = 160


def _short(text: str, limit: int = MAX_DOOR_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _admin_line(principal: str, admin: Mapping[str, Any]) -> str:
    doors = admin.get("doors") or []
    kinds = ", ".join(dict.fromkeys(str(d.get("kind")) for d in doors if isinstance(d, dict)))
    flags = []
    if not admin.get("expected"):
        flags.append("NOT EXPECTED")
    if admin.get("unverified"):
        flags.append("unverified: its source could not be read")
    flag = f" [{'; '.join(flags)}]" if flags else ""
    return f"{principal} via {kinds or '?'} since {admin.get('since') or '?'}{flag}"


def _door_kinds(record: ClusterRecord) -> dict[str, list[str]]:
    """principal -> the kinds of its doors, as the digest remembers them."""
    return {p: sorted({str(d.get("kind")) for d in a.get("doors") or []}) for p, a in record.admins.items()}


def _changes(record: ClusterRecord) -> list[str]:
    if record.digest_admins is None:
        return ["first digest of this cluster"]
    now = _door_kinds(record)
    lines = [f"+ {p} ({', '.join(k)})" for p, k in sorted(now.items()) if p not in record.digest_admins]
    lines += [f"- {p}" for p in sorted(record.digest_admins) if p not in now]
    lines += [
        f"~ {p}: doors {', '.join(record.digest_admins[p])} -> {', '.join(k)}"
        for p, k in sorted(now.items())
        if p in record.digest_admins and sorted(record.digest_admins[p]) != k
    ]
    return lines or ["no change"]


def cluster_label(cluster: str, region: str, account_label: str | None = None) -> str:
    """How a cluster is named in the digest and in failures: `prod (eu-west-1)`, and in a hub
    `prod (eu-west-1) in 111111111111 (payments-prod)` (cluster names repeat across accounts)."""
    where = f"{cluster} ({region})"
    return f"{where} in {account_label}" if account_label else where


def build_digest(
    records: Iterable[ClusterRecord],
    failures: dict[str, str],
    now: str,
    account: str | None = None,
    labels: Mapping[str, str] | None = None,
    coverage: Coverage | None = None,
) -> tuple[Alert, list[ClusterRecord]]:
    """`failures`: "cluster (region)" (or an account, a region) -> why it could not be inventoried at all
    this time. `labels`: with spokes, account -> its label, in the order accounts are listed."""
    order = {a: i for i, a in enumerate(labels or {})}
    records = sorted(records, key=lambda r: (order.get(r.account or "", len(order)), r.region, r.cluster))
    facts: list[Fact] = []
    if coverage is not None:
        facts.append(Fact("Coverage", coverage.line()))
    unexpected = blind = changed = 0
    for record in records:
        lines = [_admin_line(p, a) for p, a in sorted(record.admins.items())] or ["no admin found"]
        unexpected += sum(1 for a in record.admins.values() if not a.get("expected"))
        changes = _changes(record)
        if changes not in (["no change"], ["first digest of this cluster"]):
            changed += 1
        blind += len(record.blind_spots)
        body = ["Admins:"] + [f"  {_short(line)}" for line in lines]
        body += ["Since the last digest:"] + [f"  {_short(line)}" for line in changes]
        if record.blind_spots:
            body += ["Blind spots:"] + [f"  {_short(text)}" for text in record.blind_spots.values()]
        if record.platform:
            body += [f"Control-plane identities bound to admin roles (not alerted): {len(record.platform)}"]
        if record.latent:
            body += ["Latent doors (bound to admin, nobody carries them yet):"]
            body += [f"  {_short(text)}" for text in record.latent]
        label = (labels or {}).get(record.account or "", record.account) if record.account else None
        facts.append(Fact(cluster_label(record.cluster, record.region, label), "\n".join(body)))
    for where, why in sorted(failures.items()):
        blind += 1
        facts.append(Fact(where, f"not inventoried: {why}"))
    admins = sum(len(r.admins) for r in records)
    summary = (
        f"{len(records)} cluster(s), {admins} admin(s), {unexpected} not expected, "
        f"{changed} cluster(s) changed since the last digest, {blind} blind spot(s)."
    )
    gaps = coverage is not None and not coverage.covered
    severity = Severity.HIGH if unexpected or blind or gaps else Severity.INFO
    alert = Alert(
        id=alert_id("inventory-digest", account, now),
        kind=KIND_DIGEST,
        severity=severity,
        title=f"eksguard digest: {summary}",
        account=account,
        time=now,
        summary=summary,
        facts=tuple(facts),
    )
    kept = [
        replace(
            r,
            revision=r.revision + 1,  # a write of its own: never over a newer inventory of the cluster
            digest_admins=_door_kinds(r),
            digest_at=now,
        )
        for r in records
    ]
    return alert, kept
