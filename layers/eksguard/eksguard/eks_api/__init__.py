"""Real-time classification of EKS access changes recorded by CloudTrail.

`assess_event` / `alert_for_event` take the EventBridge `AWS API Call via CloudTrail` event and
return one Alert (severity CRITICAL > HIGH > MEDIUM > INFO, every matching reason in its facts).
The rule table lives in `rules.RULES`.
"""

from eksguard.eks_api.change import EksChange, extract
from eksguard.eks_api.classify import (
    ALERT_KIND,
    Assessment,
    alert_for_event,
    assess,
    assess_event,
    classify,
    cloudtrail_console_url,
)
from eksguard.eks_api.record import CloudTrailRecord, MalformedEventError, parse_event
from eksguard.eks_api.rules import HANDLED_EVENTS, RULES, Rule, RuleContext, evaluate
from eksguard.findings import Finding

__all__ = [
    "ALERT_KIND",
    "HANDLED_EVENTS",
    "RULES",
    "Assessment",
    "CloudTrailRecord",
    "EksChange",
    "Finding",
    "MalformedEventError",
    "Rule",
    "RuleContext",
    "alert_for_event",
    "assess",
    "assess_event",
    "classify",
    "cloudtrail_console_url",
    "evaluate",
    "extract",
    "parse_event",
]
