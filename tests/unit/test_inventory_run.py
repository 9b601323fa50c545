"""One inventory run over fakes of both APIs: one cluster's failure (at any step, the digest's own reads
and writes included) never stops the others, and nothing raises once the digest is queued."""

from __future__ import annotations

from typing import Any

import pytest

from eksguard.alerts import Alert
from eksguard.inventory import kube_reader
from eksguard.inventory.compare import ClusterRecord
from eksguard.inventory.eks_reader import EksReadError
from eksguard.inventory.kube_reader import KubeError, KubeReader
from eksguard.inventory.model import ClusterFacts, KubeObjects
from eksguard.inventory.run import Gateways, run
from eksguard.inventory.store import InMemoryInventoryStore, pack
from tests.kube_world import INTRUDER, cluster_admin_entry, facts, kube_objects


class FakeEks:
    def __init__(self, region: str, world: dict[str, Any]) -> None:
        self.region, self.world, self.calls = region, world, 0

    def list_clusters(self) -> list[str]:
        return sorted(self.world)

    def cluster(self, name: str) -> ClusterFacts:
        if self.world[name] == "refused":
            raise EksReadError("DescribeCluster: AccessDeniedException: no")
        return facts(name)

    def access_entries(self, name: str) -> Any:
        return (cluster_admin_entry(INTRUDER),)

    def identity_providers(self, name: str) -> Any:
        return ()

    def pod_identities(self, name: str) -> Any:
        return ()


class Canned:
    calls = 0

    def read(self) -> KubeObjects:
        return kube_objects()

    def close(self) -> None:
        pass


class FlakyStore(InMemoryInventoryStore):
    def __init__(self, broken: set[str]) -> None:
        super().__init__()
        self.broken = broken

    def load(self, cluster: str, region: str) -> ClusterRecord | None:
        if f"load {cluster}" in self.broken:
            raise RuntimeError("DynamoDB unavailable")
        return super().load(cluster, region)

    def save(self, record: ClusterRecord) -> bool:
        if f"save {record.cluster}" in self.broken and record.digest_at:
            raise ValueError("item too large")
        return super().save(record)


def gateways(world: dict[str, Any], store: InMemoryInventoryStore, published: list[Alert]) -> Gateways:
    def kube(cluster: ClusterFacts) -> Any:
        if world[cluster.name] == "no-access":
            raise KubeError("forbidden", "403")
        return Canned()

    return Gateways(
        eks=lambda region: FakeEks(region, world),  # type: ignore[arg-type, return-value]
        kube=kube,
        store=store,
        publish=published.extend,
        verdict=lambda cluster: lambda principal: (False, "not expected"),
        kubectl_roles=lambda cluster: frozenset(),
        now=lambda: "2026-12-07T08:00:00Z",
    )


def test_failures_at_every_step_are_isolated_and_the_digest_still_goes_out() -> None:
    world = {"a": "ok", "b": "refused", "c": "no-access", "d": "ok"}
    store = FlakyStore({"load b", "save d"})
    published: list[Alert] = []
    result = run(gateways(world, store, published), ("eu-west-1",), digest=True)
    summary = result.summary()
    assert summary["failed"] == ["b (eu-west-1)"] and summary["ok"] == 3
    assert "last record unreadable" in result.failures["b (eu-west-1)"]
    kinds = [a.kind for a in published]
    assert kinds.count("inventory-admin-found") == 3 and "inventory-failed" in kinds and kinds[-1] == "inventory-digest"
    assert result.digest_alert == published[-1].id
    assert store.load("a", "eu-west-1").digest_at == "2026-12-07T08:00:00Z"  # type: ignore[union-attr]
    assert store.load("d", "eu-west-1").digest_at is None  # type: ignore[union-attr]  # its save failed, logged


def test_a_record_too_big_for_an_item_is_trimmed_not_refused() -> None:
    admins = {
        f"system:serviceaccount:ns{i}:sa{i}": {
            "doors": [{"kind": "rbac", "via": "x" * 200 + str(i), "sources": ["kubernetes"], "key": str(i)}] * 3,
            "expected": False,
        }
        for i in range(4000)
    }
    record = ClusterRecord("prod", "eu-west-1", 1, admins=admins, latent=tuple(f"group g{i}" * 30 for i in range(3000)))
    packed = pack(record)
    assert len(packed) <= 350_000


def test_a_cluster_too_large_to_read_is_a_blind_spot(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real reader over a connection that pages forever: the per-cluster byte budget stops it."""
    monkeypatch.setattr(kube_reader, "MAX_CLUSTER_BYTES", 50_000)
    page = b'{"metadata": {"continue": "more"}, "items": [' + b",".join([b'{"metadata": {"name": "r"}}'] * 200) + b"]}"

    class Response:
        status = 200

        def read(self, limit: int) -> bytes:
            return page[:limit]

        def getheaders(self) -> list[tuple[str, str]]:
            return []

    class Connection:
        sock = None

        def request(self, method: str, path: str, headers: dict[str, str]) -> None:
            assert method == "GET"

        def getresponse(self) -> Response:
            return Response()

        def close(self) -> None:
            pass

    reader = KubeReader.__new__(KubeReader)
    reader.base, reader._bearer, reader.calls, reader.bytes_read = "", "token", 0, 0
    reader._sleep = lambda seconds: None
    reader._connection = Connection()  # type: ignore[assignment]
    monkeypatch.setattr(KubeReader, "close", lambda self: None)
    with pytest.raises(KubeError) as caught:
        reader.read()
    assert caught.value.kind == "too-large" and reader.calls == 50_000 // len(page) + 1


def test_with_little_time_left_clusters_are_not_started_but_reported_and_the_digest_still_goes_out() -> None:
    from eksguard import aws
    from eksguard.inventory.run import FINAL_RESERVE_SECONDS, MIN_SECONDS_PER_CLUSTER

    store, published = InMemoryInventoryStore(), list[Alert]()
    world = {"prod": "ok", "dev": "ok"}
    left = FINAL_RESERVE_SECONDS + MIN_SECONDS_PER_CLUSTER - 1  # the reserve for what follows, not one cluster more
    result = run(gateways(world, store, published), ("eu-west-1",), digest=True, time_left=lambda: left)

    assert {o.status for o in result.outcomes} == {"failed"}
    assert all("ran out of time" in (o.error or "") for o in result.outcomes)
    assert result.digest_alert is not None
    assert aws.CallDeadline.allows(10_000)  # the deadline ends with the run (a warm container starts afresh)


def test_reads_stop_at_the_deadline_even_inside_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside one cluster, each EKS call is made only while it can end before the reserve for what follows."""
    from eksguard import aws
    from eksguard.inventory import eks_reader

    class Client:
        def __init__(self) -> None:
            self.calls = 0

        def describe_cluster(self, name: str) -> dict[str, Any]:
            self.calls += 1
            return {"cluster": {"name": name}}

    client = Client()
    reader = eks_reader.EksReader("eu-west-1", client)
    aws.CallDeadline.start(5.0)  # less than any one call's worst case
    try:
        with pytest.raises(EksReadError, match="ran out of time"):
            reader.cluster("prod")
        with pytest.raises(KubeError) as caught:
            KubeReader("https://127.0.0.1:1", "", "token").get("/api")
        assert caught.value.kind == "out-of-time"
    finally:
        aws.CallDeadline.start(None)
    assert client.calls == 0
