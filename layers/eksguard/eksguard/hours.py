"""Working hours, e.g. `Mon-Fri 07:00-20:00; Sat 09:00-12:00`, in an IANA time zone.

A shell on a kubectl instance inside these hours is routine (INFO); outside them it is worth a
look (MEDIUM). Daylight saving is the zone's business: times are compared as wall-clock times.
An end of `24:00` means midnight at the end of the day; a range whose end is before its start
wraps past midnight (`Mon-Fri 22:00-06:00`: from 22:00 that day to 06:00 the next).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ENTRY_RE = re.compile(
    r"^\s*(?P<first>[A-Za-z]{3})(?:\s*-\s*(?P<last>[A-Za-z]{3}))?\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$"
)
# The same grammar for the template's AllowedPattern (empty allowed: no working hours set).
TEMPLATE_PATTERN = (
    r"^$|^((Mon|Tue|Wed|Thu|Fri|Sat|Sun)(-(Mon|Tue|Wed|Thu|Fri|Sat|Sun))? "
    r"([01]?[0-9]|2[0-4]):[0-5][0-9]-([01]?[0-9]|2[0-4]):[0-5][0-9])"
    r"(; ?(Mon|Tue|Wed|Thu|Fri|Sat|Sun)(-(Mon|Tue|Wed|Thu|Fri|Sat|Sun))? "
    r"([01]?[0-9]|2[0-4]):[0-5][0-9]-([01]?[0-9]|2[0-4]):[0-5][0-9])*$"
)


class HoursError(ValueError):
    """The working-hours text or its time zone cannot be read."""


@dataclass(frozen=True)
class Window:
    days: frozenset[int]  # 0 = Monday
    start: int  # minutes after midnight
    end: int  # minutes after midnight, 1440 for 24:00

    def contains(self, moment: datetime) -> bool:
        minute = moment.hour * 60 + moment.minute
        day = moment.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= minute < self.end
        # Wraps past midnight: the evening of a listed day, or the morning after one.
        return (day in self.days and minute >= self.start) or ((day - 1) % 7 in self.days and minute < self.end)


@dataclass(frozen=True)
class WorkingHours:
    text: str
    zone: ZoneInfo
    windows: tuple[Window, ...]

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        return any(window.contains(local) for window in self.windows)

    def describe(self, moment: datetime) -> str:
        local = moment.astimezone(self.zone)
        return f"{local:%a %H:%M} {self.zone.key}"


def _minutes(text: str) -> int:
    hours, _, minutes = text.partition(":")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 1440:
        raise HoursError(f"{text} is not a time of day")
    return value


def _day(text: str) -> int:
    try:
        return DAYS.index(text.lower())
    except ValueError:
        raise HoursError(f"{text!r} is not a day (use {', '.join(d.title() for d in DAYS)})") from None


def parse_hours(text: str, zone: str) -> WorkingHours | None:
    """None when `text` is empty (no working hours: every session is routine)."""
    if not text.strip():
        return None
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise HoursError(f"unknown time zone {zone!r}") from exc
    windows: list[Window] = []
    for entry in re.split(r"[;\n]", text):
        if not entry.strip():
            continue
        match = _ENTRY_RE.match(entry)
        if not match:
            raise HoursError(f"{entry.strip()!r} is not like 'Mon-Fri 07:00-20:00'")
        first = _day(match["first"])
        last = _day(match["last"]) if match["last"] else first
        days = frozenset((first + i) % 7 for i in range((last - first) % 7 + 1))
        start, end = _minutes(match["start"]), _minutes(match["end"])
        if start == end:
            raise HoursError(f"{entry.strip()!r} is an empty range")
        windows.append(Window(days, start, end))
    return WorkingHours(text.strip(), tz, tuple(windows))


def parse_time(value: str | None) -> datetime | None:
    """A CloudTrail `eventTime` (`2025-11-20T09:15:07Z`) as an aware datetime."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("UTC"))
