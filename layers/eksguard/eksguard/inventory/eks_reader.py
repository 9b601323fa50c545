"""The EKS API side of an inventory: DescribeCluster, access entries and their policies, identity
providers, pod identity associations. One small gateway over boto3; every call is counted.

Each part is read on its own: a part that fails is None in the snapshot plus a blind spot, and the
other parts are still read.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from eksguard import aws
from eksguard.inventory.model import AccessEntry, AccessPolicy, ClusterFacts, IdentityProvider, PodIdentity

T = TypeVar("T")

# Bounded so that a slow API degrades one cluster, not the run: 2 s connect, 8 s read, 3 attempts
# (43 s worst case per call, within the run's per-cluster reserve; see eksguard.call_bounds).
EKS_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=2,
    read_timeout=8,
    user_agent_extra="eksguard-inventory",
)
MAX_ACCESS_ENTRIES = 2000  # per cluster; EKS's own quota is far lower (access entries per cluster)


class EksReadError(RuntimeError):
    """A part of the EKS API could not be read; the message says which and why (never a secret)."""


def in_time() -> None:
    """Before each EKS call: refuse one that could not end before the run's deadline (aws.CallDeadline)."""
    if not aws.CallDeadline.allows(aws.worst_call_seconds(EKS_CONFIG)):
        raise EksReadError("not read: the run ran out of time")


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'ClientError')}: {str(error.get('Message', ''))[:200]}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


class EksReader:
    def __init__(self, region: str, client: Any = None) -> None:
        self.region = region
        self._client = client
        self.calls = 0

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client_with("eks", self.region, EKS_CONFIG)
        return self._client

    def _call(self, result: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        return result

    def _pages(self, fetch: Callable[[dict[str, str]], dict[str, Any]], key: str) -> Iterator[Any]:
        """Every item of a paged list; `fetch` gets {"nextToken": ...} after the first page."""
        token: str | None = None
        while True:
            in_time()
            page = self._call(fetch({"nextToken": token} if token else {}))
            yield from page.get(key) or []
            token = page.get("nextToken")
            if not token:
                return

    def guarded(self, what: str, read: Callable[[], T]) -> T:
        try:
            in_time()
            return read()
        except (ClientError, BotoCoreError, OSError) as exc:
            raise EksReadError(f"{what}: {describe_error(exc)}") from None

    def list_clusters(self) -> list[str]:
        return self.guarded(
            "ListClusters", lambda: list(self._pages(lambda t: self.client.list_clusters(**t), "clusters"))
        )

    def cluster(self, name: str) -> ClusterFacts:
        raw = self.guarded("DescribeCluster", lambda: self._call(self.client.describe_cluster(name=name))["cluster"])
        return cluster_facts(raw, self.region)

    def access_entries(self, name: str) -> tuple[AccessEntry, ...]:
        def read() -> tuple[AccessEntry, ...]:
            entries = []
            listed = self._pages(lambda t: self.client.list_access_entries(clusterName=name, **t), "accessEntries")
            for count, principal in enumerate(listed):
                if count >= MAX_ACCESS_ENTRIES:
                    raise EksReadError(f"more than {MAX_ACCESS_ENTRIES} access entries")
                in_time()
                raw = self._call(self.client.describe_access_entry(clusterName=name, principalArn=principal))
                raw = raw["accessEntry"]
                policies = tuple(access_policy(p) for p in self._policies(name, principal))
                entries.append(
                    AccessEntry(
                        principal=str(raw.get("principalArn") or principal),
                        type=str(raw.get("type") or "STANDARD"),
                        username=raw.get("username") or None,
                        groups=tuple(str(g) for g in raw.get("kubernetesGroups") or ()),
                        policies=policies,
                    )
                )
            return tuple(entries)

        return self.guarded("access entries", read)

    def _policies(self, name: str, principal: str) -> Iterator[Any]:
        return self._pages(
            lambda t: self.client.list_associated_access_policies(clusterName=name, principalArn=principal, **t),
            "associatedAccessPolicies",
        )

    def identity_providers(self, name: str) -> tuple[IdentityProvider, ...]:
        def read() -> tuple[IdentityProvider, ...]:
            providers = []
            listed = self._pages(
                lambda t: self.client.list_identity_provider_configs(clusterName=name, **t), "identityProviderConfigs"
            )
            for ref in listed:
                in_time()
                described = self.client.describe_identity_provider_config(
                    clusterName=name, identityProviderConfig={"type": ref.get("type", "oidc"), "name": ref["name"]}
                )
                raw = self._call(described)["identityProviderConfig"].get("oidc") or {}
                providers.append(
                    IdentityProvider(
                        name=str(raw.get("identityProviderConfigName") or ref["name"]),
                        issuer=str(raw.get("issuerUrl") or ""),
                        client_id=str(raw.get("clientId") or ""),
                        username_claim=str(raw.get("usernameClaim") or ""),
                        username_prefix=str(raw.get("usernamePrefix") or ""),
                        groups_claim=str(raw.get("groupsClaim") or ""),
                        groups_prefix=str(raw.get("groupsPrefix") or ""),
                    )
                )
            return tuple(providers)

        return self.guarded("identity providers", read)

    def pod_identities(self, name: str) -> tuple[PodIdentity, ...]:
        def read() -> tuple[PodIdentity, ...]:
            found = []
            listed = self._pages(
                lambda t: self.client.list_pod_identity_associations(clusterName=name, **t), "associations"
            )
            for summary in listed:
                in_time()
                described = self.client.describe_pod_identity_association(
                    clusterName=name, associationId=summary["associationId"]
                )
                raw = self._call(described)["association"]
                found.append(
                    PodIdentity(
                        namespace=str(raw.get("namespace") or summary.get("namespace") or ""),
                        service_account=str(raw.get("serviceAccount") or summary.get("serviceAccount") or ""),
                        role_arn=str(raw.get("roleArn") or ""),
                        target_role_arn=raw.get("targetRoleArn") or None,
                    )
                )
            return tuple(found)

        return self.guarded("pod identity associations", read)


def access_policy(raw: dict[str, Any]) -> AccessPolicy:
    scope = raw.get("accessScope") or {}
    return AccessPolicy(
        name=str(raw.get("policyArn") or "").rsplit("/", 1)[-1],
        scope="namespace" if scope.get("type") == "namespace" else "cluster",
        namespaces=tuple(str(n) for n in scope.get("namespaces") or ()),
    )


def cluster_facts(raw: dict[str, Any], region: str) -> ClusterFacts:
    access = raw.get("accessConfig") or {}
    vpc = raw.get("resourcesVpcConfig") or {}
    audit = None
    logging = (raw.get("logging") or {}).get("clusterLogging")
    if isinstance(logging, list):
        audit = any(bool(s.get("enabled")) and "audit" in (s.get("types") or []) for s in logging)
    ca = (raw.get("certificateAuthority") or {}).get("data")
    return ClusterFacts(
        name=str(raw.get("name")),
        region=region,
        arn=raw.get("arn"),
        status=raw.get("status"),
        version=raw.get("version"),
        authentication_mode=access.get("authenticationMode"),
        bootstrap_creator_admin=access.get("bootstrapClusterCreatorAdminPermissions"),
        endpoint=raw.get("endpoint"),
        certificate_authority=ca,
        public_endpoint=vpc.get("endpointPublicAccess"),
        private_endpoint=vpc.get("endpointPrivateAccess"),
        public_cidrs=tuple(vpc.get("publicAccessCidrs") or ()),
        audit_logging=audit,
    )


def ca_pem(data: str | None) -> str:
    """DescribeCluster gives the CA as base64 of the PEM text."""
    if not data:
        raise ValueError("the cluster has no certificate authority data")
    try:
        text = base64.b64decode(data, validate=False).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        raise ValueError("certificate authority data is not base64 PEM") from None
    if "BEGIN CERTIFICATE" not in text:
        raise ValueError("certificate authority data is not a PEM certificate")
    return text
