"""Benchmark one stop run against a moto server on 127.0.0.1 (not a test: prints figures).

For each N: N tagged + N untagged running instances in one region, a few active sessions. On the
same data, three contenders stop the tagged instances, each after every seeded instance is running
again:
- floor: a plain boto3 script, DescribeInstances pages filtered by the tag, then one StopInstances
  call with every ID (no sessions, keep-alive, grace, isolation or report: the least any tool does);
- eksguard: the real stop logic (DescribeInstances pages, DescribeSessions, decisions, batched
  StopInstances with isolation, the summary);
- Cloud Custodian 0.9.x (`custodian run`, resource ec2, tag filter, stop action), when its venv
  exists (`make bench` creates .venv-c7n), in its own process; its in-process time is reported.
moto has no ssm:DescribeSessions, so eksguard's one call per region is answered by botocore's Stubber.

Usage: python scripts/bench_stop.py --sizes 500 2000 [--no-custodian]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "eksguard"), str(ROOT)]

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "eksguard",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }
)

from botocore.config import Config  # noqa: E402
from botocore.stub import Stubber  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from eksguard import aws  # noqa: E402
from eksguard.config import load_settings  # noqa: E402
from eksguard.stop.model import Outcome  # noqa: E402
from eksguard.stop.run import run_stop  # noqa: E402

REGION = "eu-west-1"
AMI = "ami-12c6146b"


def seed(n: int) -> list[str]:
    """N tagged + N untagged instances; returns the tagged ids."""
    ec2 = aws.client("ec2", REGION)
    tagged: list[str] = []
    for tags, count in (({"kubectl-instance": "prod"}, n), ({"Name": "web"}, n)):
        remaining = count
        while remaining:
            chunk = min(250, remaining)
            response = ec2.run_instances(
                ImageId=AMI,
                MinCount=chunk,
                MaxCount=chunk,
                InstanceType="t3.micro",
                TagSpecifications=[
                    {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
                ],
            )
            if "kubectl-instance" in tags:
                tagged.extend(i["InstanceId"] for i in response["Instances"])
            remaining -= chunk
    return tagged


def one_run(n: int, ids: list[str]) -> dict[str, Any]:
    calls: Counter[str] = Counter()
    attempts: Counter[str] = Counter()
    in_aws = {"seconds": 0.0, "started": 0.0}

    def call_started(**_: Any) -> None:
        in_aws["started"] = time.perf_counter()

    def call_finished(**_: Any) -> None:
        in_aws["seconds"] += time.perf_counter() - in_aws["started"]

    def counting(service: str) -> Any:
        client = aws.client(service, REGION)

        def count_call(event_name: str, **_: Any) -> None:
            calls.update([f"{service}:{event_name.rsplit('.', 1)[-1]}"])

        # provide-client-params fires for every operation, stubbed or not.
        client.meta.events.register(f"provide-client-params.{service}.*", count_call)
        client.meta.events.register(f"before-send.{service}.*", lambda **_: attempts.update([service]))
        client.meta.events.register(f"before-send.{service}.*", call_started)
        client.meta.events.register(f"needs-retry.{service}.*", call_finished)
        return client

    counting("ec2")
    ssm = counting("ssm")
    stubber = Stubber(ssm)
    stubber.add_response(
        "describe_sessions",
        {
            "Sessions": [
                {"SessionId": f"s-{k}", "Target": ids[k], "Status": "Connected"} for k in range(min(5, len(ids)))
            ]
        },
    )
    stubber.activate()

    settings = load_settings({"AWS_REGION": REGION, "STOP_REGIONS": REGION})
    started = time.perf_counter()
    cpu_started = time.thread_time()
    report = run_stop(settings, run_id="bench", now=datetime.now(UTC) + timedelta(hours=2))
    elapsed = time.perf_counter() - started
    cpu = time.thread_time() - cpu_started
    stubber.deactivate()
    total_calls = sum(calls.values())
    return {
        "n": n,
        "seconds": elapsed,
        "aws_seconds": in_aws["seconds"],
        "client_cpu_seconds": cpu,
        "http_attempts": sum(attempts.values()),
        "stopped": report.count(Outcome.STOPPED),
        "skipped": report.count(Outcome.SKIPPED),
        "failed": report.count(Outcome.FAILED),
        "calls": dict(sorted(calls.items())),
        "total_calls": total_calls,
        "calls_per_instance": total_calls / max(1, n),
    }


CUSTODIAN_PY = ROOT / ".venv-c7n" / "bin" / "python"
CUSTODIAN_POLICY = """policies:
  - name: stop-kubectl-instances
    resource: ec2
    filters:
      - "tag:kubectl-instance": present
      - "State.Name": running
    actions:
      - stop
"""
# Runs custodian in its own interpreter, counting every botocore call it makes.
CUSTODIAN_WRAPPER = """
import collections, json, sys, time
import botocore.client
calls = collections.Counter()
original = botocore.client.BaseClient._make_api_call
def counted(self, operation, params):
    calls[self.meta.service_model.endpoint_prefix + ":" + operation] += 1
    return original(self, operation, params)
botocore.client.BaseClient._make_api_call = counted
from c7n.cli import main
sys.argv = ["custodian", "run", "--cache-period", "0", "-s", sys.argv[1], "--region", sys.argv[2], sys.argv[3]]
started = time.perf_counter()
try:
    main()
except SystemExit:
    pass
print("RESULT " + json.dumps({"seconds": time.perf_counter() - started, "calls": calls}))
"""


def running_again(ids: list[str]) -> None:
    """Start whatever a contender stopped, so the next one sees the same world."""
    ec2 = aws.client("ec2", REGION)
    for start in range(0, len(ids), 1000):
        ec2.start_instances(InstanceIds=ids[start : start + 1000])


def floor_run(ids: list[str]) -> dict[str, Any]:
    import boto3

    calls: Counter[str] = Counter()
    ec2 = boto3.session.Session().client(
        "ec2", region_name=REGION, config=Config(read_timeout=600, retries={"total_max_attempts": 1})
    )
    ec2.meta.events.register("provide-client-params.ec2.*", lambda event_name, **_: calls.update([event_name]))
    started = time.perf_counter()
    found: list[str] = []
    paginator = ec2.get_paginator("describe_instances")
    filters = [
        {"Name": "tag-key", "Values": ["kubectl-instance"]},
        {"Name": "instance-state-name", "Values": ["running"]},
    ]
    for page in paginator.paginate(Filters=filters, PaginationConfig={"PageSize": 1000}):
        found.extend(i["InstanceId"] for r in page["Reservations"] for i in r["Instances"])
    ec2.stop_instances(InstanceIds=found)
    elapsed = time.perf_counter() - started
    assert sorted(found) == sorted(ids), "the floor script must stop exactly the tagged instances"
    named = Counter({f"ec2:{k.rsplit('.', 1)[-1]}": v for k, v in calls.items()})
    return {"seconds": elapsed, "calls": dict(named), "total_calls": sum(named.values()), "stopped": len(found)}


def custodian_run(endpoint: str) -> dict[str, Any] | None:
    if not CUSTODIAN_PY.exists():
        return None
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "policy.yml"
        policy.write_text(CUSTODIAN_POLICY)
        env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "C7N_SKIP_VALIDATION": "1"}
        out = subprocess.run(
            [str(CUSTODIAN_PY), "-c", CUSTODIAN_WRAPPER, str(Path(tmp) / "out"), REGION, str(policy)],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
            check=False,
        )
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        print(f"custodian failed: {out.stderr[-2000:]}", file=sys.stderr)
        return None
    data = json.loads(line[len("RESULT ") :])
    calls = dict(sorted(data["calls"].items()))
    return {"seconds": data["seconds"], "calls": calls, "total_calls": sum(calls.values())}


def stopped_count(ids: list[str]) -> int:
    ec2 = aws.client("ec2", REGION)
    count = 0
    for start in range(0, len(ids), 1000):
        response = ec2.describe_instances(InstanceIds=ids[start : start + 1000])
        count += sum(
            1 for r in response["Reservations"] for i in r["Instances"] if i["State"]["Name"] in ("stopping", "stopped")
        )
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--no-custodian", action="store_true")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        # Servers in one process share moto's state: start every size from an empty world.
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30).close()
        aws.reset_clients()
        # moto's server renders big DescribeInstances pages slowly: allow it.
        aws.RETRY_CONFIG = aws.RETRY_CONFIG.merge(Config(read_timeout=600))
        try:
            t0 = time.perf_counter()
            ids = seed(n)
            seeded = time.perf_counter() - t0
            floor = floor_run(ids)
            floor["check"] = stopped_count(ids)
            running_again(ids)
            row = one_run(n, ids)
            row["check"] = stopped_count(ids)
            row["seed_seconds"] = seeded
            row["floor"] = floor
            if not args.no_custodian:
                running_again(ids)
                custodian = custodian_run(endpoint)
                if custodian is not None:
                    custodian["check"] = stopped_count(ids)
                row["custodian"] = custodian
            rows.append(row)
        finally:
            server.stop()
            aws.reset_clients()
    for row in rows:
        print(f"N={row['n']}: seeding moto took {row['seed_seconds']:.1f} s", file=sys.stderr)
    print(
        "| N tagged (+N untagged) | contender | wall time | vs floor | AWS API calls | vs floor | "
        "instances stopped | calls by operation |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---|")
    for row in rows:
        floor = row["floor"]
        entries = [("floor script (boto3)", floor), ("eksguard", row)]
        if row.get("custodian"):
            entries.append(("Cloud Custodian 0.9", row["custodian"]))
        for name, entry in entries:
            ops = ", ".join(f"{k} {v}" for k, v in entry["calls"].items())
            print(
                f"| {row['n']} | {name} | {entry['seconds']:.2f} s | {entry['seconds'] / floor['seconds']:.2f}x "
                f"| {entry['total_calls']} | {entry['total_calls'] - floor['total_calls']:+d} "
                f"| {entry.get('check', '?')} | {ops} |"
            )
    print()
    for row in rows:
        print(
            f"eksguard at N={row['n']}: waiting on moto {row['aws_seconds']:.2f} s, eksguard + botocore CPU "
            f"{row['client_cpu_seconds']:.2f} s, stopped / skipped / failed {row['stopped']} / {row['skipped']} / "
            f"{row['failed']}."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
