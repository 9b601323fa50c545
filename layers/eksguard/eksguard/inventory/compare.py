"""Two inventories of one cluster -> what changed, as alerts; and the record to keep for the next run.

Pure: the caller gives the previous record (or None), the snapshot, the admin report, a verdict per
principal (expected or not, and why) and the kubectl roles of this cluster.

* a new admin that is not expected: CRITICAL "found by inventory" (HIGH at the first inventory of a
  cluster, when "new" only means "new to eksguard");
* a non-expected admin that gained a door: HIGH (a second way in is how access is kept);
* an admin that is gone: INFO; an expected kubectl role that lost admin: MEDIUM (the admin host no
  longer works, or its access moved somewhere eksguard does not expect);
* a blind spot: at its own severity when it opens, then again about once a day while it stays open (a
  blindness an attacker arranged must not go quiet after one alert); it is in every digest too;
* an admin that was expected and no longer is (a forged kubectl tag, a pattern removed): HIGH.

A door whose source could not be read this time is unknown, not gone: the admin is carried over
with its old doors, marked unverified, and never reported as removed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from eksguard.alerts import Alert, Fact, SourceRef, alert_id
from eksguard.console import eks_cluster_url
from eksguard.inventory.admins import Admin, AdminReport
from eksguard.inventory.model import Snapshot
from eksguard.severity import Severity

MAX_ADMIN_ALERTS = 25  # per cluster and run; the rest are counted in one alert
KIND_FOUND = "inventory-admin-found"
KIND_DOOR = "inventory-admin-new-door"
KIND_GONE = "inventory-admin-gone"
KIND_KUBECTL_LOST = "inventory-kubectl-lost-admin"
KIND_BLIND = "inventory-blind-spot"
KIND_MORE = "inventory-more-admins"
KIND_NO_LONGER_EXPECTED = "inventory-admin-no-longer-expected"
REMIND_AFTER = timedelta(hours=20)  # an open blind spot is alerted again about once a day

Verdict = Callable[[str], tuple[bool, str]]  # principal -> (expected, why)


@dataclass(frozen=True)
class ClusterRecord:
    """What the inventory keeps per cluster (DynamoDB item `<cluster key>#inventory@<region>`, where the key
    is the plain name in the hub's own account and `<account>:<name>` in a spoke: accounts.cluster_key)."""

    cluster: str
    region: str
    revision: int = 0
    inventoried_at: str | None = None
    admins: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # principal -> doors, since, expected
    sources_read: tuple[str, ...] = ()
    sources_ever_read: tuple[str, ...] = ()  # a source read once is a baseline for every later run
    blind_spots: Mapping[str, str] = field(default_factory=dict)  # key -> text (open, already reported)
    blind_since: Mapping[str, str] = field(default_factory=dict)  # key -> when it opened
    blind_alerted: Mapping[str, str] = field(default_factory=dict)  # key -> when it was last alerted
    latent: tuple[str, ...] = ()
    platform: tuple[str, ...] = ()  # control-plane identities bound to admin roles (shown, not alerted)
    digest_admins: Mapping[str, list[str]] | None = None  # principal -> door kinds, as of the last digest
    digest_at: str | None = None
    account: str | None = None  # set by a hub (spokes configured); None: the function's own account only

    def to_dict(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"account": self.account} if self.account is not None else {}
        return {
            **extra,
            "cluster": self.cluster,
            "region": self.region,
            "revision": self.revision,
            "inventoried_at": self.inventoried_at,
            "admins": {k: dict(v) for k, v in self.admins.items()},
            "sources_read": list(self.sources_read),
            "sources_ever_read": list(self.sources_ever_read),
            "blind_spots": dict(self.blind_spots),
            "blind_since": dict(self.blind_since),
            "blind_alerted": dict(self.blind_alerted),
            "latent": list(self.latent),
            "platform": list(self.platform),
            "digest_admins": None if self.digest_admins is None else dict(self.digest_admins),
            "digest_at": self.digest_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterRecord:
        return cls(
            cluster=str(data["cluster"]),
            region=str(data["region"]),
            revision=int(data.get("revision") or 0),
            inventoried_at=data.get("inventoried_at"),
            admins={str(k): dict(v) for k, v in (data.get("admins") or {}).items()},
            sources_read=tuple(data.get("sources_read") or ()),
            sources_ever_read=tuple(data.get("sources_ever_read") or data.get("sources_read") or ()),
            blind_spots={str(k): str(v) for k, v in (data.get("blind_spots") or {}).items()},
            blind_since={str(k): str(v) for k, v in (data.get("blind_since") or {}).items()},
            blind_alerted={str(k): str(v) for k, v in (data.get("blind_alerted") or {}).items()},
            latent=tuple(data.get("latent") or ()),
            platform=tuple(data.get("platform") or ()),
            digest_admins=None
            if data.get("digest_admins") is None
            else {str(k): list(v) for k, v in data["digest_admins"].items()},
            digest_at=data.get("digest_at"),
            account=str(data["account"]) if data.get("account") else None,
        )


@dataclass
class Comparison:
    record: ClusterRecord
    alerts: list[Alert]
    added: list[str]
    removed: list[str]


def _door_lines(doors: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(f"{d['kind']}: {d['via']}" for d in doors)


def _door_key(door: Mapping[str, Any]) -> str:
    """A door's stable identity (records written before doors had keys compare by their words)."""
    return str(door.get("key") or door.get("via"))


def _doors_of(admin: Admin) -> list[dict[str, Any]]:
    return [dict(d.to_dict()) for d in admin.doors]


def _facts(snapshot: Snapshot, principal: str, doors: Sequence[Mapping[str, Any]], why: str) -> tuple[Fact, ...]:
    cluster = snapshot.cluster
    return (
        Fact("Principal", principal),
        Fact("Doors", _door_lines(doors) or "(none)"),
        Fact("Expected admin", why),
        Fact("Authentication mode", cluster.authentication_mode or "CONFIG_MAP (no access entries)"),
        Fact("Found by", "reading the cluster's live access state (inventory), whether or not a log showed it"),
    )


def _due(last: str, now: str) -> bool:
    try:
        return _time(now) - _time(last) >= REMIND_AFTER
    except ValueError:
        return True


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def compare(
    previous: ClusterRecord | None,
    snapshot: Snapshot,
    report: AdminReport,
    verdict: Verdict,
    kubectl_roles: frozenset[str],
    now: str,
    account: str | None = None,
    key: str | None = None,
) -> Comparison:
    """`account`: the cluster's account, carried by every alert. `key`: the cluster's state key
    (accounts.cluster_key), part of every alert id, so that `prod` of one account and `prod` of another
    never share one (the notifier posts an id once)."""
    cluster = snapshot.cluster
    state_key = key or cluster.name
    read = snapshot.sources_read
    before = dict(previous.admins) if previous is not None else {}
    revision = (previous.revision if previous is not None else 0) + 1
    current = report.by_principal()
    admins: dict[str, dict[str, Any]] = {}
    alerts: list[Alert] = []
    admin_alerts: list[Alert] = []
    added: list[str] = []
    removed: list[str] = []
    source = SourceRef(
        "inventory", f"inventory of {cluster.name} ({cluster.region})", eks_cluster_url(cluster.region, cluster.name)
    )

    def make(
        kind: str, severity: Severity, title: str, principal: str | None, facts: tuple[Fact, ...], summary: str
    ) -> Alert:
        return Alert(
            id=alert_id("inventory", kind, cluster.region, state_key, principal, revision),
            kind=kind,
            severity=severity,
            title=title,
            cluster=cluster.name,
            principal=principal,
            account=account,
            region=cluster.region,
            time=now,
            summary=summary,
            facts=facts,
            source=source,
        )

    for principal, admin in current.items():
        doors = _doors_of(admin)
        expected, why = verdict(principal)
        old = before.get(principal)
        keys = {_door_key(d) for d in doors}
        kept = doors + [
            {**d, "unverified": True}
            for d in (old or {}).get("doors") or []
            if not set(d.get("sources") or []) <= read and _door_key(d) not in keys
        ]  # a door of a source not read this time is unknown, not gone
        admins[principal] = {"doors": kept, "since": (old or {}).get("since") or now, "expected": expected}
        door_list = ", ".join(admin.door_kinds)
        if old is None:
            added.append(principal)
            if expected:
                continue
            # "new" only to eksguard: the first inventory, or a door whose source was never readable before
            # (a source that was readable once is a baseline: an admin added while it was unreadable is new)
            first = previous is None or not {s for d in doors for s in d["sources"]} <= set(previous.sources_ever_read)
            severity = Severity.HIGH if first else Severity.CRITICAL
            if previous is None:
                title = f"{principal} is cluster admin ({door_list}), present at the first inventory"
            elif first:
                title = f"{principal} is cluster admin ({door_list}), seen now that its source can be read"
            else:
                title = f"{principal} became cluster admin ({door_list}): found by inventory"
            summary = (
                f"{principal} is cluster admin of {cluster.name} through {door_list} and is not an expected admin."
            )
            admin_alerts.append(
                make(KIND_FOUND, severity, title, principal, _facts(snapshot, principal, doors, why), summary)
            )
            continue
        if old.get("expected") and not expected:
            # granted while expected (a kubectl tag, a pattern since removed): it must not stay unseen
            title = f"{principal} is cluster admin ({door_list}) and no longer an expected admin"
            summary = f"{principal} was an expected admin of {cluster.name} and still is admin; it is not expected now."
            admin_alerts.append(
                make(
                    KIND_NO_LONGER_EXPECTED,
                    Severity.HIGH,
                    title,
                    principal,
                    _facts(snapshot, principal, doors, why),
                    summary,
                )
            )
            continue
        old_keys = {_door_key(d) for d in old.get("doors") or []}
        new_doors = [d for d in doors if _door_key(d) not in old_keys]
        if new_doors and not expected:
            kinds = ", ".join(dict.fromkeys(d["kind"] for d in new_doors))
            title = f"{principal} has a new door to cluster admin ({kinds})"
            summary = f"{principal}, not an expected admin, gained another way to be cluster admin of {cluster.name}."
            admin_alerts.append(
                make(KIND_DOOR, Severity.HIGH, title, principal, _facts(snapshot, principal, new_doors, why), summary)
            )

    for principal, old in before.items():
        if principal in current:
            continue
        old_doors = list(old.get("doors") or [])
        unread = [d for d in old_doors if not set(d.get("sources") or []) <= read]
        if unread:
            admins[principal] = {**old, "unverified": True}
            continue
        removed.append(principal)
        lost_kubectl = principal in kubectl_roles and bool(old.get("expected"))
        severity = Severity.MEDIUM if lost_kubectl else Severity.INFO
        kind = KIND_KUBECTL_LOST if lost_kubectl else KIND_GONE
        title = (
            f"kubectl instance role {principal} is no longer cluster admin"
            if lost_kubectl
            else f"{principal} is no longer cluster admin"
        )
        summary = (
            "The kubectl instance of this cluster can no longer administer it, or its access now comes from "
            "somewhere eksguard does not expect."
            if lost_kubectl
            else f"{principal} had cluster admin of {cluster.name}; none of its doors is there now."
        )
        facts = (Fact("Principal", principal), Fact("Doors it had", _door_lines(old_doors) or "(none)"))
        alerts.append(make(kind, severity, title, principal, facts, summary))

    admin_alerts.sort(key=lambda a: (-int(a.severity), a.title))
    if len(admin_alerts) > MAX_ADMIN_ALERTS:
        rest = admin_alerts[MAX_ADMIN_ALERTS:]
        admin_alerts = admin_alerts[:MAX_ADMIN_ALERTS]
        worst = max((a.severity for a in rest), default=Severity.HIGH)
        names = "\n".join(a.principal or "" for a in rest)
        admin_alerts.append(
            make(
                KIND_MORE,
                worst,
                f"{len(rest)} more non-expected cluster admins found by inventory",
                None,
                (Fact("Principals", names),),
                "More admins than one run reports one by one; the digest lists them all.",
            )
        )
    alerts = admin_alerts + alerts

    open_spots = {spot.key: spot.text for spot in snapshot.blind_spots}
    since = dict(previous.blind_since) if previous is not None else {}
    alerted = dict(previous.blind_alerted) if previous is not None else {}
    since = {key: since.get(key) or now for key in open_spots}
    alerted = {key: value for key, value in alerted.items() if key in open_spots}
    for spot in snapshot.blind_spots:
        last = alerted.get(spot.key)
        if last is not None and not _due(last, now):
            continue  # reported; it stays in the record and the digest, and is alerted again daily
        opened = since[spot.key]
        title = f"blind spot: {spot.text}" if last is None else f"still blind since {opened}: {spot.text}"
        alerts.append(
            make(
                KIND_BLIND,
                spot.severity,
                title,
                None,
                (
                    Fact("Blind spot", spot.key),
                    Fact("What eksguard cannot see", spot.text),
                    Fact("Open since", opened),
                ),
                "Part of this cluster's access state could not be read; admins through that part are unknown, "
                "not absent.",
            )
        )
        alerted[spot.key] = now

    record = ClusterRecord(
        cluster=cluster.name,
        region=cluster.region,
        revision=revision,
        inventoried_at=now,
        admins=admins,
        sources_read=tuple(sorted(read)),
        sources_ever_read=tuple(sorted(read | set(previous.sources_ever_read if previous is not None else ()))),
        blind_spots=open_spots,
        blind_since=since,
        blind_alerted=alerted,
        latent=report.latent,
        platform=report.platform,
        digest_admins=previous.digest_admins if previous is not None else None,
        digest_at=previous.digest_at if previous is not None else None,
    )
    return Comparison(record, alerts, added, removed)
