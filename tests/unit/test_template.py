"""The SAM template, linted and transformed: the IAM we intend, encryption, retention, retries."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

# Actions whose IAM definition offers no resource-level scoping: "*" is the only valid resource.
UNSCOPABLE_ACTIONS = {
    "ec2:DescribeInstances",
    "ssm:DescribeSessions",
    "logs:DescribeLogGroups",
    "eks:ListClusters",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
    # a hub's: the organisation's accounts, an account's alias (Service Authorization Reference: no resource types)
    "organizations:ListAccounts",
    "iam:ListAccountAliases",
}
PARAMS = {"SlackWebhookSecretArn": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:eksguard/slack-AbCdEf"}


class NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def sam_template() -> dict[str, Any]:
    template, matches = decode_str(TEMPLATE.read_text())
    assert not matches, matches
    return template


@pytest.fixture(scope="module")
def cfn(sam_template) -> dict[str, Any]:
    packaged = json.loads(json.dumps(sam_template))
    # As `sam package` would: local code folders become S3 objects.
    for name, resource in packaged["Resources"].items():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = f"s3://eksguard-artifacts/{name}.zip"
    return transform(packaged, dict(PARAMS), NoManagedPolicies())


def resources_of(cfn: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in cfn["Resources"].items() if r["Type"] == kind}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def render_sub(value: Any, variables: dict[str, str]) -> str:
    """Resolve a Fn::Sub string with test values (enough for policy documents)."""
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    return re.sub(r"\$\{([^}]+)\}", lambda m: variables[m.group(1)], text)


VPC_ONLY_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]


def plain_policies(role: dict[str, Any]) -> list[dict[str, Any]]:
    """A role's inline policies, without the conditional VPC guard (checked on its own)."""
    return [p for p in role["Properties"].get("Policies", []) if "Fn::If" not in p]


def inline_statements(cfn: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, role in resources_of(cfn, "AWS::IAM::Role").items():
        for policy in plain_policies(role):
            for statement in policy["PolicyDocument"]["Statement"]:
                found.append((name, statement))
    return found


def test_outside_a_vpc_every_function_is_denied_network_interfaces(cfn):
    """SAM attaches AWSLambdaVPCAccessExecutionRole to any function with VpcConfig, even one the Globals'
    !If leaves empty; outside a VPC an inline Deny takes those actions back."""
    for name in resources_of(cfn, "AWS::Lambda::Function"):
        role = cfn["Resources"][f"{name}Role"]
        guards = [p["Fn::If"] for p in role["Properties"]["Policies"] if "Fn::If" in p]
        assert len(guards) == 1, name
        condition, in_vpc, outside = guards[0]
        assert condition == "InVpc" and in_vpc == {"Ref": "AWS::NoValue"}, name
        [statement] = outside["PolicyDocument"]["Statement"]
        assert statement == {"Effect": "Deny", "Action": VPC_ONLY_ACTIONS, "Resource": "*"}, name
        assert cfn["Resources"][name]["Properties"]["VpcConfig"]["Fn::If"][0] == "InVpc", name


def stop_policy(cfn: dict[str, Any]) -> dict[str, Any]:
    raw = cfn["Resources"]["StopInstancesTagPolicy"]["Properties"]["PolicyDocument"]
    rendered = render_sub(
        raw,
        {
            "AWS::Partition": "aws",
            "AWS::AccountId": "111122223333",
            "StopTagKey": "kubectl-instance",
            "StopTagValue": "*",
        },
    )
    return json.loads(rendered)


def test_cfn_lint_is_clean():
    cfn_lint = str(Path(sys.executable).with_name("cfn-lint"))
    result = subprocess.run([cfn_lint, str(TEMPLATE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_function_runs_python313_with_the_layer(cfn):
    functions = resources_of(cfn, "AWS::Lambda::Function")
    assert {"StopInstancesFunction", "SlackNotifierFunction", "EksApiAlertFunction", "AuditLogAlertFunction"} <= set(
        functions
    )
    for name, function in functions.items():
        props = function["Properties"]
        assert props["Runtime"] == "python3.13", name
        assert len(props["Layers"]) == 1 and props["Layers"][0]["Ref"].startswith("EksguardLayer"), name


def test_no_wildcard_actions_anywhere(cfn):
    statements = inline_statements(cfn) + [("StopInstancesTagPolicy", s) for s in stop_policy(cfn)["Statement"]]
    for owner, statement in statements:
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{owner}: wildcard action {action}"


def test_star_resources_only_for_unscopable_actions(cfn):
    for owner, statement in inline_statements(cfn):
        if "*" in as_list(statement.get("Resource")):
            extra = set(as_list(statement["Action"])) - UNSCOPABLE_ACTIONS
            assert not extra, f"{owner}: {sorted(extra)} granted on every resource"


def test_stop_instances_only_on_tagged_instances(cfn):
    document = stop_policy(cfn)
    granting = [s for s in document["Statement"] if "ec2:StopInstances" in as_list(s["Action"])]
    assert len(granting) == 1
    statement = granting[0]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == "arn:aws:ec2:*:111122223333:instance/*"
    assert statement["Condition"] == {"StringLike": {"aws:ResourceTag/kubectl-instance": "*"}}
    # And nowhere else.
    for owner, inline in inline_statements(cfn):
        assert "ec2:StopInstances" not in as_list(inline["Action"]), owner
    role = cfn["Resources"]["StopInstancesFunctionRole"]["Properties"]
    assert {"Ref": "StopInstancesTagPolicy"} in role["ManagedPolicyArns"]


def test_queues_and_tables_are_encrypted(cfn):
    for name, queue in resources_of(cfn, "AWS::SQS::Queue").items():
        props = queue["Properties"] if "Properties" in queue else {}
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, name
    for name, table in resources_of(cfn, "AWS::DynamoDB::Table").items():
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True, name


def test_idempotency_table_expires_records(cfn):
    ttl = cfn["Resources"]["IdempotencyTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expiration", "Enabled": True}


def test_alert_queue_has_dlq_and_alarm(cfn):
    queue = cfn["Resources"]["AlertQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["AlertDeadLetterQueue", "Arn"]}
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 10
    alarm = cfn["Resources"]["AlertDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["AlertDeadLetterQueue", "QueueName"]}


def test_every_function_has_a_log_group_with_retention(cfn):
    functions = set(resources_of(cfn, "AWS::Lambda::Function"))
    covered = set()
    for group in resources_of(cfn, "AWS::Logs::LogGroup").values():
        props = group["Properties"]
        assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        covered.add(props["LogGroupName"]["Fn::Sub"].rsplit("${", 1)[1].rstrip("}"))
    assert functions <= covered


def test_stop_schedule_is_timezone_aware_with_retries_and_dlq(cfn):
    schedules = resources_of(cfn, "AWS::Scheduler::Schedule")
    stop = next(
        s
        for s in schedules.values()
        if s["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": ["StopInstancesFunction", "Arn"]}
    )
    props = stop["Properties"]
    assert props["ScheduleExpressionTimezone"] == {"Ref": "StopScheduleTimezone"}
    assert props["ScheduleExpression"] == {"Ref": "StopScheduleExpression"}
    target = props["Target"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert "DeadLetterConfig" in target
    assert "<aws.scheduler.scheduled-time>" in target["Input"]


def test_parameters_of_the_contract_exist(sam_template):
    for name in (
        "StopTagKey",
        "StopTagValue",
        "DryRun",
        "SlackWebhookSecretArn",
        "AlertMinSeverity",
        "StopRegions",
        "StopScheduleExpression",
        "StopScheduleTimezone",
        "StopGraceMinutes",
    ):
        assert name in sam_template["Parameters"], name


@pytest.mark.parametrize("function", ["EksApiAlertFunction", "AuditLogAlertFunction"])
def test_lookups_end_well_within_the_timeout(cfn, function):
    """Kubectl-instance, profile and IAM-path lookups (short timeouts, one retry, one budget per
    invocation) leave at least half the function's time for judging and queueing the alert."""
    from eksguard import aws

    timeout = cfn["Resources"][function]["Properties"]["Timeout"]
    assert aws.worst_lookup_call_seconds() == 2 * (1 + 3) + (1 + 5)
    assert aws.worst_lookup_seconds() <= timeout / 2, (function, aws.worst_lookup_seconds(), timeout)
