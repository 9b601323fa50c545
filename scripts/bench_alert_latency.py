#!/usr/bin/env python3
"""Alert latency: from a detector invocation to the Slack stand-in accepting the post (p50 / p95 / max).

The path is the deployed one, on 127.0.0.1:
- EksApiAlertFunction's real handler runs in this process on `events/eks_api_cluster_admin_granted.json`
  (a fresh CloudTrail eventID per call, so every call raises a distinct CRITICAL alert) and publishes to
  the alert queue on a moto server (ThreadedMotoServer);
- an emulation of Lambda's SQS event source mapping: at most 2 pollers (ScalingConfig MaximumConcurrency),
  each long-polling ReceiveMessage (up to 10 per call), gathering records until BatchSize or until
  MaximumBatchingWindowInSeconds has passed since the batch's first record (window 0: one receive),
  building the SQS event Lambda delivers, invoking the notifier, deleting the records not reported in
  batchItemFailures and leaving the failed ones to the visibility timeout the notifier sets;
- SlackNotifierFunction's real handler, one process per poller (each its own execution environment, as
  in Lambda: the handler's module-level batch processor is not shared between concurrent invocations),
  with the idempotency table and the webhook secret on the moto server;
- the Slack stand-in (tests/slack_standin.py) answering every post after a fixed delay, and in the
  second behaviour answering 429 with Retry-After to every 10th post.

Arrivals: 200 alerts at a steady 20 per second, a burst of 50 back to back, and isolated alerts (each
sent once the previous one is posted). The default plan takes about 3 minutes on 2 cores, plus about a
minute whenever the notifier defers a record (see the notes it prints); `--quick` about 1.5 minutes.

    .venv/bin/python scripts/bench_alert_latency.py [--quick | --full] [--slack-delay S] [--rate R]
        [--visibility S]

`section(quick)` returns the markdown section (with its `## Alert latency` heading); `body(quick)` the
same without the heading, for scripts/bench_all.py.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import logging
import math
import os
import re
import select
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (
    ROOT,
    ROOT / "functions" / "slack_notifier",
    ROOT / "functions" / "eks_api_alert",
    ROOT / "layers" / "eksguard",
):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
for _key, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_SERVICE_NAME": "eksguard",
    "POWERTOOLS_METRICS_NAMESPACE": "eksguard",
    "POWERTOOLS_TRACE_DISABLED": "1",
}.items():
    os.environ.setdefault(_key, _value)

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
SAMPLE_EVENT = ROOT / "events" / "eks_api_cluster_admin_granted.json"

# From template.yaml (SlackNotifierFunction, AlertQueue).
NOTIFIER_TIMEOUT_MS = 150_000
MAXIMUM_CONCURRENCY = 2
QUEUE_VISIBILITY_SECONDS = 900

# Arrivals and Slack.
RATE_PER_SECOND = 20.0
ALERTS = 200
BURST = 50
SLACK_DELAY_SECONDS = 0.1
RATE_LIMIT_EVERY = 10
RETRY_AFTER_SECONDS = 1

# Bounds: no loop runs longer than these.
SCENARIO_TIMEOUT_SECONDS = 120.0
TOTAL_BUDGET_SECONDS = 600.0
IDLE_LONG_POLL_SECONDS = 1  # Lambda long-polls 20 s; 1 s lets a poller stop promptly (no effect on latency)
SHORT_POLL_PAUSE_SECONDS = 0.1
WORKER_START_TIMEOUT_SECONDS = 60.0
MAX_POLLS_PER_SCENARIO = 20_000
ISOLATED = 2  # the window decides their latency; two samples show it
ISOLATED_GAP_SECONDS = 0.3
# (BatchSize, MaximumBatchingWindowInSeconds); the template's is (10, 0). Each steady run is bound by the
# pipeline's capacity (~15 s, ~27 s with 429s), so the default plan leaves out the rows that add least
# (`--full` runs them) to stay near 3 minutes.
SETTINGS = ((1, 0), (10, 0), (10, 1), (10, 5))
RATE_LIMITED_SETTINGS = ((1, 0), (10, 0), (10, 5))
BURST_SETTINGS = ((10, 0), (10, 5))
QUICK_SETTINGS = ((1, 0), (10, 0), (10, 5))

_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
QUIET_LOG_EVENTS = frozenset({"alert_sent"})


# ------------------------------------------------------------------------------- notifier worker process
class WorkerContext:
    """The Lambda context of one invocation: remaining time counts down from the function timeout."""

    function_name = "eksguard-SlackNotifierFunction"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:eksguard-SlackNotifierFunction"

    def __init__(self, request_id: str, timeout_ms: int) -> None:
        self.aws_request_id = request_id
        self._deadline = time.monotonic() + timeout_ms / 1000.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def worker_main() -> int:
    """One notifier execution environment: JSON events in on stdin, one JSON answer per line out.

    The handler's logs and metrics (stdout in Lambda) are captured and summarised per invocation.
    """
    answers: IO[str] = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    captured = io.StringIO()
    sys.stdout = captured  # Powertools Logger binds its stream at import: bind it to the capture
    import slack_notifier_handler

    answers.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        context = WorkerContext(request["request_id"], request["timeout_ms"])
        started = time.monotonic()
        response: Any = None
        error = ""
        try:
            response = slack_notifier_handler.lambda_handler(request["event"], context)
        except Exception as exc:  # a function error: Lambda returns the whole batch to the queue
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
        logs: Counter[str] = Counter()
        for text in captured.getvalue().splitlines():
            try:
                entry = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("message"), str):
                detail = entry.get("error") if entry.get("level") in ("WARNING", "ERROR") else None
                logs[f"{entry['message']} ({str(detail)[:80]})" if detail else entry["message"]] += 1
        captured.seek(0)
        captured.truncate()
        answers.write(
            json.dumps(
                {"response": response, "error": error, "seconds": time.monotonic() - started, "logs": dict(logs)}
            )
            + "\n"
        )
    return 0


class NotifierWorker:
    """The parent's handle on one notifier process; used by one poller thread only."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self._proc: subprocess.Popen[bytes] | None = None
        self.invocations = 0
        self.restarts = 0
        self._spawn()

    def _spawn(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self._env,
        )

    def _start(self) -> None:
        self._spawn()
        self.wait_ready()

    def wait_ready(self) -> None:
        """Block until the handler is imported (a cold start, kept out of the measurements)."""
        ready = self._read(WORKER_START_TIMEOUT_SECONDS)
        if not ready or not ready.get("ready"):
            self.close()
            raise RuntimeError("the notifier worker did not start")

    def _read(self, timeout: float) -> dict[str, Any] | None:
        assert self._proc is not None and self._proc.stdout is not None
        readable, _, _ = select.select([self._proc.stdout], [], [], max(0.0, timeout))
        if not readable:
            return None
        line = self._proc.stdout.readline()
        if not line:
            return None
        answer: dict[str, Any] = json.loads(line)
        return answer

    def invoke(self, event: dict[str, Any], request_id: str) -> dict[str, Any]:
        """Invoke like Lambda: an answer, or an error after the function timeout (then a fresh environment)."""
        assert self._proc is not None and self._proc.stdin is not None
        self.invocations += 1
        request = {"event": event, "request_id": request_id, "timeout_ms": NOTIFIER_TIMEOUT_MS}
        try:
            self._proc.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
            self._proc.stdin.flush()
            answer = self._read(NOTIFIER_TIMEOUT_MS / 1000.0 + 5.0)
        except OSError:
            answer = None
        if answer is None:
            self.close()
            self.restarts += 1
            self._start()
            return {"response": None, "error": "timed out or crashed", "seconds": 0.0, "logs": {}}
        return answer

    def close(self) -> None:
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        if proc.stdin is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


# ------------------------------------------------------------------------------- scenario definitions
@dataclass(frozen=True)
class Setting:
    batch_size: int
    window: int

    @property
    def label(self) -> str:
        return f"({self.batch_size}, {self.window})"


@dataclass(frozen=True)
class Scenario:
    setting: Setting
    arrival: str  # "steady" (at `rate` per second), "burst" (back to back), "isolated" (one at a time)
    alerts: int
    rate: float = RATE_PER_SECOND
    rate_limited: bool = False  # Slack answers 429 + Retry-After to every RATE_LIMIT_EVERY-th post
    slack_delay: float = SLACK_DELAY_SECONDS
    visibility: int = QUEUE_VISIBILITY_SECONDS

    @property
    def arrivals(self) -> str:
        if self.arrival == "steady":
            return f"{self.alerts} at {self.rate:g}/s"
        if self.arrival == "burst":
            return f"burst of {self.alerts}"
        return f"{self.alerts} isolated"

    @property
    def slack(self) -> str:
        return f"429 every {RATE_LIMIT_EVERY}th" if self.rate_limited else "all ok"


@dataclass
class Result:
    scenario: Scenario
    latencies: list[float]
    in_queue: list[float]
    posted_once: int
    lost: int
    duplicated: int
    invocations: int
    records: int
    failed_records: int
    redelivered: int
    received_in_flight: int
    rate_limited_answers: int
    most_429_per_alert: int
    posts: int
    seconds: float
    detector_errors: int
    leftover: int
    timed_out: bool
    logs: Counter[str] = field(default_factory=Counter)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


# ------------------------------------------------------------------------------- the world
class World:
    """moto's server, the Slack stand-in, the secret, the idempotency table, two notifier environments."""

    def __init__(self) -> None:
        import boto3
        from botocore.config import Config
        from moto.server import ThreadedMotoServer

        from eksguard import aws
        from tests.slack_standin import SlackStandIn

        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.moto.start()
        self.standin = SlackStandIn()
        self.workers: list[NotifierWorker] = []
        try:
            host, port = self.moto.get_host_and_port()
            self.endpoint = f"http://{host}:{port}"
            # moto's state is per process: start from an empty world whatever ran before in this process.
            urllib.request.urlopen(
                urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=30
            ).close()
            os.environ["AWS_ENDPOINT_URL"] = self.endpoint
            aws.reset_clients()
            self.config = Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=30, connect_timeout=5)
            self.sqs = boto3.session.Session().client("sqs", region_name=REGION, config=self.config)
            boto3.client("dynamodb", region_name=REGION).create_table(
                TableName="eksguard-idempotency",
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
            self.standin.start()
            secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
                Name="eksguard/slack-webhook", SecretString=self.standin.url
            )["ARN"]
            self.warmup_url, self.warmup_arn = self.new_queue("warm-up")
            os.environ["ALERT_QUEUE_URL"] = self.warmup_url
            env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
            env.update(
                {
                    "AWS_ENDPOINT_URL": self.endpoint,
                    "ALERT_QUEUE_URL": self.warmup_url,
                    "IDEMPOTENCY_TABLE": "eksguard-idempotency",
                    "SLACK_WEBHOOK_SECRET_ARN": secret,
                    "ALERT_MIN_SEVERITY": "INFO",
                    "POWERTOOLS_LOG_LEVEL": "INFO",  # the template's level
                    "PYTHONDONTWRITEBYTECODE": "1",
                }
            )
            for _ in range(MAXIMUM_CONCURRENCY):
                self.workers.append(NotifierWorker(env))
            for worker in self.workers:
                worker.wait_ready()
            self._warm_up()
        except BaseException:
            self.close()
            raise

    def new_queue(self, name: str, visibility: int = QUEUE_VISIBILITY_SECONDS) -> tuple[str, str]:
        url: str = self.sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(visibility)})["QueueUrl"]
        arn: str = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    def _warm_up(self) -> None:
        """One invocation of each environment and of the detector, so runs measure warm functions."""
        from dataclasses import replace

        from tests.slack_alerts import eks_api_alert

        for number, worker in enumerate(self.workers):
            body = replace(eks_api_alert(), id=f"warm-up-{number}").to_json()
            record = {
                "messageId": f"warm-up-{number}",
                "receiptHandle": f"warm-up-{number}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": self.warmup_arn,
                "awsRegion": REGION,
            }
            answer = worker.invoke({"Records": [record]}, f"warm-up-{number}")
            if answer["error"] or answer["response"] != {"batchItemFailures": []}:
                raise RuntimeError(f"the notifier warm-up failed: {answer['error'] or answer['response']}")
        detect(detector_event(0, 0))
        self.standin.reset()

    def close(self) -> None:
        from eksguard import aws

        for worker in self.workers:
            worker.close()
        self.standin.stop()
        self.moto.stop()
        aws.reset_clients()


class DetectorContext:
    function_name = "eksguard-EksApiAlertFunction"
    memory_limit_in_mb = 256
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:eksguard-EksApiAlertFunction"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


_SAMPLE: dict[str, Any] | None = None


def detector_event(scenario: int, number: int) -> dict[str, Any]:
    """The sample CloudTrail event with its own eventID (the alert id derives from it)."""
    global _SAMPLE
    if _SAMPLE is None:
        _SAMPLE = json.loads(SAMPLE_EVENT.read_text(encoding="utf-8"))
    event = copy.deepcopy(_SAMPLE)
    event_id: str = event["detail"]["eventID"]
    event["detail"]["eventID"] = f"{event_id[:-12]}{scenario:04x}{number:08x}"
    event["id"] = f"{event['id'][:-12]}{scenario:04x}{number:08x}"
    return event


def detect(event: dict[str, Any]) -> dict[str, Any]:
    import eks_api_alert_handler

    result: dict[str, Any] = eks_api_alert_handler.lambda_handler(event, DetectorContext())
    return result


# ------------------------------------------------------------------------------- event source mapping
STOP_BODY = "stop polling"


@dataclass
class Shared:
    """What the pollers and the scenario share (under `lock`)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    received_at: dict[str, float] = field(default_factory=dict)  # alert id -> first ReceiveMessage
    in_flight: set[str] = field(default_factory=set)  # message ids held by a poller
    received_in_flight: int = 0  # a message handed out again while a poller still held it


class Poller(threading.Thread):
    """One of the event source mapping's concurrent pollers, invoking its own notifier environment."""

    def __init__(
        self,
        world: World,
        worker: NotifierWorker,
        queue: tuple[str, str],
        setting: Setting,
        stop: threading.Event,
        deadline: float,
        shared: Shared,
    ) -> None:
        super().__init__(daemon=True)
        import boto3

        self.sqs = boto3.session.Session().client("sqs", region_name=REGION, config=world.config)
        self.worker = worker
        self.queue_url, self.queue_arn = queue
        self.setting = setting
        self.stop = stop
        self.deadline = deadline
        self.shared = shared
        self.invocations = 0
        self.records = 0
        self.failed = 0
        self.redelivered = 0
        self.polls = 0
        self.logs: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def _running(self) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.deadline and self.polls < MAX_POLLS_PER_SCENARIO

    def run(self) -> None:
        while self._running():
            try:
                batch = self._gather()
                if batch and self._running():
                    self._invoke(batch)
                else:
                    self._release(batch)
            except Exception as exc:  # keep polling, as the service does; counted in the report
                self.errors[type(exc).__name__] += 1
                time.sleep(SHORT_POLL_PAUSE_SECONDS)

    def _gather(self) -> list[dict[str, Any]]:
        """Until BatchSize records, or the window has passed since the first one (window 0: one receive)."""
        records: list[dict[str, Any]] = []
        first_at: float | None = None
        while len(records) < self.setting.batch_size and self._running():
            if first_at is None:
                wait = IDLE_LONG_POLL_SECONDS
            else:
                left = first_at + self.setting.window - time.monotonic()
                if self.setting.window == 0 or left <= 0:
                    break
                wait = int(left)  # whole seconds (SQS's unit); 0 = a short poll, never past the window
            self.polls += 1
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.setting.batch_size - len(records)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages = [m for m in messages if m.get("Body") != STOP_BODY]
            now = time.monotonic()
            if messages and first_at is None:
                first_at = now
            for message in messages:
                self._note_received(message, now)
            records.extend(messages)
            if not messages and first_at is not None and wait == 0:
                time.sleep(max(0.0, min(SHORT_POLL_PAUSE_SECONDS, first_at + self.setting.window - now)))
        return records

    def _note_received(self, message: dict[str, Any], now: float) -> None:
        if int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1")) > 1:
            self.redelivered += 1
        ids = set(_ID_PATTERN.findall(message.get("Body", "")))
        with self.shared.lock:
            if message["MessageId"] in self.shared.in_flight:
                self.shared.received_in_flight += 1
            self.shared.in_flight.add(message["MessageId"])
            for alert_id in ids:
                self.shared.received_at.setdefault(alert_id, now)

    def _release(self, batch: list[dict[str, Any]]) -> None:
        with self.shared.lock:
            self.shared.in_flight.difference_update(m["MessageId"] for m in batch)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        """The record shape Lambda delivers for an SQS message."""
        attributes = message.get("Attributes", {})
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {
                key: attributes[key]
                for key in ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
                if key in attributes
            },
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value.get("DataType", "String"),
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "md5OfMessageAttributes": message.get("MD5OfMessageAttributes"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }

    def _invoke(self, batch: list[dict[str, Any]]) -> None:
        self.invocations += 1
        self.records += len(batch)
        try:
            answer = self.worker.invoke(
                {"Records": [self._record(m) for m in batch]}, f"{self.name}-{self.invocations}"
            )
            self.logs.update(answer.get("logs") or {})
            response = answer.get("response")
            if answer.get("error") or not isinstance(response, dict):
                # A function error: nothing is deleted, the whole batch returns after the visibility timeout.
                self.errors[f"function error: {answer.get('error')}"] += 1
                self.failed += len(batch)
                return
            failures = {f.get("itemIdentifier") for f in response.get("batchItemFailures") or []}
            self.failed += len(failures)
            done = [m for m in batch if m["MessageId"] not in failures]
            for start in range(0, len(done), 10):
                chunk = done[start : start + 10]
                deleted = self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)],
                )
                for failure in deleted.get("Failed") or []:
                    self.errors[f"delete {failure.get('Code')}"] += 1
        finally:
            self._release(batch)


def stop_pollers(world: World, url: str, stop: threading.Event, pollers: list[Poller]) -> None:
    """Stop, and wake long polls at once: each waiting poller receives a stop message and sees the flag."""
    stop.set()
    for _ in range(len(pollers)):
        world.sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": STOP_BODY} for n in range(10)]
        )
    for poller in pollers:
        poller.join(timeout=NOTIFIER_TIMEOUT_MS / 1000.0 + 10)


# ------------------------------------------------------------------------------- one scenario
def run_scenario(world: World, scenario: Scenario, number: int, budget_end: float) -> Result:
    from tests.slack_standin import Reply

    queue = world.new_queue(f"alerts-{number}", scenario.visibility)
    os.environ["ALERT_QUEUE_URL"] = queue[0]
    standin = world.standin
    standin.reset()
    ok = Reply(delay=scenario.slack_delay)
    standin.set_default(ok)
    if scenario.rate_limited:
        limited = Reply(429, "rate_limited", (("Retry-After", str(RETRY_AFTER_SECONDS)),), delay=scenario.slack_delay)
        standin.enqueue(*(limited if n % RATE_LIMIT_EVERY == 0 else ok for n in range(1, 4 * scenario.alerts)))

    started = time.monotonic()
    deadline = min(started + SCENARIO_TIMEOUT_SECONDS, budget_end)
    sent_at: dict[str, float] = {}
    shared = Shared()
    stop = threading.Event()
    detector_errors: list[str] = []
    produced = threading.Event()

    def delivered() -> int:
        return sum(1 for r in standin.received if 200 <= r.status < 300)

    def produce() -> None:
        for k in range(scenario.alerts):
            if stop.is_set() or time.monotonic() > deadline:
                break
            if scenario.arrival == "steady":
                pause = started + k / scenario.rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            elif scenario.arrival == "isolated":
                # The previous alert posted and the pollers back to an idle long poll.
                while delivered() < len(sent_at) and time.monotonic() < deadline and not stop.is_set():
                    time.sleep(0.02)
                time.sleep(ISOLATED_GAP_SECONDS)
            t0 = time.monotonic()
            try:
                result = detect(detector_event(number, k + 1))
            except Exception as exc:
                detector_errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                continue
            if result.get("status") != "alerted":
                detector_errors.append(str(result.get("status")))
                continue
            with shared.lock:
                sent_at[str(result["alert_id"])] = t0
        produced.set()

    pollers = [Poller(world, worker, queue, scenario.setting, stop, deadline, shared) for worker in world.workers]
    for poller in pollers:
        poller.start()
    producer = threading.Thread(target=produce, daemon=True)
    producer.start()

    timed_out = True
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if not produced.is_set() or delivered() < len(sent_at):
            continue
        if queued(world, queue[0]) == 0:
            timed_out = False
            break
    seconds = time.monotonic() - started
    leftover = queued(world, queue[0])
    stop_pollers(world, queue[0], stop, pollers)
    producer.join(timeout=10)

    posted: Counter[str] = Counter()
    answered_429: Counter[str] = Counter()
    first_post: dict[str, float] = {}
    received = standin.received
    for entry in received:
        ids = set(_ID_PATTERN.findall(json.dumps(entry.payload))) & sent_at.keys()
        if entry.status == 429:
            answered_429.update(ids)
        if not 200 <= entry.status < 300:
            continue
        for alert_id in ids:
            posted[alert_id] += 1
            first_post.setdefault(alert_id, entry.at)
    logs: Counter[str] = Counter()
    for poller in pollers:
        logs.update(poller.logs)
        logs.update({f"poller: {k}": v for k, v in poller.errors.items()})
    return Result(
        scenario=scenario,
        latencies=[first_post[a] - sent_at[a] for a in first_post],
        in_queue=[shared.received_at[a] - sent_at[a] for a in sent_at if a in shared.received_at],
        posted_once=sum(1 for a in sent_at if posted[a] == 1),
        lost=sum(1 for a in sent_at if posted[a] == 0) + (scenario.alerts - len(sent_at)),
        duplicated=sum(1 for a in sent_at if posted[a] > 1),
        invocations=sum(p.invocations for p in pollers),
        records=sum(p.records for p in pollers),
        failed_records=sum(p.failed for p in pollers),
        redelivered=sum(p.redelivered for p in pollers),
        received_in_flight=shared.received_in_flight,
        rate_limited_answers=sum(1 for r in received if r.status == 429),
        most_429_per_alert=max(answered_429.values(), default=0),
        posts=len(received),
        seconds=seconds,
        detector_errors=len(detector_errors),
        leftover=leftover,
        timed_out=timed_out,
        logs=logs,
    )


def queued(world: World, url: str) -> int:
    """Messages still in the queue, visible, in flight or delayed."""
    attributes = world.sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


# ------------------------------------------------------------------------------- the report
def scenarios(
    quick: bool = False,
    full: bool = False,
    slack_delay: float = SLACK_DELAY_SECONDS,
    rate: float = RATE_PER_SECOND,
    visibility: int = QUEUE_VISIBILITY_SECONDS,
) -> list[Scenario]:
    def settings(chosen: tuple[tuple[int, int], ...]) -> list[Setting]:
        return [Setting(b, w) for b, w in (QUICK_SETTINGS if quick else SETTINGS if full else chosen)]

    alerts = 60 if quick else ALERTS
    burst = 20 if quick else BURST

    def of(setting: Setting, arrival: str, count: int, limited: bool = False) -> Scenario:
        return Scenario(setting, arrival, count, rate, limited, slack_delay, visibility)

    plan = [of(s, "steady", alerts) for s in settings(SETTINGS)]
    plan += [of(s, "steady", alerts, True) for s in settings(RATE_LIMITED_SETTINGS)]
    plan += [of(s, "burst", burst) for s in settings(BURST_SETTINGS)]
    plan += [of(s, "isolated", ISOLATED) for s in settings(SETTINGS)]
    return plan


@contextmanager
def environment() -> Iterator[None]:
    """Restore the variables the run sets (bench_all.py runs other sections in this process)."""
    keys = ("AWS_ENDPOINT_URL", "ALERT_QUEUE_URL")
    saved = {k: os.environ.get(k) for k in keys}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def measure(plan: list[Scenario]) -> list[Result]:
    results: list[Result] = []
    budget_end = time.monotonic() + TOTAL_BUDGET_SECONDS
    with environment(), open(os.devnull, "w") as sink, redirect_stdout(sink):
        world = World()
        try:
            for number, scenario in enumerate(plan, start=1):
                if time.monotonic() > budget_end:
                    print(f"time budget spent: {len(plan) - number + 1} scenario(s) skipped", file=sys.stderr)
                    break
                result = run_scenario(world, scenario, number, budget_end)
                results.append(result)
                print(
                    f"{scenario.setting.label} {scenario.arrivals}, Slack {scenario.slack}: "
                    f"p50 {percentile(result.latencies, 0.5):.2f} s, {result.seconds:.1f} s",
                    file=sys.stderr,
                )
        finally:
            world.close()
    return results


def _seconds(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f} s"


def markdown(results: list[Result], reproduce: str) -> str:
    lines = [
        "| setting (BatchSize, window) | arrivals | Slack | p50 | p95 | max | p50 until a poller holds it "
        "| posted once / lost / duplicated | notifier invocations | records per invocation | 429 answers "
        "| run (first alert to empty queue) |",
        "|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        s = r.scenario
        per_invocation = r.records / r.invocations if r.invocations else 0.0
        flag = " (timed out)" if r.timed_out else ""
        lines.append(
            f"| {s.setting.label} | {s.arrivals} | {s.slack} | {_seconds(percentile(r.latencies, 0.5))} "
            f"| {_seconds(percentile(r.latencies, 0.95))} | {_seconds(max(r.latencies, default=math.nan))} "
            f"| {_seconds(percentile(r.in_queue, 0.5))} "
            f"| {r.posted_once} / {r.lost} / {r.duplicated}{flag} | {r.invocations} | {per_invocation:.1f} "
            f"| {r.rate_limited_answers} | {r.seconds:.1f} s |"
        )
    notes = [
        f"Records reported in batchItemFailures: {sum(r.failed_records for r in results)}; "
        f"records received more than once: {sum(r.redelivered for r in results)} (of which handed to a poller "
        f"while another still held them: {sum(r.received_in_flight for r in results)}); messages left in the "
        f"queue at the end: {sum(max(0, r.leftover) for r in results)}; detector invocations without an alert: "
        f"{sum(r.detector_errors for r in results)}."
    ]
    if any(k.startswith("alert_retry (rate_limited") for r in results for k in r.logs):
        notes.append(
            "A record refused with 429 on every attempt of one invocation (the notifier makes 4) fails, and the "
            f"notifier hides it for Slack's Retry-After ({RETRY_AFTER_SECONDS} s here), at least 2 s doubling per "
            "receive; that, not the batching, is the max of those rows. (An outage's backoff, 60 s doubling, "
            "once applied to rate limits too and made those maxima 75-80 s.) With two invocations posting to one "
            "webhook, a retry made after Retry-After can meet the next refusal again."
        )
    for r in results:
        unusual = {k: v for k, v in sorted(r.logs.items()) if k not in QUIET_LOG_EVENTS}
        if unusual or r.failed_records or r.redelivered:
            notes.append(
                f"{r.scenario.setting.label}, {r.scenario.arrivals}, Slack {r.scenario.slack}: "
                f"{r.failed_records} record(s) failed, {r.redelivered} received again, at most "
                f"{r.most_429_per_alert} 429 answers for one alert"
                + (
                    ", notifier/poller events: " + ", ".join(f"`{k}` {v}" for k, v in unusual.items())
                    if unusual
                    else ""
                )
                + "."
            )
    delay = results[0].scenario.slack_delay if results else SLACK_DELAY_SECONDS
    visibility = results[0].scenario.visibility if results else QUEUE_VISIBILITY_SECONDS
    rate = next((r.scenario.rate for r in results if r.scenario.arrival == "steady"), RATE_PER_SECOND)
    paragraph = (
        "Latency of each alert: from the start of its EksApiAlertFunction invocation (the real handler, in "
        "process, on `events/eks_api_cluster_admin_granted.json` with a fresh eventID) to the Slack stand-in "
        "accepting the post that carries its id; `p50 until a poller holds it` is the part before a poller's "
        "ReceiveMessage returned it (a batching window then holds it further). Arrivals: steady at "
        f"{rate:g} alerts per second; a burst, back to back from one detector thread; isolated, each alert "
        f"sent {ISOLATED_GAP_SECONDS:g} s after the previous one was posted (an idle pipeline, the common case). "
        f"The queue is SQS on moto's server with VisibilityTimeout {visibility} s (the template's is "
        f"{QUEUE_VISIBILITY_SECONDS} s): the notifier sets a failed record's visibility itself (60 s doubling "
        "per receive after an outage, Retry-After after a rate limit), so a shorter queue default would not "
        "speed retries, only make records held through a batching window reappear while still in flight. "
        "Lambda's event source mapping "
        f"is emulated: {MAXIMUM_CONCURRENCY} pollers (MaximumConcurrency), each long-polling ReceiveMessage for "
        "up to 10 messages and gathering until BatchSize records or until the window has passed since the "
        "batch's first record (window 0: one receive), then invoking the real SlackNotifierFunction handler in "
        "its own warm process (a Lambda execution environment; the context counts down from the function's "
        f"{NOTIFIER_TIMEOUT_MS // 1000} s timeout), then deleting the records not in batchItemFailures. Cold "
        "starts are not included (see the cold-start section). Slack: every "
        f"post is answered after {delay * 1000:.0f} ms (one webhook round trip; the notifier opens a new HTTPS "
        f"connection per post); in the second behaviour every {RATE_LIMIT_EVERY}th post gets 429 with "
        f"`Retry-After: {RETRY_AFTER_SECONDS}`, which the notifier waits out inside the invocation, holding "
        "the rest of its batch. The stand-in does not enforce Slack's documented ~1 message per second per "
        "webhook: under a real Slack, steady or burst arrivals would be paced by 429s to about one post per "
        "second whatever the batching, so those rows show the pipeline's own capacity, not Slack's. "
        "Idempotency records and the webhook secret are on the same moto server; everything shares the "
        "machine's cores. Steady and burst rows move by a few tenths of a second between runs, isolated rows "
        "by milliseconds."
    )
    return f"Reproduce: `{reproduce}`\n\n" + "\n".join(lines) + "\n\n" + " ".join(notes) + "\n\n" + paragraph


def body(quick: bool = False) -> str:
    """The section's text without its heading (what scripts/bench_all.py's `section` expects)."""
    reproduce = ".venv/bin/python scripts/bench_alert_latency.py" + (" --quick" if quick else "")
    return markdown(measure(scenarios(quick=quick)), reproduce)


def section(quick: bool = False) -> str:
    """The `## Alert latency` markdown section."""
    return "## Alert latency\n\n" + body(quick)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="60 alerts, bursts of 20, three settings (~1.5 min)")
    size.add_argument("--full", action="store_true", help="every setting for every arrival and Slack behaviour")
    parser.add_argument("--slack-delay", type=float, default=SLACK_DELAY_SECONDS, help="seconds per Slack answer")
    parser.add_argument("--rate", type=float, default=RATE_PER_SECOND, help="steady arrivals per second")
    parser.add_argument(
        "--visibility", type=int, default=QUEUE_VISIBILITY_SECONDS, help="the queue's VisibilityTimeout (s)"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker_main()
    if not 0 <= args.slack_delay <= 5 or not 0.1 <= args.rate <= 200 or not 0 <= args.visibility <= 43_200:
        parser.error("--slack-delay must be within [0, 5], --rate within [0.1, 200], --visibility [0, 43200]")
    reproduce = ".venv/bin/python scripts/bench_alert_latency.py" + " ".join(
        [""]
        + (["--quick"] if args.quick else [])
        + (["--full"] if args.full else [])
        + ([f"--slack-delay {args.slack_delay:g}"] if args.slack_delay != SLACK_DELAY_SECONDS else [])
        + ([f"--rate {args.rate:g}"] if args.rate != RATE_PER_SECOND else [])
        + ([f"--visibility {args.visibility}"] if args.visibility != QUEUE_VISIBILITY_SECONDS else [])
    )
    plan = scenarios(args.quick, args.full, args.slack_delay, args.rate, args.visibility)
    print("## Alert latency\n\n" + markdown(measure(plan), reproduce))
    return 0


if __name__ == "__main__":
    sys.exit(main())
