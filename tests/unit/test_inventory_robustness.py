"""Whatever a cluster's API returns (odd objects, wrong types, garbage aws-auth), reading it and computing
its admins never raises: an object that does not parse is named as unreadable, never guessed at."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eksguard.inventory.admins import effective_admins
from eksguard.inventory.kube_reader import AWS_AUTH_PATH, KubeReader
from eksguard.inventory.model import Snapshot
from tests.kube_world import baseline, facts

SCALAR = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
JSON = st.recursive(
    SCALAR,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
FIELDS = st.sampled_from(["metadata", "rules", "subjects", "roleRef", "aggregationRule", "kind", "name", "namespace"])
OBJECT = st.dictionaries(FIELDS, JSON, max_size=5)


class CannedReader(KubeReader):
    """The reader's parsing over canned pages instead of HTTPS."""

    def __init__(self, aws_auth: Any, extra: list[Any]) -> None:
        self.aws_auth, self.extra, self.calls = aws_auth, extra, 0

    def get(self, path: str) -> dict[str, Any] | None:
        assert path == AWS_AUTH_PATH
        return None if self.aws_auth is None else {"data": self.aws_auth}

    def items(self, path: str) -> Any:
        kind = path.rsplit("/", 1)[1]
        yield from baseline()[kind]
        yield from self.extra


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.none(), st.dictionaries(st.sampled_from(["mapRoles", "mapUsers", "mapAccounts", "x"]), JSON | st.text())
    ),
    st.lists(OBJECT | JSON, max_size=6),
)
def test_odd_objects_never_break_the_inventory(aws_auth: Any, extra: list[Any]) -> None:
    objects = CannedReader(aws_auth, extra).read()
    report = effective_admins(
        Snapshot(cluster=facts(), access_entries=(), identity_providers=(), pod_identities=(), kube=objects)
    )
    assert all(isinstance(a.principal, str) and a.doors for a in report.admins)
    parsed = len(objects.roles) + len(objects.bindings)
    assert parsed + len(objects.unreadable) == sum(len(v) for v in baseline().values()) + 4 * len(extra)
