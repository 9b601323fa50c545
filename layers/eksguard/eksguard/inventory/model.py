"""What the inventory read from one cluster, as plain data (no boto3, no HTTP).

A part that could not be read is None, never empty: "no access entries" and "access entries unknown"
must not look alike, or an unreachable API would read as "nobody is admin".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eksguard.rbac.model import Binding, Role
from eksguard.severity import Severity

# Authentication modes (EKS API `accessConfig.authenticationMode`).
MODE_CONFIG_MAP = "CONFIG_MAP"
MODE_API = "API"
MODE_API_AND_CONFIG_MAP = "API_AND_CONFIG_MAP"

SOURCE_EKS = "eks"  # the EKS API (access entries, identity providers, pod identity)
SOURCE_KUBERNETES = "kubernetes"  # the cluster's Kubernetes API (aws-auth, RBAC)


@dataclass(frozen=True)
class AccessPolicy:
    name: str  # AmazonEKSClusterAdminPolicy (the last part of the policy ARN)
    scope: str  # "cluster" | "namespace"
    namespaces: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.scope == "namespace":
            return f"{self.name} on namespaces {', '.join(self.namespaces) or '(none)'}"
        return f"{self.name} (cluster scope)"


@dataclass(frozen=True)
class AccessEntry:
    principal: str
    type: str = "STANDARD"
    username: str | None = None
    groups: tuple[str, ...] = ()
    policies: tuple[AccessPolicy, ...] = ()


@dataclass(frozen=True)
class IdentityProvider:
    name: str
    issuer: str = ""
    client_id: str = ""
    username_claim: str = ""
    username_prefix: str = ""
    groups_claim: str = ""
    groups_prefix: str = ""

    def describe(self) -> str:
        return f"OIDC identity provider {self.name} ({self.issuer or 'issuer unknown'})"


@dataclass(frozen=True)
class PodIdentity:
    namespace: str
    service_account: str
    role_arn: str
    target_role_arn: str | None = None


@dataclass(frozen=True)
class ClusterFacts:
    """DescribeCluster, reduced to what decides who can be admin and what eksguard can see."""

    name: str
    region: str
    arn: str | None = None
    status: str | None = None
    version: str | None = None
    authentication_mode: str | None = None  # None: the cluster predates access entries (CONFIG_MAP)
    bootstrap_creator_admin: bool | None = None
    endpoint: str | None = None
    certificate_authority: str | None = None  # base64 PEM as DescribeCluster gives it
    public_endpoint: bool | None = None
    private_endpoint: bool | None = None
    public_cidrs: tuple[str, ...] = ()
    audit_logging: bool | None = None

    @property
    def reads_aws_auth(self) -> bool:
        return self.authentication_mode in (None, MODE_CONFIG_MAP, MODE_API_AND_CONFIG_MAP)

    @property
    def reads_access_entries(self) -> bool:
        return self.authentication_mode in (MODE_API, MODE_API_AND_CONFIG_MAP)


@dataclass(frozen=True)
class KubeObjects:
    """The Kubernetes side: aws-auth (`None` when the ConfigMap does not exist) and every RBAC object."""

    aws_auth: dict[str, Any] | None = None
    roles: tuple[Role, ...] = ()
    bindings: tuple[Binding, ...] = ()
    unreadable: tuple[str, ...] = ()  # objects that did not parse as their kind (named, never guessed)


@dataclass(frozen=True)
class BlindSpot:
    """Something that keeps eksguard from seeing part of a cluster's access; reported once, then in digests."""

    key: str  # stable identity ("kubernetes-api", "audit-logging-off")
    severity: Severity
    text: str


@dataclass(frozen=True)
class Snapshot:
    cluster: ClusterFacts
    access_entries: tuple[AccessEntry, ...] | None = None
    identity_providers: tuple[IdentityProvider, ...] | None = None
    pod_identities: tuple[PodIdentity, ...] | None = None
    kube: KubeObjects | None = None
    blind_spots: tuple[BlindSpot, ...] = field(default=())
    api_calls: int = 0

    @property
    def sources_read(self) -> frozenset[str]:
        """The sources every door of which was read (a door from an unread source is unknown, not gone)."""
        read = set()
        eks_parts: list[object] = [self.identity_providers, self.pod_identities]
        if self.cluster.reads_access_entries:
            eks_parts.append(self.access_entries)
        if all(part is not None for part in eks_parts):
            read.add(SOURCE_EKS)
        if self.kube is not None:
            read.add(SOURCE_KUBERNETES)
        return frozenset(read)
