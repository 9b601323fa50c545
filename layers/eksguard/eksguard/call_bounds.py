"""How long each function's AWS calls can take, worst case, next to its timeout.

Every client Config bounds one call (`aws.worst_call_seconds`). What a function does with them
falls in two kinds:
- a fixed chain of calls (a detector: lookups, its state record, the queue send): the chain's
  worst case must fit the function's timeout, so a slow AWS degrades the verdict or fails the
  invocation (retried, then the failed-events queue) instead of being cut off mid-write;
- a loop (regions, batches, clusters, records): the loop starts a step only while the step's
  worst case, plus what must follow it, still fits (a guard with a reserve). The reserve, not
  the loop's length, is what must fit the timeout.

tests/unit/test_call_bounds.py reads template.yaml and checks every function against this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from eksguard import aws, coverage
from eksguard.inventory import eks_reader, kube_reader
from eksguard.inventory.run import FINAL_RESERVE_SECONDS
from eksguard.slack.notifier import RECORD_RESERVE_SECONDS
from eksguard.stop.run import call_reserve_seconds

MARGIN_SECONDS = 5.0  # logging, metrics, Python's own work after the last call


@dataclass(frozen=True)
class Step:
    what: str
    seconds: float


def write() -> float:
    return aws.worst_call_seconds(aws.RETRY_CONFIG)


def kube_get_seconds() -> float:
    """One Kubernetes GET: every attempt connects and reads to its limit, waits capped between."""
    attempts = kube_reader.MAX_ATTEMPTS
    return (
        attempts * (kube_reader.CONNECT_TIMEOUT + kube_reader.READ_TIMEOUT)
        + (attempts - 1) * kube_reader.MAX_RETRY_WAIT
    )


def longest_unguarded(function: str) -> tuple[Step, ...]:
    """The longest sequence of calls `function` can make without checking the time left."""
    lookups = Step("kubectl-instance / IAM lookups (one budget per invocation)", aws.worst_lookup_seconds())
    paths: dict[str, tuple[Step, ...]] = {
        "EksApiAlertFunction": (
            lookups,
            Step("queue send of the alert", write()),
            Step("access-entry record", write()),
        ),
        "AuditLogAlertFunction": (
            lookups,
            Step("aws-auth state read", write()),
            Step("aws-auth state write", write()),
            Step("access entries read", write()),
            Step("RBAC state read", write()),
            Step("RBAC state write", write()),
            Step("queue send of up to 10 alerts", write()),
            Step("inventory request (asynchronous invoke, lookup bounds)", aws.worst_lookup_call_seconds()),
        ),
        # Every EC2/SSM call (each page of a listing, each StopInstances) is started only with
        # call_reserve_seconds() left: the call, then the summary's queue send (eksguard.stop.run).
        "StopInstancesFunction": (
            Step("one EC2 or SSM call (EC2 read timeout 20 s)", aws.worst_call_seconds(aws.EC2_CONFIG)),
            Step("queue send of the summary", write()),
        ),
        # A record is started only with RECORD_RESERVE_SECONDS left (eksguard.slack.notifier), which
        # must cover one record's calls; the webhook secret is read once, before the first record.
        "SlackNotifierFunction": (
            Step("webhook secret read", write()),
            Step("one record's reserve (RECORD_RESERVE_SECONDS)", RECORD_RESERVE_SECONDS),
        ),
        # A log group page and one filter put at a time; pages are few (one per 50 log groups).
        "AuditLogEnrolFunction": (
            Step("log groups page", write()),
            Step("cluster description", write()),
            Step("subscription filter read", write()),
            Step("subscription filter write", write()),
            Step("queue send of the report", write()),
        ),
        # Every EKS call and Kubernetes GET is made only while it can end FINAL_RESERVE_SECONDS before the
        # timeout (aws.CallDeadline, started by eksguard.inventory.run); so are a hub's calls around them
        # (the organisation's pages, each spoke's AssumeRole and alias, the coverage report's rule reads)
        # and the expected-admin lookups (their budget ends one lookup call before the deadline:
        # inventory_handler.lookup_seconds). What follows the reads fits the reserve.
        "InventoryFunction": (
            Step("the longest single read", inventory_cluster_step_seconds()),
            Step("what follows the reads (FINAL_RESERVE_SECONDS)", FINAL_RESERVE_SECONDS),
        ),
    }
    return paths[function]


def worst_seconds(function: str) -> float:
    return sum(step.seconds for step in longest_unguarded(function)) + MARGIN_SECONDS


def inventory_cluster_step_seconds() -> float:
    """The longest single call of an inventory run: inside one cluster's inventory (EKS API, STS presign,
    Kubernetes GET, an expected-admin lookup, its record), and a hub's calls between clusters (a page of
    the organisation's accounts, a spoke's AssumeRole and account alias, a forwarding rule's read)."""
    return max(
        aws.worst_call_seconds(eks_reader.EKS_CONFIG),
        aws.worst_call_seconds(kube_reader.STS_CONFIG),
        kube_get_seconds(),
        aws.worst_lookup_call_seconds(),
        write(),
        aws.worst_call_seconds(aws.ASSUME_CONFIG),
        aws.worst_call_seconds(coverage.COVERAGE_CONFIG),
    )


FUNCTIONS = (
    "EksApiAlertFunction",
    "AuditLogAlertFunction",
    "StopInstancesFunction",
    "SlackNotifierFunction",
    "AuditLogEnrolFunction",
    "InventoryFunction",
)

__all__ = ["FUNCTIONS", "Step", "call_reserve_seconds", "longest_unguarded", "worst_seconds"]
