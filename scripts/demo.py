"""eksguard end to end on this machine: no AWS account, no Docker.

Starts moto (plus scripts/local_aws_front.py for ssm:DescribeSessions) and the Slack webhook
stand-in on 127.0.0.1, seeds two regions of kubectl instances, then drives the real Lambda
handlers with the sample events in events/:

  1. the evening schedule fires      -> StopInstancesFunction stops the idle kubectl instances
  2. CloudTrail EKS access changes   -> EksApiAlertFunction queues alerts
  3. aws-auth edits and RBAC bindings in the audit log -> AuditLogAlertFunction queues alerts
  4. the inventory reads each cluster's live access state (the EKS API and the Kubernetes API
     stand-in, scripts/kube_standin.py) -> an intruder no log showed, a blind spot, the digest
  5. the alert queue is drained      -> SlackNotifierFunction posts Block Kit to the stand-in

Prints a transcript, checks every expected outcome and exits non-zero when one is missing.
Handler logs (Powertools JSON) go to a file whose path is printed at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
sys.path[:0] = [
    str(ROOT / "layers" / "eksguard"),
    *(str(p) for p in sorted((ROOT / "functions").iterdir()) if p.is_dir()),
    str(ROOT / "scripts"),
    str(ROOT),
]

from kube_standin import KubeStandIn  # noqa: E402
from local_aws_front import AwsFront, start_moto, wait_until_alive  # noqa: E402
from seed_local_world import (  # noqa: E402
    ACCOUNT,
    HOME_REGION,
    KEEP_ALIVE_TAG_KEY,
    REGIONS,
    STOP_TAG_KEY,
    World,
    client,
    instance_states,
    inventory_world,
    seed_world,
)

from tests.cloudtrail_world import SAMPLE_KUBECTL_INSTANCE, aim_at  # noqa: E402
from tests.slack_standin import SlackStandIn  # noqa: E402

TIME_LIMIT_SECONDS = 60.0
EXPECTED_ADMINS = "arn:aws:iam::111122223333:role/Admin,arn:aws:iam::111122223333:role/BreakGlass"
# (event file, severity of the alert the detector must queue)
EKS_API_CASES = (
    ("eks_api_cluster_admin_granted.json", "CRITICAL"),
    ("eks_api_access_entry_custom_groups.json", "MEDIUM"),
    ("eks_api_identity_provider.json", "HIGH"),
    # kubectl-instance samples, aimed at the local world's prod kubectl instance and account
    ("eks_api_kubectl_session.json", "INFO"),
    ("eks_api_kubectl_session_night.json", "MEDIUM"),
    ("eks_api_kubectl_send_command.json", "HIGH"),
    ("eks_api_kubectl_role_to_pods.json", "CRITICAL"),
)
# (event file, severities of the alerts the detector must queue, in any order)
# Each case starts from an empty aws-auth state, as the e2e suite does (one state table per event).
AUDIT_LOG_CASES = (
    ("aws_auth_masters_backdoor.json", ("INFO", "CRITICAL")),
    ("aws_auth_node_role_added.json", ("INFO",)),
    ("aws_auth_capital_groups.json", ("INFO", "CRITICAL")),
    ("aws_auth_sso_masters.json", ("INFO", "CRITICAL")),
    ("aws_auth_dry_run.json", ("INFO", "MEDIUM")),
    ("aws_auth_deletecollection.json", ("INFO", "CRITICAL")),
    ("rbac_cluster_admin_backdoor.json", ("CRITICAL",)),
    ("rbac_aggregated_into_view.json", ("CRITICAL",)),
)
STOP_SUMMARY_SEVERITY = "INFO"
DRAIN_ROUNDS = 20


@dataclass
class Checks:
    failures: list[str] = field(default_factory=list)
    passed: int = 0

    def expect(self, ok: bool, what: str) -> None:
        if ok:
            self.passed += 1
        else:
            self.failures.append(what)
            say(f"   !! expected: {what}")


@dataclass
class FakeContext:
    """What the handlers read from a Lambda context."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 256
    timeout_ms: int = 60_000  # each call below passes the function's Timeout from template.yaml

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{HOME_REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms


_OUT: TextIO = sys.stdout


def say(text: str = "") -> None:
    print(text, file=_OUT, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


@contextmanager
def local_services(log_dir: Path) -> Iterator[tuple[AwsFront, SlackStandIn, KubeStandIn]]:
    """moto (child process) behind the front, the Slack stand-in and the clusters' Kubernetes API
    stand-in (its tokens checked against moto's STS through the front); all on 127.0.0.1."""
    moto_port = free_port()
    moto_log = open(log_dir / "moto.log", "wb")  # noqa: SIM115 - closed below
    moto: subprocess.Popen[bytes] | None = None
    front: AwsFront | None = None
    kube: KubeStandIn | None = None
    slack = SlackStandIn()
    try:
        moto = start_moto(moto_port)
        wait_until_alive(f"http://127.0.0.1:{moto_port}", timeout=30)
        front = AwsFront(f"http://127.0.0.1:{moto_port}").start()
        kube = KubeStandIn([front.url.split("//", 1)[1]], verify_sts=True).start()
        slack.start()
        yield front, slack, kube
    finally:
        slack.stop()
        if kube is not None:
            kube.stop()
        if front is not None:
            front.stop()
        if moto is not None:
            moto.terminate()
            try:
                moto.wait(timeout=10)
            except subprocess.TimeoutExpired:
                moto.kill()
                moto.wait(timeout=5)
        moto_log.close()


def configure_environment(endpoint: str, world: World) -> None:
    """What template.yaml would set on the functions, pointed at the local world."""
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": HOME_REGION,
            "AWS_DEFAULT_REGION": HOME_REGION,
            "POWERTOOLS_SERVICE_NAME": "eksguard",
            "POWERTOOLS_METRICS_NAMESPACE": "eksguard",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "ALERT_QUEUE_URL": world.queue_url,
            "STOP_TAG_KEY": STOP_TAG_KEY,
            "STOP_TAG_VALUE": "*",
            "CLUSTER_TAG_KEY": "eks-cluster",
            "STOP_REGIONS": ",".join(REGIONS),
            "STOP_GRACE_MINUTES": "0",
            "KEEP_ALIVE_TAG_KEY": KEEP_ALIVE_TAG_KEY,
            "DRY_RUN": "false",
            "EXPECTED_CLUSTER_ADMIN_ARNS": EXPECTED_ADMINS,
            "KUBECTL_ROLE_ARN_PATTERNS": f"arn:aws:iam::{world.account}:role/eksguard-kubectl-*",
            "KUBECTL_SESSION_HOURS": "Mon-Fri 07:00-20:00",
            "KUBECTL_SESSION_TIMEZONE": "Europe/Paris",
            "AUDIT_STATE_TABLE": world.audit_state_table,
            "ALERT_MIN_SEVERITY": "INFO",
            "SLACK_WEBHOOK_SECRET_ARN": world.secret_arn,
            "SLACK_CRITICAL_MENTION": "<!here>",
            "IDEMPOTENCY_TABLE": world.idempotency_table,
        }
    )
    for name in ("AWS_PROFILE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)


def import_handler(module: str) -> ModuleType:
    return __import__(module)


def queued_alerts(world: World) -> list[dict[str, Any]]:
    """Alerts waiting in the queue, without consuming them: hide each message while reading (so every
    receive returns new ones), then make them all visible again."""
    sqs = client("sqs", world.endpoint)
    seen: dict[str, dict[str, Any]] = {}
    handles: list[str] = []
    for _ in range(DRAIN_ROUNDS * 5):
        batch = (
            sqs.receive_message(
                QueueUrl=world.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0
            ).get("Messages")
            or []
        )
        if not batch:
            break
        for message in batch:
            seen.setdefault(message["MessageId"], json.loads(message["Body"]))
            handles.append(message["ReceiptHandle"])
    for start in range(0, len(handles), 10):
        answer = sqs.change_message_visibility_batch(
            QueueUrl=world.queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, h in enumerate(handles[start : start + 10])
            ],
        )
        if answer.get("Failed"):
            raise RuntimeError(f"could not make peeked alerts visible again: {answer['Failed']}")
    return list(seen.values())


def forget_audit_state(world: World) -> None:
    """Each sample is judged on its own: forget what the cluster's aws-auth and RBAC looked like."""
    for key in ("prod", "prod#rbac"):
        client("dynamodb", world.endpoint).delete_item(TableName=world.audit_state_table, Key={"cluster": {"S": key}})


def sqs_event(world: World, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping would build from received messages."""
    records = []
    for message in messages:
        attributes = message.get("Attributes") or {}
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
                    "SenderId": attributes.get("SenderId", "AROAEXAMPLE:eksguard"),
                    "ApproximateFirstReceiveTimestamp": attributes.get(
                        "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
                    ),
                },
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value.get("DataType", "String"),
                    }
                    for name, value in (message.get("MessageAttributes") or {}).items()
                },
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
                "eventSource": "aws:sqs",
                "eventSourceARN": world.queue_arn,
                "awsRegion": HOME_REGION,
            }
        )
    return {"Records": records}


def drain_queue(world: World, invoke: Callable[[dict[str, Any]], dict[str, Any]], checks: Checks) -> int:
    """Receive, invoke the notifier, delete what succeeded: the SQS event source mapping's loop."""
    sqs = client("sqs", world.endpoint)
    handled = 0
    for _ in range(DRAIN_ROUNDS * 5):
        messages = (
            sqs.receive_message(
                QueueUrl=world.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=60,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages")
            or []
        )
        if not messages:
            break
        response = invoke(sqs_event(world, messages))
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures") or []}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=world.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        handled += len(done)
        say(f"   batch of {len(messages)}: {len(done)} delivered, {len(failed)} failed")
        checks.expect(not failed, f"no batch item failures (got {sorted(failed)})")
        if failed:
            break
    return handled


def render_slack(payload: dict[str, Any]) -> list[str]:
    """A Block Kit message as plain text lines (what a reader would see in the channel)."""
    lines = [f"   | {payload.get('text', '')}"]
    blocks = list(payload.get("blocks") or [])
    for attachment in payload.get("attachments") or []:
        blocks.extend(attachment.get("blocks") or [])
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"   | ## {block.get('text', {}).get('text', '')}")
        elif kind == "section":
            if block.get("text"):
                lines.extend(f"   | {line}" for line in str(block["text"].get("text", "")).splitlines())
            for item in block.get("fields") or []:
                lines.append(f"   |   - {' '.join(str(item.get('text', '')).split())}")
        elif kind == "context":
            texts = [str(e.get("text", "")) for e in block.get("elements") or [] if e.get("text")]
            if texts:
                lines.append(f"   |   ({' | '.join(texts)})")
        elif kind == "divider":
            lines.append("   | ----")
        elif kind == "actions":
            labels = [str(e.get("text", {}).get("text", "")) for e in block.get("elements") or []]
            lines.append(f"   |   [{'] ['.join(labels)}]")
    return lines


def inventory_step(world: World, front: AwsFront, kube: KubeStandIn, checks: Checks) -> None:
    """The live state, read as the inventory reads it; the intruder is added where no log sees it."""
    inventory = import_handler("inventory_handler")
    clusters, objects = inventory_world({name: kube.endpoint(name) for name in ("prod", "dev")}, kube.ca_data)
    backdoor = objects["prod"]["objects"]
    clean = {
        **backdoor,
        "clusterrolebindings": [b for b in backdoor["clusterrolebindings"] if b["metadata"]["name"] != "deployers"],
    }
    front.eks.replace(clusters)
    kube.put_cluster("prod", {**objects["prod"], "objects": clean})
    kube.put_cluster("dev", objects["dev"])
    os.environ["STOP_REGIONS"] = HOME_REGION  # the two seeded clusters
    before = {a["id"] for a in queued_alerts(world)}

    def run_inventory(action: str) -> list[dict[str, Any]]:
        answer = inventory.lambda_handler({"action": action}, FakeContext("eksguard-Inventory", timeout_ms=300_000))
        new = [a for a in queued_alerts(world) if a["id"] not in before]
        before.update(a["id"] for a in new)
        say(
            f"   {action}: {answer.get('clusters')} cluster(s), {answer.get('admins')} admin(s), "
            f"{answer.get('apiCalls')} API calls"
        )
        for alert in new:
            say(f"      [{alert['severity']}] {alert['title']}")
        return new

    say("\n4. The inventory reads each cluster's live access state (EKS API + Kubernetes API with an EKS token)")
    first = run_inventory("inventory")
    checks.expect(
        [(a["kind"], a["severity"]) for a in first] == [("inventory-blind-spot", "HIGH")],
        f"first inventory: only dev's blind spot (no read access), got {[a['title'] for a in first]}",
    )
    say("   someone binds the group `deployers` (carried by ci-deployer's access entry) to cluster-admin;")
    say("   the audit log line never reaches eksguard (a subscription filter dropped for 10 minutes)")
    kube.put_cluster("prod", objects["prod"])
    found = run_inventory("inventory")
    checks.expect(
        [(a["severity"], a["principal"]) for a in found] == [("CRITICAL", f"arn:aws:iam::{ACCOUNT}:role/ci-deployer")],
        f"the intruder is found by inventory only (CRITICAL), got {[a['title'] for a in found]}",
    )
    digest = run_inventory("digest")
    checks.expect([a["kind"] for a in digest] == ["inventory-digest"], f"the digest is queued, got {digest}")
    for label, value in digest[0]["facts"] if digest else []:
        say(f"      {label}:")
        for line in str(value).splitlines():
            say(f"         {line}")
    requests = kube.requests
    checks.expect(
        bool(requests) and all(r["method"] == "GET" for r in requests),
        "the inventory only ever reads (GET) the clusters",
    )
    os.environ["STOP_REGIONS"] = ",".join(REGIONS)


def run(log_file: TextIO, log_path: Path) -> Checks:
    checks = Checks()
    with local_services(log_path.parent) as (front, slack, kube):
        endpoint = front.url
        say(f"moto + DescribeSessions front on {endpoint}, Slack stand-in on {slack.base_url}")
        world = seed_world(endpoint, slack.url)
        configure_environment(endpoint, world)
        say(
            "seeded: queue, idempotency + aws-auth state tables, webhook secret, EKS clusters dev/prod, audit log "
            "groups, kubectl roles/instance profiles"
        )
        for box in world.boxes:
            say(f"   {box.region:<10} {box.name:<16} {box.instance_id}  ({box.why})")

        stop = import_handler("stop_instances_handler")
        eks = import_handler("eks_api_alert_handler")
        aws_auth = import_handler("audit_log_alert_handler")
        notifier = import_handler("slack_notifier_handler")

        say("\n1. EventBridge Scheduler fires the evening stop (events/stop_schedule.json)")
        result = stop.lambda_handler(
            load_event("stop_schedule.json"), FakeContext("eksguard-StopInstances", timeout_ms=300_000)
        )
        states = instance_states(endpoint, world.boxes)
        for box in world.boxes:
            say(f"   {box.name:<16} -> {states.get(box.name)}")
            checks.expect(
                states.get(box.name) in (box.expected_state, box.expected_state.replace("ped", "ping")),
                f"{box.name} {box.expected_state} ({box.why}), is {states.get(box.name)}",
            )
        say(f"   summary alert queued: severity {result.get('severity')}")
        checks.expect(
            result.get("severity") == STOP_SUMMARY_SEVERITY,
            f"stop summary severity {STOP_SUMMARY_SEVERITY}, got {result.get('severity')}",
        )

        say(
            "\n2. CloudTrail reports EKS access changes and what reaches the kubectl instances "
            "(EventBridge -> EksApiAlertFunction)"
        )
        prod_box = world.box("kubectl-prod-eu").instance_id
        for name, severity in EKS_API_CASES:
            event = load_event(name)
            if name.startswith("eks_api_kubectl_"):
                event = aim_at(event, {SAMPLE_KUBECTL_INSTANCE: prod_box}, world.account)
            answer = eks.lambda_handler(event, FakeContext("eksguard-EksApiAlert", timeout_ms=120_000))
            say(f"   {name}: [{answer.get('severity')}] {answer.get('title')}")
            checks.expect(
                answer.get("status") == "alerted" and answer.get("severity") == severity,
                f"{name} queues a {severity} alert, got {answer.get('status')}/{answer.get('severity')}",
            )

        say("\n3. aws-auth edits and RBAC writes arrive from the EKS audit log (subscription -> AuditLogAlertFunction)")
        # One peek after all cases: every receive counts towards the queue's redrive limit.
        answers = []
        for name, severities in AUDIT_LOG_CASES:
            forget_audit_state(world)
            answers.append(
                (
                    name,
                    severities,
                    aws_auth.lambda_handler(
                        load_event(name), FakeContext("eksguard-AuditLogAlert", timeout_ms=270_000)
                    ),
                )
            )
        by_id = {a["id"]: a for a in queued_alerts(world)}
        for name, severities, answer in answers:
            new = [by_id[i] for i in answer.get("alertIds") or [] if i in by_id]
            say(f"   {name}: status {answer.get('status')}, {len(new)} alert(s)")
            for alert in new:
                say(f"      [{alert['severity']}] {alert['title']}")
            checks.expect(
                Counter(a["severity"] for a in new) == Counter(severities),
                f"{name} queues {list(severities)}, got {[a['severity'] for a in new]}",
            )

        inventory_step(world, front, kube, checks)

        expected = queued_alerts(world)
        say(f"\n5. SlackNotifierFunction drains the alert queue ({len(expected)} alerts)")
        handled = drain_queue(
            world,
            lambda event: notifier.lambda_handler(event, FakeContext("eksguard-SlackNotifier", timeout_ms=150_000)),
            checks,
        )
        checks.expect(handled == len(expected), f"{len(expected)} alerts handled, got {handled}")
        checks.expect(not queued_alerts(world), "alert queue empty after the drain")

        slack.wait_for(len(expected), timeout=5)
        delivered = slack.delivered
        say(f"\n6. Slack received {len(delivered)} message(s)")
        for payload in delivered:
            say()
            for line in render_slack(payload):
                say(line)
        checks.expect(len(delivered) == len(expected), f"{len(expected)} Slack messages, got {len(delivered)}")
        want = Counter(a["severity"] for a in expected)
        got = Counter(str(p.get("text", "")).split("]", 1)[0].lstrip("[") for p in delivered)
        checks.expect(want == got, f"Slack severities {dict(want)}, got {dict(got)}")
        checks.expect(all(str(p.get("blocks")) for p in delivered), "every Slack message carries Block Kit blocks")
        checks.expect(
            any("<!here>" in str(p.get("text", "")) for p in delivered if "[CRITICAL]" in str(p)),
            "CRITICAL messages mention <!here>",
        )
    log_file.flush()
    return checks


def run_demo(banner: str, prefix: str, body: Callable[[TextIO, Path], Checks]) -> int:
    """Run a demo body with the handlers' logs in a file, print its checks; non-zero when one failed."""
    global _OUT
    started = time.monotonic()
    log_dir = Path(tempfile.mkdtemp(prefix=prefix))
    log_path = log_dir / "handlers.log"
    real_stdout = sys.stdout
    _OUT = real_stdout
    say(banner)
    with open(log_path, "w", encoding="utf-8") as log_file:
        # Powertools writes structured logs and metrics to stdout: keep them out of the transcript.
        sys.stdout = log_file
        try:
            checks = body(log_file, log_path)
        except Exception as exc:
            sys.stdout = real_stdout
            say(f"\nFAILED: {type(exc).__name__}: {exc}")
            traceback.print_exc(file=real_stdout)
            say(f"handler logs: {log_path}")
            return 1
        finally:
            sys.stdout = real_stdout
    elapsed = time.monotonic() - started
    say(f"\nhandler logs (Powertools JSON): {log_path}")
    checks.expect(elapsed < TIME_LIMIT_SECONDS, f"demo finishes within {TIME_LIMIT_SECONDS:.0f}s")
    if checks.failures:
        say(f"FAILED: {len(checks.failures)} of {checks.passed + len(checks.failures)} checks ({elapsed:.1f}s)")
        for failure in checks.failures:
            say(f" - {failure}")
        return 1
    say(f"OK: {checks.passed} checks passed in {elapsed:.1f}s")
    return 0


def main() -> int:
    return run_demo(
        "eksguard demo: moto + Slack stand-in on 127.0.0.1, the real handlers, the events/ samples",
        "eksguard-demo-",
        run,
    )


if __name__ == "__main__":
    sys.exit(main())
