"""Benchmark one stop run against a moto server on 127.0.0.1 (not a test: prints figures).

For each N: N tagged + N untagged running instances in one region, a few active sessions,
then one real run of the stop logic (DescribeInstances pages, DescribeSessions, StopInstances
batches). Prints wall time of the run and the AWS API calls it made. moto has no
ssm:DescribeSessions, so that one call per region is answered by botocore's Stubber.

Usage: python scripts/bench_stop.py --sizes 500 2000 [--markdown docs/benchmarks.md]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server.start()
        host, port = server.get_host_and_port()
        os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
        # Servers in one process share moto's state: start every size from an empty world.
        urllib.request.urlopen(
            urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST"), timeout=30
        ).close()
        aws.reset_clients()
        # moto's server renders big DescribeInstances pages slowly: allow it.
        aws.RETRY_CONFIG = aws.RETRY_CONFIG.merge(Config(read_timeout=600))
        try:
            t0 = time.perf_counter()
            ids = seed(n)
            seeded = time.perf_counter() - t0
            row = one_run(n, ids)
            row["seed_seconds"] = seeded
            rows.append(row)
        finally:
            server.stop()
            aws.reset_clients()
    for row in rows:
        print(f"N={row['n']}: seeding moto took {row['seed_seconds']:.1f} s", file=sys.stderr)
    print(
        "| N tagged (+N untagged) | wall time | waiting on moto | eksguard + botocore CPU | stopped / skipped / "
        "failed | AWS API calls | calls per tagged instance | calls by operation |"
    )
    print("|---:|---:|---:|---:|---|---:|---:|---|")
    for row in rows:
        ops = ", ".join(f"{k} {v}" for k, v in row["calls"].items())
        print(
            f"| {row['n']} | {row['seconds']:.2f} s | {row['aws_seconds']:.2f} s | {row['client_cpu_seconds']:.2f} s "
            f"| {row['stopped']} / {row['skipped']} / {row['failed']} | {row['total_calls']} "
            f"| {row['calls_per_instance']:.3f} | {ops} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
