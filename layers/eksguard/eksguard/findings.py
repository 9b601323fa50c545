"""One finding of a detector: the rule that matched, how bad it is, and what to tell people.

Shared by every judge (EKS API, aws-auth) so an alert is always built from the same shape: the
highest-severity finding gives the alert its severity and title, the others are listed with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from eksguard.severity import Severity

Ctx = TypeVar("Ctx")


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    headline: str
    detail: str
    principal: str | None = None


@dataclass(frozen=True)
class Rule(Generic[Ctx]):
    """One line of a judge's verdict table: which subjects of a context it speaks about, how bad each is
    (`rate` may move it), and the words. `claims`: a subject it reported is hidden from later rules."""

    name: str
    severity: Severity
    why: str  # the policy in words (docs and README are checked against this table)
    select: Callable[[Ctx], Iterable[Any]]
    headline: Callable[[Ctx, Any], str]
    detail: Callable[[Ctx, Any], str]
    principal: Callable[[Ctx, Any], str | None] = lambda ctx, subject: None
    rate: Callable[[Ctx, Any, Severity], Severity] | None = None
    claims: bool = False

    def finding(self, ctx: Ctx, subject: Any) -> Finding:
        severity = self.rate(ctx, subject, self.severity) if self.rate else self.severity
        return Finding(
            self.name, severity, self.headline(ctx, subject), self.detail(ctx, subject), self.principal(ctx, subject)
        )


class DocumentedRule(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def why(self) -> str: ...


def markdown_table(rules: Iterable[DocumentedRule]) -> str:
    """A verdict table as README.md and docs/ carry it (tests keep them equal), highest severity first."""
    lines = ["| Severity | Rule | When |", "|---|---|---|"]
    for rule in sorted(rules, key=lambda r: -r.severity):
        lines.append(f"| {rule.severity.name} | `{rule.name}` | {rule.why} |")
    return "\n".join(lines)


class ExpectedAdminsLike(Protocol):
    def check(self, cluster: str | None, principal: str | None) -> Any: ...


@dataclass
class ExpectedVerdicts:
    """Whether principals are expected admins of one cluster, asked once each (a lookup may call AWS)."""

    expected: ExpectedAdminsLike
    cluster: str | None
    _seen: dict[str, tuple[bool, str]] = field(default_factory=dict)

    def __call__(self, principal: str) -> tuple[bool, str]:
        if principal not in self._seen:
            match = self.expected.check(self.cluster, principal)
            reason = str(getattr(match, "reason", "") or "")
            lookup_error = getattr(match, "lookup_error", None)
            if lookup_error:
                reason = f"{reason}; lookup failed: {lookup_error}"
            self._seen[principal] = (bool(getattr(match, "expected", False)), reason)
        return self._seen[principal]
