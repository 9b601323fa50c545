"""Pure stop decisions: one instance, the clock and what we know about sessions in, a Decision out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from fnmatch import fnmatchcase
from typing import Any

from eksguard.stop.model import Decision, Instance, Reason

# Tag values that only mark an instance (say nothing about its cluster).
MARKER_VALUES = {"", "*", "true", "yes", "1", "on", "enabled"}


def is_pattern(value: str) -> bool:
    return any(ch in value for ch in "*?[")


def tag_value_matches(pattern: str, value: str | None) -> bool:
    """Glob semantics, as the IAM StringLike condition that guards StopInstances."""
    if value is None:
        return False
    return fnmatchcase(value, pattern)


def cluster_of(tags: dict[str, str], stop_tag_key: str, cluster_tag_key: str) -> str | None:
    """The cluster an instance administers: the cluster tag, else a stop tag value that names one."""
    explicit = tags.get(cluster_tag_key, "").strip()
    if explicit:
        return explicit
    value = tags.get(stop_tag_key, "").strip()
    if value.lower() in MARKER_VALUES or is_pattern(value):
        return None
    return value


def parse_keep_alive(raw: str, zone: tzinfo = UTC) -> datetime | None:
    """ISO-8601 timestamp; one without a zone (or a bare date, = its midnight) is read in `zone`,
    the stop schedule's time zone, as a person tagging the host means it. None when unparseable."""
    text = raw.strip()
    if not text:
        return None
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):  # e.g. 0001-01-01 east of UTC: before datetime.min
        return None


@dataclass(frozen=True)
class Sessions:
    """What Session Manager says about one region. `blocking`: targets with a live session (the
    stop waits). `orphaned`: target -> ids of sessions Disconnected for longer than allowed, which
    no longer hold the instance up (reported)."""

    blocking: frozenset[str] = frozenset()
    orphaned: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # target -> ids of blocking sessions open longer than the orphan age: they still hold the stop (a
    # person may be there), but the summary says so, so a session kept open for days is seen.
    long_lived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# Session statuses that no longer hold a shell. Any other (Connected, Connecting, Disconnected, and one
# SSM may add later) holds the stop: an unknown status is treated as someone being there.
ENDED_SESSION_STATUSES = {"Terminated", "Terminating", "Failed"}


def classify_sessions(raw: Iterable[Mapping[str, Any]], *, now: datetime, orphan_after: timedelta) -> Sessions:
    """Sort DescribeSessions(State=Active) entries. A Disconnected session whose StartDate is older
    than `orphan_after` is orphaned: SSM reports no "disconnected since", and a session that can
    be resumed for days would keep an admin host up for as long as someone leaves a window open.
    A session with an unknown status or no start date blocks (fail safe)."""
    blocking: set[str] = set()
    orphaned: dict[str, list[str]] = {}
    long_lived: dict[str, list[str]] = {}
    for session in raw:
        target = session.get("Target")
        if not isinstance(target, str) or not target:
            continue
        status = session.get("Status")
        if status in ENDED_SESSION_STATUSES:
            continue
        started = session.get("StartDate")
        old = False
        if isinstance(started, datetime):
            started = started if started.tzinfo else started.replace(tzinfo=UTC)
            old = now - started > orphan_after
        session_id = str(session.get("SessionId") or "?")
        if status == "Disconnected" and old:
            orphaned.setdefault(target, []).append(session_id)
            continue
        blocking.add(target)
        if old:
            long_lived.setdefault(target, []).append(session_id)
    return Sessions(
        frozenset(blocking),
        {target: tuple(ids) for target, ids in orphaned.items() if target not in blocking},
        {target: tuple(ids) for target, ids in long_lived.items()},
    )


def decide(
    instance: Instance,
    *,
    now: datetime,
    tag_value_pattern: str,
    stop_tag_key: str,
    keep_alive_tag_key: str,
    grace: timedelta,
    sessions: Sessions | None,
    zone: tzinfo = UTC,
    max_keep_alive: timedelta | None = None,
) -> Decision:
    """Decide for one instance. `sessions` None means sessions could not be read: fail safe (do not
    stop what someone may be using). A keep-alive further ahead than `max_keep_alive` is not
    honoured (a forged or forgotten tag must not keep an admin host up for months)."""
    if not tag_value_matches(tag_value_pattern, instance.tags.get(stop_tag_key)):
        return Decision(False, Reason.TAG_VALUE_MISMATCH, f"tag {stop_tag_key} does not match {tag_value_pattern!r}")
    if instance.state == "pending":
        return Decision(False, Reason.PENDING, "instance is starting right now")
    if instance.root_device_type == "instance-store":
        # Not stoppable at all: report, never send it to StopInstances.
        return Decision(False, Reason.INSTANCE_STORE_ROOT, "instance-store root device cannot be stopped")

    note: str | None = None
    raw_keep_alive = instance.tags.get(keep_alive_tag_key)
    if raw_keep_alive is not None:
        until = parse_keep_alive(raw_keep_alive, zone)
        if until is None:
            note = f"{keep_alive_tag_key}={raw_keep_alive!r} is not an ISO-8601 timestamp; ignored"
        elif until <= now:
            note = f"{keep_alive_tag_key} expired at {until.isoformat()}"
        elif max_keep_alive is not None and until - now > max_keep_alive:
            days = max_keep_alive.total_seconds() / 86400
            note = (
                f"{keep_alive_tag_key}={raw_keep_alive!r} is more than {days:g} days ahead "
                "(MaxKeepAliveDays); not honoured"
            )
        else:
            return Decision(False, Reason.KEEP_ALIVE, f"kept alive until {until.isoformat()}")

    if sessions is None:
        return Decision(False, Reason.SESSIONS_UNKNOWN, "active SSM sessions could not be listed", note)
    if instance.instance_id in sessions.blocking:
        lasting = sessions.long_lived.get(instance.instance_id)
        if lasting:
            held = f"session(s) {', '.join(lasting)} open longer than the orphan age keep it running"
            note = f"{note}; {held}" if note else held
        return Decision(False, Reason.ACTIVE_SESSION, "an SSM Session Manager session is active", note)
    orphans = sessions.orphaned.get(instance.instance_id)
    if orphans:
        orphan_note = f"orphaned session(s) {', '.join(orphans)} (Disconnected, started too long ago) ignored"
        note = f"{note}; {orphan_note}" if note else orphan_note

    if instance.launch_time is not None:
        launched = instance.launch_time if instance.launch_time.tzinfo else instance.launch_time.replace(tzinfo=UTC)
        age = now - launched
        if age < grace:
            minutes = max(0, int(age.total_seconds() // 60))
            return Decision(False, Reason.RECENTLY_STARTED, f"started {minutes} min ago (grace {grace})", note)
    return Decision(True, note=note)
