"""The ordered alert scale shared by every detector: CRITICAL > HIGH > MEDIUM > INFO."""

from __future__ import annotations

from enum import IntEnum


class Severity(IntEnum):
    INFO = 10
    MEDIUM = 20
    HIGH = 30
    CRITICAL = 40

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        """Parse a configured name; unknown names are a configuration error, never silently INFO."""
        if isinstance(value, Severity):
            return value
        name = str(value).strip().upper()
        try:
            return cls[name]
        except KeyError:
            allowed = ", ".join(s.name for s in sorted(cls, reverse=True))
            raise ValueError(f"unknown severity {value!r}; expected one of {allowed}") from None

    def at_least(self, threshold: Severity) -> bool:
        return self >= threshold

    @property
    def emoji(self) -> str:
        return {
            Severity.CRITICAL: ":rotating_light:",
            Severity.HIGH: ":red_circle:",
            Severity.MEDIUM: ":large_orange_circle:",
            Severity.INFO: ":large_blue_circle:",
        }[self]

    @property
    def colour(self) -> str:
        return {
            Severity.CRITICAL: "#B00020",
            Severity.HIGH: "#E01E5A",
            Severity.MEDIUM: "#ECB22E",
            Severity.INFO: "#2EB67D",
        }[self]
