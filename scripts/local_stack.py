"""The local world for `sam local invoke`: moto and the Slack stand-in as containers on one network.

    python scripts/local_stack.py up        # network + containers + seed (prints the world)
    python scripts/local_stack.py template  # .aws-sam/build/template.local.yaml (after sam build)
    python scripts/local_stack.py down
    python scripts/local_stack.py ready     # exit 0 when Docker answers and both images exist

Networking: everything sits on the user-defined Docker network `eksguard-local`. The functions
reach moto as http://eksguard-moto:5000 (the DescribeSessions front, moto behind it) and the Slack
stand-in through HTTP_PROXY=http://eksguard-slack:8765: the notifier only accepts plain http://
for a loopback webhook URL, so the secret holds http://127.0.0.1:8765/... and the proxy carries
it to the stand-in container. The host reaches both only on 127.0.0.1 published ports.

`sam local invoke --env-vars` can only set variables the template declares; `template` writes a
copy of the built template that also declares the local-only ones (AWS_ENDPOINT_URL, HTTP_PROXY,
NO_PROXY) with empty defaults. The deployable .aws-sam/build/template.yaml is left untouched.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from seed_local_world import World, seed_inventory, seed_world  # noqa: E402

NETWORK = "eksguard-local"
MOTO_CONTAINER = "eksguard-moto"
SLACK_CONTAINER = "eksguard-slack"
IMAGE = os.environ.get("LOCAL_AWS_IMAGE", "eksguard-local-aws:latest")
LAMBDA_BASE_IMAGE = "public.ecr.aws/lambda/python:3.13-x86_64"
MOTO_HOST_PORT = int(os.environ.get("EKSGUARD_MOTO_PORT", "4566"))
SLACK_HOST_PORT = int(os.environ.get("EKSGUARD_SLACK_PORT", "8765"))
SLACK_PORT_IN_NETWORK = 8765
KUBE_PORT_IN_NETWORK = 6443
WEBHOOK_PATH = "/services/T0EKSGUARD/B0STANDIN/s3cr3tW3bh00kT0k3n"
# What the notifier sees: a loopback URL (allowed over http), carried to the stand-in by the proxy.
WEBHOOK_URL_IN_FUNCTION = f"http://127.0.0.1:{SLACK_PORT_IN_NETWORK}{WEBHOOK_PATH}"
BUILT_TEMPLATE = ROOT / ".aws-sam" / "build" / "template.yaml"
LOCAL_TEMPLATE = ROOT / ".aws-sam" / "build" / "template.local.yaml"
WORLD_FILE = ROOT / ".aws-sam" / "local-world.json"
LOCAL_ONLY_VARIABLES = ("AWS_ENDPOINT_URL", "HTTP_PROXY", "NO_PROXY")
READY_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Stack:
    moto_url: str  # from the host
    slack_url: str  # from the host (GET /messages)


def docker(*args: str, check: bool = True, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, timeout=timeout)


def docker_available() -> bool:
    try:
        return docker("info", check=False, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def image_available(image: str = IMAGE) -> bool:
    return docker("image", "inspect", image, check=False).returncode == 0


def _wait_http(url: str, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - 127.0.0.1 only
                if response.status == 200:
                    return
        except OSError as exc:
            last = str(exc)
        time.sleep(0.25)
    raise TimeoutError(f"{url} not ready after {timeout:.0f}s ({last})")


def down() -> None:
    for name in (MOTO_CONTAINER, SLACK_CONTAINER):
        docker("rm", "-f", name, check=False)
    docker("network", "rm", NETWORK, check=False)


def up(moto_port: int = MOTO_HOST_PORT, slack_port: int = SLACK_HOST_PORT) -> Stack:
    """Fresh network and containers (any earlier ones are removed first)."""
    down()
    docker("network", "create", NETWORK)
    docker(
        "run",
        "-d",
        "--rm",
        "--name",
        MOTO_CONTAINER,
        "--network",
        NETWORK,
        "-p",
        f"127.0.0.1:{moto_port}:5000",
        IMAGE,
        "/app/local_aws_front.py",
        "--host",
        "0.0.0.0",
        "--port",
        "5000",
        "--start-moto",
        "5001",
        # the clusters' API servers (scripts/kube_standin.py), reached by the functions in the network only
        "--kube-port",
        str(KUBE_PORT_IN_NETWORK),
        "--kube-cert-host",
        MOTO_CONTAINER,
        "--kube-sts-host",
        f"{MOTO_CONTAINER}:5000",
    )
    docker(
        "run",
        "-d",
        "--rm",
        "--name",
        SLACK_CONTAINER,
        "--network",
        NETWORK,
        "-p",
        f"127.0.0.1:{slack_port}:{SLACK_PORT_IN_NETWORK}",
        IMAGE,
        "/app/slack_standin_server.py",
        "--port",
        str(SLACK_PORT_IN_NETWORK),
    )
    stack = Stack(f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{slack_port}")
    _wait_http(f"{stack.moto_url}/_eksguard/health")
    _wait_http(f"{stack.slack_url}/messages")
    return stack


def seed(stack: Stack) -> World:
    world = seed_world(stack.moto_url, WEBHOOK_URL_IN_FUNCTION)
    seed_inventory(stack.moto_url, MOTO_CONTAINER)
    WORLD_FILE.parent.mkdir(parents=True, exist_ok=True)
    WORLD_FILE.write_text(world.to_json(), encoding="utf-8")
    return world


def write_local_template(built: Path = BUILT_TEMPLATE, target: Path = LOCAL_TEMPLATE) -> Path:
    """The built template plus empty declarations of the local-only variables (same folder, so
    the built CodeUri/ContentUri paths stay valid)."""
    if not built.exists():
        raise FileNotFoundError(f"{built} not found: run `sam build` first")
    template: dict[str, Any] = yaml.safe_load(built.read_text(encoding="utf-8"))
    variables = (
        template.setdefault("Globals", {})
        .setdefault("Function", {})
        .setdefault("Environment", {})
        .setdefault("Variables", {})
    )
    for name in LOCAL_ONLY_VARIABLES:
        variables.setdefault(name, "")
    target.write_text(
        "# Generated by scripts/local_stack.py for sam local invoke; never deploy this file.\n"
        + yaml.safe_dump(template, sort_keys=False),
        encoding="utf-8",
    )
    return target


def slack_messages(stack: Stack) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{stack.slack_url}/messages", timeout=5) as response:  # noqa: S310
        payloads: list[dict[str, Any]] = json.loads(response.read())
    return payloads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("command", choices=["up", "down", "template", "seed", "ready"])
    args = parser.parse_args(argv)
    if args.command == "down":
        down()
        print(f"removed {MOTO_CONTAINER}, {SLACK_CONTAINER} and network {NETWORK}")
        return 0
    if args.command == "template":
        print(write_local_template().relative_to(ROOT))
        return 0
    if not docker_available():
        print("no Docker engine answers: start dockerd first", file=sys.stderr)
        return 1
    for image in (IMAGE, LAMBDA_BASE_IMAGE):
        if not image_available(image):
            print(f"{image} not found: run `make local-image` first", file=sys.stderr)
            return 1
    if args.command == "ready":
        return 0
    stack = Stack(f"http://127.0.0.1:{MOTO_HOST_PORT}", f"http://127.0.0.1:{SLACK_HOST_PORT}")
    if args.command == "up":
        stack = up()
    world = seed(stack)
    print(f"moto (+ DescribeSessions front): {stack.moto_url}  [{MOTO_CONTAINER}:5000 on {NETWORK}]")
    print(f"Slack stand-in: {stack.slack_url}/messages  [{SLACK_CONTAINER}:{SLACK_PORT_IN_NETWORK} on {NETWORK}]")
    print(f"world written to {WORLD_FILE.relative_to(ROOT)}")
    for box in world.boxes:
        print(f"  {box.region:<10} {box.name:<16} {box.instance_id}  ({box.why})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
