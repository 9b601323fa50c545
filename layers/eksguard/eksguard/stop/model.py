"""Plain data for the stop run: what we saw, what we decided, what happened."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any


class Outcome(StrEnum):
    STOPPED = "stopped"
    WOULD_STOP = "would_stop"  # dry run
    SKIPPED = "skipped"
    FAILED = "failed"


class Reason(StrEnum):
    """Why an instance was skipped or could not be stopped (recorded per instance)."""

    KEEP_ALIVE = "keep_alive"
    ACTIVE_SESSION = "active_session"
    SESSIONS_UNKNOWN = "sessions_unknown"
    RECENTLY_STARTED = "recently_started"
    PENDING = "pending"
    TAG_VALUE_MISMATCH = "tag_value_mismatch"
    INSTANCE_STORE_ROOT = "instance_store_root"
    STOP_API_ERROR = "stop_api_error"


@dataclass(frozen=True)
class Instance:
    instance_id: str
    region: str
    state: str
    launch_time: datetime | None
    tags: dict[str, str]
    lifecycle: str | None = None  # "spot" | "scheduled" | "capacity-block" | None (on-demand)
    root_device_type: str | None = None  # "ebs" | "instance-store"
    name: str | None = None
    cluster: str | None = None


@dataclass(frozen=True)
class Decision:
    """A pure decision: stop it, or skip it with a reason. `note` carries warnings (e.g. a bad
    keep-alive value) that do not change the decision but must be reported."""

    stop: bool
    reason: Reason | None = None
    detail: str | None = None
    note: str | None = None


@dataclass
class InstanceResult:
    instance_id: str
    outcome: Outcome
    cluster: str | None = None
    name: str | None = None
    reason: str | None = None
    detail: str | None = None
    error_code: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.value if isinstance(v, Enum) else v) for k, v in self.__dict__.items() if v is not None}


@dataclass
class RegionResult:
    region: str
    instances: list[InstanceResult] = field(default_factory=list)
    error: str | None = None  # the region could not be scanned at all
    warnings: list[str] = field(default_factory=list)
    account: str | None = None  # set when the run covers more than one account
    account_label: str | None = None  # "<id> (<name>)" when a name is known

    @property
    def where(self) -> str:
        """`region`, or `account-label/region` in a run over several accounts."""
        return f"{self.account_label or self.account}/{self.region}" if self.account else self.region

    def by_outcome(self, outcome: Outcome) -> list[InstanceResult]:
        return [r for r in self.instances if r.outcome is outcome]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "region": self.region,
            **({"account": self.account} if self.account else {}),
            "stopped": [r.to_dict() for r in self.by_outcome(Outcome.STOPPED)],
            "would_stop": [r.to_dict() for r in self.by_outcome(Outcome.WOULD_STOP)],
            "skipped": [r.to_dict() for r in self.by_outcome(Outcome.SKIPPED)],
            "failed": [r.to_dict() for r in self.by_outcome(Outcome.FAILED)],
        }
        if self.error:
            data["error"] = self.error
        if self.warnings:
            data["warnings"] = list(self.warnings)
        return data


@dataclass
class RunReport:
    run_id: str
    started_at: str
    dry_run: bool
    regions: list[RegionResult] = field(default_factory=list)
    # accounts of a multi-account run: label -> None when reached, or why it was not
    accounts: dict[str, str | None] = field(default_factory=dict)
    # what kept the account list from being complete (the organisation could not be read)
    problems: list[str] = field(default_factory=list)

    @property
    def unreachable(self) -> dict[str, str]:
        return {label: why for label, why in self.accounts.items() if why}

    def count(self, outcome: Outcome) -> int:
        return sum(len(r.by_outcome(outcome)) for r in self.regions)

    @property
    def failed_regions(self) -> list[RegionResult]:
        return [r for r in self.regions if r.error]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "dry_run": self.dry_run,
            "totals": {o.value: self.count(o) for o in Outcome},
            "regions": [r.to_dict() for r in self.regions],
            **({"accounts": dict(self.accounts)} if self.accounts else {}),
            **({"problems": list(self.problems)} if self.problems else {}),
        }
