"""Calls on eksguard's own pipeline: one of them is enough to blind it without touching a trail.

Disabling or rewriting an EventBridge rule that feeds a detector, throttling a function to zero,
replacing its code or settings, purging or deleting the alert queue, or writing a new Slack
webhook URL into the secret (every alert then goes to the attacker): each is a single API call.

eksguard's resources are recognised by name: CloudFormation names what the stack creates
`<stack name>-<logical id>-<suffix>` (rules `<stack name>-<function><event>-<suffix>`), and the
webhook secret is a parameter. Changes that CloudFormation itself makes (a deploy) are not
reported: the stack update is the change.
"""

from __future__ import annotations

from dataclasses import dataclass

from eksguard.eks_api.record import CloudTrailRecord, as_str

RULE_EVENTS = frozenset({"DisableRule", "DeleteRule", "PutRule", "RemoveTargets", "PutTargets"})
FUNCTION_EVENTS = frozenset(
    {
        "PutFunctionConcurrency",
        "DeleteFunction",
        "UpdateFunctionConfiguration",
        "UpdateFunctionCode",
        "RemovePermission",
        # the queue -> notifier mapping: named by its UUID; the response names the function
        "UpdateEventSourceMapping",
        "DeleteEventSourceMapping",
    }
)
QUEUE_EVENTS = frozenset({"PurgeQueue", "DeleteQueue", "SetQueueAttributes"})
SECRET_EVENTS = frozenset({"PutSecretValue", "UpdateSecret", "DeleteSecret"})
SELF_EVENTS = RULE_EVENTS | FUNCTION_EVENTS | QUEUE_EVENTS | SECRET_EVENTS
CLOUDFORMATION = "cloudformation.amazonaws.com"


@dataclass(frozen=True)
class SelfChange:
    kind: str  # "EventBridge rule", "function", "queue", "Slack webhook secret"
    resource: str | None

    @property
    def name(self) -> str:
        """The resource's own name: the last part of an ARN or a queue URL."""
        text = self.resource or ""
        if "function:" in text:  # a function ARN or partial ARN, maybe with a qualifier
            return text.split("function:", 1)[1].split(":", 1)[0]
        return text.rstrip("/").rsplit("/", 1)[-1]


def extract_self_change(record: CloudTrailRecord) -> SelfChange | None:
    request, name = record.request, record.event_name
    if name in RULE_EVENTS:
        return SelfChange("EventBridge rule", as_str(request.get("name")) or as_str(request.get("rule")))
    if name in FUNCTION_EVENTS:
        function = as_str(request.get("functionName")) or as_str(record.response.get("functionArn"))
        return SelfChange("function", function)
    if name in QUEUE_EVENTS:
        return SelfChange("queue", as_str(request.get("queueUrl")))
    if name in SECRET_EVENTS:
        return SelfChange("Slack webhook secret", as_str(request.get("secretId")))
    return None


def is_eksguards(change: SelfChange, stack_name: str | None, webhook_secret_arn: str | None) -> bool:
    """Whether the resource is one of eksguard's (by the stack's naming, or the configured secret)."""
    if change.kind == "Slack webhook secret":
        return _same_secret(change.resource, webhook_secret_arn)
    return bool(stack_name) and change.name.startswith(f"{stack_name}-")


def _same_secret(secret_id: str | None, arn: str | None) -> bool:
    """A secret is named by its ARN, its name, or its name with the 6-character suffix Secrets Manager adds."""
    if not secret_id or not arn:
        return False
    if secret_id == arn:
        return True
    full_name = arn.split(":secret:", 1)[-1]
    base_name = full_name[:-7] if len(full_name) > 7 and full_name[-7] == "-" else full_name
    named = secret_id.split(":secret:", 1)[-1] if secret_id.startswith("arn:") else secret_id
    return named in (full_name, base_name)


def via_cloudformation(record: CloudTrailRecord) -> bool:
    return record.invoked_by == CLOUDFORMATION
