"""The inventory's gateways wired to AWS and the clusters, from settings (the handler's one call).

Also the request the function accepts: the schedules send `{"action": "inventory"}` or
`{"action": "digest"}`; a detector that could not read a log entry sends
`{"action": "inventory", "cluster": ..., "region": ..., "reason": ...}` for that one cluster, with
`"account"` when the cluster is a spoke's (a hub; without it, the hub's own account).

For a hub, the accounts to act in (`targets`) and the coverage report's setup (`coverage_setup`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eksguard import accounts, aws, kubectl_hosts
from eksguard.accounts import Targets
from eksguard.arns import principal_arn
from eksguard.config import Settings
from eksguard.coverage import CoverageSetup, HubBus
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
ACCOUNT_ID = re.compile(r"[0-9]{12}")
ACTIONS = ("inventory", "digest")


class BadRequest(ValueError):
    """The invocation's event is not an inventory request (logged, never retried)."""


@dataclass(frozen=True)
class Request:
    action: str
    cluster: str | None = None
    region: str | None = None
    reason: str | None = None
    account: str | None = None  # the cluster's account (a hub's spoke); None: the function's own

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
    account = event.get("account") if cluster else None
    if account is not None and not (isinstance(account, str) and ACCOUNT_ID.fullmatch(account)):
        raise BadRequest("account is not a 12-digit AWS account ID")
    reason = event.get("reason")
    return Request(str(action), cluster, region, str(reason)[:300] if reason is not None else None, account)


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


def _organizations(settings: Settings) -> Any:
    with aws.at_home():  # the hub's own organisation, also from inside a spoke's scope
        return aws.client("organizations", settings.region)


def _page_in_time() -> bool:
    """Another page of the organisation's accounts only while it can end before the run's deadline."""
    return aws.CallDeadline.allows(aws.worst_call_seconds(aws.RETRY_CONFIG))


def account_targets(
    settings: Settings, home: str | None, partition: str, request: Request
) -> Callable[[], Targets] | None:
    """A hub's accounts (None: a single-account deployment). For a detector's one-cluster request, the
    account of that cluster only; otherwise the home account first, then every spoke."""
    if not settings.multi_account:
        return None
    if request.only is not None:
        target = accounts.for_account(settings, home, request.account, partition)
        return lambda: Targets((target,))
    return lambda: accounts.resolve(
        settings, home, partition=partition, organizations=lambda: _organizations(settings), may_call=_page_in_time
    )


def coverage_setup(settings: Settings, home: str | None, partition: str) -> CoverageSetup | None:
    """The coverage report of a hub. The hub's bus is `<stack>-hub` (template.yaml HubEventBus) when the
    function knows its stack's name, else any event bus of the hub account in its region."""
    if not settings.multi_account or not home:
        return None
    bus = HubBus(home, settings.region, f"{settings.stack_name}-hub" if settings.stack_name else None)
    organization: Callable[[], tuple[tuple[str, ...], dict[str, str]]] | None = None
    if settings.organization_id and not settings.spoke_whole_organization:
        # SPOKE_ACCOUNTS lists the spokes: the organisation is read for the accounts it leaves out
        organization = lambda: accounts.list_organization(_organizations(settings), _page_in_time)  # noqa: E731
    return CoverageSetup(bus, partition, organization)
