"""StopInstances in batches, isolating instances that fail so the others still stop.

One un-stoppable ID fails a whole StopInstances call. When EC2 names the culprit in its error
message we drop it and retry at once; otherwise we bisect the batch. Throttling is retried by
botocore (standard mode); if it persists the batch is reported failed as a whole instead of
being bisected into even more calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError

# StopInstances sets no documented maximum of IDs. Measured on the same data (docs/benchmarks.md):
# 1,000 per call stops 2,000 instances in 2 calls instead of 40 and in less time than one call
# of 2,000; isolation stays cheap (a named culprit costs one more call, bisection about 2 x log2(1000)).
# An oversized request fails without naming an ID, so bisection halves it by itself.
BATCH_SIZE = 1000
INSTANCE_ID_RE = re.compile(r"\bi-[0-9a-f]{8,17}\b")
THROTTLING_CODES = {"RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException"}
DRY_RUN_OK = "DryRunOperation"
OUT_OF_TIME = "OutOfTime"


def _always() -> bool:
    return True


@dataclass(frozen=True)
class StopFailure:
    instance_id: str
    code: str
    message: str


@dataclass
class StopOutcome:
    stopped: list[str]
    failed: list[StopFailure]
    calls: int = 0


def _error(exc: ClientError) -> tuple[str, str]:
    err = exc.response.get("Error") or {}
    return str(err.get("Code") or "Unknown"), str(err.get("Message") or "")


def stop_in_batches(
    ec2: Any,
    instance_ids: Sequence[str],
    *,
    dry_run: bool = False,
    batch_size: int | None = None,
    may_call: Callable[[], bool] = _always,
) -> StopOutcome:
    """Stop `instance_ids`; `may_call` is asked before every call (False: the invocation is out
    of time, and what is left is reported as not attempted rather than cut off by the timeout)."""
    outcome = StopOutcome(stopped=[], failed=[])
    ids = list(dict.fromkeys(instance_ids))
    size = batch_size or BATCH_SIZE
    for start in range(0, len(ids), size):
        _stop_isolating(ec2, ids[start : start + size], dry_run, outcome, may_call)
    return outcome


def _refusal_budget(size: int) -> int:
    """Permission refusals one batch may isolate: enough to bisect down to a few refused instances
    (2 * log2(size) each), not the 2 * size calls of a policy that refuses every instance."""
    return 4 * max(1, size.bit_length()) + 4


def _stop_isolating(
    ec2: Any, batch: list[str], dry_run: bool, outcome: StopOutcome, may_call: Callable[[], bool]
) -> None:
    # Work list of batches still to try; each failure either names an ID (removed) or splits the
    # batch, so the number of calls is bounded by about 2 * len(batch).
    work: list[list[str]] = [batch]
    max_calls = 4 * len(batch) + 4
    calls = 0
    # The stop permission is conditioned on each instance's tag: one instance whose tag changed since
    # DescribeInstances (or was changed on purpose around the schedule) refuses the whole call. So a
    # refusal is bisected like any unnamed failure, within a budget: a policy that refuses everything
    # fails the rest of the batch as a whole instead of costing a call per instance.
    refusals_left = _refusal_budget(len(batch))
    while work:
        current = work.pop()
        if not current:
            continue
        if calls >= max_calls:  # defensive bound: never loop on a misbehaving API
            outcome.failed.extend(StopFailure(i, "IsolationLimit", "gave up isolating failures") for i in current)
            continue
        if not may_call():
            outcome.failed.extend(
                StopFailure(i, OUT_OF_TIME, "not attempted: the run ran out of time") for i in current
            )
            continue
        calls += 1
        outcome.calls += 1
        try:
            response = ec2.stop_instances(InstanceIds=current, DryRun=dry_run)
        except BotoCoreError as exc:
            # The network, after botocore's retries: this batch only; the others are still tried. A read
            # timeout means EC2 may have acted on it (the next run or the instance state tells).
            lost = isinstance(exc, ReadTimeoutError)
            message = "no answer from EC2: the instances may be stopping" if lost else f"{type(exc).__name__}"
            outcome.failed.extend(StopFailure(i, type(exc).__name__, message) for i in current)
            continue
        except ClientError as exc:
            code, message = _error(exc)
            if dry_run and code == DRY_RUN_OK:
                outcome.stopped.extend(current)
                continue
            if code in THROTTLING_CODES:
                # Retrying per instance would not help (and amplifies throttling).
                outcome.failed.extend(StopFailure(i, code, message) for i in current)
                continue
            if code.startswith("Unauthorized") or code == "AccessDenied":
                refusals_left -= 1
                if refusals_left < 0:  # refused across the board: the rest of the batch fails as a whole
                    for rest in (current, *work):
                        outcome.failed.extend(StopFailure(i, code, message) for i in rest)
                    work.clear()
                    continue
            if len(current) == 1:
                outcome.failed.append(StopFailure(current[0], code, message))
                continue
            named = [i for i in INSTANCE_ID_RE.findall(message) if i in current]
            if named:
                outcome.failed.extend(StopFailure(i, code, message) for i in dict.fromkeys(named))
                work.append([i for i in current if i not in named])
            else:
                middle = len(current) // 2
                work.append(current[middle:])
                work.append(current[:middle])
            continue
        returned = {item.get("InstanceId") for item in response.get("StoppingInstances") or []}
        for instance_id in current:
            if instance_id in returned:
                outcome.stopped.append(instance_id)
            else:
                outcome.failed.append(StopFailure(instance_id, "NotInResponse", "StopInstances did not list it"))
