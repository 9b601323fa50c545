"""The spoke template (plain CloudFormation for a StackSet) and the hub's organisation resources.

The spoke forwards what the hub judges, to the hub's bus only, and gives the hub one least-privilege role;
the hub trusts only its organisation, and everything multi-account exists only when asked for.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts import gen_spoke
from tests.unit.test_least_privilege import EXPECTED
from tests.unit.test_template import (
    TEMPLATE,
    UNSCOPABLE_ACTIONS,
    as_list,
    cfn,  # noqa: F401 (fixture)
    render_sub,
    resources_of,
    sam_template,  # noqa: F401 (fixture)
)

ROOT = Path(__file__).resolve().parents[2]
SPOKE = ROOT / "spoke" / "template.yaml"
SKELETON = ROOT / "spoke" / "skeleton.yaml"

HUB_BUS_ARN = {"Fn::Sub": "arn:${AWS::Partition}:events:${HubRegion}:${HubAccountId}:event-bus/${HubEventBusName}"}
FORWARDER_ROLE = {"Fn::GetAtt": ["ForwarderRole", "Arn"]}
SPOKE_FUNCTIONS = [
    "StopInstancesFunction",
    "EksApiAlertFunction",
    "AuditLogAlertFunction",
    "AuditLogEnrolFunction",
    "InventoryFunction",
]
VALUES = {
    "AWS::Partition": "aws",
    "AWS::AccountId": "444455556666",
    "AWS::Region": "eu-west-1",
    "AWS::StackName": "eksguard",
    "HubAccountId": "111122223333",
    "HubRolePath": "/eksguard-hub/",
    "OrganizationId": "o-abcdef0123",
    "StopTagKey": "kubectl-instance",
    "StopTagValue": "*",
    "SpokeRoleName": "eksguard-spoke",
}
# What the spoke role may change: stop tagged instances, subscribe EKS log groups to the hub; passing the
# subscription role is part of that subscription (CloudWatch Logs requires it for an organisation destination).
SPOKE_WRITES = {"ec2:StopInstances", "logs:PutSubscriptionFilter", "iam:PassRole"}
READ_VERBS = ("Describe", "List", "Get")
# Actions of the hub functions that concern the hub's own resources, never a spoke's.
HUB_ONLY_SERVICES = ("dynamodb:", "sqs:", "lambda:", "sts:", "organizations:")


@pytest.fixture(scope="module")
def spoke() -> dict[str, Any]:
    return gen_spoke.load(SPOKE.read_text(encoding="utf-8"))


def rules(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::Events::Rule"}


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return list(policy["PolicyDocument"]["Statement"])


def spoke_role_statements(spoke: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement the spoke role can ever carry: its inline policies (both branches of a conditional
    one), then its stop policy rendered as IAM will read it."""
    role = spoke["Resources"]["SpokeRole"]["Properties"]
    found: list[dict[str, Any]] = []
    for policy in role["Policies"]:
        if "Fn::If" in policy:
            _, present, absent = policy["Fn::If"]
            assert absent == {"Ref": "AWS::NoValue"}
            policy = present
        found.extend(statements(policy))
    assert role["ManagedPolicyArns"] == [{"Ref": "SpokeStopPolicy"}]
    return found + stop_policy(spoke)["Statement"]


def stop_policy(spoke: dict[str, Any]) -> dict[str, Any]:
    raw = spoke["Resources"]["SpokeStopPolicy"]["Properties"]["PolicyDocument"]
    document: dict[str, Any] = json.loads(render_sub(raw, VALUES))
    return document


# ---------------------------------------------------------------------------------------------- the spoke
def test_cfn_lint_is_clean_on_the_spoke() -> None:
    cfn_lint = str(Path(sys.executable).with_name("cfn-lint"))
    result = subprocess.run([cfn_lint, str(SPOKE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_spoke_is_plain_cloudformation(spoke: dict[str, Any]) -> None:
    """A service-managed StackSet's default execution role processes no Transform: no SAM of any kind."""
    assert set(spoke) <= {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Conditions"} | {
        "Resources",
        "Outputs",
    }
    assert "Transform" not in spoke and "Globals" not in spoke
    for name, resource in spoke["Resources"].items():
        assert resource["Type"].startswith("AWS::") and not resource["Type"].startswith("AWS::Serverless::"), name
        assert set(resource) <= {"Type", "Condition", "Properties", "DependsOn", "Metadata"}, name
    text = SPOKE.read_text(encoding="utf-8")
    assert "Serverless" not in text and "Transform:" not in text


def test_the_spoke_fits_a_template_body() -> None:
    """create-stack-set --template-body takes at most 51,200 bytes (beyond: --template-url from S3)."""
    assert len(SPOKE.read_bytes()) <= 51_200


def test_the_committed_spoke_and_hub_bus_rules_are_what_the_generator_writes() -> None:
    spoke_text, hub_text = gen_spoke.outputs(TEMPLATE.read_text(encoding="utf-8"), SKELETON.read_text(encoding="utf-8"))
    assert SPOKE.read_text(encoding="utf-8") == spoke_text, "spoke/template.yaml is stale: run `make spoke`"
    assert TEMPLATE.read_text(encoding="utf-8") == hub_text, (
        "the hub bus rules of template.yaml are stale: `make spoke`"
    )


def test_every_hub_rule_is_forwarded_or_deliberately_not(sam_template: dict[str, Any]) -> None:  # noqa: F811
    events = sam_template["Resources"]["EksApiAlertFunction"]["Properties"]["Events"]
    hub = {name for name, event in events.items() if event["Type"] == "EventBridgeRule"}
    assert len(hub) >= 16
    forwarded = {r.event for r in gen_spoke.forwarded(gen_spoke.hub_rules(gen_spoke.load(TEMPLATE.read_text())))}
    assert forwarded | set(gen_spoke.NOT_FORWARDED) == hub
    assert not forwarded & set(gen_spoke.NOT_FORWARDED)
    assert all(reason.strip() for reason in gen_spoke.NOT_FORWARDED.values())


def test_each_forwarded_rule_matches_the_same_calls_as_the_hubs(
    spoke: dict[str, Any],
    sam_template: dict[str, Any],  # noqa: F811
) -> None:
    events = sam_template["Resources"]["EksApiAlertFunction"]["Properties"]["Events"]
    by_name = {r["Properties"]["Name"]: r["Properties"]["EventPattern"] for r in rules(spoke).values()}
    for event, spec in events.items():
        if event in gen_spoke.NOT_FORWARDED or spec["Type"] != "EventBridgeRule":
            continue
        hub = spec["Properties"]["Pattern"]
        mine = by_name.pop(gen_spoke.RULE_PREFIX + gen_spoke.kebab(event))
        assert mine.get("source") == hub.get("source"), event
        assert mine["detail-type"] == hub["detail-type"] == ["AWS API Call via CloudTrail"], event
        assert mine["detail"]["eventSource"] == hub["detail"]["eventSource"], event
        assert mine["detail"]["eventName"] == hub["detail"]["eventName"], event
        assert set(mine["detail"]) == set(hub["detail"]), event
    # What is left: the second watcher of the spoke's own rules.
    assert list(by_name) == ["eksguard-spoke-self-watch"]


def test_the_spoke_watches_its_own_rules_twice_and_its_own_stack(spoke: dict[str, Any]) -> None:
    patterns = {r["Properties"]["Name"]: r["Properties"]["EventPattern"] for r in rules(spoke).values()}
    own = patterns["eksguard-spoke-eksguard-rules-changed"]
    assert patterns["eksguard-spoke-self-watch"] == own
    assert set(own["detail"]["eventName"]) == {"DisableRule", "DeleteRule", "PutRule", "RemoveTargets", "PutTargets"}
    assert own["detail"]["$or"] == [
        {"requestParameters": {"name": [{"prefix": "eksguard-spoke-"}]}},
        {"requestParameters": {"rule": [{"prefix": "eksguard-spoke-"}]}},
    ]
    stack = patterns["eksguard-spoke-eksguard-stack-changed"]["detail"]["requestParameters"]["stackName"]
    assert stack[0] == {"Ref": "AWS::StackName"}  # the stack instance itself, not a hub stack name
    # Nothing of the hub's own naming is left in the spoke.
    assert "${AWS::StackName}-" not in json.dumps(patterns)


def test_every_forwarding_rule_targets_the_hub_bus_with_its_role(spoke: dict[str, Any]) -> None:
    forwarding = rules(spoke)
    assert len(forwarding) == 13
    for name, rule in forwarding.items():
        props = rule["Properties"]
        assert props["Name"].startswith("eksguard-spoke-"), name
        assert props.get("EventBusName", "default") == "default", name
        assert props["Targets"] == [{"Id": "eksguard-hub", "Arn": HUB_BUS_ARN, "RoleArn": FORWARDER_ROLE}], name
    forwarder = spoke["Resources"]["ForwarderRole"]
    assert "Condition" not in forwarder and "RoleName" not in forwarder["Properties"]  # one per region
    [trust] = forwarder["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    [policy] = forwarder["Properties"]["Policies"]
    assert statements(policy) == [{"Effect": "Allow", "Action": "events:PutEvents", "Resource": HUB_BUS_ARN}]


def test_iam_rules_and_the_named_roles_exist_only_in_the_role_region(spoke: dict[str, Any]) -> None:
    assert spoke["Conditions"]["InRoleRegion"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, {"Ref": "RoleRegion"}]}
    assert spoke["Parameters"]["RoleRegion"]["Default"] == "us-east-1"
    for name, rule in rules(spoke).items():
        iam = rule["Properties"]["EventPattern"].get("source") == ["aws.iam"]
        assert (rule.get("Condition") == "InRoleRegion") is iam, name
    assert sum(1 for r in rules(spoke).values() if "Condition" in r) == 1
    assert spoke["Resources"]["SpokeRole"]["Condition"] == "InRoleRegion"
    assert spoke["Resources"]["SpokeStopPolicy"]["Condition"] == "InRoleRegion"
    assert spoke["Resources"]["AuditLogSubscriptionRole"]["Condition"] == "DeliversAuditLogs"
    assert {"Condition": "InRoleRegion"} in spoke["Conditions"]["DeliversAuditLogs"]["Fn::And"]
    assert spoke["Outputs"]["ForwardingRuleCount"]["Value"] == {"Fn::If": ["InRoleRegion", "13", "12"]}


def test_the_spoke_role_trusts_only_hub_roles_under_the_hub_path_in_the_organisation(spoke: dict[str, Any]) -> None:
    role = spoke["Resources"]["SpokeRole"]["Properties"]
    assert role["RoleName"] == {"Ref": "SpokeRoleName"}
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Effect"] == "Allow" and trust["Action"] == "sts:AssumeRole"
    assert render_sub(trust["Principal"]["AWS"], VALUES) == "arn:aws:iam::111122223333:root"
    condition = trust["Condition"]
    assert set(condition) == {"ArnLike", "StringEquals"}
    assert condition["StringEquals"] == {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}
    pattern = render_sub(condition["ArnLike"]["aws:PrincipalArn"], VALUES)
    hub_role = "arn:aws:iam::111122223333:role/eksguard-hub/eksguard-InventoryFunctionRole-AbC123"
    assert fnmatch.fnmatchcase(hub_role, pattern)
    assert not fnmatch.fnmatchcase("arn:aws:iam::111122223333:role/Admin", pattern)
    assert not fnmatch.fnmatchcase("arn:aws:iam::999988887777:role/eksguard-hub/x", pattern)
    assert spoke["Parameters"]["HubRolePath"]["Default"] == "/eksguard-hub/"


def test_the_spoke_stops_only_tagged_instances(spoke: dict[str, Any]) -> None:
    document = stop_policy(spoke)
    [statement] = document["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "ec2:StopInstances"
    assert statement["Resource"] == "arn:aws:ec2:*:444455556666:instance/*"
    assert statement["Condition"] == {"StringLike": {"aws:ResourceTag/kubectl-instance": "*"}}
    inline = spoke_role_statements(spoke)[: -len(document["Statement"])]
    assert all("ec2:StopInstances" not in as_list(s["Action"]) for s in inline)


def test_the_spoke_role_grants_no_wildcard_action_and_changes_only_what_it_must(spoke: dict[str, Any]) -> None:
    granted = spoke_role_statements(spoke)
    actions = {a for s in granted for a in as_list(s["Action"])}
    assert all("*" not in a for a in actions), sorted(a for a in actions if "*" in a)
    assert all(s["Effect"] == "Allow" and "NotAction" not in s and "NotResource" not in s for s in granted)
    writes = {a for a in actions if not a.split(":")[1].startswith(READ_VERBS)}
    assert writes == SPOKE_WRITES
    for statement in granted:
        if "*" in as_list(statement["Resource"]):
            extra = set(as_list(statement["Action"])) - UNSCOPABLE_ACTIONS - {"iam:ListAccountAliases"}
            assert not extra, extra
    [passing] = [s for s in granted if s["Action"] == "iam:PassRole"]
    assert passing["Resource"] == {"Fn::GetAtt": ["AuditLogSubscriptionRole", "Arn"]}
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "logs.amazonaws.com"}}
    rules_read = [s for s in granted if "events:DescribeRule" in as_list(s["Action"])]
    assert [render_sub(s["Resource"], VALUES) for s in rules_read] == [
        "arn:aws:events:*:444455556666:rule/eksguard-spoke-*"
    ]


def test_the_spoke_role_grants_what_the_hub_functions_use_in_their_own_account(spoke: dict[str, Any]) -> None:
    granted = {a for s in spoke_role_statements(spoke) for a in as_list(s["Action"])}
    used = {
        action
        for function in SPOKE_FUNCTIONS
        for action in EXPECTED[function][1]
        if not action.startswith(HUB_ONLY_SERVICES)
    }
    assert used <= granted, sorted(used - granted)


def test_audit_log_subscriptions_only_to_the_listed_hub_destinations(spoke: dict[str, Any]) -> None:
    policy = next(p for p in spoke["Resources"]["SpokeRole"]["Properties"]["Policies"] if "Fn::If" in p)
    condition, present, _ = policy["Fn::If"]
    assert condition == "DeliversAuditLogs"
    subscribing = [s for s in statements(present) if s["Action"] == "logs:PutSubscriptionFilter"]
    resources = [s["Resource"] for s in subscribing]
    assert {"Ref": "AuditLogDestinationArns"} in resources
    assert {"Fn::Sub": "arn:${AWS::Partition}:logs:*:${AWS::AccountId}:log-group:/aws/eks/*"} in resources
    assert spoke["Parameters"]["AuditLogDestinationArns"]["Default"] == ""
    logs_role = spoke["Resources"]["AuditLogSubscriptionRole"]["Properties"]
    assert logs_role["RoleName"] == {"Fn::Sub": "${SpokeRoleName}-logs"}
    [trust] = logs_role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "logs.amazonaws.com"}
    [only] = statements(logs_role["Policies"][0])
    assert only["Action"] == "logs:PutLogEvents"


# ---------------------------------------------------------------------------------------------- the hub
def conditional(cfn: dict[str, Any], name: str) -> str:  # noqa: F811
    condition: str = cfn["Resources"][name]["Condition"]
    return condition


def test_new_hub_parameters_default_to_a_single_account(sam_template: dict[str, Any]) -> None:  # noqa: F811
    params = sam_template["Parameters"]
    for name in ("OrganizationId", "SpokeAccounts", "AccountNames"):
        assert params[name]["Default"] == "", name
    assert params["SpokeRoleName"]["Default"] == "eksguard-spoke"
    conditions = sam_template["Conditions"]
    assert conditions["HasOrganization"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "OrganizationId"}, ""]}]}
    assert conditions["HasSpokes"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "SpokeAccounts"}, ""]}]}
    variables = sam_template["Globals"]["Function"]["Environment"]["Variables"]
    for var, param in {
        "SPOKE_ACCOUNTS": "SpokeAccounts",
        "SPOKE_ROLE_NAME": "SpokeRoleName",
        "ORGANIZATION_ID": "OrganizationId",
        "ACCOUNT_NAMES": "AccountNames",
    }.items():
        assert variables[var] == {"Ref": param}, var


NEW_PARAMETERS = {"OrganizationId", "SpokeAccounts", "SpokeRoleName", "AccountNames", "AuditLogStreamShards"}
NEW_CONDITIONS = {"HasOrganization", "HasSpokes", "IsHub"}


def unguarded_references(node: Any, watched: set[str], path: str = "") -> list[str]:
    """Where `node` names something in `watched` outside an !If on a new condition or an environment variable
    (a variable that is empty by default changes nothing)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"} and node["Fn::If"][0] in NEW_CONDITIONS:
            return []
        found: list[str] = []
        for key, value in node.items():
            if key in ("Ref", "Fn::GetAtt"):
                target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                if target in watched:
                    found.append(f"{path}/{key}:{target}")
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found += [f"{path}/Sub:{v}" for v in watched if "${" + v + "}" in text or "${" + v + "." in text]
            if key != "Variables":
                found += unguarded_references(value, watched, f"{path}/{key}")
        return found
    if isinstance(node, list):
        return [hit for i, item in enumerate(node) for hit in unguarded_references(item, watched, f"{path}[{i}]")]
    return []


def test_without_organisation_or_spokes_the_stack_is_what_it_was(cfn: dict[str, Any]) -> None:  # noqa: F811
    """Everything multi-account is conditional, and the resources that exist anyway use the new parameters
    and resources only where those conditions or an (empty by default) environment variable say so."""
    resources = cfn["Resources"]
    conditional = {n for n, r in resources.items() if r.get("Condition") in NEW_CONDITIONS}
    assert {
        "HubEventBus",
        "HubEventBusPolicy",
        "HubEventBusInvokePermission",
        "AuditLogStream",
        "AuditLogDestinationRole",
        "AuditLogDestination",
        "AuditLogStreamReadPolicy",
        "AuditLogStreamMapping",
        "SpokeAccessPolicy",
    } <= conditional
    assert all(n in conditional for n, r in resources.items() if "EventBusName" in r.get("Properties", {}))
    watched = NEW_PARAMETERS | conditional
    for name, resource in resources.items():
        if name not in conditional:
            assert unguarded_references(resource, watched) == [], name
    # the hub path replaces a role: it is there only with spokes (an !If, checked above to be the only use)
    assert "IsHub" in json.dumps(resources["InventoryFunctionRole"]["Properties"]["Path"])


def test_the_hub_bus_trusts_only_the_organisation(cfn: dict[str, Any]) -> None:  # noqa: F811
    bus = cfn["Resources"]["HubEventBus"]
    assert bus["Condition"] == "HasOrganization"
    assert bus["Properties"]["Name"] == {"Fn::Sub": "${AWS::StackName}-hub"}
    policy = cfn["Resources"]["HubEventBusPolicy"]
    assert policy["Condition"] == "HasOrganization"
    statement = policy["Properties"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Principal"] == "*"
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == {"Fn::GetAtt": ["HubEventBus", "Arn"]}
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}


def test_the_hub_bus_admits_what_the_spokes_forward_and_invokes_the_judge(
    cfn: dict[str, Any],  # noqa: F811
    spoke: dict[str, Any],
) -> None:
    on_bus = [
        r["Properties"] for r in resources_of(cfn, "AWS::Events::Rule").values() if "EventBusName" in r["Properties"]
    ]
    assert len(on_bus) >= 10
    for props in on_bus:
        assert props["EventBusName"] == {"Ref": "HubEventBus"}
        pattern = props["EventPattern"]
        assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
        # only AWS services' events: every member of the organisation may put events on this bus
        assert pattern["source"] and all(
            src == {"prefix": "aws."} or (isinstance(src, str) and src.startswith("aws.")) for src in pattern["source"]
        )
        (target,) = props["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": ["EksApiAlertFunction", "Arn"]}
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 3
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}}
    for rule in rules(spoke).values():
        sent = rule["Properties"]["EventPattern"]
        admitting = [
            p["EventPattern"]
            for p in on_bus
            if p["EventPattern"]["source"] == sent.get("source", [{"prefix": "aws."}])
            and p["EventPattern"]["detail"]["eventSource"] == sent["detail"]["eventSource"]
        ]
        for call in sent["detail"]["eventName"]:
            # some hub-bus rule names the call and adds no condition of its own on what the spoke sends
            assert any(
                call in pattern["detail"]["eventName"]
                and all(
                    sent["detail"].get(key) == value
                    for key, value in pattern["detail"].items()
                    if key not in ("eventName", "eventSource")
                )
                for pattern in admitting
            ), (rule["Properties"]["Name"], call)
    permission = cfn["Resources"]["HubEventBusInvokePermission"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"]["Fn::Sub"].endswith(":rule/${AWS::StackName}-hub/*")


def test_the_audit_log_destination_trusts_only_the_organisation(cfn: dict[str, Any]) -> None:  # noqa: F811
    destination = cfn["Resources"]["AuditLogDestination"]
    assert destination["Condition"] == "HasOrganization"
    props = destination["Properties"]
    assert props["TargetArn"] == {"Fn::GetAtt": ["AuditLogStream", "Arn"]}
    document = json.loads(render_sub(props["DestinationPolicy"], VALUES))
    [statement] = document["Statement"]
    assert statement["Principal"] == "*" and statement["Action"] == "logs:PutSubscriptionFilter"
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdef0123"}}
    assert statement["Resource"] == "arn:aws:logs:eu-west-1:444455556666:destination:eksguard-audit-logs"
    stream = cfn["Resources"]["AuditLogStream"]["Properties"]
    assert stream["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}
    assert stream["ShardCount"] == {"Ref": "AuditLogStreamShards"}
    [write] = statements(cfn["Resources"]["AuditLogDestinationRole"]["Properties"]["Policies"][0])
    assert write == {
        "Effect": "Allow",
        "Action": "kinesis:PutRecord",
        "Resource": {"Fn::GetAtt": ["AuditLogStream", "Arn"]},
    }


def test_spoke_audit_logs_reach_the_judge_with_bounded_retries(cfn: dict[str, Any]) -> None:  # noqa: F811
    mapping = cfn["Resources"]["AuditLogStreamMapping"]
    assert mapping["Condition"] == "HasOrganization"
    props = mapping["Properties"]
    assert props["FunctionName"] == {"Ref": "AuditLogAlertFunction"}
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert props["BisectBatchOnFunctionError"] is True
    # AuditLogAlertFunction answers a Kinesis batch record by record (eksguard/audit_log/intake.py)
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["ParallelizationFactor"] == 1  # one poller per shard: log entries in order
    assert 0 <= props["MaximumRetryAttempts"] <= 10
    assert 60 <= props["MaximumRecordAgeInSeconds"] <= 86400
    assert props["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}}}
    read = cfn["Resources"]["AuditLogStreamReadPolicy"]
    assert read["Condition"] == "HasOrganization"
    assert read["Properties"]["Roles"] == [{"Ref": "AuditLogAlertFunctionRole"}]
    [statement] = statements(read["Properties"])
    assert statement["Resource"] == {"Fn::GetAtt": ["AuditLogStream", "Arn"]}
    assert all(a.startswith(("kinesis:Get", "kinesis:Describe", "kinesis:List")) for a in statement["Action"])
    enrol = cfn["Resources"]["AuditLogEnrolFunction"]["Properties"]["Environment"]["Variables"]
    assert enrol["AUDIT_LOG_HUB_DESTINATION_ARN"] == {
        "Fn::If": ["HasOrganization", {"Fn::GetAtt": ["AuditLogDestination", "Arn"]}, ""]
    }


def test_assuming_spoke_roles_only_with_spokes_and_only_in_the_organisation(cfn: dict[str, Any]) -> None:  # noqa: F811
    policy = cfn["Resources"]["SpokeAccessPolicy"]
    assert policy["Condition"] == "IsHub"
    assert policy["Properties"]["Roles"] == [{"Ref": f"{f}Role"} for f in SPOKE_FUNCTIONS]
    by_action = {a: s for s in statements(policy["Properties"]) for a in as_list(s["Action"])}
    assert set(by_action) == {
        "sts:AssumeRole",
        "organizations:ListAccounts",
        "iam:ListAccountAliases",
    }
    for action, statement in by_action.items():
        if "*" in as_list(statement["Resource"]):
            assert action in {"organizations:ListAccounts", "iam:ListAccountAliases"}, action
    assume = by_action["sts:AssumeRole"]
    assert assume["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${SpokeRoleName}"}
    assert assume["Condition"] == {
        "Fn::If": [
            "HasOrganization",
            {"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}},
            {"Ref": "AWS::NoValue"},
        ]
    }
    # The notifier names accounts without a call (AccountNames, names the detectors attach).
    assert not any(
        {"Ref": "SlackNotifierFunctionRole"} in p["Properties"].get("Roles", [])
        for p in resources_of(cfn, "AWS::IAM::Policy").values()
    )
    # No function role carries any of it unconditionally.
    for role_name, role in resources_of(cfn, "AWS::IAM::Role").items():
        assert "sts:AssumeRole" not in json.dumps(role["Properties"].get("Policies", [])), role_name
        assert "organizations:" not in json.dumps(role["Properties"]), role_name


def test_with_spokes_the_functions_that_act_there_have_roles_under_the_hub_path(cfn: dict[str, Any]) -> None:  # noqa: F811
    expected = {"Fn::If": ["IsHub", "/eksguard-hub/", {"Ref": "AWS::NoValue"}]}
    for function in resources_of(cfn, "AWS::Lambda::Function"):
        path = cfn["Resources"][f"{function}Role"]["Properties"].get("Path")
        assert path == (expected if function in SPOKE_FUNCTIONS else None), function


def test_hub_outputs_give_the_spokes_their_parameters(cfn: dict[str, Any]) -> None:  # noqa: F811
    outputs = cfn["Outputs"]
    assert outputs["HubEventBusName"]["Value"] == {"Ref": "HubEventBus"}
    assert outputs["HubEventBusArn"]["Value"] == {"Fn::GetAtt": ["HubEventBus", "Arn"]}
    assert outputs["AuditLogDestinationArn"]["Value"] == {"Fn::GetAtt": ["AuditLogDestination", "Arn"]}
    for name in ("HubEventBusName", "HubEventBusArn", "AuditLogDestinationArn"):
        assert outputs[name]["Condition"] == "HasOrganization", name
