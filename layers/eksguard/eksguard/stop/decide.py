"""Pure stop decisions: one instance, the clock and what we know about sessions in, a Decision out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase

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


def parse_keep_alive(raw: str) -> datetime | None:
    """ISO-8601 timestamp (naive = UTC; a bare date = midnight UTC). None when unparseable."""
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
        moment = moment.replace(tzinfo=UTC)
    return moment


def decide(
    instance: Instance,
    *,
    now: datetime,
    tag_value_pattern: str,
    stop_tag_key: str,
    keep_alive_tag_key: str,
    grace: timedelta,
    active_session_targets: frozenset[str] | None,
) -> Decision:
    """Decide for one instance. `active_session_targets` None means sessions could not be read:
    fail safe (do not stop what someone may be using)."""
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
        until = parse_keep_alive(raw_keep_alive)
        if until is None:
            note = f"{keep_alive_tag_key}={raw_keep_alive!r} is not an ISO-8601 timestamp; ignored"
        elif until > now:
            return Decision(False, Reason.KEEP_ALIVE, f"kept alive until {until.isoformat()}")
        else:
            note = f"{keep_alive_tag_key} expired at {until.isoformat()}"

    if active_session_targets is None:
        return Decision(False, Reason.SESSIONS_UNKNOWN, "active SSM sessions could not be listed", note)
    if instance.instance_id in active_session_targets:
        return Decision(False, Reason.ACTIVE_SESSION, "an SSM Session Manager session is active", note)

    if instance.launch_time is not None:
        launched = instance.launch_time if instance.launch_time.tzinfo else instance.launch_time.replace(tzinfo=UTC)
        age = now - launched
        if age < grace:
            minutes = max(0, int(age.total_seconds() // 60))
            return Decision(False, Reason.RECENTLY_STARTED, f"started {minutes} min ago (grace {grace})", note)
    return Decision(True, note=note)
