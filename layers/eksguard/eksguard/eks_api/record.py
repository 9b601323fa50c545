"""The EventBridge envelope around a CloudTrail record, read defensively.

CloudTrail records are loosely shaped: `requestParameters` and `responseElements` are null for
many failed calls, list fields arrive as JSON strings in update params, path parameters are
URL-encoded. Everything here returns plain values or None, never raises on a missing field;
only an event that is not a CloudTrail record at all raises MalformedEventError.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eksguard import arns
from eksguard.alerts import Actor

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
EKS_EVENT_SOURCE = "eks.amazonaws.com"
# CloudTrail eventSource -> EventBridge `source` of the services this detector judges. The source of
# EC2 Instance Connect is not documented (`aws.ec2-instance-connect` follows the rule every documented
# service obeys): the template matches that one on `detail.eventSource` only, and any `aws.` source is
# accepted with a known eventSource (only AWS can emit `aws.` events).
EVENT_SOURCES: dict[str, str] = {
    "eks.amazonaws.com": "aws.eks",
    "cloudtrail.amazonaws.com": "aws.cloudtrail",
    "logs.amazonaws.com": "aws.logs",
    "ssm.amazonaws.com": "aws.ssm",
    "ec2.amazonaws.com": "aws.ec2",
    "ec2-instance-connect.amazonaws.com": "aws.ec2-instance-connect",
    "iam.amazonaws.com": "aws.iam",
    # eksguard's own pipeline (eks_api/self_watch.py)
    "events.amazonaws.com": "aws.events",
    "lambda.amazonaws.com": "aws.lambda",
    "sqs.amazonaws.com": "aws.sqs",
    "secretsmanager.amazonaws.com": "aws.secretsmanager",
    "cloudformation.amazonaws.com": "aws.cloudformation",
}
# Lambda records its calls with the API version appended (UpdateFunctionConfiguration20150331v2).
_LAMBDA_VERSION_RE = re.compile(r"\d{8}(v\d+)?$")
_SOURCE_TO_EVENT_SOURCE = {source: event_source for event_source, source in EVENT_SOURCES.items()}
_UNDOCUMENTED_SOURCES = frozenset({"ec2-instance-connect.amazonaws.com"})


class MalformedEventError(ValueError):
    """The invocation payload is not an EventBridge CloudTrail record this detector reads (never retried)."""


@dataclass(frozen=True)
class CloudTrailRecord:
    event_name: str
    event_source: str
    event_id: str | None
    eventbridge_id: str | None
    event_time: str | None
    region: str | None
    account: str | None
    actor: Actor
    actor_account: str | None
    actor_type: str | None
    invoked_by: str | None = None  # an AWS service acting for the caller (e.g. cloudformation.amazonaws.com)
    request: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None
    raw_digest: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error_code)


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_str(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().strip('"').lower()
        if word in ("true", "false"):
            return word == "true"
    return None


def maybe_json(value: Any) -> Any:
    """Decode values that arrive as JSON text (update params, some list fields); else unchanged."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text or text[0] not in '[{"':
        return value
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: JSON text nested thousands deep
        return value


def as_str_list(value: Any) -> tuple[str, ...] | None:
    """A list of strings from a list, a JSON-encoded list or a single string; None when absent."""
    value = maybe_json(value)
    if value is None:
        return None
    if isinstance(value, str):
        return (value.strip(),) if value.strip() else ()
    if isinstance(value, list | tuple):
        return tuple(str(item).strip() for item in value if item is not None and str(item).strip())
    return None


def first(*values: Any) -> Any:
    """First value that is not None / empty string."""
    for value in values:
        if value is not None and value != "":
            return value
    return None


def _actor(identity: dict[str, Any], detail: dict[str, Any]) -> Actor:
    raw_arn = as_str(identity.get("arn"))
    issuer = as_dict(as_dict(identity.get("sessionContext")).get("sessionIssuer"))
    canonical = arns.principal_arn(raw_arn) or arns.principal_arn(as_str(issuer.get("arn")))
    username = as_str(identity.get("userName")) or as_str(issuer.get("userName")) or as_str(identity.get("invokedBy"))
    return Actor(
        arn=canonical,
        session_name=arns.session_name_of(raw_arn),
        username=username,
        source_ip=as_str(detail.get("sourceIPAddress")),
        user_agent=as_str(detail.get("userAgent")),
    )


def _service_source(detail: dict[str, Any]) -> str | None:
    """CloudFormation acting with the caller's credentials shows as the source address and user agent."""
    source = as_str(detail.get("sourceIPAddress"))
    return source if source and source.endswith(".amazonaws.com") else None


def parse_event(event: Any) -> CloudTrailRecord:
    """Read an EventBridge `AWS API Call via CloudTrail` event (any Mapping, e.g. Powertools
    EventBridgeEvent). Raises MalformedEventError when it is not one."""
    if not isinstance(event, Mapping):
        raise MalformedEventError(f"event is a {type(event).__name__}, not a JSON object")
    detail_type = event.get("detail-type")
    if detail_type != CLOUDTRAIL_DETAIL_TYPE:
        raise MalformedEventError(f"detail-type is {detail_type!r}, expected {CLOUDTRAIL_DETAIL_TYPE!r}")
    source = event.get("source")
    if source is not None and (not isinstance(source, str) or not source.startswith("aws.")):
        raise MalformedEventError(f"source is {source!r}, expected an AWS service (aws.*)")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise MalformedEventError("detail is missing or not an object")
    detail = dict(detail)
    event_source = detail.get("eventSource")
    if event_source is None:
        event_source = _SOURCE_TO_EVENT_SOURCE.get(str(source), EKS_EVENT_SOURCE)
    if not isinstance(event_source, str) or event_source not in EVENT_SOURCES:
        raise MalformedEventError(f"detail.eventSource is {event_source!r}, not a service this detector judges")
    documented = _SOURCE_TO_EVENT_SOURCE.get(str(source))
    if documented and documented != event_source and event_source not in _UNDOCUMENTED_SOURCES:
        raise MalformedEventError(f"detail.eventSource {event_source!r} does not belong to source {source!r}")
    event_name = as_str(detail.get("eventName"))
    if not event_name:
        raise MalformedEventError("detail.eventName is missing")
    if event_source == "lambda.amazonaws.com":
        event_name = _LAMBDA_VERSION_RE.sub("", event_name) or event_name
    identity = as_dict(detail.get("userIdentity"))
    digest = hashlib.sha256(json.dumps(dict(event), sort_keys=True, default=str).encode("utf-8")).hexdigest()
    return CloudTrailRecord(
        event_name=event_name,
        event_source=str(event_source),
        event_id=as_str(detail.get("eventID")),
        eventbridge_id=as_str(event.get("id")),
        event_time=as_str(detail.get("eventTime")) or as_str(event.get("time")),
        region=as_str(detail.get("awsRegion")) or as_str(event.get("region")),
        # EventBridge sets `account` to the account the event happened in, also on a hub's bus, where the
        # rest of the event is what the sender's rule forwarded: the envelope is what names the account.
        account=as_str(event.get("account"))
        or as_str(detail.get("recipientAccountId"))
        or as_str(identity.get("accountId")),
        actor=_actor(identity, detail),
        actor_account=as_str(identity.get("accountId")) or arns.account_of(as_str(identity.get("arn"))),
        actor_type=as_str(identity.get("type")),
        invoked_by=as_str(identity.get("invokedBy")) or _service_source(detail),
        request=as_dict(detail.get("requestParameters")),
        response=as_dict(detail.get("responseElements")),
        error_code=as_str(detail.get("errorCode")),
        error_message=as_str(detail.get("errorMessage")),
        raw_digest=digest,
    )
