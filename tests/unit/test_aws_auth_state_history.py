"""Earlier aws-auth versions kept in the state item, so late entries are diffed against what they replaced."""

from __future__ import annotations

from eksguard.aws_auth.state import HISTORY_VERSIONS, StoredState, Version, from_item, to_item


def _state(rv: int, roles: str = "x") -> StoredState:
    return StoredState(
        cluster="prod", status="present", data={"mapRoles": roles}, resource_version=str(rv), audit_id=f"a{rv}"
    )


def test_succession_keeps_a_bounded_ordered_history() -> None:
    state = _state(100)
    for rv in range(101, 101 + HISTORY_VERSIONS + 3):
        state = state.succeeded_by(_state(rv))
    assert [v.resource_version for v in state.history] == [str(rv) for rv in range(100 + 3, 100 + HISTORY_VERSIONS + 3)]
    assert state.version(state.resource_version) == Version(state.resource_version or "", "present", state.data)
    assert state.version("100") is None


def test_a_late_version_is_inserted_in_order_and_survives_the_item_round_trip() -> None:
    state = _state(100).succeeded_by(_state(120))
    state = state.with_version(Version("110", "present", {"mapRoles": "late"}))
    assert [v.resource_version for v in state.history] == ["100", "110"]
    again = from_item(to_item(state))
    assert again.history == state.history and again.version("110") == Version("110", "present", {"mapRoles": "late"})


def test_unknown_states_are_not_versions() -> None:
    unknown = StoredState(cluster="prod", status="unknown", resource_version="105", audit_id="u")
    assert unknown.version("105") is None
    assert _state(106).history == () and unknown.succeeded_by(_state(106)).history == ()
