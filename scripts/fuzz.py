#!/usr/bin/env python3
"""Fuzz every handler with mutated real events and print what happened.

    .venv/bin/python scripts/fuzz.py --examples 10000 [--handler audit_log_alert] [--seed 0]

Same strategies and properties as tests/fuzz (see tests/fuzz/harness.py): each case is classified
accepted, rejected (with the reason the handler gave and logged), retry (a designed retry exception for
a transient AWS error) or unexpected (a finding: any other exception, or a rejection without a log).
Exit status 1 when anything unexpected happened. AWS is an in-memory fake; nothing leaves the process.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "eksguard")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "eksguard")
os.environ.setdefault("AWS_REGION", "eu-west-1")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

from tests.fuzz import harness  # noqa: E402


def fuzz_one(name: str, examples: int, seed: int) -> tuple[Counter[str], Counter[str], list[str], float]:
    strategy, run = harness.HANDLERS[name]
    kinds: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    unexpected: list[str] = []

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy())
    def case(event: Any) -> None:
        outcome = run(event)
        kinds[outcome.kind] += 1
        if outcome.kind == "rejected":
            reasons[_reason_class(outcome.reason)] += 1
        elif outcome.kind == "unexpected":
            reasons[outcome.reason.split(":")[0]] += 1
            if len(unexpected) < 5:
                unexpected.append(outcome.reason)

    seeded = case
    if seed is not None:
        from hypothesis import seed as hypothesis_seed

        seeded = hypothesis_seed(seed)(case)
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        seeded()
    return kinds, reasons, unexpected, time.perf_counter() - started


def _reason_class(reason: str) -> str:
    """Group reasons that embed values (repr of a bad field) under their fixed prefix."""
    for cut in ("'", '"', " (", ": "):
        if cut in reason:
            reason = reason.split(cut, 1)[0]
    return reason.strip()[:80] or "(empty)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="cases per handler (default 1000)")
    parser.add_argument(
        "--handler",
        choices=sorted(harness.HANDLERS),
        action="append",
        help="only these handlers (repeatable; default all)",
    )
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0: reproducible)")
    args = parser.parse_args(argv)
    failed = False
    for name in args.handler or sorted(harness.HANDLERS):
        kinds, reasons, unexpected, seconds = fuzz_one(name, args.examples, args.seed)
        total = sum(kinds.values())
        print(
            f"## {name}: {total} cases in {seconds:.1f} s "
            f"(accepted {kinds['accepted']}, rejected {kinds['rejected']}, retry {kinds['retry']}, "
            f"unexpected {kinds['unexpected']})"
        )
        for reason, count in reasons.most_common(12):
            print(f"   {count:6d}  {reason}")
        for text in unexpected:
            print(f"   UNEXPECTED: {text}")
        failed = failed or kinds["unexpected"] > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
