"""InventoryFunction of a hub, end to end on 127.0.0.1: moto (server) keeps the hub and the spokes apart by
the credentials of the role the hub assumes in each spoke; the EKS front serves each account its own
clusters (a `prod` in every account); the Kubernetes API stand-in checks every token with moto's STS, so
it records which account's role each token authenticates as.

Then the coverage report: the spokes' forwarding rules (events on moto) present, enabled and targeting the
hub's bus, or not; an organisation account without a spoke."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from eksguard import accounts, aws
from eksguard.coverage import SPOKE_RULES
from eksguard.inventory.store import DynamoInventoryStore
from tests.accounts_world import HUB, REFUSING, SPOKE_A, SPOKE_B, in_spoke, refuse_assume
from tests.inventory_world import REGION, LocalWorld, admin_entry, invoke, queued_alerts
from tests.kube_world import PLATFORM_ADMIN

INTRUDER_A = f"arn:aws:iam::{SPOKE_A}:role/intruder"
INTRUDER_B = f"arn:aws:iam::{SPOKE_B}:role/intruder"
SHARED = "arn:aws:iam::444444444444:role/shared-ops"  # one principal with access to both spokes' prod
LABEL_A = f"{SPOKE_A} (payments-prod)"
HUB_BUS = f"arn:aws:events:{REGION}:{HUB}:event-bus/eksguard-hub"
GLOBAL_REGION = "us-east-1"  # where EventBridge receives IAM's CloudTrail events (commercial partition)


@pytest.fixture
def hub(inventory_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("SPOKE_ROLE_NAME", "eksguard-spoke")
    monkeypatch.setenv("ACCOUNT_NAMES", f"{SPOKE_A}=payments-prod")
    accounts.reset_caches()
    yield inventory_env
    accounts.reset_caches()
    accounts.set_home(None)


def forwarding_rules(account: str, disabled: tuple[str, ...] = (), target: str = HUB_BUS) -> None:
    """The spoke stack's forwarding rules in `account`: every rule in REGION, the IAM one in us-east-1."""
    with in_spoke(account):
        for rule in SPOKE_RULES:
            region = GLOBAL_REGION if rule.global_events else REGION
            events = aws.client("events", region)
            events.put_rule(
                Name=rule.name,
                EventPattern=json.dumps({"detail-type": ["AWS API Call via CloudTrail"]}),
                State="DISABLED" if rule.name in disabled else "ENABLED",
            )
            events.put_targets(Rule=rule.name, Targets=[{"Id": "eksguard-hub", "Arn": target}])


def by_kind(alerts: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [a for a in alerts if a["kind"] == kind]


def test_every_account_is_inventoried_in_its_own_scope_and_a_refused_one_is_one_alert(
    inventory_world: LocalWorld, hub: dict[str, Any], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOKE_ACCOUNTS", f"{SPOKE_A},{SPOKE_B},{REFUSING}")
    asked = refuse_assume(REFUSING)
    inventory_world.add_cluster("prod", entries=[admin_entry(PLATFORM_ADMIN)])
    inventory_world.add_cluster("prod", account=SPOKE_A, entries=[admin_entry(INTRUDER_A), admin_entry(SHARED)])
    inventory_world.add_cluster("prod", account=SPOKE_B, entries=[admin_entry(INTRUDER_B), admin_entry(SHARED)])
    inventory_world.add_cluster("dev", account=REFUSING, entries=[admin_entry(INTRUDER_A)])
    inventory_world.add_cluster("prod", account=REFUSING, entries=[admin_entry(INTRUDER_A)])

    result = invoke({"action": "inventory"}, lambda_context)

    assert result["status"] == "partial" and result["clusters"] == 3 and result["ok"] == 3, result
    assert result["accounts"][HUB] is None and result["accounts"][LABEL_A] is None
    assert result["accounts"][SPOKE_B] is None and "AccessDenied" in result["accounts"][REFUSING]
    assert asked == [f"arn:aws:iam::{REFUSING}:role/eksguard-spoke"]  # one assume, not one per cluster

    alerts = queued_alerts(hub["queue"])
    # the refused account: one HIGH alert, not one per cluster
    [refused] = [a for a in alerts if a.get("account") == REFUSING]
    assert refused["kind"] == "inventory-failed" and refused["severity"] == "HIGH"
    assert refused["title"].startswith(f"account {REFUSING} not inventoried: ") and "AccessDenied" in refused["title"]
    # each spoke's prod is found with its own admin, and its alerts name its account
    found = {(a["account"], a["cluster"], a["principal"]) for a in by_kind(alerts, "inventory-admin-found")}
    assert found == {  # the hub's admin is expected
        (SPOKE_A, "prod", INTRUDER_A),
        (SPOKE_A, "prod", SHARED),
        (SPOKE_B, "prod", INTRUDER_B),
        (SPOKE_B, "prod", SHARED),
    }
    ids = [a["id"] for a in alerts]
    assert len(ids) == len(set(ids))  # the notifier posts an id once: the same finding in two accounts is two

    # separate state records, the hub's under its plain key
    store = DynamoInventoryStore(hub["table"], REGION)
    own, in_a, in_b = (
        store.load("prod", REGION),
        store.load(f"{SPOKE_A}:prod", REGION),
        store.load(f"{SPOKE_B}:prod", REGION),
    )
    assert own is not None and set(own.admins) == {PLATFORM_ADMIN}
    assert in_a is not None and set(in_a.admins) == {INTRUDER_A, SHARED} and in_a.account == SPOKE_A
    assert in_b is not None and set(in_b.admins) == {INTRUDER_B, SHARED} and in_b.account == SPOKE_B

    # every token authenticated as the role of the account whose cluster it read
    identities: dict[str, set[str]] = {}
    for request in inventory_world.requests():
        identities.setdefault(request["cluster"], set()).add(request["identity"])
    assert identities[inventory_world.served_name("prod")] == {f"arn:aws:sts::{HUB}:user/moto"}
    for account in (SPOKE_A, SPOKE_B):
        [identity] = identities[inventory_world.served_name("prod", account)]
        assert identity.startswith(f"arn:aws:sts::{account}:assumed-role/eksguard-spoke/"), identity
    assert not any(name.startswith(REFUSING) for name in identities)

    # a change in spoke B is B's alone: spoke A's record is not disturbed
    second = admin_entry(f"arn:aws:iam::{SPOKE_B}:role/second")
    inventory_world.add_cluster("prod", account=SPOKE_B, entries=[admin_entry(INTRUDER_B), admin_entry(SHARED), second])
    invoke({"action": "inventory"}, lambda_context)
    later = [a for a in queued_alerts(hub["queue"]) if a["kind"] != "coverage-report"]
    assert [(a["severity"], a["account"], a["principal"]) for a in by_kind(later, "inventory-admin-found")] == [
        ("CRITICAL", SPOKE_B, f"arn:aws:iam::{SPOKE_B}:role/second")
    ]


def test_the_digest_labels_clusters_with_their_account_and_states_the_coverage(
    inventory_world: LocalWorld, hub: dict[str, Any], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOKE_ACCOUNTS", f"{SPOKE_A},{REFUSING}")
    refuse_assume(REFUSING)
    forwarding_rules(SPOKE_A)
    inventory_world.add_cluster("prod", entries=[admin_entry(PLATFORM_ADMIN)])
    inventory_world.add_cluster("prod", account=SPOKE_A, entries=[admin_entry(INTRUDER_A)])

    invoke({"action": "digest"}, lambda_context)

    [digest] = by_kind(queued_alerts(hub["queue"]), "inventory-digest")
    facts = dict(digest["facts"])
    assert f"{PLATFORM_ADMIN} via access-policy" in facts[f"prod ({REGION}) in {HUB}"]
    assert f"{INTRUDER_A} via access-policy" in facts[f"prod ({REGION}) in {LABEL_A}"]
    assert "AccessDenied" in facts[f"account {REFUSING}"]
    assert facts["Coverage"].startswith("1 of 2 spoke account(s) covered in every region")
    assert REFUSING in facts["Coverage"] and digest["severity"] == "HIGH"
    # the hub's own cluster first, then the spokes in their order
    keys = list(facts)
    assert keys.index(f"prod ({REGION}) in {HUB}") < keys.index(f"prod ({REGION}) in {LABEL_A}")


def test_a_detector_request_for_a_spoke_cluster_reads_that_cluster_in_that_account(
    inventory_world: LocalWorld, hub: dict[str, Any], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOKE_ACCOUNTS", f"{SPOKE_A},{SPOKE_B}")
    inventory_world.add_cluster("prod", entries=[admin_entry(PLATFORM_ADMIN)])
    inventory_world.add_cluster("prod", account=SPOKE_A, entries=[admin_entry(INTRUDER_A)])
    inventory_world.add_cluster("prod", account=SPOKE_B, entries=[admin_entry(INTRUDER_B)])

    request = {"action": "inventory", "cluster": "prod", "region": REGION, "account": SPOKE_B, "reason": "truncated"}
    result = invoke(request, lambda_context)

    assert result["clusters"] == 1 and "coverage" not in result
    assert {r["cluster"] for r in inventory_world.requests()} == {inventory_world.served_name("prod", SPOKE_B)}
    [alert] = queued_alerts(hub["queue"])  # no coverage report for one cluster
    assert (alert["account"], alert["principal"]) == (SPOKE_B, INTRUDER_B)


def test_an_organisation_account_without_a_spoke_is_a_high_coverage_report(
    inventory_world: LocalWorld, hub: dict[str, Any], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = boto3.client("organizations", region_name=REGION)
    organization = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    payments = org.create_account(Email="p@example.com", AccountName="payments")["CreateAccountStatus"]["AccountId"]
    dev = org.create_account(Email="d@example.com", AccountName="dev")["CreateAccountStatus"]["AccountId"]
    monkeypatch.setenv("SPOKE_ACCOUNTS", payments)
    monkeypatch.setenv("ORGANIZATION_ID", organization)
    forwarding_rules(payments)

    result = invoke({"action": "inventory"}, lambda_context)

    assert result["coverage"] == "gaps"
    [report] = by_kind(queued_alerts(hub["queue"]), "coverage-report")
    assert report["severity"] == "HIGH"
    facts = dict(report["facts"])
    assert facts["Not covered"] == f"{dev} (dev): in the organisation, no spoke configured"
    assert f"{payments} (payments): {REGION}, {GLOBAL_REGION}" in facts["Covered"]


def test_a_disabled_forwarding_rule_is_a_high_coverage_report_naming_account_and_region(
    inventory_world: LocalWorld, hub: dict[str, Any], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOKE_ACCOUNTS", f"{SPOKE_A},{SPOKE_B}")
    forwarding_rules(SPOKE_A, disabled=("eksguard-spoke-eks-access-changes",))
    forwarding_rules(SPOKE_B)

    invoke({"action": "inventory"}, lambda_context)

    [report] = by_kind(queued_alerts(hub["queue"]), "coverage-report")
    assert report["severity"] == "HIGH"
    assert dict(report["facts"])["Not covered"] == f"{LABEL_A}/{REGION}: eksguard-spoke-eks-access-changes DISABLED"


def test_a_rule_aimed_elsewhere_and_a_missing_one_are_gaps(
    inventory_world: LocalWorld, hub: dict[str, Any], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOKE_ACCOUNTS", SPOKE_B)
    forwarding_rules(SPOKE_B, target=f"arn:aws:events:{REGION}:{SPOKE_B}:event-bus/default")
    with in_spoke(SPOKE_B):
        events = aws.client("events", GLOBAL_REGION)
        events.remove_targets(Rule="eksguard-spoke-kubectl-role-changes", Ids=["eksguard-hub"])
        events.delete_rule(Name="eksguard-spoke-kubectl-role-changes")

    invoke({"action": "inventory"}, lambda_context)

    [report] = by_kind(queued_alerts(hub["queue"]), "coverage-report")
    gaps = dict(report["facts"])["Not covered"].splitlines()
    assert report["severity"] == "HIGH" and len(gaps) == 2
    assert gaps[0].startswith(f"{SPOKE_B}/{REGION}: eksguard-spoke-eks-access-changes does not target the hub's bus")
    assert gaps[1] == f"{SPOKE_B}/{GLOBAL_REGION}: eksguard-spoke-kubectl-role-changes missing"


def test_every_spoke_covered_is_an_info_coverage_report(
    inventory_world: LocalWorld, hub: dict[str, Any], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOKE_ACCOUNTS", f"{SPOKE_A},{SPOKE_B}")
    forwarding_rules(SPOKE_A)
    forwarding_rules(SPOKE_B)

    result = invoke({"action": "inventory"}, lambda_context)

    assert result["status"] == "ok" and result["coverage"] == "covered"
    [report] = queued_alerts(hub["queue"])
    assert report["kind"] == "coverage-report" and report["severity"] == "INFO"
    assert report["title"] == f"coverage: all 2 spoke account(s) covered in {REGION}, {GLOBAL_REGION}"
    assert "Not covered" not in dict(report["facts"])


def test_a_single_account_deployment_has_no_coverage_report(
    inventory_world: LocalWorld, inventory_env: dict[str, Any], lambda_context: Any
) -> None:
    inventory_world.add_cluster("prod", entries=[admin_entry(PLATFORM_ADMIN)])
    result = invoke({"action": "inventory"}, lambda_context)
    assert "coverage" not in result and "accounts" not in result
    assert queued_alerts(inventory_env["queue"]) == []
