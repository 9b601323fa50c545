"""Real-time classification of the CloudTrail calls that change who can be EKS admin, that could
blind eksguard, or that reach into a kubectl instance or its role.

`assess_event` / `alert_for_event` take the EventBridge `AWS API Call via CloudTrail` event and
return one Alert (severity CRITICAL > HIGH > MEDIUM > INFO, every matching reason in its facts),
or none for an instance or role call that concerns nothing eksguard watches. The rule table
lives in `rules.RULES`, the routed calls in `rules.ROUTED`.
"""

from eksguard.eks_api.change import ApiChange, extract
from eksguard.eks_api.classify import (
    ALERT_KIND,
    Assessment,
    alert_for_event,
    assess,
    assess_event,
    classify,
)
from eksguard.eks_api.context import RuleContext
from eksguard.eks_api.lookups import Lookups
from eksguard.eks_api.record import CloudTrailRecord, MalformedEventError, parse_event
from eksguard.eks_api.rules import HANDLED_EVENTS, ROUTED, RULES, Rule, evaluate
from eksguard.findings import Finding

__all__ = [
    "ALERT_KIND",
    "HANDLED_EVENTS",
    "ROUTED",
    "RULES",
    "Assessment",
    "CloudTrailRecord",
    "ApiChange",
    "Finding",
    "Lookups",
    "MalformedEventError",
    "Rule",
    "RuleContext",
    "alert_for_event",
    "assess",
    "assess_event",
    "classify",
    "evaluate",
    "extract",
    "parse_event",
]
