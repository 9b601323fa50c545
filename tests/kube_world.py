"""A small but faithful EKS cluster's access state, as the Kubernetes and EKS APIs return it.

The RBAC objects are the ones that decide admin power on a fresh EKS cluster (Kubernetes bootstrap
policy: cluster-admin bound to system:masters, the aggregated admin/edit/view roles, the controllers
that hold escalate or token rights; EKS's own eks:* roles and aws-node), with their real rules where
those rules matter. Used by the pure tests, by the Kubernetes API stand-in and by the demo.
"""

from __future__ import annotations

import copy
from typing import Any

from eksguard.inventory.model import (
    AccessEntry,
    AccessPolicy,
    ClusterFacts,
    IdentityProvider,
    KubeObjects,
    PodIdentity,
    Snapshot,
)
from eksguard.rbac.model import parse_binding, parse_role

RBAC = "rbac.authorization.k8s.io"
ACCOUNT = "123456789012"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eks-node-group"
KUBECTL_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eksguard-kubectl-prod"
PLATFORM_ADMIN = f"arn:aws:iam::{ACCOUNT}:role/platform-admin"
INTRUDER = f"arn:aws:iam::{ACCOUNT}:role/intruder"
READER_GROUP = "eksguard-inventory-readers"


def cluster_role(
    name: str,
    rules: list[dict[str, Any]],
    labels: dict[str, str] | None = None,
    aggregate: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": name, "labels": labels or {}}, "rules": rules}
    if aggregate is not None:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": s} for s in aggregate]}
    return obj


def role(namespace: str, name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "rules": rules}


def user(name: str) -> dict[str, str]:
    return {"apiGroup": RBAC, "kind": "User", "name": name}


def group(name: str) -> dict[str, str]:
    return {"apiGroup": RBAC, "kind": "Group", "name": name}


def service_account(namespace: str, name: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def cluster_binding(name: str, role_name: str, subjects: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role_name},
        "subjects": subjects,
    }


def binding(
    namespace: str, name: str, role_name: str, subjects: list[dict[str, str]], kind: str = "ClusterRole"
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": RBAC, "kind": kind, "name": role_name},
        "subjects": subjects,
    }


def rule(verbs: list[str], resources: list[str], groups: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"apiGroups": groups if groups is not None else [""], "resources": resources, "verbs": verbs, **extra}


READ = ["get", "list", "watch"]


def baseline() -> dict[str, list[dict[str, Any]]]:
    """clusterroles, clusterrolebindings, roles, rolebindings of a fresh EKS cluster (the parts that matter)."""
    aggregate = "rbac.authorization.k8s.io/aggregate-to-"
    clusterroles = [
        cluster_role("cluster-admin", [rule(["*"], ["*"], ["*"]), {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        cluster_role("admin", [], aggregate=[{f"{aggregate}admin": "true"}]),
        cluster_role("edit", [], {f"{aggregate}admin": "true"}, aggregate=[{f"{aggregate}edit": "true"}]),
        cluster_role("view", [], {f"{aggregate}edit": "true"}, aggregate=[{f"{aggregate}view": "true"}]),
        cluster_role(
            "system:aggregate-to-edit",
            [
                rule(["impersonate"], ["serviceaccounts"]),
                rule(["create"], ["serviceaccounts/token"]),
                rule(["create", "delete", "patch", "update"], ["pods", "secrets", "configmaps"]),
            ],
            {f"{aggregate}edit": "true"},
        ),
        cluster_role("system:aggregate-to-view", [rule(READ, ["pods", "configmaps"])], {f"{aggregate}view": "true"}),
        cluster_role("system:discovery", [{"nonResourceURLs": ["/api", "/apis", "/version"], "verbs": ["get"]}]),
        cluster_role(
            "system:kube-controller-manager",
            [rule(["create"], ["serviceaccounts/token"]), rule(["create", "get", "update"], ["secrets"])],
        ),
        cluster_role(
            "system:controller:clusterrole-aggregation-controller",
            [rule(["escalate", "get", "list", "patch", "update", "watch"], ["clusterroles"], [RBAC])],
        ),
        cluster_role("system:controller:deployment-controller", [rule(READ, ["pods"])]),
        cluster_role("aws-node", [rule(READ, ["pods", "namespaces", "nodes"])]),
        cluster_role("eks:addon-manager", [rule(["get", "list", "create", "update"], ["configmaps"])]),
        cluster_role(
            "eksguard-inventory-reader",
            [rule(["get", "list"], ["clusterroles", "clusterrolebindings", "roles", "rolebindings"], [RBAC])],
        ),
    ]
    clusterrolebindings = [
        cluster_binding("cluster-admin", "cluster-admin", [group("system:masters")]),
        cluster_binding("system:discovery", "system:discovery", [group("system:authenticated")]),
        cluster_binding(
            "system:kube-controller-manager", "system:kube-controller-manager", [user("system:kube-controller-manager")]
        ),
        cluster_binding(
            "system:controller:clusterrole-aggregation-controller",
            "system:controller:clusterrole-aggregation-controller",
            [service_account("kube-system", "clusterrole-aggregation-controller")],
        ),
        cluster_binding(
            "system:controller:deployment-controller",
            "system:controller:deployment-controller",
            [service_account("kube-system", "deployment-controller")],
        ),
        cluster_binding("aws-node", "aws-node", [service_account("kube-system", "aws-node")]),
        cluster_binding("eks:addon-manager", "eks:addon-manager", [user("eks:addon-manager")]),
        cluster_binding("eksguard-inventory-reader", "eksguard-inventory-reader", [group(READER_GROUP)]),
    ]
    roles = [
        role("kube-system", "eksguard-inventory-aws-auth", [rule(["get"], ["configmaps"], resourceNames=["aws-auth"])])
    ]
    rolebindings = [
        binding(
            "kube-system", "eksguard-inventory-aws-auth", "eksguard-inventory-aws-auth", [group(READER_GROUP)], "Role"
        )
    ]
    return {
        "clusterroles": clusterroles,
        "clusterrolebindings": clusterrolebindings,
        "roles": roles,
        "rolebindings": rolebindings,
    }


def aws_auth(extra_roles: str = "") -> dict[str, str]:
    return {
        "mapRoles": (
            f"- rolearn: {NODE_ROLE}\n  username: system:node:{{{{EC2PrivateDNSName}}}}\n"
            "  groups:\n    - system:bootstrappers\n    - system:nodes\n" + extra_roles
        )
    }


def masters_mapping(arn: str) -> str:
    return f"- rolearn: {arn}\n  username: admin\n  groups:\n    - system:masters\n"


def kube_objects(
    objects: dict[str, list[dict[str, Any]]] | None = None, config: dict[str, str] | None = None
) -> KubeObjects:
    objects = objects if objects is not None else baseline()
    roles = [parse_role(o, "ClusterRole") for o in objects["clusterroles"]]
    roles += [parse_role(o, "Role") for o in objects["roles"]]
    bindings = [parse_binding(o, "ClusterRoleBinding") for o in objects["clusterrolebindings"]]
    bindings += [parse_binding(o, "RoleBinding") for o in objects["rolebindings"]]
    return KubeObjects(aws_auth=config, roles=tuple(roles), bindings=tuple(bindings))


def cluster_admin_entry(principal: str) -> AccessEntry:
    return AccessEntry(principal, policies=(AccessPolicy("AmazonEKSClusterAdminPolicy", "cluster"),))


def facts(name: str = "prod", mode: str | None = "API_AND_CONFIG_MAP", **extra: Any) -> ClusterFacts:
    return ClusterFacts(
        name=name,
        region="eu-west-1",
        arn=f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/{name}",
        authentication_mode=mode,
        bootstrap_creator_admin=extra.pop("bootstrap_creator_admin", False),
        audit_logging=extra.pop("audit_logging", True),
        **extra,
    )


def snapshot(
    *,
    mode: str | None = "API_AND_CONFIG_MAP",
    entries: tuple[AccessEntry, ...] | None = None,
    providers: tuple[IdentityProvider, ...] = (),
    pods: tuple[PodIdentity, ...] = (),
    objects: dict[str, list[dict[str, Any]]] | None = None,
    config: dict[str, str] | None = None,
    kube: bool = True,
    aws_auth_absent: bool = False,
    **cluster: Any,
) -> Snapshot:
    if entries is None:
        entries = (
            cluster_admin_entry(KUBECTL_ROLE),
            AccessEntry(NODE_ROLE, type="EC2_LINUX"),
            AccessEntry(f"arn:aws:iam::{ACCOUNT}:role/eksguard-inventory", groups=(READER_GROUP,)),
        )
    return Snapshot(
        cluster=facts(mode=mode, **cluster),
        access_entries=entries,
        identity_providers=providers,
        pod_identities=pods,
        kube=kube_objects(objects, None if aws_auth_absent else config if config is not None else aws_auth())
        if kube
        else None,
    )


def with_objects(**additions: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    objects = copy.deepcopy(baseline())
    for key, items in additions.items():
        objects[key].extend(items)
    return objects
