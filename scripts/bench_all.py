#!/usr/bin/env python3
"""Run every benchmark and rewrite docs/benchmarks.md (`make bench`, a few minutes on 2 cores).

Sections (each says how to reproduce it on its own):
- stop run on moto's server (N = 500, 2,000) against a plain boto3 floor script and Cloud Custodian 0.9 on the
  same data, via scripts/bench_stop.py;
- stop run against a linear in-memory EC2/SSM (N = 500, 2,000, 5,000, 20,000; DescribeInstances pages of
  1,000, DescribeSessions pages of 200): eksguard's own cost, without moto's quadratic DescribeInstances;
- aws-auth audit batch of 10,000 events vs the floor, via scripts/bench_aws_auth.py;
- the subscription filter on a realistic audit-log mix and the cost per forwarded line, via
  scripts/bench_audit_mix.py;
- aws-auth diff scaling (mapRoles / mapAccounts of 1k..16k entries): eksguard's own growth;
- cold start of each handler as Lambda runs it (built artefacts, CPython 3.13, read-only) vs `import boto3`,
  via scripts/bench_cold_start.py;
- alert latency from a detector to the Slack stand-in through the queue on moto, via scripts/bench_alert_latency.py;
- the inventory for 1, 10 and 100 clusters against the EKS and Kubernetes API stand-ins (scripts/bench_inventory.py);
- notifier throughput against the Slack stand-in on 127.0.0.1 answering some 429s.

    .venv/bin/python scripts/bench_all.py [--quick] [--no-moto] [--no-write]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "eksguard"), str(ROOT / "functions" / "slack_notifier"), str(ROOT)]
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "eksguard",
        "POWERTOOLS_SERVICE_NAME": "eksguard",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)

DOC = ROOT / "docs" / "benchmarks.md"
PY = sys.executable
REGION = "eu-west-1"
MACHINE = f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPU(s)"


# ------------------------------------------------------------------------------- linear fake EC2 / SSM
class LinearEc2:
    """DescribeInstances with real pagination (MaxResults <= 1000, NextToken) in linear time, StopInstances."""

    def __init__(self, instances: list[dict[str, Any]], calls: Counter[str]) -> None:
        self.instances = instances
        self.calls = calls

    def describe_instances(
        self,
        Filters: Any = None,
        MaxResults: int = 1000,  # noqa: N803
        NextToken: str | None = None,
    ) -> dict[str, Any]:
        self.calls["ec2:DescribeInstances"] += 1
        start = int(NextToken or 0)
        page = self.instances[start : start + min(MaxResults, 1000)]
        response: dict[str, Any] = {"Reservations": [{"Instances": page}]}
        if start + len(page) < len(self.instances):
            response["NextToken"] = str(start + len(page))
        return response

    def get_paginator(self, name: str) -> Any:
        assert name == "describe_instances"
        ec2 = self

        class Paginator:
            def paginate(self, Filters: Any = None, PaginationConfig: Any = None) -> Iterator[dict[str, Any]]:  # noqa: N803
                size = (PaginationConfig or {}).get("PageSize", 1000)
                token: str | None = None
                while True:
                    page = ec2.describe_instances(Filters=Filters, MaxResults=size, NextToken=token)
                    yield page
                    token = page.get("NextToken")
                    if not token:
                        return

        return Paginator()

    def stop_instances(self, InstanceIds: list[str], DryRun: bool = False) -> dict[str, Any]:  # noqa: N803
        self.calls["ec2:StopInstances"] += 1
        return {"StoppingInstances": [{"InstanceId": i, "CurrentState": {"Name": "stopping"}} for i in InstanceIds]}


class LinearSsm:
    def __init__(self, targets: list[str], calls: Counter[str]) -> None:
        self.targets = targets
        self.calls = calls

    def describe_sessions(
        self,
        State: str,
        MaxResults: int = 200,
        NextToken: str | None = None,  # noqa: N803
        **_: Any,
    ) -> dict[str, Any]:
        self.calls["ssm:DescribeSessions"] += 1
        start = int(NextToken or 0)
        chunk = self.targets[start : start + MaxResults]
        response: dict[str, Any] = {
            "Sessions": [{"SessionId": f"s-{n}", "Target": t, "Status": "Connected"} for n, t in enumerate(chunk)]
        }
        if start + len(chunk) < len(self.targets):
            response["NextToken"] = str(start + len(chunk))
        return response


def fake_world(n: int) -> tuple[Callable[[str, str], Any], Counter[str]]:
    launched = datetime(2026, 11, 25, 8, tzinfo=UTC)
    instances = [
        {
            "InstanceId": f"i-{k:017x}",
            "State": {"Name": "running"},
            "LaunchTime": launched,
            "RootDeviceType": "ebs",
            "InstanceType": "t3.micro",
            "Tags": [{"Key": "kubectl-instance", "Value": f"cluster-{k % 50}"}, {"Key": "Name", "Value": f"kc-{k}"}]
            + ([{"Key": "KeepAliveUntil", "Value": "2026-11-26T08:00:00Z"}] if k % 97 == 0 else []),
        }
        for k in range(n)
    ]
    calls: Counter[str] = Counter()
    ec2 = LinearEc2(instances, calls)
    ssm = LinearSsm([f"i-{k:017x}" for k in range(0, n, 101)], calls)
    return (lambda service, _region: ec2 if service == "ec2" else ssm), calls


def bench_stop_fake(sizes: list[int], repeat: int) -> str:
    from eksguard.config import load_settings
    from eksguard.slack.render import render
    from eksguard.stop.model import Outcome
    from eksguard.stop.report import summary_alert
    from eksguard.stop.run import run_stop

    settings = load_settings({"AWS_REGION": REGION, "STOP_REGIONS": REGION})
    now = datetime(2026, 11, 25, 20, tzinfo=UTC)
    rows = []
    for n in sizes:
        times = []
        for _ in range(repeat):
            factory, calls = fake_world(n)
            started = time.perf_counter()
            with redirect_stdout(io.StringIO()):
                report = run_stop(settings, run_id="bench", now=now, client_factory=factory)
                payload = render(summary_alert(report, account="111122223333", home_region=REGION))
            times.append(time.perf_counter() - started)
        total = sum(calls.values())
        rows.append(
            (
                n,
                statistics.median(times),
                calls,
                total,
                report.count(Outcome.STOPPED),
                report.count(Outcome.SKIPPED),
                len(json.dumps(payload)),
            )
        )
    lines = [
        "| N tagged | wall time (median) | µs per instance | stopped / skipped | AWS API calls | "
        "calls per instance | calls by operation |",
        "|---:|---:|---:|---|---:|---:|---|",
    ]
    for n, seconds, calls, total, stopped, skipped, _ in rows:
        ops = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
        lines.append(
            f"| {n:,} | {seconds * 1000:.0f} ms | {seconds * 1e6 / n:.0f} | {stopped} / {skipped} | {total} | "
            f"{total / n:.3f} | {ops} |"
        )
    first, last = rows[0], rows[-1]
    growth = (last[1] / last[0]) / (first[1] / first[0])
    return "\n".join(lines) + (
        f"\n\nPer-instance cost at N={last[0]:,} is {growth:.2f}x the cost at N={first[0]:,} (1.0 = linear). "
        "The run includes deciding, logging one structured event per instance, batching StopInstances by 1,000, "
        "building the summary alert and rendering it for Slack."
    )


def bench_stop_moto(sizes: list[int]) -> str:
    result = subprocess.run(
        [PY, str(ROOT / "scripts" / "bench_stop.py"), "--sizes", *map(str, sizes)],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    lines = result.stdout.splitlines()
    table = "\n".join(line for line in lines if line.startswith("|"))
    details = " ".join(line for line in lines if line.startswith("eksguard at"))
    seeding = "; ".join(line.strip() for line in result.stderr.splitlines() if line.startswith("N="))
    return table + f"\n\n{details}" + (f" Seeding ({seeding}) is not part of any run." if seeding else "")


def bench_cold_start(repeat: int) -> str:
    result = subprocess.run(
        [PY, str(ROOT / "scripts" / "bench_cold_start.py"), "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        return f"Not measured in this run: {result.stdout.strip() or result.stderr.strip()[-500:]}"
    return result.stdout.strip()


def bench_alert_latency(quick: bool) -> str:
    result = subprocess.run(
        [PY, str(ROOT / "scripts" / "bench_alert_latency.py"), *(["--quick"] if quick else [])],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    text = result.stdout.strip()
    # The script prints its own "## Alert latency" heading: keep what follows it.
    return text.split("\n", 1)[1].strip() if text.startswith("## ") else text


# ------------------------------------------------------------------------------- aws-auth
def bench_inventory(sizes: list[int]) -> str:
    sys.path.insert(0, str(ROOT / "scripts"))
    import bench_inventory as inventory

    return inventory.markdown(inventory.measure(sizes))


def bench_aws_auth() -> str:
    result = subprocess.run(
        [PY, str(ROOT / "scripts" / "bench_aws_auth.py"), "--no-write"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return result.stdout.strip()


def bench_audit_mix() -> str:
    result = subprocess.run(
        [PY, str(ROOT / "scripts" / "bench_audit_mix.py"), "--no-write"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return result.stdout.strip()


def bench_diff(sizes: list[int], repeat: int) -> str:
    from eksguard.aws_auth.diff import diff_contents
    from eksguard.aws_auth.mapping import parse_aws_auth

    def content(n: int, shift: int) -> dict[str, str]:
        roles = "".join(
            f"- rolearn: arn:aws:iam::111122223333:role/r{k}\n  username: u{k}\n  groups:\n"
            f"    - {'system:masters' if k % 10 == 0 else 'viewers'}\n"
            for k in range(shift, n + shift)
        )
        accounts = "".join(f"- '{100000000000 + k}'\n" for k in range(shift, n + shift))
        return {"mapRoles": roles, "mapAccounts": accounts}

    rows = []
    for n in sizes:
        before, after = parse_aws_auth(content(n, 0)), parse_aws_auth(content(n, n // 10))
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            diff = diff_contents(before, after)
            times.append(time.perf_counter() - started)
        rows.append((n, statistics.median(times), len(diff.added) + len(diff.accounts_added)))
    lines = ["| entries (mapRoles and mapAccounts each) | diff median | µs per entry |", "|---:|---:|---:|"]
    lines += [f"| {n:,} | {s * 1000:.2f} ms | {s * 1e6 / n:.2f} |" for n, s, _ in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------- cold imports
# ------------------------------------------------------------------------------- notifier
def bench_notifier(alerts: int, rate_limited: int) -> str:
    from dataclasses import replace

    import boto3
    from moto import mock_aws

    from eksguard import aws
    from tests.slack_alerts import aws_auth_alert, eks_api_alert, stop_summary_alert
    from tests.slack_standin import Reply, SlackStandIn

    samples = [eks_api_alert(), aws_auth_alert(), stop_summary_alert()]
    with SlackStandIn() as standin, mock_aws():
        aws.reset_clients()
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName="idem",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="slack", SecretString=standin.url
        )["ARN"]
        os.environ.update(
            {
                "ALERT_QUEUE_URL": queue_url,
                "IDEMPOTENCY_TABLE": "idem",
                "SLACK_WEBHOOK_SECRET_ARN": secret,
                "ALERT_MIN_SEVERITY": "INFO",
            }
        )
        import slack_notifier_handler

        class Context:
            function_name = "bench"
            memory_limit_in_mb = 256
            invoked_function_arn = f"arn:aws:lambda:{REGION}:111122223333:function:bench"
            aws_request_id = "bench"

            def get_remaining_time_in_millis(self) -> int:
                return 150_000  # SlackNotifierFunction's Timeout

        every = max(1, alerts // max(1, rate_limited))
        bodies = [replace(samples[k % 3], id=f"bench-{k:04d}").to_json() for k in range(alerts)]
        # Slack answers 429 (Retry-After 0) to every `every`-th post, then ok.
        pending = list(range(alerts))
        invocations = retried = 0
        posted: Counter[str] = Counter()
        started = time.perf_counter()
        with redirect_stdout(io.StringIO()):
            for _round in range(10):
                if not pending:
                    break
                failed: list[int] = []
                for start in range(0, len(pending), 10):
                    chunk = pending[start : start + 10]
                    for position in range(len(chunk)):
                        if (start + position) % every == 0 and _round == 0:
                            standin.enqueue(Reply.rate_limited(0), Reply.ok())
                        else:
                            standin.enqueue(Reply.ok())
                    event = {
                        "Records": [
                            {
                                "messageId": f"m-{k}",
                                "receiptHandle": f"r-{k}",
                                "body": bodies[k],
                                "attributes": {"ApproximateReceiveCount": str(_round + 1)},
                                "messageAttributes": {},
                                "eventSource": "aws:sqs",
                                "eventSourceARN": queue_arn,
                                "awsRegion": REGION,
                            }
                            for k in chunk
                        ]
                    }
                    response = slack_notifier_handler.lambda_handler(event, Context())
                    invocations += 1
                    failed += [int(f["itemIdentifier"][2:]) for f in response["batchItemFailures"]]
                    for payload in standin.delivered:
                        posted.update(k for k in (f"bench-{n:04d}" for n in chunk) if k in json.dumps(payload))
                    standin.reset()
                retried += len(failed)
                pending = failed
        seconds = time.perf_counter() - started
    aws.reset_clients()
    posts = alerts + rate_limited
    return (
        "| alerts | 429 answers | handler invocations | wall time | alerts per second | records retried later |\n"
        "|---:|---:|---:|---:|---:|---:|\n"
        f"| {alerts} | {rate_limited} | {invocations} | {seconds:.2f} s | {alerts / seconds:.0f} | {retried} |\n\n"
        f"About {posts} HTTP posts in all; every 429 carried `Retry-After: 0`, so the notifier retried within the "
        "invocation. Idempotency records in moto's in-process DynamoDB, secret in moto's Secrets Manager. "
        f"Posted exactly once: {sum(1 for v in posted.values() if v == 1)} of {alerts} alerts "
        f"(more than once: {sum(1 for v in posted.values() if v > 1)}, never: {alerts - len(posted)})."
    )


# ------------------------------------------------------------------------------- document
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (a smoke run)")
    parser.add_argument("--no-moto", action="store_true", help="skip the moto-server stop run (the slowest part)")
    parser.add_argument("--no-write", action="store_true", help="print instead of rewriting docs/benchmarks.md")
    args = parser.parse_args()
    repeat = 3 if args.quick else 5
    sections: list[tuple[str, str]] = []

    def section(title: str, how: str, body: Callable[[], str]) -> None:
        started = time.perf_counter()
        text = body()
        print(f"{title}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
        sections.append((title, text if text.lstrip().startswith("Reproduce") else f"Reproduce: `{how}`\n\n{text}"))

    if not args.no_moto:
        section(
            "Stop run on the moto server",
            ".venv/bin/python scripts/bench_stop.py --sizes 500 2000",
            lambda: (
                bench_stop_moto([200] if args.quick else [500, 2000])
                + (
                    "\n\nN tagged + N untagged running instances in one region, 5 of the tagged with an active "
                    "session (eksguard skips them; moto has no DescribeSessions, so botocore's Stubber answers "
                    "that one call). The three contenders run one after the other on the same moto data, every "
                    "instance running again before each. The floor script is the least a tool can do: "
                    "DescribeInstances filtered by the tag, then one StopInstances with every ID (no sessions, "
                    "keep-alive, grace, isolation or report). Cloud Custodian (c7n 0.9.53, `custodian run` with a "
                    "tag filter and the stop action) runs in its own venv (.venv-c7n) and process; its time is "
                    "measured inside that process, without the interpreter's start. Targets: eksguard within 1.2x "
                    "the floor's time and 2 calls of its count. moto renders DescribeInstances and StopInstances in "
                    "time that grows faster than the instances, so `waiting on moto` dominates every contender; "
                    "N = 5,000 is measured against the linear fake below instead."
                )
            ),
        )
    sizes = [500, 2000] if args.quick else [500, 2000, 5000, 20000]
    section(
        "Stop run against a linear EC2/SSM",
        ".venv/bin/python scripts/bench_all.py --no-moto --no-write",
        lambda: (
            bench_stop_fake(sizes, repeat)
            + (
                "\n\nIn-memory EC2 (DescribeInstances pages of 1,000 with NextToken, StopInstances) and SSM "
                "(DescribeSessions pages of 200; one instance in 101 has a session, one in 97 a future "
                "KeepAliveUntil). No network: this is eksguard's own cost plus botocore-free fakes."
            )
        ),
    )
    section("aws-auth audit batch", ".venv/bin/python scripts/bench_aws_auth.py", bench_aws_auth)
    section(
        "Audit-log mix: forwarded fraction and cost per forwarded line",
        ".venv/bin/python scripts/bench_audit_mix.py",
        bench_audit_mix,
    )
    section(
        "aws-auth diff scaling",
        ".venv/bin/python scripts/bench_all.py --no-moto --no-write",
        lambda: (
            bench_diff([1000, 4000] if args.quick else [1000, 4000, 16000], repeat)
            + (
                "\n\nTwo parsed aws-auth contents of N role mappings and N mapAccounts entries, 10% shifted "
                "(so 10% added, 10% removed); median of the semantic diff alone. Function calls per entry are "
                "constant; what growth remains is memory and cache. Before the mapAccounts fix (removed accounts "
                "were looked up in a tuple), 4,000 entries took 186 ms (46 µs per entry) and 16,000 would have "
                "taken seconds."
            )
        ),
    )
    section(
        "Cold start of each handler (as Lambda runs it)",
        ".venv/bin/python scripts/bench_cold_start.py (after make build)",
        lambda: bench_cold_start(repeat),
    )
    section(
        "Inventory: time and API calls per cluster",
        ".venv/bin/python scripts/bench_inventory.py --sizes 1 10 100",
        lambda: bench_inventory([1, 10] if args.quick else [1, 10, 100]),
    )
    section(
        "Alert latency: detector to Slack through the queue",
        ".venv/bin/python scripts/bench_alert_latency.py",
        lambda: bench_alert_latency(args.quick),
    )
    section(
        "Notifier throughput against the Slack stand-in",
        ".venv/bin/python scripts/bench_all.py --no-moto --no-write",
        lambda: bench_notifier(60 if args.quick else 200, 6 if args.quick else 20),
    )

    text = (
        "# Benchmarks\n\nRegenerate everything: `make bench` (runs `scripts/bench_all.py`). "
        f"Figures below: {MACHINE}, {datetime.now(UTC):%Y-%m-%d}.\n\n"
    )
    text += "\n\n".join(f"## {title}\n\n{body.strip()}" for title, body in sections) + "\n"
    if args.no_write:
        print(text)
    else:
        DOC.write_text(text, encoding="utf-8")
        print(f"wrote {DOC.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
