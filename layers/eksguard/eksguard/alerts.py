"""The Alert model every detector produces and the notifier renders, plus `publish`.

An alert is plain data with a stable `id` derived from the source event, so a redelivered
source event yields the same id and the notifier (idempotent on `id`) posts it once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eksguard.severity import Severity

SCHEMA_VERSION = 1
KIND_DIGEST = "inventory-digest"
# Kinds the notifier posts whatever AlertMinSeverity says: asked for on a schedule, not raised by an event.
ALWAYS_POSTED = frozenset({KIND_DIGEST})


def alert_id(*parts: object) -> str:
    """Stable id from the identity of the source event (e.g. CloudTrail eventID, audit auditID)."""
    material = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


def _optional_text(data: dict[str, Any], key: str, prefix: str = "") -> str | None:
    """A text field of a queued alert: a string or absent; anything else makes the message a poison one."""
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"alert field {prefix}{key} is a {type(value).__name__}, not a string")


def _facts(raw: Any) -> tuple[Fact, ...]:
    if not raw:
        return ()
    if not isinstance(raw, list) or not all(isinstance(f, list | tuple) and len(f) == 2 for f in raw):
        raise ValueError("alert field facts is not a list of [label, value] pairs")
    return tuple(Fact(str(label), str(value)) for label, value in raw)


def _source(raw: Any) -> SourceRef | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"kind", "description", "url"}:
        raise ValueError("alert field source is not an object with kind, description and url")
    kind, description = _optional_text(raw, "kind", "source."), _optional_text(raw, "description", "source.")
    return SourceRef(kind=kind or "", description=description or "", url=_optional_text(raw, "url", "source."))


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Actor:
    """Who did it: normalised principal ARN plus session, origin and client."""

    arn: str | None = None
    session_name: str | None = None
    username: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None

    def display(self) -> str:
        who = self.arn or self.username or "unknown actor"
        if self.session_name:
            who = f"{who} (session {self.session_name})"
        return who

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Actor | None:
        if not data:
            return None
        if not isinstance(data, dict):
            raise ValueError(f"alert field actor is a {type(data).__name__}, not an object")
        return cls(**{k: _optional_text(data, k, "actor.") for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True)
class SourceRef:
    """A link back to the evidence: CloudTrail event, audit log stream, scheduler run."""

    kind: str
    description: str
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Alert:
    id: str
    kind: str
    severity: Severity
    title: str
    cluster: str | None = None
    principal: str | None = None
    actor: Actor | None = None
    account: str | None = None
    region: str | None = None
    time: str = field(default_factory=utc_now_iso)
    summary: str | None = None
    facts: tuple[Fact, ...] = ()
    source: SourceRef | None = None
    # Set by the notifier of a hub (several accounts): the account's name, or "" when it has none.
    # None (one account) keeps the notification line as it always was.
    account_name: str | None = None

    @property
    def account_label(self) -> str | None:
        if not self.account:
            return None
        return f"{self.account} ({self.account_name})" if self.account_name else self.account

    def notification_text(self) -> str:
        """The one-line notification text: `[SEVERITY] cluster: title` (title names the principal); in a
        hub, `[SEVERITY] cluster (account): title`, since cluster names repeat across accounts."""
        where = self.cluster or (f"{self.account}/{self.region}" if self.account else self.region) or "eksguard"
        if self.account_name is not None and self.account and self.cluster:
            where = f"{self.cluster} ({self.account}{' ' + self.account_name if self.account_name else ''})"
        elif self.account_name and self.account and not self.cluster:
            where = f"{self.account_label}/{self.region}" if self.region else str(self.account_label)
        return f"[{self.severity.name}] {where}: {self.title}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity.name,
            "title": self.title,
            "cluster": self.cluster,
            "principal": self.principal,
            "actor": self.actor.to_dict() if self.actor else None,
            "account": self.account,
            "region": self.region,
            "time": self.time,
            "summary": self.summary,
            "facts": [[f.label, f.value] for f in self.facts],
            "source": self.source.to_dict() if self.source else None,
            **({"account_name": self.account_name} if self.account_name is not None else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        """Strict parse: a message that is not an alert raises ValueError (a poison message)."""
        if not isinstance(data, dict):
            raise ValueError("alert payload is not a JSON object")
        missing = [k for k in ("id", "kind", "severity", "title") if not data.get(k)]
        if missing:
            raise ValueError(f"alert payload lacks {', '.join(missing)}")
        return cls(
            id=str(data["id"]),
            kind=str(data["kind"]),
            severity=Severity.parse(data["severity"]),
            title=str(data["title"]),
            cluster=_optional_text(data, "cluster"),
            principal=_optional_text(data, "principal"),
            actor=Actor.from_dict(data.get("actor")),
            account=_optional_text(data, "account"),
            region=_optional_text(data, "region"),
            time=str(data.get("time") or utc_now_iso()),
            summary=_optional_text(data, "summary"),
            facts=_facts(data.get("facts")),
            source=_source(data.get("source")),
            account_name=_optional_text(data, "account_name"),
        )

    @classmethod
    def from_json(cls, body: str) -> Alert:
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ValueError(f"alert payload is not JSON: {exc.msg}") from None
        return cls.from_dict(data)
