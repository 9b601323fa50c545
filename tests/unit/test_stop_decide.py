from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from eksguard.stop.decide import Sessions, classify_sessions, cluster_of, decide, parse_keep_alive, tag_value_matches
from eksguard.stop.model import Instance, Reason

NOW = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
OLD = NOW - timedelta(hours=5)


def make(instance_id="i-0aaa000000000001", *, state="running", launch=OLD, tags=None, root="ebs"):
    return Instance(
        instance_id=instance_id,
        region="eu-west-1",
        state=state,
        launch_time=launch,
        tags={"kubectl-instance": "prod", **(tags or {})},
        root_device_type=root,
    )


def run(instance, sessions=frozenset(), pattern="*", grace=30, zone=UTC, max_keep_alive=None):
    return decide(
        instance,
        now=NOW,
        tag_value_pattern=pattern,
        stop_tag_key="kubectl-instance",
        keep_alive_tag_key="KeepAliveUntil",
        grace=timedelta(minutes=grace),
        sessions=sessions if sessions is None or isinstance(sessions, Sessions) else Sessions(frozenset(sessions)),
        zone=zone,
        max_keep_alive=max_keep_alive,
    )


def test_idle_running_instance_is_stopped():
    decision = run(make())
    assert decision.stop is True
    assert decision.reason is None and decision.note is None


def test_keep_alive_in_future_skips():
    decision = run(make(tags={"KeepAliveUntil": "2026-11-26T08:00:00Z"}))
    assert (decision.stop, decision.reason) == (False, Reason.KEEP_ALIVE)
    assert "2026-11-26T08:00:00+00:00" in (decision.detail or "")


def test_keep_alive_in_past_stops_with_note():
    decision = run(make(tags={"KeepAliveUntil": "2026-11-25T19:59:00+00:00"}))
    assert decision.stop is True
    assert decision.note is not None and "expired" in decision.note


def test_keep_alive_with_offset_is_compared_in_utc():
    # 21:30 in Paris (UTC+1) is 20:30 UTC: still in the future at 20:00 UTC.
    decision = run(make(tags={"KeepAliveUntil": "2026-11-25T21:30:00+01:00"}))
    assert decision.reason is Reason.KEEP_ALIVE


@pytest.mark.parametrize("raw", ["tomorrow", "", "2026-13-45", "25/11/2026"])
def test_unparseable_keep_alive_stops_and_is_reported(raw):
    decision = run(make(tags={"KeepAliveUntil": raw}))
    assert decision.stop is True
    assert decision.note is not None and "not an ISO-8601" in decision.note


def test_active_session_skips():
    decision = run(make(), sessions=frozenset({"i-0aaa000000000001"}))
    assert (decision.stop, decision.reason) == (False, Reason.ACTIVE_SESSION)


def test_session_on_another_instance_does_not_skip():
    assert run(make(), sessions=frozenset({"i-0bbb000000000002"})).stop is True


def test_unknown_sessions_fail_safe():
    decision = run(make(), sessions=None)
    assert (decision.stop, decision.reason) == (False, Reason.SESSIONS_UNKNOWN)


def test_recently_started_skips_and_boundary_stops():
    assert run(make(launch=NOW - timedelta(minutes=10))).reason is Reason.RECENTLY_STARTED
    assert run(make(launch=NOW - timedelta(minutes=30))).stop is True
    assert run(make(launch=NOW - timedelta(minutes=10)), grace=0).stop is True


def test_pending_instance_is_skipped():
    assert run(make(state="pending")).reason is Reason.PENDING


def test_instance_store_root_is_not_sent_to_stop():
    decision = run(make(root="instance-store"))
    assert (decision.stop, decision.reason) == (False, Reason.INSTANCE_STORE_ROOT)


def test_keep_alive_wins_over_session_and_grace_order_is_stable():
    decision = run(make(launch=NOW, tags={"KeepAliveUntil": "2030-01-01"}), sessions=frozenset({"i-0aaa000000000001"}))
    assert decision.reason is Reason.KEEP_ALIVE


def test_tag_value_pattern():
    assert tag_value_matches("*", "anything")
    assert tag_value_matches("prod-*", "prod-eu")
    assert not tag_value_matches("prod-*", "dev")
    assert not tag_value_matches("*", None)
    assert run(make(), pattern="dev").reason is Reason.TAG_VALUE_MISMATCH


def test_parse_keep_alive_forms():
    assert parse_keep_alive("2026-11-30") == datetime(2026, 11, 30, tzinfo=UTC)
    assert parse_keep_alive("2026-11-30T10:00:00") == datetime(2026, 11, 30, 10, tzinfo=UTC)
    assert parse_keep_alive("2026-11-30T10:00:00z") == datetime(2026, 11, 30, 10, tzinfo=UTC)
    assert parse_keep_alive("nope") is None


PARIS = ZoneInfo("Europe/Paris")


def test_keep_alive_without_zone_is_read_in_the_schedule_zone():
    # 20:00 UTC is 21:00 in Paris: "until 20:30" written by someone in Paris has passed.
    assert parse_keep_alive("2026-11-25T20:30", PARIS) == datetime(2026, 11, 25, 19, 30, tzinfo=UTC)
    assert parse_keep_alive("0001-01-01", PARIS) is None  # before datetime.min once in UTC
    assert run(make(tags={"KeepAliveUntil": "2026-11-25T20:30"}), zone=PARIS).stop is True
    assert run(make(tags={"KeepAliveUntil": "2026-11-25T21:30"}), zone=PARIS).reason is Reason.KEEP_ALIVE
    # The same value read in UTC would still keep it alive: the zone decides.
    assert run(make(tags={"KeepAliveUntil": "2026-11-25T20:30"})).reason is Reason.KEEP_ALIVE
    # A bare date is that date's midnight in the zone; an explicit offset is kept as written.
    assert parse_keep_alive("2026-11-26", PARIS) == datetime(2026, 11, 25, 23, 0, tzinfo=UTC)
    assert parse_keep_alive("2026-11-25T20:30+00:00", PARIS) == datetime(2026, 11, 25, 20, 30, tzinfo=UTC)


def test_keep_alive_beyond_the_maximum_is_not_honoured_and_says_so():
    week = timedelta(days=7)
    decision = run(make(tags={"KeepAliveUntil": "2099-01-01T00:00:00Z"}), max_keep_alive=week)
    assert decision.stop is True
    assert "MaxKeepAliveDays" in (decision.note or "") and "7 days" in (decision.note or "")
    within = run(make(tags={"KeepAliveUntil": "2026-12-01T00:00:00Z"}), max_keep_alive=week)
    assert within.reason is Reason.KEEP_ALIVE


def session(target, status, started_hours_ago, sid="s-1"):
    started = NOW - timedelta(hours=started_hours_ago) if started_hours_ago is not None else None
    return {"SessionId": sid, "Target": target, "Status": status, "StartDate": started}


def test_sessions_disconnected_for_long_are_orphaned_not_blocking():
    a, b, c, d, e = (f"i-0aaa00000000000{k}" for k in range(1, 6))
    sessions = classify_sessions(
        [
            session(a, "Disconnected", 30, "s-old"),
            session(b, "Disconnected", 2),
            session(c, "Connected", 300),
            session(d, "Disconnected", None),
            session(e, "Disconnected", 30, "s-e1"),
            session(e, "Connected", 1, "s-e2"),
            {"SessionId": "s-x", "Status": "Connected"},
        ],
        now=NOW,
        orphan_after=timedelta(hours=12),
    )
    assert sessions.blocking == {b, c, d, e}
    assert dict(sessions.orphaned) == {a: ("s-old",)}
    assert dict(sessions.long_lived) == {c: ("s-1",)}
    decision = run(make(a), sessions=sessions)
    assert decision.stop is True and "s-old" in (decision.note or "") and "orphaned" in (decision.note or "")
    assert run(make(b), sessions=sessions).reason is Reason.ACTIVE_SESSION
    assert run(make(e), sessions=sessions).reason is Reason.ACTIVE_SESSION


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"kubectl-instance": "prod"}, "prod"),
        ({"kubectl-instance": "true"}, None),
        ({"kubectl-instance": "*"}, None),
        ({"kubectl-instance": ""}, None),
        ({"kubectl-instance": "true", "eks-cluster": "dev"}, "dev"),
        ({"kubectl-instance": "prod", "eks-cluster": "prod-eu"}, "prod-eu"),
    ],
)
def test_cluster_of(tags, expected):
    assert cluster_of(tags, "kubectl-instance", "eks-cluster") == expected


def test_a_status_ssm_may_add_later_holds_the_stop_and_only_ended_sessions_do_not():
    a, b, c = (f"i-0bbb00000000000{k}" for k in range(1, 4))
    sessions = classify_sessions(
        [session(a, "Reconnecting", 1), session(b, "Terminating", 1), session(c, "Failed", 1)],
        now=NOW,
        orphan_after=timedelta(hours=12),
    )
    assert sessions.blocking == {a}


def test_a_session_held_open_for_days_still_protects_the_user_but_is_reported():
    """Someone may be there, so the stop waits; but a session kept open for days to keep an admin host up
    is named in the summary (a MEDIUM warning), run after run."""
    target = "i-0ccc000000000001"
    sessions = classify_sessions(
        [session(target, "Connected", 80, "s-forever")], now=NOW, orphan_after=timedelta(hours=12)
    )
    decision = run(make(target), sessions=sessions)
    assert decision.reason is Reason.ACTIVE_SESSION
    assert "s-forever" in (decision.note or "")
