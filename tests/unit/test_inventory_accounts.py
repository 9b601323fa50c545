"""A hub's inventory run over fakes: the time guards hold across accounts (an account is entered only
while its AssumeRole can end before the reserve; one not reached is one alert), and a spoke's records and
alerts are its own."""

from __future__ import annotations

import pytest

from eksguard import accounts, aws
from eksguard.accounts import Target, Targets
from eksguard.alerts import Alert
from eksguard.inventory.live import BadRequest, parse_request
from eksguard.inventory.run import ACCOUNT_ENTRY_SECONDS, FINAL_RESERVE_SECONDS, run
from eksguard.inventory.store import InMemoryInventoryStore
from tests.unit.test_inventory_run import gateways

HOME = Target("123456789012", None)
SPOKE = Target("111111111111", "arn:aws:iam::111111111111:role/eksguard-spoke", "payments-prod")


def test_accounts_not_entered_for_lack_of_time_are_each_one_alert_and_the_digest_still_goes_out() -> None:
    store, published = InMemoryInventoryStore(), list[Alert]()
    left = FINAL_RESERVE_SECONDS + ACCOUNT_ENTRY_SECONDS - 1
    result = run(
        gateways({"prod": "ok"}, store, published),
        ("eu-west-1",),
        digest=True,
        time_left=lambda: left,
        targets=lambda: Targets((HOME, SPOKE)),
    )
    assert result.outcomes == []
    assert result.accounts == {
        "123456789012": "not reached: the run ran out of time before this account",
        "111111111111 (payments-prod)": "not reached: the run ran out of time before this account",
    }
    failed = [a for a in published if a.kind == "inventory-failed"]
    assert [(a.account, a.severity.name) for a in failed] == [("123456789012", "HIGH"), ("111111111111", "HIGH")]
    assert failed[1].title.startswith("account 111111111111 (payments-prod) not inventoried: not reached")
    assert published[-1].kind == "inventory-digest"
    assert aws.CallDeadline.allows(10_000)  # the deadline ends with the run


def test_the_home_account_of_a_hub_keeps_plain_keys_and_alerts_carry_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub's own account needs no role: its clusters are read with the function's credentials, kept under
    their plain names (the records of a single-account deployment), and labelled in the digest."""
    monkeypatch.setattr(accounts, "named", lambda target, region: target)
    accounts.set_home(None)
    store, published = InMemoryInventoryStore(), list[Alert]()
    try:
        result = run(
            gateways({"prod": "ok"}, store, published),
            ("eu-west-1",),
            digest=True,
            targets=lambda: Targets((HOME,)),
        )
        assert accounts.home() == HOME.account  # set from the targets when the handler did not
    finally:
        accounts.set_home(None)
    assert result.accounts == {"123456789012": None} and result.summary()["ok"] == 1
    assert set(store.records) == {("prod", "eu-west-1")}
    assert store.records[("prod", "eu-west-1")].account == HOME.account
    found = [a for a in published if a.kind == "inventory-admin-found"]
    assert found and {a.account for a in found} == {HOME.account}
    digest = published[-1]
    assert "prod (eu-west-1) in 123456789012" in {f.label for f in digest.facts}


def test_a_detectors_request_may_name_the_clusters_account() -> None:
    payload = {
        "source": "eksguard.detector",
        "action": "inventory",
        "cluster": "prod",
        "region": "eu-west-1",
        "account": "111111111111",
        "reason": "aws-auth write truncated",
    }
    request = parse_request(payload, "eu-west-1")
    assert (request.only, request.account) == (("eu-west-1", "prod"), "111111111111")
    assert parse_request({"action": "inventory", "cluster": "prod"}, "eu-west-1").account is None
    for bad in ("11111111111", 111111111111, "../111111111111", ""):
        with pytest.raises(BadRequest, match="account"):
            parse_request({"cluster": "prod", "region": "eu-west-1", "account": bad}, "eu-west-1")
