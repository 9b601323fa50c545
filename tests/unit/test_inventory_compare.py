"""Inventory against inventory: what is alerted, at which severity, and what is kept."""

from __future__ import annotations

from eksguard.alerts import KIND_DIGEST
from eksguard.inventory.admins import effective_admins
from eksguard.inventory.compare import ClusterRecord, Comparison, compare
from eksguard.inventory.digest import build_digest
from eksguard.inventory.model import BlindSpot, Snapshot
from eksguard.severity import Severity
from tests.kube_world import (
    INTRUDER,
    KUBECTL_ROLE,
    PLATFORM_ADMIN,
    aws_auth,
    cluster_admin_entry,
    masters_mapping,
    snapshot,
)

EXPECTED = {KUBECTL_ROLE, PLATFORM_ADMIN}
KUBECTL = frozenset({KUBECTL_ROLE})


def verdict(principal: str) -> tuple[bool, str]:
    return (principal in EXPECTED, "matches an expected pattern" if principal in EXPECTED else "not expected")


def run(snap: Snapshot, previous: ClusterRecord | None, now: str = "2026-12-06T10:00:00Z") -> Comparison:
    return compare(previous, snap, effective_admins(snap), verdict, KUBECTL, now)


def baseline_record() -> ClusterRecord:
    return run(snapshot(), None, "2026-12-01T10:00:00Z").record


def test_first_inventory_reports_non_expected_admins_high_and_expected_silently() -> None:
    snap = snapshot(entries=(cluster_admin_entry(KUBECTL_ROLE), cluster_admin_entry(INTRUDER)))
    result = run(snap, None)
    assert [(a.severity, a.principal) for a in result.alerts] == [(Severity.HIGH, INTRUDER)]
    assert "first inventory" in result.alerts[0].title
    assert result.record.admins[KUBECTL_ROLE]["expected"] is True


def test_new_admin_found_by_inventory_is_critical_and_names_door() -> None:
    previous = baseline_record()
    result = run(snapshot(entries=(cluster_admin_entry(KUBECTL_ROLE), cluster_admin_entry(INTRUDER))), previous)
    [alert] = result.alerts
    assert alert.severity is Severity.CRITICAL
    assert alert.principal == INTRUDER and alert.cluster == "prod"
    assert "found by inventory" in alert.title and "access-policy" in alert.title
    assert alert.notification_text().startswith("[CRITICAL] prod: ")
    # the next run knows it: no second alert, and "since" is kept
    again = run(
        snapshot(entries=(cluster_admin_entry(KUBECTL_ROLE), cluster_admin_entry(INTRUDER))),
        result.record,
        "2026-12-07T10:00:00Z",
    )
    assert again.alerts == []
    assert again.record.admins[INTRUDER]["since"] == "2026-12-06T10:00:00Z"


def test_expected_new_admin_is_not_alerted() -> None:
    result = run(
        snapshot(entries=(cluster_admin_entry(KUBECTL_ROLE), cluster_admin_entry(PLATFORM_ADMIN))), baseline_record()
    )
    assert result.alerts == [] and result.added == [PLATFORM_ADMIN]


def test_gone_admin_is_info_and_lost_kubectl_role_is_medium() -> None:
    with_intruder = run(
        snapshot(entries=(cluster_admin_entry(KUBECTL_ROLE), cluster_admin_entry(INTRUDER))), baseline_record()
    ).record
    result = run(snapshot(entries=()), with_intruder)
    severities = {a.principal: (a.severity, a.kind) for a in result.alerts}
    assert severities == {
        INTRUDER: (Severity.INFO, "inventory-admin-gone"),
        KUBECTL_ROLE: (Severity.MEDIUM, "inventory-kubectl-lost-admin"),
    }


def test_a_door_from_an_unread_source_is_unknown_not_gone() -> None:
    config_admin = snapshot(config=None)  # aws-auth absent
    with_masters = run(snapshot(config=aws_auth(masters_mapping(INTRUDER))), baseline_record()).record
    assert INTRUDER in with_masters.admins
    blind = Snapshot(
        cluster=config_admin.cluster,
        access_entries=config_admin.access_entries,
        identity_providers=(),
        pod_identities=(),
        kube=None,
        blind_spots=(BlindSpot("kubernetes-api:forbidden", Severity.HIGH, "no read access"),),
    )
    result = run(blind, with_masters)
    assert [a.kind for a in result.alerts] == ["inventory-blind-spot"]
    assert result.alerts[0].severity is Severity.HIGH
    assert result.record.admins[INTRUDER]["unverified"] is True
    # reported once; still open in the record
    again = run(blind, result.record)
    assert again.alerts == [] and "kubernetes-api:forbidden" in again.record.blind_spots


def test_new_door_for_non_expected_admin_is_high() -> None:
    first = run(
        snapshot(entries=(cluster_admin_entry(KUBECTL_ROLE), cluster_admin_entry(INTRUDER))), baseline_record()
    ).record
    result = run(
        snapshot(
            entries=(cluster_admin_entry(KUBECTL_ROLE), cluster_admin_entry(INTRUDER)),
            config=aws_auth(masters_mapping(INTRUDER)),
        ),
        first,
    )
    [alert] = result.alerts
    assert alert.severity is Severity.HIGH and alert.kind == "inventory-admin-new-door" and "aws-auth" in alert.title


def test_many_new_admins_are_capped_and_counted() -> None:
    intruders = tuple(cluster_admin_entry(f"arn:aws:iam::123456789012:role/x{i}") for i in range(40))
    result = run(snapshot(entries=intruders), baseline_record())
    assert len(result.alerts) == 26 + 1  # 25 one by one + "15 more" + the kubectl role that lost admin
    more = [a for a in result.alerts if a.kind == "inventory-more-admins"]
    assert more and more[0].title.startswith("15 more") and more[0].severity is Severity.CRITICAL


def test_digest_lists_admins_changes_and_blind_spots() -> None:
    first = baseline_record()
    alert, kept = build_digest([first], {}, "2026-12-01T11:00:00Z")
    assert alert.kind == KIND_DIGEST and "first digest" in alert.facts[0].value
    later = run(snapshot(entries=(cluster_admin_entry(KUBECTL_ROLE), cluster_admin_entry(INTRUDER))), kept[0]).record
    alert, kept = build_digest([later], {"staging (eu-west-1)": "AccessDenied"}, "2026-12-08T11:00:00Z")
    text = alert.facts[0].value
    assert f"+ {INTRUDER} (access-policy)" in text
    assert "NOT EXPECTED" in text
    assert alert.facts[1] == alert.facts[1].__class__("staging (eu-west-1)", "not inventoried: AccessDenied")
    assert alert.severity is Severity.HIGH and "1 not expected" in alert.summary  # type: ignore[operator]
    assert kept[0].digest_admins == {INTRUDER: ["access-policy"], KUBECTL_ROLE: ["access-policy"]}
    quiet, _ = build_digest(kept, {}, "2026-12-15T11:00:00Z")
    assert "no change" in quiet.facts[0].value


def test_an_admin_first_visible_when_its_source_becomes_readable_is_high_not_critical() -> None:
    never_read = run(snapshot(kube=False), None).record
    assert never_read.sources_ever_read == ("eks",)
    result = run(snapshot(config=aws_auth(masters_mapping(INTRUDER))), never_read)
    [alert] = result.alerts
    assert alert.severity is Severity.HIGH and "seen now that its source can be read" in alert.title


def test_an_admin_added_while_eksguard_was_blinded_is_still_critical() -> None:
    """Break eksguard's read access, add a backdoor, restore access: the source was readable before, so
    the new admin is new, not a baseline."""
    blinded = run(snapshot(kube=False), baseline_record()).record
    assert blinded.sources_read == ("eks",) and blinded.sources_ever_read == ("eks", "kubernetes")
    result = run(snapshot(config=aws_auth(masters_mapping(INTRUDER))), blinded)
    [alert] = result.alerts
    assert alert.severity is Severity.CRITICAL and "found by inventory" in alert.title


def test_an_admin_that_is_no_longer_expected_is_high() -> None:
    with_platform = run(
        snapshot(entries=(cluster_admin_entry(KUBECTL_ROLE), cluster_admin_entry(PLATFORM_ADMIN))), baseline_record()
    ).record
    EXPECTED.discard(PLATFORM_ADMIN)
    try:
        result = run(
            snapshot(entries=(cluster_admin_entry(KUBECTL_ROLE), cluster_admin_entry(PLATFORM_ADMIN))), with_platform
        )
    finally:
        EXPECTED.add(PLATFORM_ADMIN)
    [alert] = result.alerts
    assert alert.severity is Severity.HIGH and alert.kind == "inventory-admin-no-longer-expected"
    assert result.record.admins[PLATFORM_ADMIN]["expected"] is False


def test_an_open_blind_spot_is_alerted_again_about_daily() -> None:
    blind = Snapshot(
        cluster=snapshot().cluster,
        access_entries=snapshot().access_entries,
        identity_providers=(),
        pod_identities=(),
        kube=None,
        blind_spots=(BlindSpot("kubernetes-api:throttled", Severity.HIGH, "throttled"),),
    )
    first = run(blind, baseline_record(), "2026-12-06T06:00:00Z")
    assert [a.title for a in first.alerts] == ["blind spot: throttled"]
    same_day = run(blind, first.record, "2026-12-06T18:00:00Z")
    assert same_day.alerts == []
    next_day = run(blind, same_day.record, "2026-12-07T06:00:00Z")
    assert [a.title for a in next_day.alerts] == ["still blind since 2026-12-06T06:00:00Z: throttled"]
    closed = run(snapshot(), next_day.record, "2026-12-07T07:00:00Z")
    assert closed.record.blind_spots == {} and closed.record.blind_since == {}


def test_doors_of_an_unread_source_are_kept_unverified_and_do_not_come_back_as_new() -> None:
    both = snapshot(
        entries=(cluster_admin_entry(KUBECTL_ROLE), cluster_admin_entry(INTRUDER)),
        config=aws_auth(masters_mapping(INTRUDER)),
    )
    first = run(both, None).record
    kube_blind = Snapshot(
        cluster=both.cluster,
        access_entries=both.access_entries,
        identity_providers=(),
        pod_identities=(),
        kube=None,
    )
    blind = run(kube_blind, first)
    kinds = {d["kind"]: d.get("unverified", False) for d in blind.record.admins[INTRUDER]["doors"]}
    assert kinds == {"access-policy": False, "aws-auth": True}
    back = run(both, blind.record)
    assert back.alerts == []
