"""The EKS access-state APIs moto 5 does not implement, for the local AWS front (scripts/local_aws_front.py).

moto has no access entries, access policies, identity provider configs or pod identity associations,
and its DescribeCluster has no `accessConfig`. This module answers those calls from a seeded world
and completes DescribeCluster (endpoint, CA, accessConfig, logging) for the clusters it knows; every
other EKS call still goes to moto. Shapes follow the EKS API reference (botocore's service model):

    GET  /clusters                                           ListClusters (moto's plus the seeded ones)
    GET  /clusters/{name}                                    DescribeCluster
    GET  /clusters/{name}/access-entries                     ListAccessEntries
    GET  /clusters/{name}/access-entries/{arn}               DescribeAccessEntry
    GET  /clusters/{name}/access-entries/{arn}/access-policies   ListAssociatedAccessPolicies
    GET  /clusters/{name}/identity-provider-configs          ListIdentityProviderConfigs
    POST /clusters/{name}/identity-provider-configs/describe DescribeIdentityProviderConfig
    GET  /clusters/{name}/pod-identity-associations          ListPodIdentityAssociations
    GET  /clusters/{name}/pod-identity-associations/{id}     DescribePodIdentityAssociation

Seed (admin endpoint of the front): PUT /_eksguard/eks {"clusters": [{"name", "region", "account", "endpoint",
"ca", "authenticationMode", "bootstrapClusterCreatorAdminPermissions", "auditLogging",
"accessEntries": [{"principalArn", "type", "username", "kubernetesGroups", "policies": [{"policyArn",
"accessScope"}]}], "identityProviders": [oidc config], "podIdentities": [{"namespace",
"serviceAccount", "roleArn"}], "fault": null | "AccessDeniedException" | "ThrottlingException"}]}.

`account` (default moto's 123456789012) says whose cluster it is: once any seeded cluster names one, a
call sees only the clusters of the account its credentials act in (moto's own answer to
sts:GetCallerIdentity for the call's access key, which is how moto keeps assumed-role accounts apart),
so two accounts can each have a `prod`. Without it, every caller sees every cluster, as before.

Standard library only (it runs inside the local AWS image).
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import parse_qs, unquote

PAGE = 100
DEFAULT_ACCOUNT = "123456789012"  # moto's default account
_SERVICE_IN_SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/")
FAULT_STATUS = {"AccessDeniedException": 403, "ThrottlingException": 429, "ServerException": 500}


def scope_of(authorization: str) -> tuple[str | None, str | None]:
    """(region, service) of a SigV4 Authorization header."""
    match = _SERVICE_IN_SCOPE.search(authorization or "")
    return (match.group(1), match.group(2)) if match else (None, None)


class EksWorld:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clusters: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._multi_account = False

    def replace(self, clusters: list[dict[str, Any]]) -> None:
        with self._lock:
            self._clusters = {(c.get("account") or DEFAULT_ACCOUNT, c["region"], c["name"]): c for c in clusters}
            self._multi_account = any(c.get("account") for c in clusters)

    @property
    def multi_account(self) -> bool:
        """Whether calls must be told apart by account (some seeded cluster names one)."""
        with self._lock:
            return self._multi_account

    def names(self, region: str, account: str = DEFAULT_ACCOUNT) -> list[str]:
        with self._lock:
            return sorted(n for (a, r, n) in self._clusters if r == region and a == account)

    def get(self, region: str, name: str, account: str = DEFAULT_ACCOUNT) -> dict[str, Any] | None:
        with self._lock:
            return self._clusters.get((account, region, name))


def _page(items: list[Any], query: dict[str, list[str]], key: str) -> dict[str, Any]:
    start = int((query.get("nextToken") or ["0"])[0] or 0)
    size = max(1, min(int((query.get("maxResults") or [str(PAGE)])[0]), PAGE))
    answer: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        answer["nextToken"] = str(start + size)
    return answer


def describe_overlay(cluster: dict[str, Any], moto_cluster: dict[str, Any] | None) -> dict[str, Any]:
    """DescribeCluster's `cluster`: moto's answer (if any) completed with the seeded access facts."""
    base = dict(moto_cluster or {})
    base.setdefault("name", cluster["name"])
    base.setdefault(
        "arn", f"arn:aws:eks:{cluster['region']}:{cluster.get('account', '123456789012')}:cluster/{cluster['name']}"
    )
    base.setdefault("status", "ACTIVE")
    base.setdefault("version", "1.31")
    base["endpoint"] = cluster.get("endpoint")
    base["certificateAuthority"] = {"data": cluster.get("ca")}
    base["accessConfig"] = {
        "authenticationMode": cluster.get("authenticationMode", "API_AND_CONFIG_MAP"),
        "bootstrapClusterCreatorAdminPermissions": bool(cluster.get("bootstrapClusterCreatorAdminPermissions", False)),
    }
    vpc = dict(base.get("resourcesVpcConfig") or {})
    vpc.setdefault("endpointPublicAccess", cluster.get("endpointPublicAccess", True))
    vpc.setdefault("endpointPrivateAccess", cluster.get("endpointPrivateAccess", False))
    base["resourcesVpcConfig"] = vpc
    audit = bool(cluster.get("auditLogging", True))
    base["logging"] = {"clusterLogging": [{"types": ["api", "audit", "authenticator"], "enabled": audit}]}
    return base


def answer(
    world: EksWorld,
    method: str,
    path: str,
    query_text: str,
    body: bytes,
    region: str,
    account: str = DEFAULT_ACCOUNT,
) -> tuple[int, Any] | None:
    """(status, JSON) for a call this module answers; None to let moto answer."""
    query = parse_qs(query_text)
    if path == "/clusters" and method == "GET":
        return None  # merged by the caller with moto's list
    match = re.fullmatch(r"/clusters/([^/]+)(/.*)?", path)
    if match is None:
        return None
    cluster = world.get(region, unquote(match.group(1)), account)
    if cluster is None:
        return None
    rest = match.group(2) or ""
    fault = cluster.get("fault")
    if fault and rest:
        return FAULT_STATUS.get(fault, 400), {"__type": fault, "message": f"{fault} (injected)"}
    name = cluster["name"]
    entries = {e["principalArn"]: e for e in cluster.get("accessEntries") or []}
    if rest == "/access-entries" and method == "GET":
        return 200, _page(sorted(entries), query, "accessEntries")
    entry_match = re.fullmatch(r"/access-entries/([^/]+)(/access-policies)?", rest)
    if entry_match and method == "GET":
        principal = unquote(entry_match.group(1))
        entry = entries.get(principal)
        if entry is None:
            return 404, {"__type": "ResourceNotFoundException", "message": f"no access entry for {principal}"}
        if entry_match.group(2):
            policies = [
                {"policyArn": p["policyArn"], "accessScope": p.get("accessScope") or {"type": "cluster"}}
                for p in entry.get("policies") or []
            ]
            page = _page(policies, query, "associatedAccessPolicies")
            return 200, {"clusterName": name, "principalArn": principal, **page}
        return 200, {
            "accessEntry": {
                "clusterName": name,
                "principalArn": principal,
                "kubernetesGroups": entry.get("kubernetesGroups") or [],
                "username": entry.get("username") or _default_username(principal),
                "type": entry.get("type") or "STANDARD",
            }
        }
    providers = {p["identityProviderConfigName"]: p for p in cluster.get("identityProviders") or []}
    if rest == "/identity-provider-configs" and method == "GET":
        refs = [{"type": "oidc", "name": n} for n in sorted(providers)]
        return 200, _page(refs, query, "identityProviderConfigs")
    if rest == "/identity-provider-configs/describe" and method == "POST":
        wanted = (json.loads(body or b"{}").get("identityProviderConfig") or {}).get("name")
        provider = providers.get(wanted)
        if provider is None:
            return 404, {"__type": "ResourceNotFoundException", "message": f"no identity provider {wanted}"}
        return 200, {"identityProviderConfig": {"oidc": {"clusterName": name, "status": "ACTIVE", **provider}}}
    pods = {f"a-{i:04d}": p for i, p in enumerate(cluster.get("podIdentities") or [])}
    if rest == "/pod-identity-associations" and method == "GET":
        summaries = [
            {
                "clusterName": name,
                "namespace": p["namespace"],
                "serviceAccount": p["serviceAccount"],
                "associationId": i,
            }
            for i, p in pods.items()
        ]
        return 200, _page(summaries, query, "associations")
    pod_match = re.fullmatch(r"/pod-identity-associations/([^/]+)", rest)
    if pod_match and method == "GET":
        pod = pods.get(pod_match.group(1))
        if pod is None:
            return 404, {"__type": "ResourceNotFoundException", "message": "no such association"}
        return 200, {"association": {"clusterName": name, "associationId": pod_match.group(1), **pod}}
    return None


def _default_username(principal: str) -> str:
    if ":role/" in principal:
        head, role = principal.split(":role/", 1)
        return f"{head.replace(':iam::', ':sts::')}:assumed-role/{role.rsplit('/', 1)[-1]}/{{{{SessionName}}}}"
    return principal
