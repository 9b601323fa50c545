"""One finding of a detector: the rule that matched, how bad it is, and what to tell people.

Shared by every judge (EKS API, aws-auth) so an alert is always built from the same shape: the
highest-severity finding gives the alert its severity and title, the others are listed with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from eksguard.severity import Severity


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    headline: str
    detail: str
    principal: str | None = None
