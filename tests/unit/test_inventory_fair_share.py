"""A hub's inventory shares the run's time between accounts: the clusters are started account by account in
turn, so an account with many clusters (or clusters slow to read) cannot leave every account after it
unread, run after run. What the run had no time for is still reported, cluster by cluster."""

from __future__ import annotations

from typing import Any

import pytest

from eksguard import accounts, aws
from eksguard.accounts import Target, Targets
from eksguard.alerts import Alert
from eksguard.inventory import run as inventory_run
from eksguard.inventory.run import MIN_SECONDS_PER_CLUSTER, run
from eksguard.inventory.store import InMemoryInventoryStore
from tests.unit.test_inventory_run import FakeEks, gateways

HOME = Target("123456789012", None)
CROWDED = Target("111111111111", "arn:aws:iam::111111111111:role/eksguard-spoke")
QUIET = Target("222222222222", "arn:aws:iam::222222222222:role/eksguard-spoke")
WORLDS = {
    None: {"hub-prod": "ok"},
    CROWDED.account: {f"c{i:02}": "ok" for i in range(12)},
    QUIET.account: {"payments": "ok"},
}


class ScopedEks(FakeEks):
    """Each account lists its own clusters (the scope the caller entered)."""

    def __init__(self, region: str) -> None:
        super().__init__(region, WORLDS[aws.scope_account()])


@pytest.fixture
def clusters_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Time for four clusters: the fifth cluster the run asks to start finds too little left."""
    monkeypatch.setattr(aws, "assume_for_scope", lambda: None)
    monkeypatch.setattr(accounts, "named", lambda target, region: target)
    started: list[int] = []
    real = aws.CallDeadline.allows.__func__  # type: ignore[attr-defined]

    def allows(cls: Any, worst: float) -> bool:
        if worst == MIN_SECONDS_PER_CLUSTER:
            started.append(1)
            return len(started) <= 4
        return bool(real(cls, worst))

    monkeypatch.setattr(inventory_run.aws.CallDeadline, "allows", classmethod(allows))


def test_an_account_with_many_clusters_does_not_starve_the_accounts_after_it(clusters_in_time: None) -> None:
    store, published = InMemoryInventoryStore(), list[Alert]()
    world_gateways = gateways({name: "ok" for world in WORLDS.values() for name in world}, store, published)
    world_gateways.eks = ScopedEks  # type: ignore[assignment]
    result = run(
        world_gateways,
        ("eu-west-1",),
        workers=1,
        targets=lambda: Targets((HOME, CROWDED, QUIET)),
    )
    done = {(o.account, o.cluster) for o in result.outcomes if o.status == "ok"}
    assert (QUIET.account, "payments") in done, sorted(done)
    assert (HOME.account, "hub-prod") in done
    not_started = [o for o in result.outcomes if o.status == "failed"]
    assert len(done) == 4 and len(not_started) == 10
    assert {o.account for o in not_started} == {CROWDED.account}
    assert all(o.error == "not started: the run ran out of time" for o in not_started)
