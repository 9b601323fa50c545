#!/usr/bin/env python3
"""Build the CloudWatch Logs subscription events in events/ from the readable sources in events/src/<topic>/.

events/src/aws_auth/X.json becomes events/aws_auth_X.json, events/src/rbac/X.json events/rbac_X.json,
events/src/audit_log_kinesis/X.json events/audit_log_kinesis_X.json.

Each source file is the decoded delivery (`messageType`, `owner`, `logGroup`, `logStream`,
`subscriptionFilters`, `logEvents`). A log event `message` may be an object (a Kubernetes audit
Event, serialised compactly as the API server writes it) or a string (used as is). A log event with
`truncateAtChars: N` is cut after N characters and ends with `[Truncated...]`, as CloudWatch Logs
stores entries over 256 KB.

An audit_log_kinesis source is a Kinesis event (`{"Records": [...]}`, as the hub's stream delivers the
spokes' audit logs) whose every `kinesis.data` is such a decoded delivery; it is encoded the same way.

The output is what Lambda receives: `{"awslogs": {"data": base64(gzip(json))}}`. gzip mtime is
fixed at 0 so the files only change when a source changes. `--check` fails when a built file is
out of date (for CI).

    python scripts/build_awslogs_events.py [--check]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOURCE_ROOT = ROOT / "events" / "src"
TOPICS = ("aws_auth", "rbac", "audit_log_kinesis")
KINESIS_TOPIC = "audit_log_kinesis"
EVENTS_DIR = ROOT / "events"
TRUNCATION_MARKER = "[Truncated...]"


def render_message(log_event: dict[str, Any]) -> str:
    message = log_event["message"]
    text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
    cut = log_event.get("truncateAtChars")
    if cut is not None:
        text = text[: int(cut)] + TRUNCATION_MARKER
    return text


def encode_data(source: dict[str, Any]) -> str:
    """base64(gzip(json)) of a delivery, as CloudWatch Logs writes it to any subscription destination."""
    body = dict(source)
    body["logEvents"] = [
        {"id": e["id"], "timestamp": e["timestamp"], "message": render_message(e)} for e in source["logEvents"]
    ]
    raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
    compressed = gzip.compress(raw, compresslevel=9, mtime=0)
    return base64.b64encode(compressed).decode("ascii")


def encode_delivery(source: dict[str, Any]) -> dict[str, Any]:
    return {"awslogs": {"data": encode_data(source)}}


def encode_kinesis(source: dict[str, Any]) -> dict[str, Any]:
    records = []
    for record in source["Records"]:
        kinesis = {**record["kinesis"], "data": encode_data(record["kinesis"]["data"])}
        records.append({**record, "kinesis": kinesis})
    return {"Records": records}


def build(check: bool) -> int:
    stale: list[str] = []
    sources = [(topic, path) for topic in TOPICS for path in sorted((SOURCE_ROOT / topic).glob("*.json"))]
    for topic, source_path in sources:
        source = json.loads(source_path.read_text(encoding="utf-8"))
        target = EVENTS_DIR / f"{topic}_{source_path.stem}.json"
        built = encode_kinesis(source) if topic == KINESIS_TOPIC else encode_delivery(source)
        text = json.dumps(built, indent=2) + "\n"
        if check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(target.name)
            continue
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        print(f"out of date: {', '.join(stale)} (run scripts/build_awslogs_events.py)", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a built event differs from its source")
    return build(parser.parse_args().check)


if __name__ == "__main__":
    sys.exit(main())
