"""Calls on eksguard's own pipeline: one of them is enough to blind it without touching a trail.

Disabling or rewriting an EventBridge rule that feeds a detector, throttling a function to zero,
replacing its code or settings, purging or deleting the alert queue, or writing a new Slack
webhook URL into the secret (every alert then goes to the attacker): each is a single API call.

eksguard's resources are recognised by name: CloudFormation names what the stack creates
`<stack name>-<logical id>-<suffix>` (rules `<stack name>-<function><event>-<suffix>`), and the
webhook secret is a parameter (names longer than 64 characters are cut by CloudFormation: keep the stack
name short, see README). Changes that CloudFormation makes are INFO, not HIGH: a deploy of eksguard looks
like that, but so does another stack acting on eksguard's resources, which is why it is still reported.
The stack itself is watched: an update is INFO, a deletion HIGH.
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
        # the alert queue -> notifier mapping: named by its UUID; the response names queue and function
        "CreateEventSourceMapping",
        "UpdateEventSourceMapping",
        "DeleteEventSourceMapping",
    }
)
QUEUE_EVENTS = frozenset({"PurgeQueue", "DeleteQueue", "SetQueueAttributes"})
SECRET_EVENTS = frozenset({"PutSecretValue", "UpdateSecret", "DeleteSecret"})
STACK_EVENTS = frozenset({"UpdateStack", "ExecuteChangeSet", "DeleteStack"})
SELF_EVENTS = RULE_EVENTS | FUNCTION_EVENTS | QUEUE_EVENTS | SECRET_EVENTS | STACK_EVENTS
CLOUDFORMATION = "cloudformation.amazonaws.com"
# Logical IDs in template.yaml: CloudFormation names what it creates `<stack>-<logical id>-<suffix>` (an
# execution role `<stack>-<function>Role-<suffix>`); the EventBridge rules get `<stack>-...` names from
# the template itself. Matching the logical ID too keeps a user's own `<stack>-...` role apart.
OWN_FUNCTIONS = (
    "StopInstancesFunction",
    "EksApiAlertFunction",
    "AuditLogAlertFunction",
    "AuditLogEnrolFunction",
    "SlackNotifierFunction",
)
OWN_QUEUES = ("AlertQueue", "AlertDeadLetterQueue", "FailedEventsQueue")
# The forwarding rules of a spoke (spoke/template.yaml) carry fixed names: disabling one blinds the hub
# to that account and region as surely as disabling one of the hub's own rules.
SPOKE_RULE_PREFIX = "eksguard-spoke-"


@dataclass(frozen=True)
class SelfChange:
    kind: str  # "EventBridge rule", "function", "queue", "Slack webhook secret", "stack", "role"
    resource: str | None
    # other resources the call ties together (an event source mapping's queue): any of them may be eksguard's
    related: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return resource_name(self.resource)


def resource_name(text: str | None) -> str:
    """A resource's own name: from a function ARN (maybe qualified), a queue ARN or URL, a stack ARN, a name."""
    text = text or ""
    if "function:" in text:
        return text.split("function:", 1)[1].split(":", 1)[0]
    if ":stack/" in text:  # arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>
        return text.split(":stack/", 1)[1].split("/", 1)[0]
    if text.startswith("arn:"):
        return text.rsplit(":", 1)[-1]
    return text.rstrip("/").rsplit("/", 1)[-1]


def extract_self_change(record: CloudTrailRecord) -> SelfChange | None:
    request, name = record.request, record.event_name
    if name in RULE_EVENTS:
        return SelfChange("EventBridge rule", as_str(request.get("name")) or as_str(request.get("rule")))
    if name in FUNCTION_EVENTS:
        function = as_str(request.get("functionName")) or as_str(record.response.get("functionArn"))
        queue = as_str(request.get("eventSourceArn")) or as_str(record.response.get("eventSourceArn"))
        return SelfChange("function", function, (queue,) if queue else ())
    if name in QUEUE_EVENTS:
        return SelfChange("queue", as_str(request.get("queueUrl")))
    if name in SECRET_EVENTS:
        return SelfChange("Slack webhook secret", as_str(request.get("secretId")))
    if name in STACK_EVENTS:
        return SelfChange("stack", as_str(request.get("stackName")))
    return None


def is_eksguards(change: SelfChange, stack_name: str | None, webhook_secret_arn: str | None) -> bool:
    """Whether the resource is one of eksguard's (by the stack's naming, or the configured secret)."""
    if change.kind == "Slack webhook secret":
        return _same_secret(change.resource, webhook_secret_arn)
    if change.kind == "EventBridge rule" and change.name.startswith(SPOKE_RULE_PREFIX):
        return True
    if not stack_name:
        return False
    if change.kind == "stack":
        return change.name == stack_name
    if change.kind == "EventBridge rule":
        return change.name.startswith(f"{stack_name}-")
    names = [change.name, *(resource_name(r) for r in change.related)]
    return any(is_own_name(name, stack_name, OWN_FUNCTIONS + OWN_QUEUES) for name in names)


def is_own_name(name: str, stack_name: str | None, logical_ids: tuple[str, ...], suffix: str = "") -> bool:
    """`<stack>-<logical id><suffix>-...`, as CloudFormation names what the stack creates."""
    if not stack_name or not name.startswith(f"{stack_name}-"):
        return False
    rest = name[len(stack_name) + 1 :]
    return any(rest.startswith(f"{logical_id}{suffix}-") for logical_id in logical_ids)


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
