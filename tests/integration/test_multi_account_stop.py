"""The stop run of a hub across spoke accounts, on moto (accounts kept apart by assumed-role credentials)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from eksguard import accounts
from tests.accounts_world import HUB, REFUSING, SPOKE_A, SPOKE_B, deny_organization_listing, in_spoke, refuse_assume
from tests.integration.test_stop_run import invoke, settings_for
from tests.stop_world import launch, states, stub_sessions

TAG = {"kubectl-instance": "true", "eks-cluster": "prod"}


def _queue() -> str:
    return boto3.client("sqs", region_name="eu-west-1").create_queue(QueueName="alerts")["QueueUrl"]


def _summary(queue: str) -> dict:
    messages = boto3.client("sqs", region_name="eu-west-1").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
    assert len(bodies) == 1, bodies
    return bodies[0]


def _invoke(monkeypatch, lambda_context, **env):
    settings_for(monkeypatch, **env)
    return invoke(monkeypatch, lambda_context)


@pytest.fixture(autouse=True)
def _fresh_names():
    accounts.reset_caches()
    yield
    accounts.reset_caches()


def _world():
    """Two kubectl instances per reachable account; in spoke B one of them has someone in a session."""
    ids: dict[str, list[str]] = {}
    for account in (HUB, SPOKE_A, SPOKE_B, REFUSING):
        with in_spoke(account):
            ids[account] = launch("eu-west-1", 2, TAG)
    return ids


def test_one_run_stops_every_reachable_account_and_reports_the_one_it_cannot_assume(aws, monkeypatch, lambda_context):
    queue = _queue()
    ids = _world()
    asked = refuse_assume(REFUSING)
    stub_sessions("eu-west-1", [[]])
    with in_spoke(SPOKE_A):
        stub_sessions("eu-west-1", [[]])
    with in_spoke(SPOKE_B):
        stub_sessions("eu-west-1", [[ids[SPOKE_B][0]]])

    result = _invoke(
        monkeypatch,
        lambda_context,
        ALERT_QUEUE_URL=queue,
        SPOKE_ACCOUNTS=f"{SPOKE_A},{SPOKE_B},{REFUSING}",
        ACCOUNT_NAMES=f"{SPOKE_A}=payments-prod",
    )

    # the hub, spoke A and spoke B were each handled in their own account
    assert set(states("eu-west-1", ids[HUB]).values()) == {"stopped"}
    with in_spoke(SPOKE_A):
        assert set(states("eu-west-1", ids[SPOKE_A]).values()) == {"stopped"}
        # the hub's own instances are not visible with spoke A's credentials, and vice versa
        with pytest.raises(ClientError, match="InvalidInstanceID.NotFound"):
            states("eu-west-1", ids[HUB])
    with in_spoke(SPOKE_B):
        assert states("eu-west-1", ids[SPOKE_B]) == {ids[SPOKE_B][0]: "running", ids[SPOKE_B][1]: "stopped"}
    # the refusing account was tried, and nothing of it was touched
    assert asked == [f"arn:aws:iam::{REFUSING}:role/eksguard-spoke"]
    assert result["totals"]["stopped"] == 5
    assert result["accounts"][f"{SPOKE_A} (payments-prod)"] is None
    assert "AccessDenied" in result["accounts"][REFUSING]
    assert {r.get("account") for r in result["regions"]} == {HUB, SPOKE_A, SPOKE_B}

    alert = _summary(queue)
    assert alert["severity"] == "HIGH"
    assert "1 account(s) not reached" in alert["title"]
    facts = dict(alert["facts"])
    assert facts["Accounts"].split(", ") == [HUB, f"{SPOKE_A} (payments-prod)", SPOKE_B, REFUSING]
    assert "AccessDenied" in facts[f"Account {REFUSING} not reached"]
    # every instance is listed under the account that holds it
    assert f"{SPOKE_A} (payments-prod)/eu-west-1: {ids[SPOKE_A][0]}" in facts["Stopped"]
    assert f"{SPOKE_B}/eu-west-1: {ids[SPOKE_B][0]}" in facts["Skipped"]
    assert alert["account"] == HUB


def test_single_account_deployment_is_unchanged(aws, monkeypatch, lambda_context):
    queue = _queue()
    ids = launch("eu-west-1", 2, TAG)
    stub_sessions("eu-west-1", [[]])
    result = _invoke(monkeypatch, lambda_context, ALERT_QUEUE_URL=queue)
    assert set(states("eu-west-1", ids).values()) == {"stopped"}
    assert "accounts" not in result
    assert all("account" not in r for r in result["regions"])
    alert = _summary(queue)
    assert alert["severity"] == "INFO"
    assert "Accounts" not in dict(alert["facts"])
    assert f"eu-west-1: {ids[0]}" in dict(alert["facts"])["Stopped"]


def test_the_whole_organization_is_listed_and_a_refused_listing_is_reported(aws, monkeypatch, lambda_context):
    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    created = org.create_account(Email="dev@example.com", AccountName="dev")["CreateAccountStatus"]
    dev = created["AccountId"]
    queue = _queue()
    with in_spoke(dev):
        dev_ids = launch("eu-west-1", 1, TAG)
        stub_sessions("eu-west-1", [[]])
    stub_sessions("eu-west-1", [[]])
    result = _invoke(monkeypatch, lambda_context, ALERT_QUEUE_URL=queue, SPOKE_ACCOUNTS="ORGANIZATION")
    assert f"{dev} (dev)" in result["accounts"]
    with in_spoke(dev):
        assert set(states("eu-west-1", dev_ids).values()) == {"stopped"}
    alert = _summary(queue)
    assert f"{dev} (dev)" in dict(alert["facts"])["Accounts"]


def test_an_organization_that_cannot_be_listed_still_covers_the_listed_accounts_and_says_so(
    aws, monkeypatch, lambda_context
):
    queue = _queue()
    deny_organization_listing()
    with in_spoke(SPOKE_A):
        spoke_ids = launch("eu-west-1", 1, TAG)
        stub_sessions("eu-west-1", [[]])
    stub_sessions("eu-west-1", [[]])
    result = _invoke(monkeypatch, lambda_context, ALERT_QUEUE_URL=queue, SPOKE_ACCOUNTS=f"ORGANIZATION,{SPOKE_A}")
    with in_spoke(SPOKE_A):
        assert set(states("eu-west-1", spoke_ids).values()) == {"stopped"}
    assert "cannot list the organisation" in result["problems"][0]
    alert = _summary(queue)
    assert alert["severity"] == "HIGH"
    assert "only the listed accounts were covered" in dict(alert["facts"])["Accounts not listed"]
