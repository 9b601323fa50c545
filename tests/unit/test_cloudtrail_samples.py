"""Every CloudTrail sample event of events/ judged against a static world: severity and deciding rule.

The record shapes follow real CloudTrail records (EC2 request wrappers, SSM redactions, URL-encoded
EKS path parameters, assumed-role identities); docs/eks-api-alerts.md cites where each comes from.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from eksguard.eks_api import assess_event
from eksguard.severity import Severity
from tests.cloudtrail_world import KUBECTL_ROLE, SAMPLE_KUBECTL_INSTANCE, world
from tests.conftest import EVENTS_DIR

# sample -> (severity, rule that decides it); None: no alert (nothing eksguard watches)
SAMPLES: dict[str, tuple[Severity, str] | None] = {
    "eks_api_admin_view_cluster.json": (Severity.HIGH, "cluster-wide-admin-view"),
    "eks_api_edit_cluster.json": (Severity.HIGH, "cluster-wide-edit"),
    "eks_api_admin_kube_system.json": (Severity.CRITICAL, "kube-system-admin"),
    "eks_api_identity_provider.json": (Severity.HIGH, "identity-provider-associated"),
    "eks_api_identity_provider_removed.json": (Severity.INFO, "identity-provider-disassociated"),
    "eks_api_pod_identity_kube_system.json": (Severity.MEDIUM, "kube-system-pod-role"),
    "eks_api_kubectl_role_to_pods.json": (Severity.CRITICAL, "admin-role-to-pods"),
    "eks_api_kubectl_role_other_cluster.json": (Severity.CRITICAL, "kubectl-role-on-other-cluster"),
    "eks_api_trail_stopped.json": (Severity.HIGH, "trail-stopped"),
    "eks_api_trail_deleted.json": (Severity.HIGH, "trail-stopped"),
    "eks_api_trail_global_events_off.json": (Severity.HIGH, "trail-coverage-reduced"),
    "eks_api_event_selectors_no_management.json": (Severity.HIGH, "management-events-not-logged"),
    "eks_api_event_selectors_exclude_eks.json": (Severity.HIGH, "management-events-not-logged"),
    "eks_api_audit_subscription_deleted.json": (Severity.HIGH, "audit-subscription-deleted"),
    "eks_api_audit_filter_rewritten.json": (Severity.HIGH, "audit-filter-rewritten"),
    "eks_api_audit_log_group_deleted.json": (Severity.HIGH, "audit-log-group-deleted"),
    "eks_api_kubectl_session.json": (Severity.INFO, "kubectl-session"),
    "eks_api_kubectl_session_night.json": (Severity.MEDIUM, "kubectl-session"),
    "eks_api_kubectl_session_resumed.json": (Severity.INFO, "kubectl-session"),
    "eks_api_kubectl_send_command.json": (Severity.HIGH, "kubectl-command"),
    "eks_api_kubectl_association_everywhere.json": (Severity.HIGH, "kubectl-command"),
    "eks_api_kubectl_ssh_key.json": (Severity.HIGH, "kubectl-ssh-key"),
    # the same call made in a spoke account, as its rule forwards it to the hub's bus
    "eks_api_spoke_kubectl_ssh_key.json": (Severity.HIGH, "kubectl-ssh-key"),
    "eks_api_kubectl_user_data.json": (Severity.HIGH, "kubectl-user-data"),
    "eks_api_kubectl_instance_profile.json": (Severity.HIGH, "kubectl-instance-profile"),
    "eks_api_kubectl_role_handed_out.json": (Severity.HIGH, "kubectl-role-handed-out"),
    "eks_api_kubectl_role_trust.json": (Severity.HIGH, "admin-role-changed"),
    "eks_api_kubectl_tag_removed.json": (Severity.HIGH, "kubectl-tag-removed"),
    "eks_api_ssh_key_other_instance.json": None,
    "eks_api_eksguard_rule_disabled.json": (Severity.HIGH, "eksguard-changed"),
    "eks_api_eksguard_function_throttled.json": (Severity.HIGH, "eksguard-changed"),
    "eks_api_eksguard_webhook_rewritten.json": (Severity.HIGH, "eksguard-changed"),
    "eks_api_eksguard_deploy.json": (Severity.INFO, "eksguard-deployed"),  # a deploy (or another stack)
}


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return event


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample(name: str) -> None:
    assessment = assess_event(load(name), world())
    expected = SAMPLES[name]
    if expected is None:
        assert assessment.alert is None, assessment.alert and assessment.alert.title
        return
    severity, rule = expected
    assert assessment.alert is not None
    assert (assessment.alert.severity, assessment.findings[0].rule) == (severity, rule), assessment.alert.title


def entry_in(groups: list[str], username: str | None = None) -> dict[str, Any]:
    event = load("eks_api_update_access_entry_groups.json")
    event["detail"]["requestParameters"]["kubernetesGroups"] = groups
    event["detail"]["requestParameters"]["name"] = "prod"
    if username:
        event["detail"]["requestParameters"]["username"] = username
    event["detail"]["responseElements"] = None
    return event


def rbac(**kwargs: str) -> Any:
    from eksguard.rbac.admins import AdminSubjects

    groups = {"ops-admins": "ClusterRoleBinding ops binds it to ClusterRole cluster-admin cluster-wide"}
    return lambda cluster: AdminSubjects(users=dict(kwargs), groups=groups if cluster == "prod" else {})


@pytest.mark.parametrize(
    ("groups", "username", "severity"),
    [
        (["ops-admins"], None, Severity.CRITICAL),
        (["readers", "ops-admins"], None, Severity.CRITICAL),
        (["readers"], None, Severity.MEDIUM),
        (["readers"], "kubernetes-admin", Severity.CRITICAL),  # a user name RBAC binds to cluster-admin
    ],
)
def test_access_entry_groups_are_judged_with_what_rbac_binds(
    groups: list[str], username: str | None, severity: Severity
) -> None:
    lookups = world(rbac_admins=rbac(**{"kubernetes-admin": "ClusterRoleBinding kadm binds it to cluster-admin"}))
    assessment = assess_event(entry_in(groups, username), lookups)
    assert assessment.severity is severity, assessment.alert and assessment.alert.title


def test_rbac_state_that_cannot_be_read_is_said_and_the_entry_still_judged() -> None:
    def broken(cluster: str) -> Any:
        raise TimeoutError("DynamoDB read timed out")

    assessment = assess_event(entry_in(["ops-admins"]), world(rbac_admins=broken))
    assert assessment.severity is Severity.MEDIUM
    assert assessment.alert is not None
    facts = {f.label: f.value for f in assessment.alert.facts}
    assert "DynamoDB read timed out" in (facts.get("RBAC lookup") or "")


@pytest.mark.parametrize("event_name", ["UpdateClusterConfig", "CreateCluster"])
def test_auto_mode_nodes_given_the_kubectl_role_is_critical(event_name: str) -> None:
    event = load("eks_api_kubectl_role_to_pods.json")
    detail = event["detail"]
    detail["eventName"] = event_name
    detail["requestParameters"] = {
        "name": "prod",
        "computeConfig": {"enabled": True, "nodeRoleArn": KUBECTL_ROLE, "nodePools": ["general-purpose"]},
    }
    detail["responseElements"] = None
    assessment = assess_event(event, world())
    assert (assessment.severity, assessment.findings[0].rule) == (Severity.CRITICAL, "admin-role-to-pods")


def variant(name: str, event_name: str | None = None, region: str | None = None, **detail: Any) -> dict[str, Any]:
    event = load(name)
    if "source" in detail:
        event.pop("source")
        detail.pop("source")
    if event_name:
        event["detail"]["eventName"] = event_name
    if region:
        event["detail"]["awsRegion"] = event["region"] = region
    event["detail"].update(detail)
    return event


FILTER = "eks_api_audit_filter_rewritten.json"
OWN_FILTER = {
    "logGroupName": "/aws/eks/prod/cluster",
    "filterName": "eksguard-aws-auth",
    "destinationArn": "arn:aws:lambda:eu-west-1:111122223333:function:eksguard-AuditLogAlert-Xy12AbCd34Ef",
}


def own_filter(**options: Any) -> dict[str, Any]:
    from eksguard.audit_log.enrol import FILTER_PATTERN

    return variant(FILTER, requestParameters={**OWN_FILTER, "filterPattern": FILTER_PATTERN, **options})


# (case, event, severity, deciding rule); None: no alert
VARIATIONS: list[tuple[str, dict[str, Any], tuple[Severity, str] | None]] = [
    ("own filter put back unchanged", own_filter(), (Severity.INFO, "audit-filter-changed")),
    (
        "own filter narrowed by a field selection",
        own_filter(fieldSelectionCriteria='@aws.region = "xx-none-1"'),
        (Severity.HIGH, "audit-filter-rewritten"),
    ),
    (
        "own filter reading transformed events",
        own_filter(applyOnTransformedLogs=True),
        (Severity.HIGH, "audit-filter-rewritten"),
    ),
    (
        "transformer on an audit log group, by ARN",
        variant(
            FILTER,
            "PutTransformer",
            requestParameters={
                "logGroupIdentifier": "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/eks/prod/cluster",
                "transformerConfig": [{"deleteKeys": {"withKeys": ["objectRef"]}}],
            },
        ),
        (Severity.HIGH, "audit-log-transformed"),
    ),
    (
        "account-wide transformer policy",
        variant(FILTER, "PutAccountPolicy", requestParameters={"policyName": "p", "policyType": "TRANSFORMER_POLICY"}),
        (Severity.HIGH, "audit-log-transformed"),
    ),
    (
        "account-wide data protection policy",
        variant(
            FILTER, "PutAccountPolicy", requestParameters={"policyName": "p", "policyType": "DATA_PROTECTION_POLICY"}
        ),
        (Severity.INFO, "trail-or-log-change"),
    ),
    (
        "association updated in place: its targets only in the response",
        variant(
            "eks_api_kubectl_association_everywhere.json",
            "UpdateAssociation",
            requestParameters={"associationId": "8dfe3659", "name": "AWS-RunShellScript", "parameters": "HIDDEN"},
            responseElements={
                "associationDescription": {
                    "associationId": "8dfe3659",
                    "targets": [{"key": "tag:kubectl-instance", "values": ["prod"]}],
                }
            },
        ),
        (Severity.HIGH, "kubectl-command"),
    ),
    (
        "association re-run now: targets not in the record",
        variant(
            "eks_api_kubectl_association_everywhere.json",
            "StartAssociationsOnce",
            requestParameters={"associationIds": ["8dfe3659"]},
            responseElements=None,
        ),
        (Severity.MEDIUM, "kubectl-target-unverified"),
    ),
    (
        "a batch of associations",
        variant(
            "eks_api_kubectl_association_everywhere.json",
            "CreateAssociationBatch",
            requestParameters={"entries": [{"name": "AWS-RunShellScript", "instanceId": SAMPLE_KUBECTL_INSTANCE}]},
            responseElements=None,
        ),
        (Severity.HIGH, "kubectl-command"),
    ),
    (
        "maintenance window task on the kubectl tag",
        variant(
            "eks_api_kubectl_association_everywhere.json",
            "RegisterTaskWithMaintenanceWindow",
            requestParameters={
                "windowId": "mw-0c50858d01EXAMPLE",
                "targets": [{"key": "tag:kubectl-instance", "values": ["prod"]}],
                "taskArn": "AWS-RunShellScript",
                "taskType": "RUN_COMMAND",
            },
            responseElements=None,
        ),
        (Severity.HIGH, "kubectl-command"),
    ),
    (
        "Automation from another region through targetLocations",
        variant(
            "eks_api_kubectl_association_everywhere.json",
            "StartAutomationExecution",
            region="us-east-1",
            requestParameters={
                "documentName": "AWS-RunShellScriptAutomation",
                "targetParameterName": "InstanceId",
                "targets": [{"key": "tag:kubectl-instance", "values": ["prod"]}],
                "targetLocations": [{"accounts": ["111122223333"], "regions": ["eu-west-1"]}],
            },
            responseElements=None,
        ),
        (Severity.HIGH, "kubectl-command"),
    ),
    (
        "Automation in another region without targetLocations",
        variant(
            "eks_api_kubectl_association_everywhere.json",
            "StartAutomationExecution",
            region="us-east-1",
            requestParameters={
                "documentName": "AWS-RunShellScriptAutomation",
                "targetParameterName": "InstanceId",
                "targets": [{"key": "tag:kubectl-instance", "values": ["prod"]}],
            },
            responseElements=None,
        ),
        None,
    ),
    (
        "kubectl tag overwritten",
        variant(
            "eks_api_kubectl_tag_removed.json",
            "CreateTags",
            requestParameters={
                "resourcesSet": {"items": [{"resourceId": SAMPLE_KUBECTL_INSTANCE}]},
                "tagSet": {"items": [{"key": "kubectl-instance", "value": "retired"}]},
            },
        ),
        (Severity.HIGH, "kubectl-tag-changed"),
    ),
    (
        "instance launched with the kubectl tag",
        variant(
            "eks_api_kubectl_role_handed_out.json",
            requestParameters={
                "iamInstanceProfile": {"name": "debug-tools"},
                "tagSpecificationSet": {
                    "items": [{"resourceType": "instance", "tags": [{"key": "kubectl-instance", "value": "prod"}]}]
                },
            },
            responseElements={"instancesSet": {"items": [{"instanceId": "i-0f0f0f0f0f0f0f0f0"}]}},
        ),
        (Severity.MEDIUM, "kubectl-tag-added"),
    ),
    (
        "Spot request with the kubectl instance profile",
        variant(
            "eks_api_kubectl_role_handed_out.json",
            "RequestSpotInstances",
            requestParameters={"launchSpecification": {"iamInstanceProfile": {"name": "eksguard-kubectl-prod"}}},
            responseElements=None,
        ),
        (Severity.HIGH, "kubectl-role-handed-out"),
    ),
    (
        "launch template with the kubectl instance profile, by ARN",
        variant(
            "eks_api_kubectl_role_handed_out.json",
            "CreateLaunchTemplateVersion",
            requestParameters={
                "CreateLaunchTemplateVersionRequest": {
                    "LaunchTemplateId": "lt-0abc",
                    "LaunchTemplateData": {
                        "IamInstanceProfile": {
                            "Arn": "arn:aws:iam::111122223333:instance-profile/eksguard-kubectl-prod"
                        }
                    },
                }
            },
            responseElements=None,
        ),
        (Severity.HIGH, "kubectl-role-handed-out"),
    ),
    (
        "launch from a template whose response CloudTrail omitted",
        variant(
            "eks_api_kubectl_role_handed_out.json",
            requestParameters={"launchTemplate": {"launchTemplateId": "lt-0abc", "version": "$Latest"}},
            responseElements={"omitted": True},
        ),
        (Severity.MEDIUM, "kubectl-role-handed-out-unverified"),
    ),
    (
        "launch from a template with another profile",
        variant(
            "eks_api_kubectl_role_handed_out.json",
            requestParameters={"launchTemplate": {"launchTemplateId": "lt-0abc"}},
            responseElements={
                "instancesSet": {
                    "items": [
                        {
                            "instanceId": "i-0f0f0f0f0f0f0f0f0",
                            "iamInstanceProfile": {"arn": "arn:aws:iam::111122223333:instance-profile/debug-tools"},
                        }
                    ]
                }
            },
        ),
        None,
    ),
    (
        "root volume of the kubectl instance replaced",
        variant(
            "eks_api_kubectl_user_data.json",
            "CreateReplaceRootVolumeTask",
            requestParameters={
                "CreateReplaceRootVolumeTaskRequest": {"InstanceId": SAMPLE_KUBECTL_INSTANCE, "ImageId": "ami-0bad"}
            },
        ),
        (Severity.HIGH, "kubectl-disk"),
    ),
    (
        "port forwarded through the kubectl instance to its metadata service",
        variant(
            "eks_api_kubectl_session.json",
            requestParameters={
                "target": SAMPLE_KUBECTL_INSTANCE,
                "documentName": "AWS-StartPortForwardingSessionToRemoteHost",
                "parameters": {"host": ["169.254.169.254"], "portNumber": ["80"], "localPortNumber": ["8080"]},
            },
        ),
        (Severity.HIGH, "kubectl-credentials-forwarded"),
    ),
    (
        "port forwarded to a host the record hides",
        variant(
            "eks_api_kubectl_session.json",
            requestParameters={
                "target": SAMPLE_KUBECTL_INSTANCE,
                "documentName": "AWS-StartPortForwardingSessionToRemoteHost",
                "parameters": "HIDDEN_DUE_TO_SECURITY_REASONS",
            },
        ),
        (Severity.MEDIUM, "kubectl-remote-forward-unverified"),
    ),
    (
        "permissions boundary removed from the kubectl role",
        variant(
            "eks_api_kubectl_role_trust.json",
            "DeleteRolePermissionsBoundary",
            requestParameters={"roleName": "eksguard-kubectl-prod"},
        ),
        (Severity.HIGH, "admin-role-changed"),
    ),
    (
        "failed profile replacement names no instance",
        variant(
            "eks_api_kubectl_instance_profile.json",
            responseElements=None,
            errorCode="Client.UnauthorizedOperation",
            errorMessage="not authorized",
        ),
        (Severity.INFO, "kubectl-target-unverified"),
    ),
    (
        "another stack's rule disabled",
        variant("eks_api_eksguard_rule_disabled.json", requestParameters={"name": "eksguard2-Something-1A2B"}),
        None,
    ),
    (
        "eksguard's rule targets removed",
        variant(
            "eks_api_eksguard_rule_disabled.json",
            "RemoveTargets",
            requestParameters={"rule": "eksguard-EksApiAlertFunctionEksAccessChang-1A2B", "ids": ["t1"]},
        ),
        (Severity.HIGH, "eksguard-changed"),
    ),
    (
        "eksguard's function reconfigured, named by a qualified ARN",
        variant(
            "eks_api_eksguard_function_throttled.json",
            "UpdateFunctionConfiguration20150331v2",
            requestParameters={
                "functionName": "arn:aws:lambda:eu-west-1:111122223333:function:eksguard-EksApiAlertFunction-Q1w2:live"
            },
        ),
        (Severity.HIGH, "eksguard-changed"),
    ),
    (
        "the alert queue's mapping to the notifier disabled",
        variant(
            "eks_api_eksguard_function_throttled.json",
            "UpdateEventSourceMapping20150331",
            requestParameters={"uUID": "a1b2c3d4-5678-90ab-cdef-11111EXAMPLE", "enabled": False},
            responseElements={
                "uUID": "a1b2c3d4-5678-90ab-cdef-11111EXAMPLE",
                "functionArn": "arn:aws:lambda:eu-west-1:111122223333:function:eksguard-SlackNotifierFunction-Zx9",
                "state": "Disabling",
            },
        ),
        (Severity.HIGH, "eksguard-changed"),
    ),
    (
        "the webhook secret named by its full ARN",
        variant(
            "eks_api_eksguard_webhook_rewritten.json",
            requestParameters={
                "secretId": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:eksguard/slack-webhook-AbCdEf"
            },
        ),
        (Severity.HIGH, "eksguard-changed"),
    ),
    (
        "another secret rotated",
        variant("eks_api_eksguard_webhook_rewritten.json", requestParameters={"secretId": "prod/db-password"}),
        None,
    ),
    (
        "a deny attached to eksguard's own execution role",
        variant(
            "eks_api_kubectl_role_trust.json",
            "AttachRolePolicy",
            requestParameters={
                "roleName": "eksguard-EksApiAlertFunctionRole-1AB2CD3EF4GH",
                "policyArn": "arn:aws:iam::aws:policy/AWSDenyAll",
            },
        ),
        (Severity.HIGH, "eksguard-role-changed"),
    ),
    (
        "a user's own role that merely starts with the stack name",
        variant(
            "eks_api_kubectl_role_trust.json",
            "AttachRolePolicy",
            requestParameters={"roleName": "eksguard-reporting", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
        ),
        None,
    ),
    (
        "the alert queue given another consumer",
        variant(
            "eks_api_eksguard_function_throttled.json",
            "CreateEventSourceMapping20150331",
            requestParameters={
                "eventSourceArn": "arn:aws:sqs:eu-west-1:111122223333:eksguard-AlertQueue-AbC123",
                "functionName": "attacker-drain",
            },
        ),
        (Severity.HIGH, "eksguard-changed"),
    ),
    (
        "eksguard's stack deleted",
        variant(
            "eks_api_eksguard_rule_disabled.json",
            "DeleteStack",
            requestParameters={"stackName": "arn:aws:cloudformation:eu-west-1:111122223333:stack/eksguard/1a2b3c4d"},
            eventSource="cloudformation.amazonaws.com",
            source=None,
        ),
        (Severity.HIGH, "eksguard-changed"),
    ),
    (
        "eksguard's stack updated",
        variant(
            "eks_api_eksguard_rule_disabled.json",
            "ExecuteChangeSet",
            requestParameters={"stackName": "eksguard", "changeSetName": "samcli-deploy1733490000"},
            eventSource="cloudformation.amazonaws.com",
            source=None,
        ),
        (Severity.INFO, "eksguard-deployed"),
    ),
    (
        "eksguard's alert queue purged",
        variant(
            "eks_api_eksguard_rule_disabled.json",
            "PurgeQueue",
            requestParameters={"queueUrl": "https://sqs.eu-west-1.amazonaws.com/111122223333/eksguard-AlertQueue-AbC"},
            eventSource="sqs.amazonaws.com",
            source=None,
        ),
        (Severity.HIGH, "eksguard-changed"),
    ),
    (
        "StopLogging refused",
        variant(
            "eks_api_trail_stopped.json",
            responseElements=None,
            errorCode="AccessDenied",
            errorMessage="User: arn:aws:sts::111122223333:assumed-role/x/y is not authorized to perform: "
            "cloudtrail:StopLogging",
        ),
        (Severity.MEDIUM, "trail-stopped"),
    ),
    (
        "user data replaced in a dry run",
        variant(
            "eks_api_kubectl_user_data.json",
            responseElements=None,
            errorCode="Client.DryRunOperation",
            errorMessage="Request would have succeeded, but DryRun flag is set.",
        ),
        (Severity.MEDIUM, "kubectl-user-data"),
    ),
    (
        "identity provider refused",
        variant(
            "eks_api_identity_provider.json",
            responseElements=None,
            errorCode="InvalidRequestException",
            errorMessage="Identity provider config already exists",
        ),
        (Severity.MEDIUM, "identity-provider-associated"),
    ),
    (
        "access entry with a chosen user name",
        variant(
            "eks_api_update_access_entry_groups.json",
            requestParameters={"name": "prod", "principalArn": "arn:aws:iam::111122223333:role/x", "username": "ops"},
            responseElements=None,
        ),
        (Severity.MEDIUM, "custom-kubernetes-username"),
    ),
]


@pytest.mark.parametrize(("case", "event", "expected"), VARIATIONS, ids=[v[0] for v in VARIATIONS])
def test_variations(case: str, event: dict[str, Any], expected: tuple[Severity, str] | None) -> None:
    assessment = assess_event(event, world())
    if expected is None:
        assert assessment.alert is None, assessment.alert and assessment.alert.title
        return
    assert assessment.alert is not None
    assert (assessment.alert.severity, assessment.findings[0].rule) == expected, assessment.alert.title
