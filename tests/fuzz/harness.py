"""Fuzzing harness shared by tests/fuzz and scripts/fuzz.py.

- Healthy in-memory AWS fakes (SQS, DynamoDB, EC2, SSM, IAM, Secrets Manager) that validate what real
  AWS validates (SQS message size), so every handler runs its full path fast.
- Mutation strategies over the real sample events in events/ (drop keys, wrong types, None, huge and
  unicode strings, URL-encoding games, truncated gzip/base64, mutated audit events re-encoded, broken
  aws-auth YAML).
- One `Case` runner per handler that classifies the outcome: accepted, rejected (with the logged
  reason) or an unexpected exception. With AWS healthy, the only exceptions a handler may raise are
  the designed "retry me" ones (RETRY_ME with a transient error code); anything else is a finding.
"""

from __future__ import annotations

import base64
import copy
import functools
import gzip
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from botocore.exceptions import BotoCoreError, ClientError
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
for _folder in (
    "layers/eksguard",
    *(
        f"functions/{n}"
        for n in ("stop_instances", "slack_notifier", "eks_api_alert", "audit_log_alert", "audit_log_enrol")
    ),
    ".",
):
    if str(ROOT / _folder) not in sys.path:
        sys.path.insert(0, str(ROOT / _folder))

from eksguard.publish import AlertQueueError  # noqa: E402
from scripts.build_awslogs_events import encode_delivery  # noqa: E402

ACCOUNT = "111122223333"
REGION = "eu-west-1"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/alerts"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:alerts"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:eksguard/slack-AbCdEf"
SQS_MAX_BYTES = 262_144
TRANSIENT_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "ServiceUnavailable",
        "InternalError",
        "InternalServerError",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
    }
)

# The designed "retry me" exceptions: AWS failures and a queue refusing alerts. Raising one makes Lambda
# retry the invocation, which only helps when the cause is transient (see `is_designed_retry`).
RETRY_ME: tuple[type[BaseException], ...] = (ClientError, BotoCoreError, AlertQueueError)


def is_designed_retry(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code")) in TRANSIENT_CODES
    return isinstance(exc, BotoCoreError | AlertQueueError)


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


# ----------------------------------------------------------------------------------------- AWS fakes
class FakeSqs:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        total = sum(len(e["MessageBody"].encode()) for e in Entries)
        if len(Entries) > 10 or total > SQS_MAX_BYTES:
            raise _error("AWS.SimpleQueueService.BatchRequestTooLong", f"batch of {total} bytes", "SendMessageBatch")
        self.messages.extend(e["MessageBody"] for e in Entries)
        return {"Successful": [{"Id": e["Id"], "MessageId": f"m-{len(self.messages)}-{e['Id']}"} for e in Entries]}

    def change_message_visibility(self, **_: Any) -> dict[str, Any]:
        return {}

    def get_queue_url(self, QueueName: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        return {"QueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{QueueName}"}


class FakeDynamo:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def get_item(self, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:  # noqa: N803
        item = self.items.get(json.dumps(Key, sort_keys=True))
        return {"Item": copy.deepcopy(item)} if item else {}

    def put_item(self, TableName: str, Item: dict[str, Any], **_: Any) -> dict[str, Any]:  # noqa: N803
        if len(json.dumps(Item, default=lambda raw: "x" * len(raw))) > 400_000:
            raise _error("ValidationException", "Item size has exceeded the maximum allowed size", "PutItem")
        self.items[json.dumps({"cluster": Item["cluster"]}, sort_keys=True)] = copy.deepcopy(Item)
        return {}

    def update_item(self, TableName: str, Key: dict[str, Any], UpdateExpression: str, **kwargs: Any) -> dict[str, Any]:  # noqa: N803
        """The two forms eksguard sends: `SET #e = :v` and `REMOVE #e` on one attribute."""
        item = self.items.setdefault(json.dumps(Key, sort_keys=True), copy.deepcopy(Key))
        name = kwargs["ExpressionAttributeNames"]["#e"]
        if UpdateExpression.startswith("SET"):
            item[name] = copy.deepcopy(kwargs["ExpressionAttributeValues"][":v"])
        else:
            item.pop(name, None)
        return {}


class _Paginator:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages

    def paginate(self, **_: Any) -> Iterator[dict[str, Any]]:
        return iter(self.pages)


class FakeEc2:
    def __init__(self, instances: list[dict[str, Any]] | None = None) -> None:
        self.instances = instances or []
        self.stopped: list[str] = []

    def get_paginator(self, name: str) -> _Paginator:
        assert name == "describe_instances"
        return _Paginator([{"Reservations": [{"Instances": self.instances}]}])

    def stop_instances(self, InstanceIds: list[str], DryRun: bool = False) -> dict[str, Any]:  # noqa: N803
        self.stopped.extend(InstanceIds)
        return {"StoppingInstances": [{"InstanceId": i} for i in InstanceIds]}


class FakeSsm:
    def describe_sessions(self, **_: Any) -> dict[str, Any]:
        return {"Sessions": []}


class FakeIam:
    def get_instance_profile(self, InstanceProfileName: str) -> dict[str, Any]:  # noqa: N803
        return {"InstanceProfile": {"Roles": [{"Arn": f"arn:aws:iam::{ACCOUNT}:role/{InstanceProfileName}"}]}}


class FakeSecrets:
    def __init__(self, url: str) -> None:
        self.url = url

    def get_secret_value(self, SecretId: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        return {"SecretString": self.url, "ARN": SecretId, "Name": "eksguard/slack"}


@dataclass
class FakeAws:
    sqs: FakeSqs = field(default_factory=FakeSqs)
    dynamodb: FakeDynamo = field(default_factory=FakeDynamo)
    ec2: FakeEc2 = field(default_factory=FakeEc2)
    ssm: FakeSsm = field(default_factory=FakeSsm)
    iam: FakeIam = field(default_factory=FakeIam)
    secretsmanager: FakeSecrets = field(default_factory=lambda: FakeSecrets("http://127.0.0.1:9/services/T/B/x"))

    def client(self, service: str, region: str) -> Any:
        return getattr(self, service)


# ----------------------------------------------------------------------------------------- logs
class LogCapture(logging.Handler):
    """Collects eksguard's structured log records (message + `reason`/`error` extras)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def problems(self) -> list[tuple[str, str]]:
        """(event, reason) of every warning or error logged, errors first."""
        found = []
        for record in sorted(self.records, key=lambda r: -r.levelno):
            if record.levelno >= logging.WARNING:
                reason = getattr(record, "reason", None) or getattr(record, "error", None) or ""
                found.append((str(record.msg), str(reason)))
        return found


@contextmanager
def captured_logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    root = logging.getLogger("eksguard")
    root.addHandler(capture)
    try:
        yield capture
    finally:
        root.removeHandler(capture)


# ----------------------------------------------------------------------------------------- strategies
def load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def sample_names(prefix: str) -> list[str]:
    return sorted(p.name for p in EVENTS.glob(f"{prefix}*.json"))


HUGE = 300_000
junk_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8", categories=["L", "M", "S", "Zs", "Cf", "Co"]), max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\ud7ff",
            "\u202e",
            "%",
            "%zz",
            "%2",
            "arn:",
            "arn:aws:iam::",
            "*",
            "null",
            "system:masters",
            "aws-auth",
            "{",
            "[",
            "- rolearn",
            "<aws.scheduler.scheduled-time>",
            "2026-13-45T99:99:99Z",
            "i-",
            "🙂" * 5,
        ]
    ),
    st.integers(min_value=1000, max_value=HUGE).map(lambda n: "A" * n),
)
junk = st.recursive(
    junk_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*prefix, index)))
    return found


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _encode_games(text: str) -> list[str]:
    return [
        quote(text, safe=""),
        quote_plus(text),
        quote(quote(text, safe=""), safe=""),
        text.upper(),
        text + "%",
        text[: len(text) // 2],
        text * 50,
        f" {text} ",
        text.replace(":", "%3A"),
    ]


OPS = ("drop", "replace", "encode", "wrap", "duplicate")


@st.composite
def mutated(draw: st.DrawFn, original: Any, max_mutations: int = 3) -> Any:
    """The original document with 1..max_mutations random edits at random places."""
    doc = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(OPS))
        if not path:
            if op == "replace":
                doc = draw(junk)
            continue
        parent = _get(doc, path[:-1])
        key = path[-1]
        current = parent[key]
        if op == "drop":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(junk)
        elif op == "encode" and isinstance(current, str):
            parent[key] = draw(st.sampled_from(_encode_games(current)))
        elif op == "wrap":
            parent[key] = draw(st.sampled_from([[current], {"value": current}, json.dumps(current)]))
        elif op == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(current))
        else:
            parent[key] = draw(junk)
    return doc


def awslogs(body: Any) -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return {"awslogs": {"data": base64.b64encode(gzip.compress(raw, mtime=0)).decode()}}


@st.composite
def broken_bytes(draw: st.DrawFn, event: dict[str, Any]) -> dict[str, Any]:
    """Byte-level damage to an awslogs payload: truncated base64 or gzip, flipped bytes, bad padding."""
    data = event["awslogs"]["data"]
    raw = base64.b64decode(data)
    kind = draw(st.sampled_from(["cut_b64", "cut_gzip", "flip", "pad", "not_gzip", "not_json", "latin1"]))
    if kind == "cut_b64":
        out = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif kind == "cut_gzip":
        out = base64.b64encode(raw[: draw(st.integers(0, max(0, len(raw) - 1)))]).decode()
    elif kind == "flip":
        index = draw(st.integers(0, len(raw) - 1))
        out = base64.b64encode(raw[:index] + bytes([raw[index] ^ 0xFF]) + raw[index + 1 :]).decode()
    elif kind == "pad":
        out = data.rstrip("=") + draw(st.sampled_from(["", "=", "===", "\n", " "]))
    elif kind == "not_gzip":
        out = base64.b64encode(gzip.decompress(raw)).decode()
    elif kind == "not_json":
        out = awslogs(gzip.decompress(raw)[:-7])["awslogs"]["data"]
    else:
        out = awslogs(json.dumps(json.loads(gzip.decompress(raw))).encode("utf-16"))["awslogs"]["data"]
    return {"awslogs": {"data": out}}


YAML_GAMES = [
    "\t- rolearn: x",
    "- rolearn: !!python/object/apply:os.system ['true']",
    "&a [*a]",
    "- *undefined",
    "- rolearn: arn:aws:iam::111122223333:role/x\n  groups: system:masters",
    "- [1, 2]",
    "{}",
    "null",
    "~",
    "- rolearn:\n  groups:\n    - system:masters",
    "- rolearn: " + "x" * 5000,
    "---\n---\n- a",
    "- rolearn: 'unterminated",
    "- rolearn: arn:aws:iam::111122223333:role/a/b/c\n  username: u\n  groups: [system:masters]",
    "- groups: [system:masters]\n  userarn: arn:aws:iam::111122223333:user/eve",
]


@st.composite
def yaml_text(draw: st.DrawFn, original: str) -> str:
    game = draw(st.sampled_from(["replace", "insert", "cut", "unicode"]))
    if game == "replace":
        return draw(st.sampled_from(YAML_GAMES))
    if game == "insert":
        at = draw(st.integers(0, len(original)))
        return original[:at] + draw(st.sampled_from(YAML_GAMES + ["\n", ":", "- ", "  ", "\t"])) + original[at:]
    if game == "cut":
        return original[: draw(st.integers(0, len(original)))]
    return original + draw(st.text(max_size=20))


def audit_sources() -> list[dict[str, Any]]:
    paths = sorted((EVENTS / "src" / "aws_auth").glob("*.json")) + sorted((EVENTS / "src" / "rbac").glob("*.json"))
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def _map_roles_paths(source: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        p
        for p in _paths(source)
        if p and p[-1] in ("mapRoles", "mapUsers", "mapAccounts") and isinstance(_get(source, p), str)
    ]


@st.composite
def awslogs_events(draw: st.DrawFn) -> dict[str, Any]:
    """A CloudWatch Logs delivery to AuditLogAlertFunction, damaged at one of several levels."""
    sources = audit_sources()
    source = copy.deepcopy(draw(st.sampled_from(sources)))
    level = draw(st.sampled_from(["audit_event", "yaml", "body", "envelope", "bytes", "sample"]))
    if level == "audit_event":
        events = [e for e in source["logEvents"] if isinstance(e.get("message"), dict)]
        if events:
            target = draw(st.sampled_from(events))
            target["message"] = draw(mutated(target["message"]))
        return encode_delivery(source)
    if level == "yaml":
        paths = _map_roles_paths(source)
        if paths:
            path = draw(st.sampled_from(paths))
            parent = _get(source, path[:-1])
            parent[path[-1]] = draw(yaml_text(parent[path[-1]]))
        return encode_delivery(source)
    if level == "body":
        body = json.loads(gzip.decompress(base64.b64decode(encode_delivery(source)["awslogs"]["data"])))
        return awslogs(draw(mutated(body)))
    if level == "envelope":
        return draw(mutated(encode_delivery(source)))
    if level == "bytes":
        return draw(broken_bytes(encode_delivery(source)))
    return draw(mutated(load(draw(st.sampled_from(sample_names("aws_auth_") + sample_names("rbac_"))))))


@st.composite
def eks_api_events(draw: st.DrawFn) -> Any:
    return draw(mutated(load(draw(st.sampled_from(sample_names("eks_api_"))))))


@st.composite
def stop_events(draw: st.DrawFn) -> Any:
    return draw(mutated(load("stop_schedule.json")))


def _instance(n: int, tags: dict[str, str]) -> dict[str, Any]:
    from datetime import UTC, datetime

    return {
        "InstanceId": f"i-{n:017x}",
        "State": {"Name": "running"},
        "RootDeviceType": "ebs",
        "LaunchTime": datetime(2026, 1, 1, tzinfo=UTC),
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        "IamInstanceProfile": {"Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/kubectl-{n}"},
    }


BASE_INSTANCES = [
    _instance(1, {"kubectl-instance": "prod"}),
    _instance(2, {"kubectl-instance": "true", "eks-cluster": "dev", "KeepAliveUntil": "2099-01-01T00:00:00Z"}),
    _instance(3, {"kubectl-instance": "staging", "KeepAliveUntil": "2020-01-01"}),
]


tag_text = st.one_of(
    st.text(max_size=256),
    st.sampled_from(
        [
            "",
            "*",
            "true",
            "prod",
            "prod-*",
            "2099-01-01T00:00:00Z",
            "2020-01-01",
            "2026-11-25T20:00:00+99:00",
            "tomorrow",
            "9999-12-31T23:59:59.999999Z",
            "0001-01-01",
            "2026-02-30",
            "2026-11-25T20:00:00.123456789Z",
            "🙂",
            "\x00",
        ]
    ),
)


@st.composite
def ec2_instances(draw: st.DrawFn) -> list[dict[str, Any]]:
    """What DescribeInstances returns, with the user-controlled parts (tag keys and values, state, root
    device) arbitrary. botocore parses the response by the EC2 model, so field types stay as documented."""
    from datetime import UTC, datetime, timedelta

    instances = []
    for n in range(draw(st.integers(0, 4))):
        tags = {"kubectl-instance": draw(tag_text)}
        for key in draw(st.lists(st.sampled_from(["KeepAliveUntil", "eks-cluster", "Name", "x"]), max_size=3)):
            tags[key] = draw(tag_text)
        tags.update(draw(st.dictionaries(st.text(min_size=1, max_size=128), tag_text, max_size=2)))
        instance: dict[str, Any] = {
            "InstanceId": f"i-{n:017x}",
            "State": {"Name": draw(st.sampled_from(["running", "pending"]))},
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }
        if draw(st.booleans()):
            instance["RootDeviceType"] = draw(st.sampled_from(["ebs", "instance-store"]))
        if draw(st.booleans()):
            instance["LaunchTime"] = datetime(2026, 11, 25, 20, tzinfo=UTC) - timedelta(
                minutes=draw(st.integers(-600, 10_000))
            )
        if draw(st.booleans()):
            instance["InstanceLifecycle"] = draw(st.sampled_from(["spot", "scheduled", "capacity-block"]))
        instances.append(instance)
    return instances


@st.composite
def stop_cases(draw: st.DrawFn) -> tuple[Any, list[dict[str, Any]]]:
    return draw(stop_events()), draw(ec2_instances())


@st.composite
def sqs_events(draw: st.DrawFn) -> Any:
    event = load("slack_notifier_sqs.json")
    record = event["Records"][0]
    alert = json.loads(record["body"])
    where = draw(st.sampled_from(["alert", "body", "record"]))
    if where == "alert":
        record["body"] = json.dumps(draw(mutated(alert)))
    elif where == "body":
        record["body"] = draw(
            st.one_of(
                st.text(max_size=60),
                st.sampled_from(
                    [record["body"][: len(record["body"]) // 2], "", "null", "[]", "{}", json.dumps(record["body"])]
                ),
            )
        )
    else:
        damaged = draw(mutated(record))
        # The Lambda SQS poller always sends each record as an object with a string messageId (the key a
        # partial batch response names); everything else in the record may be odd.
        if not isinstance(damaged, dict):
            damaged = dict(record)
        damaged["messageId"] = record["messageId"]
        event["Records"][0] = damaged
    return event


# ----------------------------------------------------------------------------------------- cases
@dataclass
class Outcome:
    kind: str  # "accepted" | "rejected" | "retry" | "unexpected"
    reason: str = ""
    exception: BaseException | None = None


def environment(fake: FakeAws) -> dict[str, str]:
    return {
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "ALERT_QUEUE_URL": QUEUE_URL,
        "AUDIT_STATE_TABLE": "aws-auth-state",
        "STOP_REGIONS": REGION,
        "STOP_TAG_KEY": "kubectl-instance",
        "STOP_TAG_VALUE": "*",
        "DRY_RUN": "false",
        "EXPECTED_CLUSTER_ADMIN_ARNS": f"arn:aws:iam::{ACCOUNT}:role/Admin",
        "SLACK_WEBHOOK_SECRET_ARN": SECRET_ARN,
        "ALERT_MIN_SEVERITY": "INFO",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "eksguard",
        "POWERTOOLS_SERVICE_NAME": "eksguard",
    }


@contextmanager
def patched_aws(fake: FakeAws) -> Iterator[None]:
    """Route eksguard.aws.client to the fakes and set the functions' environment."""
    from eksguard import aws, expected_admins

    saved_env = {k: os.environ.get(k) for k in environment(fake)}
    os.environ.update(environment(fake))
    os.environ.pop("IDEMPOTENCY_TABLE", None)
    original = aws.client
    aws.client = fake.client
    expected_admins.reset_caches()
    try:
        yield
    finally:
        aws.client = original
        expected_admins.reset_caches()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _classify(run: Callable[[], Any], logs: LogCapture, rejected: Callable[[Any], str | None]) -> Outcome:
    try:
        result = run()
    except RETRY_ME as exc:
        if is_designed_retry(exc):
            return Outcome("retry", type(exc).__name__)
        return Outcome("unexpected", f"{type(exc).__name__}: {str(exc)[:120]}", exc)
    except Exception as exc:  # noqa: BLE001 - a fuzzer reports everything
        return Outcome("unexpected", f"{type(exc).__name__}: {str(exc)[:120]}", exc)
    reason = rejected(result)
    if reason is None:
        return Outcome("accepted")
    problems = logs.problems()
    if not problems:
        return Outcome("unexpected", f"rejected without a logged warning/error: {reason}")
    if not reason:  # the handler's answer names no reason: report the logged one
        event, logged = problems[0]
        reason = f"{event} {logged}".strip()
    return Outcome("rejected", reason)


class Context:
    function_name = "eksguard-fuzz"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:eksguard-fuzz"
    aws_request_id = "fuzz-request"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def run_eks_api(event: Any) -> Outcome:
    import eks_api_alert_handler

    fake = FakeAws()
    with patched_aws(fake), captured_logs() as logs:
        return _classify(
            lambda: eks_api_alert_handler.lambda_handler(event, Context()),
            logs,
            # "skipped": read and judged, about nothing eksguard watches (no alert, by design)
            lambda r: r.get("reason") if r.get("status") not in ("alerted", "skipped") else None,
        )


def run_aws_auth(event: Any) -> Outcome:
    return run_aws_auth_collecting(event)[0]


def run_aws_auth_collecting(event: Any) -> tuple[Outcome, list[dict[str, Any]]]:
    """The outcome plus every alert the handler queued (decoded SQS message bodies)."""
    import audit_log_alert_handler

    fake = FakeAws()
    with patched_aws(fake), captured_logs() as logs:
        outcome = _classify(
            lambda: audit_log_alert_handler.lambda_handler(event, Context()),
            logs,
            lambda r: r.get("reason") if r.get("status") != "ok" else None,
        )
    return outcome, [json.loads(body) for body in fake.sqs.messages]


def run_stop_case(case: tuple[Any, list[dict[str, Any]]]) -> Outcome:
    return run_stop(*case)


def run_stop(event: Any, instances: list[Any] | None = None) -> Outcome:
    import stop_instances_handler

    from eksguard.stop import service

    fake = FakeAws(ec2=FakeEc2(copy.deepcopy(instances if instances is not None else BASE_INSTANCES)))
    original = stop_instances_handler.stop_and_report
    stop_instances_handler.stop_and_report = functools.partial(service.stop_and_report, client_factory=fake.client)
    try:
        with patched_aws(fake), captured_logs() as logs:
            return _classify(
                lambda: stop_instances_handler.lambda_handler(event, Context()),
                logs,
                lambda r: None if isinstance(r, dict) and "alert_id" in r else "no summary",
            )
    finally:
        stop_instances_handler.stop_and_report = original


def _fake_post(self: Any, payload: dict[str, Any], timeout: float | None = None) -> Any:
    from eksguard.slack.deliver import classify

    text = json.dumps(payload)
    if not isinstance(payload.get("text"), str) or not payload["text"].startswith("["):
        return classify(400, "invalid_payload")
    return classify(200 if len(text) < 40_000 else 400, "ok")


def run_notifier(event: Any) -> Outcome:
    import slack_notifier_handler

    from eksguard.slack import deliver

    fake = FakeAws()
    original = deliver.SlackWebhook.post
    deliver.SlackWebhook.post = _fake_post  # type: ignore[method-assign]
    deliver.forget_webhook_url()
    try:
        with patched_aws(fake), captured_logs() as logs:

            def rejected(response: Any) -> str | None:
                failures = response.get("batchItemFailures") if isinstance(response, dict) else None
                return "" if failures else None

            return _classify(lambda: slack_notifier_handler.lambda_handler(event, Context()), logs, rejected)
    finally:
        deliver.SlackWebhook.post = original  # type: ignore[method-assign]
        deliver.forget_webhook_url()


HANDLERS: dict[str, tuple[Callable[[], st.SearchStrategy[Any]], Callable[[Any], Outcome]]] = {
    "eks_api_alert": (eks_api_events, run_eks_api),
    "audit_log_alert": (awslogs_events, run_aws_auth),
    "stop_instances": (stop_cases, run_stop_case),
    "slack_notifier": (sqs_events, run_notifier),
}
