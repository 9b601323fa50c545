"""The inventory's gateways wired to AWS and the clusters, from settings (the handler's one call).

Also the request the function accepts: the schedules send `{"action": "inventory"}` or
`{"action": "digest"}`; a detector that could not read a log entry sends
`{"action": "inventory", "cluster": ..., "region": ..., "reason": ...}` for that one cluster.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eksguard import kubectl_hosts
from eksguard.arns import principal_arn
from eksguard.config import Settings
from eksguard.expected_admins import expected_admins_from_settings
from eksguard.inventory.compare import Verdict
from eksguard.inventory.eks_reader import EksReader, ca_pem
from eksguard.inventory.kube_reader import KubeError, KubeReader, token
from eksguard.inventory.model import ClusterFacts
from eksguard.inventory.run import Gateways
from eksguard.inventory.store import DynamoInventoryStore, InMemoryInventoryStore, InventoryStore
from eksguard.publish import publish_many

CLUSTER_NAME = re.compile(r"[0-9A-Za-z][A-Za-z0-9_-]{0,99}")  # EKS CreateCluster `name`
REGION_NAME = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
ACTIONS = ("inventory", "digest")


class BadRequest(ValueError):
    """The invocation's event is not an inventory request (logged, never retried)."""


@dataclass(frozen=True)
class Request:
    action: str
    cluster: str | None = None
    region: str | None = None
    reason: str | None = None

    @property
    def only(self) -> tuple[str, str] | None:
        return (self.region, self.cluster) if self.cluster and self.region else None


def parse_request(event: Any, default_region: str) -> Request:
    if not isinstance(event, Mapping):
        raise BadRequest("the event is not a JSON object")
    action = event.get("action", "inventory")
    if action not in ACTIONS:
        raise BadRequest(f"action must be one of {', '.join(ACTIONS)}")
    cluster = event.get("cluster")
    region = event.get("region") or (default_region if cluster else None)
    if cluster is not None and not (isinstance(cluster, str) and CLUSTER_NAME.fullmatch(cluster)):
        raise BadRequest("cluster is not an EKS cluster name")
    if region is not None and not (isinstance(region, str) and REGION_NAME.fullmatch(region)):
        raise BadRequest("region is not an AWS region name")
    reason = event.get("reason")
    return Request(str(action), cluster, region, str(reason)[:300] if reason is not None else None)


def kube_reader(facts: ClusterFacts) -> KubeReader:
    if not facts.endpoint:
        raise KubeError("endpoint", "DescribeCluster gives no endpoint (the cluster is not active)")
    try:
        ca = ca_pem(facts.certificate_authority)
    except ValueError as exc:
        raise KubeError("tls", str(exc)) from None
    return KubeReader(facts.endpoint, ca, token(facts.name, facts.region))


def gateways_from_settings(settings: Settings) -> Gateways:
    expected = expected_admins_from_settings(settings)

    def verdict(cluster: str) -> Verdict:
        def judge(principal: str) -> tuple[bool, str]:
            match = expected.check(cluster, principal)
            why = match.reason + (f" (lookup failed: {match.lookup_error})" if match.lookup_error else "")
            return match.expected, why

        return judge

    def kubectl_roles(cluster: str) -> frozenset[str]:
        try:
            roles = kubectl_hosts.inventory(settings).roles_by_cluster().get(cluster, set())
        except Exception:  # the kubectl instances are only needed for the MEDIUM "lost admin"
            return frozenset()
        return frozenset(principal_arn(r) or r for r in roles)

    store: InventoryStore = (
        DynamoInventoryStore(settings.audit_state_table, settings.region)
        if settings.audit_state_table
        else InMemoryInventoryStore()
    )
    publish: Callable[[list[Any]], object] = lambda alerts: publish_many(alerts, settings)  # noqa: E731
    return Gateways(
        eks=EksReader, kube=kube_reader, store=store, publish=publish, verdict=verdict, kubectl_roles=kubectl_roles
    )
