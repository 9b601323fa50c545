"""Property: for any principal that is not an expected admin, any admin-equivalent grant made through
CloudTrail is at least HIGH (CRITICAL for cluster admin); an attempt is at least MEDIUM.

Grants: the admin access policies at every scope that reaches admin (namespace patterns reaching
kube-system included), AdminView and Edit cluster-wide, system:masters in an access entry, an admin
or kubectl role handed to pods. Principals in every spelling an attacker may choose: any name, path
and case, STS session ARNs, URL-encoded once or twice, other accounts; and kubectl instances whose
tag says "prod" but whose role is not a configured kubectl role.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from eksguard.eks_api import assess_event
from eksguard.kubectl_hosts import KubectlInstance, KubectlInventory
from eksguard.severity import Severity
from tests.cloudtrail_world import ACCOUNT, INVENTORY, world
from tests.conftest import load_event

NAME = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-", min_size=1, max_size=40
)
# Names an expected pattern would trust at the root path or in IAM Identity Center's path only.
NOT_EXPECTED = NAME.filter(lambda n: not n.lower().startswith(("awsreservedsso_platformadmin_", "eksguard-kubectl-")))
PATH = st.sampled_from(
    ["/", "/team/", "/aws-reserved/sso.amazonaws.com/", "/aws-reserved/sso.amazonaws.com/eu-west-1/"]
)


@st.composite
def principals(draw: st.DrawFn) -> str:
    name = draw(NOT_EXPECTED)
    account = draw(st.sampled_from([ACCOUNT, "444455556666"]))
    form = draw(st.sampled_from(["role", "user", "session"]))
    if form == "session":
        arn = f"arn:aws:sts::{account}:assumed-role/{name}/{draw(NAME)}"
    else:
        arn = f"arn:aws:iam::{account}:{form}{draw(PATH)}{name}"
    for _ in range(draw(st.integers(0, 2))):
        arn = quote(arn, safe="")
    return arn


POLICY = "arn:aws:eks::aws:cluster-access-policy/"
KUBE_SYSTEM_SCOPES = [["kube-system"], ["kube-*"], ["*"], ["payments", "kube-system"], ["k*"]]
ADMIN_GRANTS: list[tuple[str, dict[str, Any] | None, Severity]] = [
    ("AmazonEKSClusterAdminPolicy", {"type": "cluster"}, Severity.CRITICAL),
    ("AmazonEKSClusterAdminPolicy", {"type": "namespace", "namespaces": ["a"]}, Severity.CRITICAL),
    ("AmazonEKSAdminPolicy", {"type": "cluster"}, Severity.CRITICAL),
    ("AmazonEKSAdminPolicy", None, Severity.CRITICAL),
    ("AmazonEKSAdminViewPolicy", {"type": "cluster"}, Severity.HIGH),
    ("AmazonEKSEditPolicy", {"type": "cluster"}, Severity.HIGH),
    *[
        ("AmazonEKSAdminPolicy", {"type": "namespace", "namespaces": ns}, Severity.CRITICAL)
        for ns in KUBE_SYSTEM_SCOPES
    ],
    *[("AmazonEKSEditPolicy", {"type": "namespace", "namespaces": ns}, Severity.CRITICAL) for ns in KUBE_SYSTEM_SCOPES],
]


def associate(principal: str, policy: str, scope: dict[str, Any] | None, failed: bool) -> dict[str, Any]:
    event = copy.deepcopy(load_event("eks_api_cluster_admin_granted.json"))
    detail = event["detail"]
    detail["requestParameters"] = {"name": "prod", "principalArn": principal, "policyArn": POLICY + policy}
    if scope is not None:
        detail["requestParameters"]["accessScope"] = scope
    detail["responseElements"] = None
    if failed:
        detail["errorCode"], detail["errorMessage"] = "AccessDeniedException", "not authorized"
    return event


def floor(severity: Severity, failed: bool) -> Severity:
    return Severity.MEDIUM if failed else severity


@settings(max_examples=300, deadline=None)
@given(principals(), st.sampled_from(ADMIN_GRANTS), st.booleans())
def test_any_admin_grant_to_a_principal_not_expected_is_at_least_high(
    principal: str, grant: tuple[str, dict[str, Any] | None, Severity], failed: bool
) -> None:
    policy, scope, severity = grant
    assessment = assess_event(associate(principal, policy, scope, failed), world())
    assert assessment.severity is not None
    assert assessment.severity >= floor(severity, failed), (principal, policy, scope, assessment.findings)


@settings(max_examples=150, deadline=None)
@given(principals(), st.booleans())
def test_system_masters_in_an_access_entry_is_critical(principal: str, failed: bool) -> None:
    event = copy.deepcopy(load_event("eks_api_access_entry_custom_groups.json"))
    detail = event["detail"]
    detail["requestParameters"] = {"name": "prod", "principalArn": principal, "kubernetesGroups": ["system:masters"]}
    detail["responseElements"] = None
    if failed:
        detail["errorCode"] = "InvalidParameterException"
    severity = assess_event(event, world()).severity
    assert severity is not None and severity >= floor(Severity.CRITICAL, failed)


@settings(max_examples=150, deadline=None)
@given(NOT_EXPECTED, st.sampled_from(["prod", "dev"]), st.sampled_from(ADMIN_GRANTS))
def test_a_forged_kubectl_tag_never_buys_info(
    role_name: str, cluster: str, grant: tuple[str, dict[str, Any] | None, Severity]
) -> None:
    """Someone tags their own instance as the kubectl instance of a cluster and grants its role admin."""
    role = f"arn:aws:iam::{ACCOUNT}:role/{role_name}"
    forged = KubectlInstance("i-0f0f0f0f0f0f0f0f0", "eu-west-1", cluster, {"kubectl-instance": cluster}, "p", (role,))
    inventory = KubectlInventory((*INVENTORY.instances, forged))
    policy, scope, _ = grant
    event = associate(role, policy, scope, failed=False)
    event["detail"]["requestParameters"]["name"] = cluster
    assessment = assess_event(event, world(inventory))
    assert assessment.severity is not None and assessment.severity >= Severity.HIGH, assessment.findings


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["eksguard-kubectl-prod", "EKSGUARD-KUBECTL-PROD", "eksguard-kubectl-dev"]), NAME, NAME)
def test_a_kubectl_role_handed_to_pods_is_critical_whatever_the_service_account(
    role_name: str, namespace: str, account_name: str
) -> None:
    event = copy.deepcopy(load_event("eks_api_kubectl_role_to_pods.json"))
    detail = event["detail"]
    detail["requestParameters"].update(
        {"namespace": namespace, "serviceAccount": account_name, "roleArn": f"arn:aws:iam::{ACCOUNT}:role/{role_name}"}
    )
    detail["responseElements"] = None
    assert assess_event(event, world()).severity is Severity.CRITICAL
