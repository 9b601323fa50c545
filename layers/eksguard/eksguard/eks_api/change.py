"""What a CloudTrail call changed, extracted from the request (and the response as fallback).

The request says what the caller asked for, so it is read first; the response fills gaps
(e.g. `responseElements.update.params` whose values are strings, sometimes JSON-encoded).
Every field is optional: failed calls often carry no request at all.

EKS calls are read here; calls that touch kubectl instances or their role (SSM, EC2, EC2
Instance Connect, IAM) in `host_change`, calls that could blind eksguard (CloudTrail, CloudWatch
Logs) in `blinding`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eksguard import arns
from eksguard.eks_api.blinding import BlindingChange, extract_blinding
from eksguard.eks_api.host_change import HostChange, extract_host_change
from eksguard.eks_api.record import (
    EKS_EVENT_SOURCE,
    CloudTrailRecord,
    as_bool,
    as_dict,
    as_str,
    as_str_list,
    first,
    maybe_json,
)
from eksguard.eks_api.self_watch import SelfChange, extract_self_change

OPEN_WORLD_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
POLICY_PREFIX = "cluster-access-policy/"
# Documented EKS defaults when CreateCluster leaves a field out.
CREATE_DEFAULT_PUBLIC = True
CREATE_DEFAULT_CIDRS = ("0.0.0.0/0",)
CREATE_DEFAULT_BOOTSTRAP_ADMIN = True


@dataclass(frozen=True)
class IdentityProvider:
    """An OIDC identity provider config: who it trusts and which claim becomes Kubernetes groups."""

    name: str | None = None
    issuer_url: str | None = None
    client_id: str | None = None
    username_claim: str | None = None
    username_prefix: str | None = None
    groups_claim: str | None = None
    groups_prefix: str | None = None


@dataclass(frozen=True)
class PodRole:
    """An IAM role handed to the pods of a service account (Pod Identity, add-on, IRSA) or to nodes."""

    role_arn: str
    namespace: str | None = None
    service_account: str | None = None
    via: str = "pod identity association"  # or "add-on <name>", "node group <name>"

    @property
    def subject(self) -> str:
        if self.service_account:
            return f"service account {self.namespace or '?'}/{self.service_account}"
        return self.via


@dataclass(frozen=True)
class ApiChange:
    record: CloudTrailRecord
    cluster: str | None = None
    principal: str | None = None
    principal_as_sent: str | None = None
    policy_arn: str | None = None
    policy_name: str | None = None
    scope_type: str | None = None
    namespaces: tuple[str, ...] = ()
    groups: tuple[str, ...] | None = None
    entry_type: str | None = None
    username: str | None = None
    endpoint_public: bool | None = None
    endpoint_private: bool | None = None
    public_cidrs: tuple[str, ...] | None = None
    logs_enabled: frozenset[str] = frozenset()
    logs_disabled: frozenset[str] = frozenset()
    auth_mode: str | None = None
    bootstrap_admin: bool | None = None
    identity_provider: IdentityProvider | None = None
    pod_roles: tuple[PodRole, ...] = ()
    association_id: str | None = None
    hosts: HostChange | None = None  # SSM, EC2, EC2 Instance Connect, IAM
    blinding: BlindingChange | None = None  # CloudTrail, CloudWatch Logs
    own: SelfChange | None = None  # eksguard's own rules, functions, queue, webhook secret

    @property
    def event_name(self) -> str:
        return self.record.event_name

    @property
    def failed(self) -> bool:
        return self.record.failed

    @property
    def open_to_world(self) -> bool:
        return bool(self.public_cidrs and OPEN_WORLD_CIDRS & set(self.public_cidrs))

    @property
    def cross_account(self) -> bool:
        owner = arns.account_of(self.principal)
        return bool(owner and self.record.account and owner != self.record.account)

    @property
    def scope_label(self) -> str | None:
        if not self.scope_type:
            return None
        if self.scope_type == "namespace":
            return f"namespace scope: {', '.join(self.namespaces) or 'none listed'}"
        return f"{self.scope_type} scope"


def update_params(response: dict[str, Any]) -> dict[str, Any]:
    """`responseElements.update.params` as {type: decoded value}."""
    params = as_dict(response.get("update")).get("params")
    result: dict[str, Any] = {}
    if isinstance(params, list):
        for param in params:
            param = as_dict(param)
            kind = as_str(param.get("type"))
            if kind:
                result[kind] = maybe_json(param.get("value"))
    return result


def logging_changes(logging: Any) -> tuple[frozenset[str], frozenset[str]]:
    """(types enabled, types disabled) from `{"clusterLogging": [{"types": [...], "enabled": bool}]}`."""
    entries = as_dict(maybe_json(logging)).get("clusterLogging")
    enabled: set[str] = set()
    disabled: set[str] = set()
    if isinstance(entries, list):
        for entry in entries:
            entry = as_dict(entry)
            types = as_str_list(entry.get("types")) or ()
            flag = as_bool(entry.get("enabled"))
            if flag is True:
                enabled.update(types)
            elif flag is False:
                disabled.update(types)
    return frozenset(enabled), frozenset(disabled - enabled)


def _auth_mode(value: Any) -> str | None:
    value = maybe_json(value)
    if isinstance(value, dict):
        value = value.get("authenticationMode")
    return as_str(value)


def policy_name_of(policy_arn: str | None) -> str | None:
    if not policy_arn:
        return None
    return policy_arn.rsplit(POLICY_PREFIX, 1)[-1] if POLICY_PREFIX in policy_arn else policy_arn.rsplit("/", 1)[-1]


def _identity_provider(req: dict[str, Any], resp: dict[str, Any]) -> IdentityProvider | None:
    oidc = as_dict(req.get("oidc"))
    config = as_dict(req.get("identityProviderConfig"))
    if not oidc and not config:
        return None
    return IdentityProvider(
        name=as_str(first(oidc.get("identityProviderConfigName"), config.get("name"))),
        issuer_url=as_str(oidc.get("issuerUrl")),
        client_id=as_str(oidc.get("clientId")),
        username_claim=as_str(oidc.get("usernameClaim")),
        username_prefix=as_str(oidc.get("usernamePrefix")),
        groups_claim=as_str(oidc.get("groupsClaim")),
        groups_prefix=as_str(oidc.get("groupsPrefix")),
    )


def _pod_roles(record: CloudTrailRecord) -> tuple[PodRole, ...]:
    """Roles a call hands to pods or nodes: pod identity, add-on associations and IRSA, node groups."""
    req, resp = record.request, record.response
    name = record.event_name
    roles: list[PodRole] = []

    def add(role: Any, **kwargs: Any) -> None:
        text = as_str(role)
        if text:
            roles.append(PodRole(arns.decode(text), **kwargs))

    if name in ("CreatePodIdentityAssociation", "UpdatePodIdentityAssociation"):
        association = as_dict(resp.get("association"))
        namespace = as_str(first(req.get("namespace"), association.get("namespace")))
        account = as_str(first(req.get("serviceAccount"), association.get("serviceAccount")))
        for key in ("roleArn", "targetRoleArn"):
            add(first(req.get(key), association.get(key)), namespace=namespace, service_account=account)
    elif name in ("CreateAddon", "UpdateAddon"):
        addon = as_str(first(req.get("addonName"), as_dict(resp.get("addon")).get("addonName"))) or "?"
        associations = req.get("podIdentityAssociations")
        for association in associations if isinstance(associations, list) else []:
            association = as_dict(association)
            add(
                association.get("roleArn"),
                service_account=as_str(association.get("serviceAccount")),
                via=f"add-on {addon}",
            )
        add(req.get("serviceAccountRoleArn"), via=f"add-on {addon} (IRSA)")
    elif name in ("CreateCluster", "UpdateClusterConfig"):
        # EKS Auto Mode: the role of the EC2 managed instances (nodes) it launches.
        compute = as_dict(maybe_json(first(req.get("computeConfig"), update_params(resp).get("ComputeConfig"))))
        add(compute.get("nodeRoleArn"), via="EKS Auto Mode nodes")
    elif name == "CreateNodegroup":
        group = as_str(first(req.get("nodegroupName"), as_dict(resp.get("nodegroup")).get("nodegroupName"))) or "?"
        add(first(req.get("nodeRole"), as_dict(resp.get("nodegroup")).get("nodeRole")), via=f"node group {group}")
    return tuple(roles)


def extract(record: CloudTrailRecord) -> ApiChange:
    """Pure: read every field a rule may need. Missing fields stay None."""
    if record.event_source != EKS_EVENT_SOURCE:
        return ApiChange(
            record=record,
            hosts=extract_host_change(record),
            blinding=extract_blinding(record),
            own=extract_self_change(record),
        )
    req, resp = record.request, record.response
    entry = as_dict(resp.get("accessEntry"))
    association = as_dict(resp.get("associatedAccessPolicy"))
    created = as_dict(resp.get("cluster"))
    params = update_params(resp)

    cluster = as_str(
        first(
            req.get("name"),
            req.get("clusterName"),
            resp.get("clusterName"),
            entry.get("clusterName"),
            created.get("name"),
        )
    )
    raw_principal = as_str(first(req.get("principalArn"), entry.get("principalArn"), resp.get("principalArn")))
    principal_as_sent = arns.decode(raw_principal) if raw_principal else None
    policy_arn = as_str(first(req.get("policyArn"), association.get("policyArn")))
    policy_arn = arns.decode(policy_arn) if policy_arn else None
    scope = as_dict(first(req.get("accessScope"), association.get("accessScope")))
    groups_raw = req.get("kubernetesGroups") if "kubernetesGroups" in req else entry.get("kubernetesGroups")

    vpc = as_dict(req.get("resourcesVpcConfig"))
    access = as_dict(req.get("accessConfig"))
    public = as_bool(first(vpc.get("endpointPublicAccess"), params.get("EndpointPublicAccess")))
    private = as_bool(first(vpc.get("endpointPrivateAccess"), params.get("EndpointPrivateAccess")))
    cidrs = as_str_list(first(vpc.get("publicAccessCidrs"), params.get("PublicAccessCidrs")))
    logs_on, logs_off = logging_changes(first(req.get("logging") or None, params.get("ClusterLogging")))
    auth_mode = _auth_mode(first(access.get("authenticationMode"), params.get("AuthenticationMode")))
    bootstrap = as_bool(access.get("bootstrapClusterCreatorAdminPermissions"))

    if record.event_name == "CreateCluster" and req:
        # EKS defaults: a new cluster is public to 0.0.0.0/0 and makes its creator admin.
        if public is None:
            public = CREATE_DEFAULT_PUBLIC
        if public and not cidrs:
            cidrs = CREATE_DEFAULT_CIDRS
        if bootstrap is None:
            bootstrap = CREATE_DEFAULT_BOOTSTRAP_ADMIN

    return ApiChange(
        record=record,
        cluster=cluster,
        principal=arns.principal_arn(principal_as_sent),
        principal_as_sent=principal_as_sent,
        policy_arn=policy_arn,
        policy_name=policy_name_of(policy_arn),
        scope_type=(as_str(scope.get("type")) or "").lower() or None,
        namespaces=as_str_list(scope.get("namespaces")) or (),
        groups=as_str_list(groups_raw),
        entry_type=(as_str(first(req.get("type"), entry.get("type"))) or "").upper() or None,
        username=as_str(first(req.get("username"), entry.get("username"))),
        endpoint_public=public,
        endpoint_private=private,
        public_cidrs=cidrs,
        logs_enabled=logs_on,
        logs_disabled=logs_off,
        auth_mode=auth_mode,
        bootstrap_admin=bootstrap,
        identity_provider=_identity_provider(req, resp),
        pod_roles=_pod_roles(record),
        association_id=as_str(first(req.get("associationId"), as_dict(resp.get("association")).get("associationId"))),
    )
