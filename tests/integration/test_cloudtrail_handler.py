"""EksApiAlertFunction against moto for the calls around kubectl instances, trails and audit log groups.

The kubectl instances, their profiles and roles (with IAM paths) live in moto; the sample events of
events/ are aimed at moto's instance IDs. moto has no ssm:DescribeSessions: ResumeSession's lookup
is answered by a botocore Stubber on the lookup client.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from eksguard import aws, expected_admins
from eksguard.alerts import Alert
from tests.cloudtrail_world import ACCOUNT, ENVIRONMENT, SAMPLE_KUBECTL_INSTANCE, SAMPLE_SESSION, aim_at
from tests.conftest import load_event
from tests.unit.test_cloudtrail_samples import SAMPLES

REGION = "eu-west-1"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": []})


@pytest.fixture
def moto_world(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STOP_REGIONS", REGION)
    monkeypatch.delenv("AUDIT_STATE_TABLE", raising=False)
    expected_admins.reset_caches()
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="eksguard-alerts")["QueueUrl"]
    monkeypatch.setenv("ALERT_QUEUE_URL", queue_url)
    iam = boto3.client("iam", region_name=REGION)
    ec2 = boto3.client("ec2", region_name=REGION)
    instances = {}
    for cluster in ("prod", "dev"):
        name = f"eksguard-kubectl-{cluster}"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
        iam.create_instance_profile(InstanceProfileName=name)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        instances[cluster] = ec2.run_instances(
            ImageId="ami-03cf127a",
            MinCount=1,
            MaxCount=1,
            IamInstanceProfile={"Name": name},
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "kubectl-instance", "Value": cluster}]}],
        )["Instances"][0]["InstanceId"]
    for name, path in [
        ("AWSReservedSSO_PlatformAdmin_abc", "/aws-reserved/sso.amazonaws.com/eu-west-1/"),
        ("AWSReservedSSO_PlatformAdmin_pwn", "/team/"),
        ("debug-tools", "/"),
    ]:
        iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=TRUST)
    iam.create_instance_profile(InstanceProfileName="debug-tools")
    iam.add_role_to_instance_profile(InstanceProfileName="debug-tools", RoleName="debug-tools")
    yield {"sqs": sqs, "queue_url": queue_url, "instances": instances, "ec2": ec2}
    expected_admins.reset_caches()


def handler() -> Callable[[Any, Any], dict[str, Any]]:
    import eks_api_alert_handler

    return eks_api_alert_handler.lambda_handler


def sample(name: str, world: dict[str, Any]) -> dict[str, Any]:
    return aim_at(load_event(name), {SAMPLE_KUBECTL_INSTANCE: world["instances"]["prod"]})


def queued(world: dict[str, Any]) -> list[Alert]:
    messages = world["sqs"].receive_message(QueueUrl=world["queue_url"], MaxNumberOfMessages=10).get("Messages")
    return [Alert.from_json(m["Body"]) for m in messages or []]


# Every CloudTrail sample of events/ (tests/unit/test_cloudtrail_samples.py), through the handler against
# moto; ResumeSession needs DescribeSessions, which moto lacks: it has its own test below.
HANDLER_SAMPLES = sorted(name for name in SAMPLES if name != "eks_api_kubectl_session_resumed.json")


@pytest.mark.parametrize("name", HANDLER_SAMPLES)
def test_samples_through_the_handler(moto_world: dict[str, Any], lambda_context: Any, name: str) -> None:
    result = handler()(sample(name, moto_world), lambda_context)
    expected = SAMPLES[name]
    if expected is None:
        assert result["status"] == "skipped", result
        assert queued(moto_world) == []
        return
    severity = expected[0].name
    assert result["status"] == "alerted" and result["severity"] == severity, result
    (alert,) = queued(moto_world)
    assert alert.severity.name == severity
    text = alert.to_json()
    # SSM session tokens, stream URLs and user data never reach an alert.
    assert "Value hidden" not in text and "wss://" not in text and "sensitiveDataRemoved" not in text


def test_a_call_on_another_instance_is_dropped_without_an_alert(
    moto_world: dict[str, Any], lambda_context: Any
) -> None:
    result = handler()(sample("eks_api_ssh_key_other_instance.json", moto_world), lambda_context)
    assert result == {"status": "skipped", "reason": "no kubectl instance or admin role concerned"}
    assert queued(moto_world) == []


def test_a_session_on_a_stopped_kubectl_instance_is_still_reported(
    moto_world: dict[str, Any], lambda_context: Any
) -> None:
    moto_world["ec2"].stop_instances(InstanceIds=[moto_world["instances"]["prod"]])
    result = handler()(sample("eks_api_kubectl_session.json", moto_world), lambda_context)
    assert result["severity"] == "INFO" and "kubectl instance of prod" in result["title"]


def test_a_resumed_session_is_traced_to_its_instance(
    moto_world: dict[str, Any], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    stubber = Stubber(ssm)
    stubber.add_response(
        "describe_sessions",
        {"Sessions": []},
        {"State": "Active", "Filters": [{"key": "SessionId", "value": SAMPLE_SESSION}]},
    )
    stubber.add_response(
        "describe_sessions",
        {"Sessions": [{"SessionId": SAMPLE_SESSION, "Target": moto_world["instances"]["dev"], "Status": "Terminated"}]},
        {"State": "History", "Filters": [{"key": "SessionId", "value": SAMPLE_SESSION}]},
    )
    real = aws.lookup_client
    monkeypatch.setattr(aws, "lookup_client", lambda s, r: ssm if s == "ssm" else real(s, r))
    with stubber:
        result = handler()(sample("eks_api_kubectl_session_resumed.json", moto_world), lambda_context)
    stubber.assert_no_pending_responses()
    assert result["severity"] == "INFO" and "kubectl instance of dev" in result["title"], result


def test_an_unknown_inventory_is_said_and_not_silent(
    moto_world: dict[str, Any], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    class DeniedEc2:
        def describe_instances(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DescribeInstances")

    real = aws.lookup_client
    monkeypatch.setattr(aws, "lookup_client", lambda s, r: DeniedEc2() if s == "ec2" else real(s, r))
    result = handler()(sample("eks_api_kubectl_ssh_key.json", moto_world), lambda_context)
    assert result["severity"] == "MEDIUM" and "may target a kubectl instance" in result["title"], result
    (alert,) = queued(moto_world)
    assert "UnauthorizedOperation" in dict((f.label, f.value) for f in alert.facts)["Target lookup"]


def test_a_spent_lookup_budget_degrades_instead_of_timing_out(
    moto_world: dict[str, Any], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The handler starts the budget; here it is already spent when the first lookup asks.
    monkeypatch.setattr(aws.LookupBudget, "start", classmethod(lambda cls, seconds=0.0: None))
    monkeypatch.setattr(aws.LookupBudget, "_deadline", 0.0)
    result = handler()(sample("eks_api_kubectl_user_data.json", moto_world), lambda_context)
    assert result["severity"] == "MEDIUM" and "lookup budget" in json.dumps(queued(moto_world)[0].to_json())


@pytest.mark.parametrize(
    ("principal", "severity"),
    [
        # The path comes from IAM (moto) by name: the SSO role is expected, its look-alike is not.
        (f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_PlatformAdmin_abc", "INFO"),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_PlatformAdmin_abc/alice", "INFO"),
        (f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_PlatformAdmin_pwn", "CRITICAL"),
        (f"arn:aws:iam::{ACCOUNT}:role/team/AWSReservedSSO_PlatformAdmin_pwn", "CRITICAL"),
        (f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_PlatformAdmin_missing", "CRITICAL"),
        (f"arn:aws:iam::{ACCOUNT}:role/EKSGUARD-KUBECTL-PROD", "INFO"),  # IAM names ignore case
    ],
)
def test_expected_admin_paths_are_read_from_iam(
    moto_world: dict[str, Any], lambda_context: Any, principal: str, severity: str
) -> None:
    event = load_event("eks_api_cluster_admin_granted.json")
    event["detail"]["requestParameters"]["principalArn"] = principal
    event["detail"]["responseElements"] = None
    result = handler()(event, lambda_context)
    assert result["severity"] == severity, result["title"]


def test_an_access_entry_into_a_group_rbac_makes_admin_is_critical(
    moto_world: dict[str, Any], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both detectors share the state table: the audit log saw `eks-admins` bound to cluster-admin, so an
    access entry that puts a principal in `eks-admins` is cluster admin, not merely "custom groups"."""
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="eksguard-state",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "cluster", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "cluster", "KeyType": "HASH"}],
    )
    monkeypatch.setenv("AUDIT_STATE_TABLE", "eksguard-state")
    import audit_log_alert_handler

    audit_log_alert_handler.lambda_handler(load_event("rbac_group_binding.json"), lambda_context)
    moto_world["sqs"].purge_queue(QueueUrl=moto_world["queue_url"])

    event = load_event("eks_api_access_entry_custom_groups.json")
    detail = event["detail"]
    detail["requestParameters"]["kubernetesGroups"] = ["eks-admins"]
    detail["requestParameters"]["name"] = "prod"
    detail["responseElements"] = None
    result = handler()(event, lambda_context)
    assert result["severity"] == "CRITICAL", result["title"]
    assert "group eks-admins" in result["title"] and "cluster-admin" in result["title"]
    # The same groups on a cluster where RBAC binds nothing stay MEDIUM.
    detail["requestParameters"]["name"] = "dev"
    detail["eventID"] = "0" * 8 + detail["eventID"][8:]
    assert handler()(event, lambda_context)["severity"] == "MEDIUM"
