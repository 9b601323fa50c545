"""The inventory's request: whatever JSON arrives, it is a valid request or a clear BadRequest."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eksguard.inventory.live import BadRequest, Request, parse_request

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(["action", "cluster", "region", "reason", "source"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, st.dictionaries(KEYS, JSON, max_size=5)))
def test_any_event_is_a_request_or_a_bad_request(event: Any) -> None:
    try:
        request = parse_request(event, "eu-west-1")
    except BadRequest as exc:
        assert str(exc)
        return
    assert request.action in ("inventory", "digest")
    assert request.cluster is None or (request.region is not None and request.only == (request.region, request.cluster))


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"source": "eksguard.schedule", "action": "inventory"}, Request("inventory")),
        ({"action": "digest"}, Request("digest")),
        ({"cluster": "prod"}, Request("inventory", "prod", "eu-west-1")),
        (
            {"cluster": "prod", "region": "us-gov-west-1", "reason": "x" * 400},
            Request("inventory", "prod", "us-gov-west-1", "x" * 300),
        ),
    ],
)
def test_requests(event: dict[str, Any], expected: Request) -> None:
    assert parse_request(event, "eu-west-1") == expected


@pytest.mark.parametrize(
    "event",
    [
        {"action": "stop"},
        {"cluster": "../../etc"},
        {"cluster": "-x"},
        {"cluster": "prod", "region": "eu-west-1;rm"},
        [],
        "x",
    ],
)
def test_bad_requests(event: Any) -> None:
    with pytest.raises(BadRequest):
        parse_request(event, "eu-west-1")
