"""Decode a CloudWatch Logs subscription delivery and pick out the aws-auth audit entries.

A delivery arrives in one of two envelopes around the same payload, base64(gzip(json)):
* `{"awslogs": {"data": ...}}`: the function is the subscription's destination (this account's log groups);
* a Kinesis record's `kinesis.data` (`{"Records": [{"eventSource": "aws:kinesis", "kinesis": {"data": ...,
  "sequenceNumber": ...}}]}`): spoke accounts' log groups deliver to the hub's CloudWatch Logs destination,
  whose Kinesis stream invokes the function. CloudWatch Logs writes one payload (DATA_MESSAGE or
  CONTROL_MESSAGE) per Kinesis record, and its `owner` is the account of the log group.

Most audit lines in a batch are about
other objects, so a cheap substring test rejects them before any `json.loads`. A line CloudWatch
truncated (entries over 256 KB) is not JSON; if its visible prefix says it is about aws-auth it is
kept as a truncated record, because "someone changed aws-auth and we cannot see what" is a finding.

What is selected (the detector judges it; this module only decides "could this touch aws-auth"):
* `objectRef` is the core-group (`apiGroup` absent or "", `apiVersion` absent or "v1") ConfigMap
  `kube-system/aws-auth`, whatever the verb, a missing or unknown one included (reads of it too: the
  detector ignores them, as before);
* `objectRef` is the kube-system ConfigMap collection (no name): `deletecollection` deletes aws-auth
  without naming it, whatever the selector. Reads of the collection (get/list/watch; kubelets watch
  kube-system ConfigMaps all day) are dropped here, everything else is selected (`collection=True`);
* a truncated line: by its `objectRef` when the prefix shows it, else by its `requestURI` path, decoded
  and split as the API server's RequestInfo does (so `aws%2Dauth` is still aws-auth). The audit entry
  writes `requestURI` and `verb` before `user`, `sourceIPs` and `objectRef`, and padding `user.extra`
  (Impersonate-Extra-*) or `sourceIPs` (X-Forwarded-For) can push the cut before `objectRef`.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

CONTROL_MESSAGE = "CONTROL_MESSAGE"
DATA_MESSAGE = "DATA_MESSAGE"
AWS_AUTH_NAME = "aws-auth"
AWS_AUTH_NAMESPACE = "kube-system"
AWS_AUTH_RESOURCE = "configmaps"
CORE_API_VERSION = "v1"
DELETECOLLECTION = "deletecollection"
TRUNCATION_MARKER = "[Truncated...]"
READ_VERBS = frozenset({"get", "list", "watch"})
TOPIC_AWS_AUTH = "aws-auth"
TOPIC_RBAC = "rbac"
RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_RESOURCES = frozenset({"clusterrolebindings", "rolebindings", "clusterroles", "roles"})
# `target` of a truncated record: what its reference addresses.
TARGET_OBJECT = f"{AWS_AUTH_NAMESPACE}/{AWS_AUTH_RESOURCE}/{AWS_AUTH_NAME}"
TARGET_COLLECTION = f"{AWS_AUTH_NAMESPACE}/{AWS_AUTH_RESOURCE}"
_CORE_PREFIX = ("api", CORE_API_VERSION, "namespaces", AWS_AUTH_NAMESPACE, AWS_AUTH_RESOURCE)

_LOG_GROUP_RE = re.compile(r"^/aws/eks/(?P<cluster>[^/]+)/cluster$")
_ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
KINESIS_EVENT_SOURCE = "aws:kinesis"
_OBJECT_REF_RE = re.compile(r'"objectRef"\s*:\s*\{(?P<body>[^{}]*)\}')
_STRING_FIELD_RE = r'"{name}"\s*:\s*"(?P<value>(?:[^"\\]|\\.)*)"'


class PayloadError(ValueError):
    """The invocation payload is not a CloudWatch Logs subscription delivery."""


@dataclass(frozen=True)
class LogEvent:
    id: str
    timestamp: int
    message: str


@dataclass(frozen=True)
class LogBatch:
    message_type: str
    owner: str
    log_group: str
    log_stream: str
    subscription_filters: tuple[str, ...]
    events: tuple[LogEvent, ...]

    @property
    def is_control(self) -> bool:
        return self.message_type == CONTROL_MESSAGE

    @property
    def cluster(self) -> str | None:
        return cluster_from_log_group(self.log_group)


@dataclass(frozen=True)
class AuditRecord:
    """One aws-auth audit entry: `event` is the parsed audit Event, or None when the line was truncated.

    `collection` is True when the entry addresses the kube-system ConfigMap collection rather than
    aws-auth by name (a deletecollection, or a truncated entry whose name is not visible): it may or
    may not have touched aws-auth.
    """

    log_event: LogEvent
    event: Mapping[str, Any] | None
    truncated_fields: Mapping[str, str | None] | None = None
    collection: bool = False
    topic: str = "aws-auth"  # which judge reads it: TOPIC_AWS_AUTH or TOPIC_RBAC

    @property
    def truncated(self) -> bool:
        return self.event is None

    @property
    def key(self) -> str:
        """Identity of this log line for redelivery checks and alert ids. Not the auditID: the API
        server takes it from the client's Audit-ID header, so a caller can reuse one on purpose."""
        return entry_key(self.log_event)


def entry_key(log_event: LogEvent) -> str:
    material = f"{log_event.id}\x1f{log_event.message}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(material).hexdigest()[:32]


def cluster_from_log_group(log_group: str | None) -> str | None:
    match = _LOG_GROUP_RE.match(log_group or "")
    return match["cluster"] if match else None


def decode_awslogs(event: Mapping[str, Any]) -> LogBatch:
    """Decode the Lambda payload; raises PayloadError with a reason for anything malformed."""
    try:
        raw = event["awslogs"]["data"]
    except (KeyError, TypeError):
        raise PayloadError("event has no awslogs.data") from None
    return decode_data(raw, "awslogs.data")


def is_kinesis_event(event: object) -> bool:
    """A Kinesis event source mapping's batch (spokes' deliveries through the hub destination)."""
    if not isinstance(event, Mapping):
        return False
    records = event.get("Records")
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, Mapping) and r.get("eventSource") == KINESIS_EVENT_SOURCE for r in records)
    )


def kinesis_sequence_number(record: object) -> str | None:
    """The record's sequence number: what a partial batch response names a failed record by."""
    kinesis = record.get("kinesis") if isinstance(record, Mapping) else None
    number = kinesis.get("sequenceNumber") if isinstance(kinesis, Mapping) else None
    return number if isinstance(number, str) and number else None


def decode_kinesis_record(record: Mapping[str, Any]) -> LogBatch:
    """One Kinesis record written by a CloudWatch Logs destination: the same payload as awslogs.data.

    Its DATA_MESSAGE must name the account of its log group (`owner`): state records and alerts are
    that account's, so a payload that does not say whose it is cannot be judged."""
    try:
        raw = record["kinesis"]["data"]
    except (KeyError, TypeError):
        raise PayloadError("record has no kinesis.data") from None
    batch = decode_data(raw, "kinesis.data")
    if not batch.is_control and not _ACCOUNT_ID_RE.match(batch.owner):
        raise PayloadError(f"owner {batch.owner[:40]!r} is not an account ID")
    return batch


def decode_data(raw: object, what: str) -> LogBatch:
    """base64(gzip(json)) as CloudWatch Logs writes it to any subscription destination."""
    if not isinstance(raw, str):
        raise PayloadError(f"{what} is not a string")
    try:
        compressed = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError(f"{what} is not base64") from None
    try:
        text = gzip.decompress(compressed)
    except (OSError, EOFError, zlib.error):
        raise PayloadError(f"{what} is not gzip") from None
    try:
        body = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise PayloadError(f"{what} does not hold JSON") from None
    if not isinstance(body, dict):
        raise PayloadError(f"{what} JSON is not an object")
    message_type = body.get("messageType")
    if message_type not in (DATA_MESSAGE, CONTROL_MESSAGE):
        raise PayloadError(f"unknown messageType {message_type!r}")
    raw_events = body.get("logEvents") or []
    if not isinstance(raw_events, list):
        raise PayloadError("logEvents is not a list")
    events: list[LogEvent] = []
    for item in raw_events:
        if not isinstance(item, dict) or not isinstance(item.get("message"), str):
            raise PayloadError("a log event has no message")
        events.append(
            LogEvent(id=str(item.get("id", "")), timestamp=_timestamp(item.get("timestamp")), message=item["message"])
        )
    return LogBatch(
        message_type=message_type,
        owner=str(body.get("owner", "")),
        log_group=str(body.get("logGroup", "")),
        log_stream=str(body.get("logStream", "")),
        subscription_filters=_filter_names(body.get("subscriptionFilters")),
        events=tuple(events),
    )


def _timestamp(value: object) -> int:
    """Milliseconds since the epoch; CloudWatch sends an integer, anything else is a malformed delivery."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PayloadError(f"a log event timestamp is a {type(value).__name__}, not a number")
    try:
        return int(value)
    except (ValueError, OverflowError):
        raise PayloadError("a log event timestamp is not a number") from None


def _filter_names(value: object) -> tuple[str, ...]:
    """Informational only: a list of names, anything else reads as none."""
    if isinstance(value, str):
        return (value,)
    return tuple(str(f) for f in value) if isinstance(value, list) else ()


def might_be_selected(message: str) -> bool:
    """Fast path before `json.loads`: a whole entry about aws-auth names it in `objectRef`, a
    deletecollection names its verb, an RBAC entry names its API group in `objectRef`; a truncated
    line may show none of them, so it always goes on."""
    return (
        AWS_AUTH_NAME in message or DELETECOLLECTION in message or RBAC_GROUP in message or TRUNCATION_MARKER in message
    )


def is_rbac_write(object_ref: Mapping[str, Any] | None, verb: object) -> bool:
    """A write (anything but get/list/watch, unknown verbs included) of an RBAC binding or role."""
    if not isinstance(object_ref, Mapping) or is_read(verb):
        return False
    resource = object_ref.get("resource")
    return (
        object_ref.get("apiGroup") == RBAC_GROUP
        and isinstance(resource, str)
        and resource in RBAC_RESOURCES
        and not object_ref.get("subresource")
    )


def is_read(verb: object) -> bool:
    """get/list/watch; any other value (a missing, unknown or oddly typed verb too) may be a write."""
    return isinstance(verb, str) and verb in READ_VERBS


def rbac_uri_target(request_uri: str | None, verb: str | None) -> dict[str, str | None] | None:
    """An RBAC write read from its requestURI path (`/apis/rbac.authorization.k8s.io/<version>/
    [namespaces/<ns>/]<resource>[/<name>]`), decoded and split as RequestInfo does."""
    if not request_uri or verb in READ_VERBS:
        return None
    parts = unquote(urlsplit(request_uri).path).strip("/").split("/")
    if len(parts) < 4 or parts[0] != "apis" or parts[1] != RBAC_GROUP:
        return None
    rest = parts[3:]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or rest[0] not in RBAC_RESOURCES or len(rest) > 2:
        return None
    return {"resource": rest[0], "namespace": namespace, "name": rest[1] if len(rest) == 2 else None}


def _is_core_kube_system_configmaps(object_ref: Mapping[str, Any]) -> bool:
    return (
        object_ref.get("resource") == AWS_AUTH_RESOURCE
        and object_ref.get("namespace") == AWS_AUTH_NAMESPACE
        and not object_ref.get("apiGroup")
        and object_ref.get("apiVersion") in (None, CORE_API_VERSION)
        and not object_ref.get("subresource")
    )


def is_aws_auth_ref(object_ref: Mapping[str, Any] | None) -> bool:
    """The core-group ConfigMap kube-system/aws-auth (a CRD `configmaps.<group>` is something else)."""
    if not isinstance(object_ref, Mapping):
        return False
    return _is_core_kube_system_configmaps(object_ref) and object_ref.get("name") == AWS_AUTH_NAME


def is_configmap_collection_ref(object_ref: Mapping[str, Any] | None) -> bool:
    """The core-group ConfigMap collection of kube-system, no name: what deletecollection addresses."""
    if not isinstance(object_ref, Mapping):
        return False
    return _is_core_kube_system_configmaps(object_ref) and not object_ref.get("name")


def _selects_collection(verb: object) -> bool:
    """Reads of the collection cannot change aws-auth; anything else (unknown or missing verb too) might."""
    return not is_read(verb)


def _string_field(text: str, name: str) -> str | None:
    match = re.search(_STRING_FIELD_RE.format(name=re.escape(name)), text)
    if not match:
        return None
    try:
        value: str = json.loads(f'"{match["value"]}"')
    except json.JSONDecodeError:
        return match["value"]
    return value


def _first_list_item(text: str, name: str) -> str | None:
    match = re.search(r'"' + re.escape(name) + r'"\s*:\s*\[\s*"(?P<value>(?:[^"\\]|\\.)*)"', text)
    return match["value"] if match else None


def _partial_string_field(text: str, name: str) -> str | None:
    """A string field whose value may run into the cut: the visible part of it."""
    value = _string_field(text, name)
    if value is not None:
        return value
    match = re.search(
        r'"'
        + re.escape(name)
        + r'"\s*:\s*"(?P<value>(?:[^"\\]|\\[^u]|\\u[0-9a-fA-F]{4})*)(?:\\(?:u[0-9a-fA-F]{0,3})?)?$',
        text,
    )
    if not match:
        return None
    try:
        partial: str = json.loads(f'"{match["value"]}"')
    except json.JSONDecodeError:
        return match["value"]
    return partial


def uri_target(request_uri: str | None, verb: str | None) -> str | None:
    """What a requestURI addresses, read as the API server's RequestInfo does: percent-decoded path,
    outer slashes trimmed, split on "/". None unless aws-auth by name or, for a verb that may write
    (missing or unknown ones included), the kube-system ConfigMap collection."""
    if not request_uri:
        return None
    parts = tuple(unquote(urlsplit(request_uri).path).strip("/").split("/"))
    if parts == (*_CORE_PREFIX, AWS_AUTH_NAME):
        return TARGET_OBJECT
    if parts == _CORE_PREFIX and _selects_collection(verb):
        return TARGET_COLLECTION
    return None


def truncated_fields(message: str) -> dict[str, str | None] | None:
    """What can still be read from a truncated line; None when it is clearly about something else.

    `target` says what the entry addresses (TARGET_OBJECT or TARGET_COLLECTION), `matchedBy` whether
    that was read from `objectRef` or, when the cut came before it, from `requestURI`.
    """
    visible = message[: -len(TRUNCATION_MARKER)] if message.endswith(TRUNCATION_MARKER) else message
    verb = _string_field(visible, "verb")
    request_uri = _partial_string_field(visible, "requestURI")
    ref = _OBJECT_REF_RE.search(visible)
    if ref:
        body = ref["body"]
        object_ref = {
            k: _string_field(body, k)
            for k in ("resource", "namespace", "name", "subresource", "apiGroup", "apiVersion")
        }
        rbac: dict[str, str | None] | None = None
        if is_aws_auth_ref(object_ref):
            target: str | None = TARGET_OBJECT
        elif is_configmap_collection_ref(object_ref) and _selects_collection(verb):
            target = TARGET_COLLECTION
        elif is_rbac_write(object_ref, verb):
            target = TOPIC_RBAC
            rbac = {k: object_ref[k] for k in ("resource", "namespace", "name")}
        else:
            return None
        head = visible[: ref.start()]
        matched_by = "objectRef"
    else:
        target = uri_target(request_uri, verb)
        rbac = None
        if target is None:
            rbac = rbac_uri_target(request_uri, verb)
            if rbac is None:
                return None
            target = TOPIC_RBAC
        head = visible
        matched_by = "requestURI"
    code = re.search(r'"responseStatus"\s*:\s*\{[^{}]*(?:\{[^{}]*\}[^{}]*)*"code"\s*:\s*(\d+)', visible)
    return {
        "arn": _first_list_item(head, "arn"),
        "sessionName": _first_list_item(head, "sessionName"),
        "sourceIP": _first_list_item(head, "sourceIPs"),
        "code": code.group(1) if code else None,
        "auditID": _string_field(visible, "auditID"),
        "verb": verb,
        "stage": _string_field(visible, "stage"),
        "username": _string_field(head, "username"),
        "userAgent": _string_field(head, "userAgent"),
        "requestURI": request_uri,
        # a dryRun seen in a requestURI cut by the truncation is no proof (the rest may drop it)
        "requestURIComplete": "yes" if _string_field(visible, "requestURI") is not None else "no",
        "target": target,
        "matchedBy": matched_by,
        **{f"rbac_{k}": v for k, v in (rbac or {}).items()},
    }


def audit_records(batch: LogBatch) -> Iterator[AuditRecord]:
    """aws-auth entries and RBAC writes of a batch, in delivery order, each with the topic of the judge
    that reads it; everything else is dropped cheaply."""
    if batch.is_control:
        return
    for log_event in batch.events:
        message = log_event.message
        if not might_be_selected(message):
            continue
        try:
            parsed = json.loads(message)
        except (ValueError, RecursionError) as exc:
            # Not JSON (truncated), or JSON Python cannot load (nesting beyond its recursion limit,
            # an integer of thousands of digits) that the API server wrote anyway: read what we can.
            fields = truncated_fields(message)
            if fields is not None and not message.endswith(TRUNCATION_MARKER):
                fields["unreadable"] = f"JSON eksguard cannot load ({type(exc).__name__})"
            if fields is not None:
                collection = fields["target"] == TARGET_COLLECTION
                topic = TOPIC_RBAC if fields["target"] == TOPIC_RBAC else TOPIC_AWS_AUTH
                yield AuditRecord(log_event, None, truncated_fields=fields, collection=collection, topic=topic)
            continue
        if not isinstance(parsed, dict):
            continue
        object_ref = parsed.get("objectRef")
        if is_aws_auth_ref(object_ref):
            yield AuditRecord(log_event=log_event, event=parsed)
        elif is_configmap_collection_ref(object_ref) and _selects_collection(parsed.get("verb")):
            yield AuditRecord(log_event=log_event, event=parsed, collection=True)
        elif is_rbac_write(object_ref, parsed.get("verb")):
            yield AuditRecord(log_event=log_event, event=parsed, topic=TOPIC_RBAC)


# What a judge may raise on an entry of a shape it does not expect; the entry is then reported as unreadable.
DECODE_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError)


def unreadable_fields(record: AuditRecord) -> dict[str, str | None]:
    """What a judge that failed on a parsed entry can still say about it: the fields a truncated line
    would show (string values only), the object reference for RBAC, and an auditID to name it by."""
    event = record.event or {}

    def text(container: object, name: str) -> str | None:
        value = container.get(name) if isinstance(container, Mapping) else None
        return value if isinstance(value, str) else None

    fields = {name: text(event, name) for name in ("auditID", "verb", "stage", "requestURI", "userAgent")}
    fields["stageTimestamp"] = text(event, "stageTimestamp")
    fields["username"] = text(event.get("user"), "username")
    for key in ("resource", "namespace", "name"):
        fields[f"rbac_{key}"] = text(event.get("objectRef"), key)
    fields["auditID"] = fields["auditID"] or f"log-event:{record.log_event.id}"
    return fields
