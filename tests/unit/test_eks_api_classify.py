"""Classification of CloudTrail EKS records: every rule, ARN spellings, missing fields, sample events."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from eksguard.alerts import Alert, alert_id
from eksguard.eks_api import (
    RULES,
    Lookups,
    MalformedEventError,
    Rule,
    RuleContext,
    assess_event,
    evaluate,
    extract,
    parse_event,
)
from eksguard.eks_api.classify import actor_label
from eksguard.expected_admins import ExpectedAdmins
from eksguard.kubectl_hosts import KubectlInstance, KubectlInventory
from eksguard.severity import Severity
from tests.conftest import EVENTS_DIR, load_event

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
POLICY = "arn:aws:eks::aws:cluster-access-policy/"
INTRUDER = f"arn:aws:iam::{ACCOUNT}:role/intruder"
INTRUDER_ENCODED = "arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fintruder"
SSO_ADMIN_PATH = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_PlatformAdmin_abc"
)
SSO_ADMIN = f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_PlatformAdmin_abc"
KUBECTL_DEV = f"arn:aws:iam::{ACCOUNT}:role/kubectl-dev"
OPS = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLEOPS0000001:alice",
    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Ops/alice",
    "accountId": ACCOUNT,
    "accessKeyId": "ASIAEXAMPLEALICE0001",
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "arn": f"arn:aws:iam::{ACCOUNT}:role/Ops",
            "accountId": ACCOUNT,
            "userName": "Ops",
        }
    },
}


SSO_PATHS = {"awsreservedsso_platformadmin_abc": "/aws-reserved/sso.amazonaws.com/eu-west-1/"}
KUBECTL_INVENTORY = KubectlInventory(
    (
        KubectlInstance(
            "i-0dev0000000000001", "eu-west-1", "dev", {"kubectl-instance": "dev"}, "kubectl-dev", (KUBECTL_DEV,)
        ),
    ),
)


def expected_admins(inventory: Callable[[], KubectlInventory] | None = None) -> Lookups:
    """The lists the sample events are judged against (docs/eks-api-alerts.md uses the same)."""
    admins = ExpectedAdmins(
        [
            f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_PlatformAdmin_*",
            f"dev=arn:aws:iam::{ACCOUNT}:role/dev-lead",
        ],
        [f"arn:aws:iam::{ACCOUNT}:role/kubectl-*"],
        inventory=inventory or (lambda: KUBECTL_INVENTORY),
        path_of=lambda principal: SSO_PATHS.get(principal.name.lower()),
    )
    return Lookups(expected=admins)


def alert_of(assessment: Any) -> Alert:
    """The assessment's alert (EKS calls always give one)."""
    assert assessment.alert is not None, "no alert"
    alert: Alert = assessment.alert
    return alert


def cloudtrail(
    event_name: str,
    request: dict[str, Any] | None,
    response: dict[str, Any] | None = None,
    *,
    error: tuple[str, str] | None = None,
    identity: dict[str, Any] | None = None,
    event_id: str | None = "11111111-2222-3333-4444-555555555555",
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": identity if identity is not None else OPS,
        "eventTime": "2025-11-20T09:15:07Z",
        "eventSource": "eks.amazonaws.com",
        "eventName": event_name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.24",
        "userAgent": "aws-cli/2.22.35",
        "requestParameters": request,
        "responseElements": response,
        "requestID": "req-1",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }
    if event_id is not None:
        detail["eventID"] = event_id
    if error:
        detail["errorCode"], detail["errorMessage"] = error
    return {
        "version": "0",
        "id": "eb-0001",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.eks",
        "account": ACCOUNT,
        "time": "2025-11-20T09:15:07Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    }


def associate(
    principal: str, policy: str, scope: dict[str, Any] | None, cluster: str = "prod", **kwargs: Any
) -> dict[str, Any]:
    request: dict[str, Any] = {"name": cluster, "principalArn": principal, "policyArn": POLICY + policy}
    if scope is not None:
        request["accessScope"] = scope
    return cloudtrail("AssociateAccessPolicy", request, **kwargs)


def entry(
    event_name: str,
    principal: str,
    groups: list[str] | None = None,
    cluster: str = "prod",
    entry_type: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    request: dict[str, Any] = {"name": cluster, "principalArn": principal}
    if groups is not None:
        request["kubernetesGroups"] = groups
    if entry_type:
        request["type"] = entry_type
    return cloudtrail(event_name, request, **kwargs)


def update_config(request: dict[str, Any], params: list[dict[str, str]] | None = None, **kwargs: Any) -> dict[str, Any]:
    response = {"update": {"id": "u-1", "status": "InProgress", "type": "X", "params": params or [], "errors": []}}
    return cloudtrail("UpdateClusterConfig", {"name": "prod", **request}, response, **kwargs)


def logging(types: list[str], enabled: bool) -> dict[str, Any]:
    return {"logging": {"clusterLogging": [{"types": types, "enabled": enabled}]}}


def create_cluster(**extra: Any) -> dict[str, Any]:
    return cloudtrail(
        "CreateCluster",
        {
            "name": "dev",
            "version": "1.31",
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/eks-cluster-role",
            "resourcesVpcConfig": {"subnetIds": ["subnet-1", "subnet-2"]},
            **extra,
        },
    )


HARDENED_CREATE = {
    "resourcesVpcConfig": {"subnetIds": ["subnet-1"], "endpointPublicAccess": False, "endpointPrivateAccess": True},
    "logging": {"clusterLogging": [{"types": ["api", "audit"], "enabled": True}]},
    "accessConfig": {"bootstrapClusterCreatorAdminPermissions": False, "authenticationMode": "API"},
}

# (case id, event, expected severity, rules that must be among the reasons)
CASES: list[tuple[str, dict[str, Any], Severity, set[str]]] = [
    # --- admin grants
    (
        "cluster admin, plain principal",
        associate(INTRUDER, "AmazonEKSClusterAdminPolicy", {"type": "cluster"}),
        Severity.CRITICAL,
        {"cluster-admin-unexpected"},
    ),
    (
        "cluster admin, url-encoded principal",
        associate(INTRUDER_ENCODED, "AmazonEKSClusterAdminPolicy", {"type": "cluster"}),
        Severity.CRITICAL,
        {"cluster-admin-unexpected"},
    ),
    (
        "cluster admin, principal encoded twice",
        associate(
            "arn%253Aaws%253Aiam%253A%253A111122223333%253Arole%252Fintruder",
            "AmazonEKSClusterAdminPolicy",
            {"type": "cluster"},
        ),
        Severity.CRITICAL,
        {"cluster-admin-unexpected"},
    ),
    (
        "cluster admin policy at namespace scope is still cluster admin",
        associate(INTRUDER, "AmazonEKSClusterAdminPolicy", {"type": "namespace", "namespaces": ["a"]}),
        Severity.CRITICAL,
        {"cluster-admin-unexpected"},
    ),
    (
        "admin policy at cluster scope",
        associate(INTRUDER, "AmazonEKSAdminPolicy", {"type": "cluster"}),
        Severity.CRITICAL,
        {"cluster-admin-unexpected"},
    ),
    (
        "admin policy without scope is taken as cluster scope",
        associate(INTRUDER, "AmazonEKSAdminPolicy", None),
        Severity.CRITICAL,
        {"cluster-admin-unexpected"},
    ),
    (
        "cluster admin to an IAM user",
        associate(f"arn:aws:iam::{ACCOUNT}:user/ops-bob", "AmazonEKSClusterAdminPolicy", {"type": "cluster"}),
        Severity.CRITICAL,
        {"cluster-admin-unexpected"},
    ),
    (
        "cluster admin to an assumed-role spelling of an expected admin",
        associate(
            f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_PlatformAdmin_abc/bob",
            "AmazonEKSClusterAdminPolicy",
            {"type": "cluster"},
        ),
        Severity.INFO,
        {"admin-to-expected-admin"},
    ),
    (
        "cluster admin to SSO role with path, url-encoded (expected)",
        associate(
            "arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Faws-reserved%2Fsso.amazonaws.com%2Feu-west-1%2F"
            "AWSReservedSSO_PlatformAdmin_abc",
            "AmazonEKSClusterAdminPolicy",
            {"type": "cluster"},
        ),
        Severity.INFO,
        {"admin-to-expected-admin"},
    ),
    (
        "cluster-scoped pattern applies to its cluster",
        associate(
            f"arn:aws:iam::{ACCOUNT}:role/dev-lead", "AmazonEKSClusterAdminPolicy", {"type": "cluster"}, cluster="dev"
        ),
        Severity.INFO,
        {"admin-to-expected-admin"},
    ),
    (
        "cluster-scoped pattern does not apply to another cluster",
        associate(
            f"arn:aws:iam::{ACCOUNT}:role/dev-lead", "AmazonEKSClusterAdminPolicy", {"type": "cluster"}, cluster="prod"
        ),
        Severity.CRITICAL,
        {"cluster-admin-unexpected"},
    ),
    (
        "kubectl role of dev on dev",
        associate(KUBECTL_DEV, "AmazonEKSClusterAdminPolicy", {"type": "cluster"}, cluster="dev"),
        Severity.INFO,
        {"admin-to-expected-admin"},
    ),
    (
        "kubectl role of dev on prod",
        associate(KUBECTL_DEV, "AmazonEKSClusterAdminPolicy", {"type": "cluster"}, cluster="prod"),
        Severity.CRITICAL,
        {"cluster-admin-unexpected"},
    ),
    (
        "cross-account cluster admin lists both reasons",
        associate(f"arn:aws:iam::{OTHER_ACCOUNT}:role/partner", "AmazonEKSClusterAdminPolicy", {"type": "cluster"}),
        Severity.CRITICAL,
        {"cluster-admin-unexpected", "cross-account-principal"},
    ),
    (
        "namespace admin",
        associate(INTRUDER, "AmazonEKSAdminPolicy", {"type": "namespace", "namespaces": ["pay"]}),
        Severity.MEDIUM,
        {"namespace-admin"},
    ),
    (
        "namespace admin to expected admin",
        associate(SSO_ADMIN, "AmazonEKSAdminPolicy", {"type": "namespace", "namespaces": ["pay"]}),
        Severity.INFO,
        {"admin-to-expected-admin"},
    ),
    (
        "view policy",
        associate(INTRUDER, "AmazonEKSViewPolicy", {"type": "cluster"}),
        Severity.INFO,
        {"read-only-policy"},
    ),
    (
        "admin view policy at cluster scope reads every secret",
        associate(INTRUDER, "AmazonEKSAdminViewPolicy", {"type": "cluster"}),
        Severity.HIGH,
        {"cluster-wide-admin-view"},
    ),
    (
        "edit policy",
        associate(INTRUDER, "AmazonEKSEditPolicy", {"type": "namespace", "namespaces": ["a"]}),
        Severity.INFO,
        {"policy-associated"},
    ),
    (
        "cross-account view policy",
        associate(f"arn:aws:iam::{OTHER_ACCOUNT}:role/p", "AmazonEKSViewPolicy", {"type": "cluster"}),
        Severity.MEDIUM,
        {"cross-account-principal"},
    ),
    (
        "failed cluster admin grant",
        associate(
            INTRUDER,
            "AmazonEKSClusterAdminPolicy",
            {"type": "cluster"},
            error=("AccessDeniedException", "not authorized"),
        ),
        Severity.MEDIUM,
        {"cluster-admin-unexpected"},
    ),
    (
        "failed namespace admin grant",
        associate(INTRUDER, "AmazonEKSAdminPolicy", {"type": "namespace"}, error=("AccessDeniedException", "no")),
        Severity.MEDIUM,
        {"namespace-admin"},
    ),
    (
        "failed view grant",
        associate(
            INTRUDER, "AmazonEKSViewPolicy", {"type": "cluster"}, error=("ResourceNotFoundException", "no entry")
        ),
        Severity.INFO,
        {"read-only-policy"},
    ),
    (
        "failed grant with null request",
        cloudtrail("AssociateAccessPolicy", None, error=("AccessDeniedException", "not authorized")),
        Severity.INFO,
        {"unknown-access-policy"},
    ),
    # --- access entries
    (
        "system:masters rejected",
        entry(
            "CreateAccessEntry",
            INTRUDER,
            ["system:masters"],
            error=("InvalidParameterException", "cannot start with system:"),
        ),
        Severity.MEDIUM,
        {"system-masters-unexpected", "reserved-group"},
    ),
    (
        "other system group rejected",
        entry(
            "CreateAccessEntry",
            INTRUDER,
            ["system:authenticated"],
            error=("InvalidParameterException", "cannot start with system:"),
        ),
        Severity.MEDIUM,
        {"reserved-group"},
    ),
    (
        "system:masters accepted (should never happen)",
        entry("CreateAccessEntry", INTRUDER, ["system:masters"]),
        Severity.CRITICAL,
        {"system-masters-unexpected", "reserved-group"},
    ),
    (
        "custom groups",
        entry("CreateAccessEntry", INTRUDER, ["platform-admins"]),
        Severity.MEDIUM,
        {"custom-kubernetes-groups"},
    ),
    (
        "custom groups for expected admin",
        entry("CreateAccessEntry", SSO_ADMIN_PATH, ["platform-admins"]),
        Severity.INFO,
        {"access-entry-created"},
    ),
    ("entry without groups", entry("CreateAccessEntry", INTRUDER, []), Severity.INFO, {"access-entry-created"}),
    (
        "node entry",
        entry("CreateAccessEntry", f"arn:aws:iam::{ACCOUNT}:role/node", None, entry_type="EC2_LINUX"),
        Severity.INFO,
        {"access-entry-created"},
    ),
    (
        "cross-account entry",
        entry("CreateAccessEntry", f"arn:aws:iam::{OTHER_ACCOUNT}:role/partner-deploy"),
        Severity.MEDIUM,
        {"cross-account-principal"},
    ),
    (
        "update entry with url-encoded principal and groups",
        entry("UpdateAccessEntry", INTRUDER_ENCODED, ["ml-admins"], cluster="dev"),
        Severity.MEDIUM,
        {"custom-kubernetes-groups"},
    ),
    (
        "update entry, no groups",
        entry("UpdateAccessEntry", INTRUDER_ENCODED, [], cluster="dev"),
        Severity.INFO,
        {"access-entry-updated"},
    ),
    (
        "delete entry",
        cloudtrail("DeleteAccessEntry", {"name": "prod", "principalArn": INTRUDER_ENCODED}),
        Severity.INFO,
        {"access-entry-deleted"},
    ),
    (
        "disassociate admin policy",
        cloudtrail(
            "DisassociateAccessPolicy",
            {
                "name": "prod",
                "principalArn": INTRUDER_ENCODED,
                "policyArn": "arn%3Aaws%3Aeks%3A%3Aaws%3Acluster-access-policy%2FAmazonEKSClusterAdminPolicy",
            },
        ),
        Severity.INFO,
        {"policy-disassociated"},
    ),
    # --- cluster configuration
    ("audit logging disabled", update_config(logging(["audit"], False)), Severity.HIGH, {"audit-logging-disabled"}),
    (
        "audit and api logging disabled",
        update_config(logging(["api", "audit"], False)),
        Severity.HIGH,
        {"audit-logging-disabled"},
    ),
    ("api logging disabled only", update_config(logging(["api"], False)), Severity.INFO, {"other-logs-disabled"}),
    ("logging enabled", update_config(logging(["api", "audit"], True)), Severity.INFO, {"logging-enabled"}),
    (
        "audit disabled, only in response params (JSON string)",
        update_config(
            {}, [{"type": "ClusterLogging", "value": '{"clusterLogging":[{"types":["audit"],"enabled":false}]}'}]
        ),
        Severity.HIGH,
        {"audit-logging-disabled"},
    ),
    (
        "failed attempt to disable audit logging",
        update_config(logging(["audit"], False), error=("AccessDeniedException", "no")),
        Severity.INFO,
        {"audit-logging-disabled"},
    ),
    (
        "endpoint public to the world",
        update_config({"resourcesVpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}}),
        Severity.HIGH,
        {"endpoint-public-to-world"},
    ),
    (
        "endpoint public to the IPv6 world",
        update_config(
            {"resourcesVpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24", "::/0"]}}
        ),
        Severity.HIGH,
        {"endpoint-public-to-world"},
    ),
    (
        "endpoint public, only in response params (strings)",
        update_config(
            {},
            [
                {"type": "EndpointPublicAccess", "value": "true"},
                {"type": "PublicAccessCidrs", "value": '["0.0.0.0/0"]'},
            ],
        ),
        Severity.HIGH,
        {"endpoint-public-to-world"},
    ),
    (
        "endpoint public, CIDRs not in request",
        update_config({"resourcesVpcConfig": {"endpointPublicAccess": True}}),
        Severity.MEDIUM,
        {"endpoint-maybe-public-to-world"},
    ),
    (
        "public CIDRs opened without the public flag",
        update_config({"resourcesVpcConfig": {"publicAccessCidrs": ["0.0.0.0/0"]}}),
        Severity.MEDIUM,
        {"endpoint-maybe-public-to-world"},
    ),
    (
        "endpoint public, restricted CIDRs",
        update_config({"resourcesVpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}}),
        Severity.INFO,
        {"endpoint-public-restricted"},
    ),
    (
        "endpoint made private",
        update_config({"resourcesVpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True}}),
        Severity.INFO,
        {"endpoint-made-private"},
    ),
    (
        "endpoint made private with string booleans",
        update_config({"resourcesVpcConfig": {"endpointPublicAccess": "false", "endpointPrivateAccess": "true"}}),
        Severity.INFO,
        {"endpoint-made-private"},
    ),
    (
        "authentication mode changed",
        update_config({"accessConfig": {"authenticationMode": "API"}}),
        Severity.HIGH,
        {"authentication-mode-changed"},
    ),
    (
        "authentication mode, only in response params (JSON-encoded string)",
        update_config({}, [{"type": "AuthenticationMode", "value": '"API_AND_CONFIG_MAP"'}]),
        Severity.HIGH,
        {"authentication-mode-changed"},
    ),
    (
        "authentication mode, response params as JSON object",
        update_config({}, [{"type": "AuthenticationMode", "value": '{"authenticationMode": "API"}'}]),
        Severity.HIGH,
        {"authentication-mode-changed"},
    ),
    (
        "public endpoint and audit log off together",
        update_config(
            {
                "resourcesVpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]},
                **logging(["audit"], False),
            }
        ),
        Severity.HIGH,
        {"endpoint-public-to-world", "audit-logging-disabled"},
    ),
    (
        "unrelated configuration update",
        update_config({"upgradePolicy": {"supportType": "STANDARD"}}),
        Severity.INFO,
        {"cluster-config-updated"},
    ),
    # --- cluster lifecycle
    (
        "new cluster with every default",
        create_cluster(),
        Severity.HIGH,
        {"new-cluster-public", "new-cluster-without-audit-log", "new-cluster-creator-admin"},
    ),
    (
        "new cluster, restricted CIDRs but no audit log",
        create_cluster(
            resourcesVpcConfig={"subnetIds": ["s"], "publicAccessCidrs": ["203.0.113.0/24"]},
            accessConfig={"bootstrapClusterCreatorAdminPermissions": False},
        ),
        Severity.HIGH,
        {"new-cluster-without-audit-log"},
    ),
    ("new hardened cluster", create_cluster(**HARDENED_CREATE), Severity.INFO, {"cluster-created"}),
    (
        "hardened cluster that bootstraps an unexpected creator",
        create_cluster(**(HARDENED_CREATE | {"accessConfig": {"bootstrapClusterCreatorAdminPermissions": True}})),
        Severity.HIGH,
        {"new-cluster-creator-admin"},
    ),
    (
        "failed cluster creation with null request",
        cloudtrail("CreateCluster", None, error=("InvalidParameterException", "bad subnet")),
        Severity.INFO,
        {"cluster-created"},
    ),
    ("cluster deleted", cloudtrail("DeleteCluster", {"name": "dev"}), Severity.INFO, {"cluster-deleted"}),
    (
        "unknown event name",
        cloudtrail("TagResource", {"resourceArn": "arn:aws:eks:eu-west-1:111122223333:cluster/dev", "tags": {}}),
        Severity.INFO,
        {"unhandled-event"},
    ),
    ("unknown event name with null request", cloudtrail("TagResource", None), Severity.INFO, {"unhandled-event"}),
    (
        "handled event with null request (success)",
        cloudtrail("UpdateAccessEntry", None),
        Severity.INFO,
        {"access-entry-updated"},
    ),
]


@pytest.mark.parametrize(("case", "event", "severity", "rules"), CASES, ids=[c[0] for c in CASES])
def test_rule_table(case: str, event: dict[str, Any], severity: Severity, rules: set[str]) -> None:
    assessment = assess_event(event, expected_admins())
    found = {f.rule for f in assessment.findings}
    assert assessment.severity is severity, alert_of(assessment).title
    assert rules <= found, found
    reasons = dict((f.label, f.value) for f in alert_of(assessment).facts)["Reasons"]
    for finding in assessment.findings:
        assert f"{finding.severity.name}: {finding.headline}" in reasons


def test_hardened_cluster_with_expected_creator_is_info() -> None:
    sso = {
        "type": "AssumedRole",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_PlatformAdmin_abc/bob",
        "accountId": ACCOUNT,
    }
    event = create_cluster(**(HARDENED_CREATE | {"accessConfig": {"bootstrapClusterCreatorAdminPermissions": True}}))
    event["detail"]["userIdentity"] = sso
    assessment = assess_event(event, expected_admins())
    assert assessment.severity is Severity.INFO
    assert [f.rule for f in assessment.findings] == ["new-cluster-creator-admin-expected"]
    facts = dict((f.label, f.value) for f in alert_of(assessment).facts)
    assert facts["Creator is expected admin"].startswith("yes: matches expected admin pattern")


def test_principal_is_canonical_and_as_sent_form_kept() -> None:
    event = associate(
        "arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fteam%2Fdeploy", "AmazonEKSViewPolicy", {"type": "cluster"}
    )
    alert = alert_of(assess_event(event, expected_admins()))
    facts = dict((f.label, f.value) for f in alert.facts)
    assert alert.principal == f"arn:aws:iam::{ACCOUNT}:role/deploy"
    assert facts["Principal as sent"] == f"arn:aws:iam::{ACCOUNT}:role/team/deploy"


def test_groups_given_as_string_or_json_text() -> None:
    for raw in ("platform-admins", '["platform-admins"]'):
        event = cloudtrail("CreateAccessEntry", {"name": "prod", "principalArn": INTRUDER, "kubernetesGroups": raw})
        assessment = assess_event(event, expected_admins())
        assert assessment.severity is Severity.MEDIUM
        assert extract(parse_event(event)).groups == ("platform-admins",)


def test_groups_fall_back_to_the_response() -> None:
    response = {
        "accessEntry": {
            "clusterName": "prod",
            "principalArn": INTRUDER,
            "kubernetesGroups": ["ops"],
            "type": "STANDARD",
        }
    }
    event = cloudtrail("CreateAccessEntry", {"name": "prod", "principalArn": INTRUDER}, response)
    # The request names no groups, so the groups EKS recorded in the response are used.
    assert extract(parse_event(event)).groups == ("ops",)
    assert assess_event(event, expected_admins()).severity is Severity.MEDIUM


def test_cluster_name_falls_back_to_response_cluster_name() -> None:
    response = {
        "clusterName": "prod",
        "principalArn": INTRUDER,
        "associatedAccessPolicy": {
            "policyArn": POLICY + "AmazonEKSClusterAdminPolicy",
            "accessScope": {"type": "cluster"},
        },
    }
    event = cloudtrail("AssociateAccessPolicy", {"principalArn": INTRUDER_ENCODED}, response)
    alert = alert_of(assess_event(event, expected_admins()))
    assert (alert.cluster, alert.principal, alert.severity) == ("prod", INTRUDER, Severity.CRITICAL)


def test_odd_field_shapes_never_crash() -> None:
    event = cloudtrail(
        "AssociateAccessPolicy",
        {"name": ["prod"], "principalArn": {"x": 1}, "policyArn": 7, "accessScope": "cluster"},
        {"update": "nope", "accessEntry": []},
    )
    event["detail"]["userIdentity"] = "not an object"
    assessment = assess_event(event, expected_admins())
    # A policy that is not a policy ARN cannot be judged: at cluster scope it is treated as admin-like.
    assert assessment.severity is Severity.HIGH
    assert [f.rule for f in assessment.findings] == ["unknown-access-policy-cluster-wide"]
    assert alert_of(assessment) is not None and alert_of(assessment).title.endswith("by unknown actor")


def test_a_rule_that_cannot_evaluate_becomes_a_medium_finding() -> None:
    def explode(ctx: RuleContext) -> bool:
        raise KeyError("unexpected")

    broken = Rule(
        "broken", frozenset({"DeleteCluster"}), Severity.INFO, Severity.INFO, explode, lambda c: "never", "why"
    )
    ctx = RuleContext(extract(parse_event(cloudtrail("DeleteCluster", {"name": "dev"}))), expected_admins())
    findings = evaluate(ctx, (broken, *RULES))
    assert findings[0].severity is Severity.MEDIUM
    assert findings[0].rule == "broken" and "KeyError" in findings[0].headline
    assert "cluster-deleted" in {f.rule for f in findings}


def test_rule_table_is_well_formed() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    for rule in RULES:
        assert rule.attempt_severity <= rule.severity, rule.name


def test_alert_fields_for_the_critical_sample() -> None:
    event = load_event("eks_api_cluster_admin_granted.json")
    alert = alert_of(assess_event(event, expected_admins()))
    detail = event["detail"]
    assert alert.id == alert_id("eks-api", detail["eventID"])
    assert alert.kind == "eks-api"
    assert alert.severity is Severity.CRITICAL
    assert alert.title == (
        "arn:aws:iam::111122223333:role/intruder granted cluster admin (AmazonEKSClusterAdminPolicy, cluster scope) "
        "by role/Ops (session alice)"
    )
    assert alert.notification_text().startswith("[CRITICAL] prod: arn:aws:iam::111122223333:role/intruder")
    assert (alert.cluster, alert.principal, alert.account, alert.region, alert.time) == (
        "prod",
        INTRUDER,
        ACCOUNT,
        "eu-west-1",
        detail["eventTime"],
    )
    assert alert.actor is not None
    assert alert.actor.arn == f"arn:aws:iam::{ACCOUNT}:role/Ops"
    assert alert.actor.session_name == "alice"
    assert alert.actor.source_ip == detail["sourceIPAddress"]
    assert alert.actor.user_agent == detail["userAgent"]
    assert alert.source is not None
    assert alert.source.kind == "cloudtrail"
    assert alert.source.description == f"CloudTrail event {detail['eventID']}"
    assert alert.source.url == (
        f"https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events/{detail['eventID']}"
    )
    facts = dict((f.label, f.value) for f in alert.facts)
    assert facts["Event"] == "AssociateAccessPolicy (eks.amazonaws.com)"
    assert facts["Policy"] == POLICY + "AmazonEKSClusterAdminPolicy"
    assert facts["Scope"] == "cluster scope"
    assert facts["Expected admin"].startswith("no:")
    assert Alert.from_json(alert.to_json()) == alert


def test_failed_call_title_and_error_fact() -> None:
    alert = alert_of(assess_event(load_event("eks_api_access_entry_system_group_denied.json"), expected_admins()))
    assert alert.title.startswith(
        "CreateAccessEntry failed (InvalidParameterException): "
        "arn:aws:iam::111122223333:role/intruder added to system:masters by role/Ops"
    )
    facts = dict((f.label, f.value) for f in alert.facts)
    assert facts["Error"].startswith("InvalidParameterException: The kubernetes group name system:masters")


def test_actor_from_another_account_is_shown_in_full() -> None:
    event = associate(
        INTRUDER,
        "AmazonEKSViewPolicy",
        {"type": "cluster"},
        identity={
            "type": "AssumedRole",
            "arn": f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/Deployer/ci",
            "accountId": OTHER_ACCOUNT,
        },
    )
    record = parse_event(event)
    assert actor_label(record) == f"arn:aws:iam::{OTHER_ACCOUNT}:role/Deployer (session ci)"


def test_iam_user_and_service_actors() -> None:
    user = {
        "type": "IAMUser",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/ci-deployer",
        "accountId": ACCOUNT,
        "userName": "ci-deployer",
    }
    assert actor_label(parse_event(cloudtrail("DeleteCluster", {"name": "dev"}, identity=user))) == "user/ci-deployer"
    service = {"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"}
    record = parse_event(cloudtrail("DeleteCluster", {"name": "dev"}, identity=service))
    assert actor_label(record) == "cloudformation.amazonaws.com"


def test_alert_id_is_stable_and_falls_back() -> None:
    with_id = cloudtrail("DeleteCluster", {"name": "dev"})
    assert alert_of(assess_event(with_id)).id == alert_id("eks-api", "11111111-2222-3333-4444-555555555555")
    no_event_id = cloudtrail("DeleteCluster", {"name": "dev"}, event_id=None)
    assert alert_of(assess_event(no_event_id)).id == alert_id("eks-api", "eb-0001")
    bare = copy.deepcopy(no_event_id)
    del bare["id"]
    first, second = alert_of(assess_event(bare)), alert_of(assess_event(copy.deepcopy(bare)))
    assert first.id == second.id
    bare["detail"]["requestParameters"]["name"] = "prod"
    assert alert_of(assess_event(bare)).id != first.id


def test_lookup_failure_is_safe_and_reported() -> None:
    def failing() -> KubectlInventory:
        raise RuntimeError("DescribeInstances throttled")

    event = associate(KUBECTL_DEV, "AmazonEKSClusterAdminPolicy", {"type": "cluster"}, cluster="dev")
    assessment = assess_event(event, expected_admins(inventory=failing))
    assert assessment.severity is Severity.CRITICAL
    assert assessment.lookup_error == "RuntimeError: DescribeInstances throttled"
    facts = dict((f.label, f.value) for f in alert_of(assessment).facts)
    assert "DescribeInstances throttled" in facts["Expected-admin lookup"]


def test_without_expected_admins_every_admin_grant_is_critical() -> None:
    event = associate(SSO_ADMIN, "AmazonEKSClusterAdminPolicy", {"type": "cluster"})
    assert assess_event(event).severity is Severity.CRITICAL


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "not a JSON object"),
        ("text", "not a JSON object"),
        (None, "not a JSON object"),
        ({}, "detail-type"),
        ({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}, "detail-type"),
        ({"detail-type": "AWS API Call via CloudTrail", "source": "custom.app", "detail": {}}, "source"),
        (
            {
                "detail-type": "AWS API Call via CloudTrail",
                "source": "aws.s3",
                "detail": {"eventSource": "s3.amazonaws.com"},
            },
            "eventSource",
        ),
        ({"detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2", "detail": {}}, "eventName"),
        ({"detail-type": "AWS API Call via CloudTrail", "source": "aws.eks"}, "detail is missing"),
        ({"detail-type": "AWS API Call via CloudTrail", "source": "aws.eks", "detail": "x"}, "detail is missing"),
        (
            {
                "detail-type": "AWS API Call via CloudTrail",
                "source": "aws.eks",
                "detail": {"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances"},
            },
            "eventSource",
        ),
        ({"detail-type": "AWS API Call via CloudTrail", "source": "aws.eks", "detail": {"eventName": ""}}, "eventName"),
    ],
)
def test_malformed_events_are_rejected(event: Any, message: str) -> None:
    with pytest.raises(MalformedEventError, match=message):
        parse_event(event)


# --- every sample event in events/ keeps its documented severity
SAMPLE_SEVERITIES: dict[str, Severity] = {
    "eks_api_cluster_admin_granted.json": Severity.CRITICAL,
    "eks_api_admin_policy_cluster_scope.json": Severity.CRITICAL,
    "eks_api_admin_to_expected_admin.json": Severity.INFO,
    "eks_api_kubectl_role_admin_dev.json": Severity.INFO,
    "eks_api_namespace_admin.json": Severity.MEDIUM,
    "eks_api_admin_grant_denied.json": Severity.MEDIUM,
    "eks_api_view_policy.json": Severity.INFO,
    "eks_api_access_entry_custom_groups.json": Severity.MEDIUM,
    "eks_api_access_entry_system_group_denied.json": Severity.MEDIUM,
    "eks_api_cross_account_entry.json": Severity.MEDIUM,
    "eks_api_update_access_entry_groups.json": Severity.MEDIUM,
    "eks_api_delete_access_entry.json": Severity.INFO,
    "eks_api_disassociate_policy.json": Severity.INFO,
    "eks_api_audit_logging_disabled.json": Severity.HIGH,
    "eks_api_logging_enabled.json": Severity.INFO,
    "eks_api_endpoint_public.json": Severity.HIGH,
    "eks_api_endpoint_private.json": Severity.INFO,
    "eks_api_auth_mode_changed.json": Severity.HIGH,
    "eks_api_create_cluster_public.json": Severity.HIGH,
    "eks_api_create_cluster_hardened.json": Severity.INFO,
    "eks_api_delete_cluster.json": Severity.INFO,
    "eks_api_unhandled_event.json": Severity.INFO,
}


def sample_files() -> list[str]:
    return sorted(path.name for path in Path(EVENTS_DIR).glob("eks_api_*.json"))


def test_every_sample_event_has_an_expected_severity() -> None:
    from tests.unit.test_cloudtrail_samples import SAMPLES

    assert sample_files() == sorted({*SAMPLE_SEVERITIES, *SAMPLES})
    assert not set(SAMPLE_SEVERITIES) & set(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLE_SEVERITIES))
def test_sample_event_severity(name: str) -> None:
    event = load_event(name)
    assessment = assess_event(event, expected_admins())
    assert assessment.severity is SAMPLE_SEVERITIES[name], alert_of(assessment).title
    assert alert_of(assessment).id == alert_id("eks-api", event["detail"]["eventID"])
    assert alert_of(assessment).cluster in ("prod", "dev")


@pytest.mark.parametrize("name", sample_files())
def test_sample_event_has_the_full_cloudtrail_shape(name: str) -> None:
    event = load_event(name)
    assert {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"} <= set(event)
    detail = event["detail"]
    region = "us-east-1" if detail["eventSource"] == "iam.amazonaws.com" else "eu-west-1"  # IAM: us-east-1 only
    account = "444455556666" if "_spoke_" in name else ACCOUNT  # a spoke's call, forwarded to the hub's bus
    assert (event["account"], event["region"], detail["awsRegion"]) == (account, region, region)
    assert detail["recipientAccountId"] == account
    assert event["source"] == "aws." + detail["eventSource"].removesuffix(".amazonaws.com")
    assert {
        "eventVersion",
        "userIdentity",
        "eventTime",
        "eventSource",
        "eventName",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "requestParameters",
        "responseElements",
        "requestID",
        "eventID",
        "readOnly",
        "eventType",
        "managementEvent",
        "recipientAccountId",
        "eventCategory",
    } <= set(detail)
    assert {"type", "principalId", "arn", "accountId", "accessKeyId"} <= set(detail["userIdentity"])
    if "errorCode" in detail:
        assert detail["responseElements"] is None
    json.dumps(event)


def test_sample_create_cluster_public_lists_every_reason() -> None:
    assessment = assess_event(load_event("eks_api_create_cluster_public.json"), expected_admins())
    assert [f.rule for f in assessment.findings] == [
        "new-cluster-public",
        "new-cluster-without-audit-log",
        "new-cluster-creator-admin",
    ]
