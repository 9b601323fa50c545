"""`sam local invoke` of each function in the local Lambda image: what a cold start costs there (not a test).

Each invocation is a fresh container (sam local invoke never reuses one), so every run is a cold start:
the runtime imports the handler, then handles the event. The local runtime interface emulator reports
no real Init Duration (it prints ~0 ms: the import happens inside the first invocation's Duration), so
the figures are the REPORT line's Duration and the wall time of the whole `sam local invoke`.

Needs `make local-up` (moto and the Slack stand-in on the Docker network) and a build. To compare two
builds, pass `--build-dir` of each (a checkout's `.aws-sam/build` after `sam build` there).

Usage: python scripts/bench_local_invoke.py [--build-dir .aws-sam/build] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import local_stack  # noqa: E402

SAM = ROOT / ".venv-sam" / "bin" / "sam"
CASES = {
    "StopInstancesFunction": "stop_schedule.json",
    "EksApiAlertFunction": "eks_api_cluster_admin_granted.json",
    "AuditLogAlertFunction": "aws_auth_masters_backdoor.json",
    "SlackNotifierFunction": "slack_notifier_sqs.json",
}
REPORT = re.compile(r"REPORT RequestId: \S+\s+Init Duration: ([\d.]+) ms\s+Duration: ([\d.]+) ms")


def invoke(template: Path, function: str, event: str) -> tuple[float, float]:
    env = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    started = time.monotonic()
    done = subprocess.run(
        [
            str(SAM),
            "local",
            "invoke",
            function,
            "--template",
            str(template),
            "--event",
            str(ROOT / "events" / event),
            "--env-vars",
            str(ROOT / "events" / "env.local.json"),
            "--docker-network",
            local_stack.NETWORK,
            "--skip-pull-image",
            "--region",
            "eu-west-1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    wall = time.monotonic() - started
    match = REPORT.search(done.stdout + done.stderr)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"{function}: sam local invoke failed\n{done.stderr[-2000:]}")
    return float(match[2]), wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build-dir", type=Path, default=ROOT / ".aws-sam" / "build")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--label", default="this build")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.build_dir) as tmp:
        template = local_stack.write_local_template(
            args.build_dir / "template.yaml", Path(tmp).parent / f"template.bench-{Path(tmp).name}.yaml"
        )
        try:
            rows = {}
            for function, event in CASES.items():
                runs = [invoke(template, function, event) for _ in range(args.repeat)]
                rows[function] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
        finally:
            template.unlink(missing_ok=True)
    print(json.dumps({"label": args.label, "rows": rows}))
    for function, (duration, wall) in rows.items():
        print(f"| {args.label} | {function} | {duration:.0f} ms | {wall:.1f} s |", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
