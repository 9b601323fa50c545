"""Least privilege, checked two ways over the transformed template:

1. EXPECTED below states, per function, the IAM actions its code needs and where they may apply.
   Each role must grant exactly that (plus the standard SAM policies listed in SAM_MANAGED).
2. A static scan of the handler and everything it imports from the layer finds the boto3 operations
   the code calls (`client("svc", ...)` + `.operation_name(` / `get_paginator("operation")`, plus the
   calls Powertools makes for us); mapped to IAM actions they must equal EXPECTED, so a new AWS call
   without a grant (or a grant nothing uses) fails here rather than in production.
"""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from tests.unit.test_template import (
    PARAMS,
    TEMPLATE,
    UNSCOPABLE_ACTIONS,
    NoManagedPolicies,
    as_list,
    decode_str,
    plain_policies,
    resources_of,
    stop_policy,
    transform,
)

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "eksguard"

ALERT_QUEUE = {"Fn::GetAtt": ["AlertQueue", "Arn"]}
FAILED_EVENTS = {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}
IDEMPOTENCY_TABLE = {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
STATE_TABLE = {"Fn::GetAtt": ["AuditStateTable", "Arn"]}
WEBHOOK_SECRET = {"Ref": "SlackWebhookSecretArn"}
INSTANCE_PROFILES = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:instance-profile/*"}
ROLES = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"}
USERS = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*"}
EKS_LOG_GROUPS = {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/eks/*"}
EKS_CLUSTERS = {"Fn::Sub": "arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:cluster/*"}
INVENTORY = {"Fn::GetAtt": ["InventoryFunction", "Arn"]}
EKS_ACCESS_STATE = [
    {"Fn::Sub": f"arn:${{AWS::Partition}}:eks:*:${{AWS::AccountId}}:{kind}/*"}
    for kind in ("cluster", "access-entry", "identityproviderconfig", "podidentityassociation")
]
TAGGED_INSTANCES = "arn:aws:ec2:*:111122223333:instance/*"  # rendered StopInstancesTagPolicy

# In a hub (SpokeAccessPolicy, conditional on IsHub: SpokeAccounts or OrganizationId set): the functions that
# act in spokes assume the spoke role there, list the organisation's accounts and read a spoke's IAM alias.
SPOKE_ACCESS = {
    "sts:AssumeRole": {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${SpokeRoleName}"},
    "organizations:ListAccounts": "*",
    "iam:ListAccountAliases": "*",
}

# function -> handler module -> {IAM action: the only resource it may apply to}
EXPECTED: dict[str, tuple[str, dict[str, Any]]] = {
    "StopInstancesFunction": (
        "functions/stop_instances/stop_instances_handler.py",
        {
            "ec2:DescribeInstances": "*",
            "ssm:DescribeSessions": "*",
            "ec2:StopInstances": TAGGED_INSTANCES,  # and only with the stop tag (test_template.py)
            "sqs:SendMessage": ALERT_QUEUE,
            **SPOKE_ACCESS,
        },
    ),
    "EksApiAlertFunction": (
        "functions/eks_api_alert/eks_api_alert_handler.py",
        {
            "dynamodb:GetItem": STATE_TABLE,
            "dynamodb:UpdateItem": STATE_TABLE,
            "ec2:DescribeInstances": "*",
            "ssm:DescribeSessions": "*",
            "iam:GetInstanceProfile": INSTANCE_PROFILES,
            "iam:GetRole": ROLES,
            "iam:GetUser": USERS,
            "sqs:SendMessage": ALERT_QUEUE,
            **SPOKE_ACCESS,
        },
    ),
    "AuditLogAlertFunction": (
        "functions/audit_log_alert/audit_log_alert_handler.py",
        {
            "dynamodb:GetItem": STATE_TABLE,
            "dynamodb:PutItem": STATE_TABLE,
            "ec2:DescribeInstances": "*",
            "iam:GetInstanceProfile": INSTANCE_PROFILES,
            "iam:GetRole": ROLES,
            "iam:GetUser": USERS,
            "sqs:SendMessage": ALERT_QUEUE,
            "lambda:InvokeFunction": INVENTORY,
            **SPOKE_ACCESS,
        },
    ),
    "InventoryFunction": (
        "functions/inventory/inventory_handler.py",
        {
            "eks:ListClusters": "*",
            **{
                f"eks:{action}": EKS_ACCESS_STATE
                for action in (
                    "DescribeCluster",
                    "ListAccessEntries",
                    "DescribeAccessEntry",
                    "ListAssociatedAccessPolicies",
                    "ListIdentityProviderConfigs",
                    "DescribeIdentityProviderConfig",
                    "ListPodIdentityAssociations",
                    "DescribePodIdentityAssociation",
                )
            },
            "dynamodb:GetItem": STATE_TABLE,
            "dynamodb:PutItem": STATE_TABLE,
            "ec2:DescribeInstances": "*",
            "iam:GetInstanceProfile": INSTANCE_PROFILES,
            "iam:GetRole": ROLES,
            "iam:GetUser": USERS,
            "sqs:SendMessage": ALERT_QUEUE,
            **SPOKE_ACCESS,
        },
    ),
    "AuditLogEnrolFunction": (
        "functions/audit_log_enrol/audit_log_enrol_handler.py",
        {
            "logs:DescribeLogGroups": "*",
            "eks:ListClusters": "*",
            "logs:DescribeSubscriptionFilters": EKS_LOG_GROUPS,
            "logs:PutSubscriptionFilter": EKS_LOG_GROUPS,
            "eks:DescribeCluster": EKS_CLUSTERS,
            "sqs:SendMessage": ALERT_QUEUE,
            **SPOKE_ACCESS,
        },
    ),
    "SlackNotifierFunction": (
        "functions/slack_notifier/slack_notifier_handler.py",
        {
            "secretsmanager:GetSecretValue": WEBHOOK_SECRET,
            "dynamodb:GetItem": IDEMPOTENCY_TABLE,
            "dynamodb:PutItem": IDEMPOTENCY_TABLE,
            "dynamodb:UpdateItem": IDEMPOTENCY_TABLE,
            "dynamodb:DeleteItem": IDEMPOTENCY_TABLE,
            "sqs:ChangeMessageVisibility": ALERT_QUEUE,
        },
    ),
}

# Standard policies SAM attaches: logs of the function itself, X-Ray (Tracing: Active), the SQS poller.
SAM_MANAGED = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    # with VpcConfig (VpcSubnetIds); denied again outside a VPC (test_template.py)
    "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
}
SQS_POLLER = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
# What Lambda's Kinesis poller reads with the function's role (the audit-log stream of a hub): not the
# code's calls; its content is checked in test_spoke_template.py.
POLLER_POLICIES = {"AuditLogStreamReadPolicy"}

# Operations the code may call that are deliberately not granted, with the reason.
NOT_GRANTED: dict[tuple[str, str], str] = {
    ("sqs:GetQueueUrl", "SlackNotifierFunction"): (
        "The notifier resolves a queue URL only for a queue other than ALERT_QUEUE_URL (never the case when "
        "deployed from this template); it is best effort and an AccessDenied there is logged and ignored."
    ),
    **{
        (action, function): (
            "eksguard/accounts.py and aws.py serve every function; the notifier never enters a spoke: it names "
            "accounts from AccountNames and what the detectors attach"
        )
        for action in SPOKE_ACCESS
        for function in ("SlackNotifierFunction",)
    },
    **{
        (action, "InventoryFunction"): (
            "the coverage report reads a spoke's forwarding rules inside the spoke, with the spoke role "
            "(spoke/template.yaml grants it); the hub account has no spoke rules to read"
        )
        for action in ("events:DescribeRule", "events:ListTargetsByRule", "events:ListRules")
    },
}
# IAM actions that differ from the operation name.
ACTION_OF = {"sqs:SendMessageBatch": "sqs:SendMessage", "lambda:Invoke": "lambda:InvokeFunction"}
# Calls made inside libraries on our behalf, keyed by a name our code uses.
LIBRARY_CALLS = {
    "DynamoDBPersistenceLayer": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
    "SecretsProvider": {"secretsmanager:GetSecretValue"},
}


# ---------------------------------------------------------------------------------------- static scan
def _module_file(name: str) -> Path | None:
    base = LAYER / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "eksguard" or name.startswith("eksguard.")}


def closure(handler: Path) -> list[Path]:
    """The handler plus every eksguard module it imports, transitively (package __init__s included)."""
    seen: dict[Path, None] = {handler: None}
    todo = [handler]
    while todo:
        tree = ast.parse(todo.pop().read_text())
        for name in _imports(tree):
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                path = _module_file(".".join(parts[:depth]))
                if path is not None and path not in seen:
                    seen[path] = None
                    todo.append(path)
    return list(seen)


@cache
def _operations(service: str) -> dict[str, str]:
    model = botocore.session.get_session().get_service_model(service)
    prefix = model.metadata.get("signingName") or model.metadata["endpointPrefix"]
    return {xform_name(op): f"{prefix}:{op}" for op in model.operation_names}


CLIENT_RE = re.compile(r"""\b\w*client\w*\(\s*["']([a-z0-9-]+)["']""")


def scanned_actions(handler: Path) -> set[str]:
    files = closure(handler)
    text = "\n".join(f.read_text() for f in files)
    services = set(CLIENT_RE.findall(text))
    calls: set[str] = set()
    names: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                calls.add(node.func.attr)
                if node.func.attr == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                    calls.add(str(node.args[0].value))
            elif isinstance(node, ast.Name):
                names.add(node.id)
    actions = {_operations(s)[c] for s in services for c in calls if c in _operations(s)}
    for name, library_actions in LIBRARY_CALLS.items():
        if name in names:
            actions |= library_actions
    return {ACTION_OF.get(a, a) for a in actions}


# ---------------------------------------------------------------------------------------- template side
@pytest.fixture(scope="module")
def deployed() -> dict[str, Any]:
    """The template as CloudFormation sees it after the SAM transform (as in test_template.py)."""
    template, matches = decode_str(TEMPLATE.read_text())
    assert not matches, matches
    for name, resource in template["Resources"].items():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = f"s3://eksguard-artifacts/{name}.zip"
    result: dict[str, Any] = transform(json.loads(json.dumps(template)), dict(PARAMS), NoManagedPolicies())
    return result


def granted(cfn: dict[str, Any], function: str) -> dict[str, list[Any]]:
    """action -> resources, from the function role's inline policies and its StopInstancesTagPolicy;
    the SAM-generated on-failure destination policy is checked separately."""
    role = cfn["Resources"][f"{function}Role"]["Properties"]
    result: dict[str, list[Any]] = {}
    statements: list[dict[str, Any]] = []
    for policy in plain_policies({"Properties": role}):
        if policy["PolicyName"].endswith("EventInvokeConfigOnFailureSQSPolicy"):
            continue
        statements.extend(policy["PolicyDocument"]["Statement"])
    if {"Ref": "StopInstancesTagPolicy"} in role.get("ManagedPolicyArns", []):
        statements.extend(stop_policy(cfn)["Statement"])
    for name, policy in cfn["Resources"].items():  # policies of their own (SpokeAccessPolicy: with spokes only)
        if name in POLLER_POLICIES:
            continue
        if policy["Type"] == "AWS::IAM::Policy" and {"Ref": f"{function}Role"} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    for statement in statements:
        assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        for action in as_list(statement["Action"]):
            result.setdefault(action, []).extend(as_list(statement["Resource"]))
    return result


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_role_grants_exactly_the_expected_actions_on_the_expected_resources(deployed, function: str) -> None:
    _, expected = EXPECTED[function]
    actual = granted(deployed, function)
    assert set(actual) == set(expected), (
        f"{function}: extra {set(actual) - set(expected)}, missing {set(expected) - set(actual)}"
    )
    for action, resources in actual.items():
        assert resources == as_list(expected[action]), f"{function}: {action} on {resources}"
        if "*" in resources:
            assert action in UNSCOPABLE_ACTIONS, f"{function}: {action} on every resource"


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_expected_actions_are_what_the_code_calls(function: str) -> None:
    handler, expected = EXPECTED[function]
    used = scanned_actions(ROOT / handler)
    deliberately_missing = {a for a, owner in NOT_GRANTED if owner == function}
    assert used - deliberately_missing == set(expected), (
        f"{function}: called but not granted {used - deliberately_missing - set(expected)}, "
        f"granted but never called {set(expected) - used}"
    )


def test_the_scanner_sees_calls() -> None:
    """Guard against a scanner that finds nothing (and so would agree with any table)."""
    used = scanned_actions(ROOT / EXPECTED["StopInstancesFunction"][0])
    assert {"ec2:DescribeInstances", "ec2:StopInstances", "ssm:DescribeSessions", "sqs:SendMessage"} <= used
    assert "ec2:TerminateInstances" not in used


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_only_the_standard_managed_policies_are_attached(deployed, function: str) -> None:
    role = deployed["Resources"][f"{function}Role"]["Properties"]
    managed = {m for m in role.get("ManagedPolicyArns", []) if isinstance(m, str)}
    allowed = SAM_MANAGED | ({SQS_POLLER} if function == "SlackNotifierFunction" else set())
    assert managed == allowed, function


def test_failure_destinations_may_only_write_the_failed_events_queue(deployed) -> None:
    for role_name, role in resources_of(deployed, "AWS::IAM::Role").items():
        for policy in plain_policies(role):
            name = policy["PolicyName"]
            if name.endswith(("OnFailureSQSPolicy", "SQSPolicy")) and "RolePolicy" not in name:
                [statement] = policy["PolicyDocument"]["Statement"]
                assert statement["Action"] == "sqs:SendMessage", role_name
                assert statement["Resource"] == FAILED_EVENTS, role_name


def test_alert_pipeline_stores_are_encrypted_and_logs_expire(deployed) -> None:
    queues = resources_of(deployed, "AWS::SQS::Queue")
    assert set(queues) == {"AlertQueue", "AlertDeadLetterQueue", "FailedEventsQueue"}
    assert all(q["Properties"]["SqsManagedSseEnabled"] is True for q in queues.values())
    for table in resources_of(deployed, "AWS::DynamoDB::Table").values():
        assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True}
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    groups = resources_of(deployed, "AWS::Logs::LogGroup")
    assert len(groups) == len(resources_of(deployed, "AWS::Lambda::Function"))
    assert all(g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values())


def test_queue_policy_is_limited_to_this_accounts_rules(deployed) -> None:
    [policy] = resources_of(deployed, "AWS::SQS::QueuePolicy").values()
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage" and statement["Resource"] == FAILED_EVENTS
    assert json.dumps(statement["Condition"]).count("AWS::AccountId") == 2
