"""EksApiAlertFunction end to end against moto: SQS receives the alert, kubectl roles come from EC2 + IAM."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from eksguard import expected_admins, kubectl_hosts
from eksguard.alerts import Alert, alert_id
from eksguard.config import load_settings

ACCOUNT = "111122223333"
REGION = "eu-west-1"
EventLoader = Callable[[str], dict[str, Any]]


@pytest.fixture
def queue(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto as account 111122223333, the function's settings and an alert queue."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("STOP_TAG_KEY", "kubectl-instance")
    monkeypatch.setenv("STOP_TAG_VALUE", "*")
    monkeypatch.setenv("CLUSTER_TAG_KEY", "eks-cluster")
    monkeypatch.setenv(
        "EXPECTED_CLUSTER_ADMIN_ARNS",
        f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_PlatformAdmin_*",
    )
    monkeypatch.setenv(
        "KUBECTL_ROLE_ARN_PATTERNS",
        f"arn:aws:iam::{ACCOUNT}:role/kubectl-*,arn:aws:iam::{ACCOUNT}:role/admins/kubectl-*",
    )
    monkeypatch.delenv("STOP_REGIONS", raising=False)
    expected_admins.reset_caches()
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="eksguard-alerts")["QueueUrl"]
    monkeypatch.setenv("ALERT_QUEUE_URL", queue_url)
    yield {"sqs": sqs, "queue_url": queue_url}
    expected_admins.reset_caches()


@pytest.fixture
def env(queue: dict[str, Any]) -> dict[str, Any]:
    """Plus the kubectl instances of dev and prod (and one whose cluster is unknown)."""
    iam = boto3.client("iam", region_name=REGION)
    ec2 = boto3.client("ec2", region_name=REGION)
    image = "ami-03cf127a"  # one of moto's built-in images (listing them all is slow)
    instances: dict[str, str] = {}
    for name, tags, path in [
        ("kubectl-dev", {"kubectl-instance": "dev"}, "/"),  # cluster named by the stop tag value
        ("kubectl-prod", {"kubectl-instance": "true", "eks-cluster": "prod"}, "/admins/"),  # by the cluster tag
        ("kubectl-orphan", {"kubectl-instance": "true"}, "/"),  # cluster unknown: counted nowhere
        ("intruder", {"kubectl-instance": "prod"}, "/"),  # a forged tag: not a configured kubectl role
    ]:
        iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))
        iam.create_instance_profile(InstanceProfileName=name)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        reservation = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            IamInstanceProfile={"Name": name},
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
        )
        instances[name] = reservation["Instances"][0]["InstanceId"]
    return {**queue, "ec2": ec2, "iam": iam, "image": image, "instances": instances}


def handler() -> Any:
    import eks_api_alert_handler

    return eks_api_alert_handler.lambda_handler


def received(env: dict[str, Any]) -> list[dict[str, Any]]:
    response = env["sqs"].receive_message(
        QueueUrl=env["queue_url"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    return response.get("Messages") or []


def grant_admin(event: dict[str, Any], cluster: str, role: str) -> dict[str, Any]:
    """The kubectl sample event re-aimed at another cluster / principal (a distinct CloudTrail event)."""
    changed = copy.deepcopy(event)
    detail = changed["detail"]
    detail["requestParameters"]["name"] = cluster
    detail["requestParameters"]["principalArn"] = f"arn%3Aaws%3Aiam%3A%3A{ACCOUNT}%3Arole%2F{role}"
    detail["responseElements"] = None
    detail["eventID"] = f"{detail['eventID'][:-8]}{cluster[:4]:0>4}{role[-4:]:0>4}"
    return changed


def test_critical_alert_reaches_the_queue(
    queue: dict[str, Any], lambda_context: Any, event_loader: EventLoader
) -> None:
    event = event_loader("eks_api_cluster_admin_granted.json")
    result = handler()(event, lambda_context)

    expected_id = alert_id("eks-api", event["detail"]["eventID"])
    assert result["status"] == "alerted"
    assert result["severity"] == "CRITICAL"
    assert result["alert_id"] == expected_id
    messages = received(queue)
    assert len(messages) == 1
    assert result["message_id"] == messages[0]["MessageId"]
    assert messages[0]["MessageAttributes"]["severity"]["StringValue"] == "CRITICAL"
    assert messages[0]["MessageAttributes"]["kind"]["StringValue"] == "eks-api"
    alert = Alert.from_json(messages[0]["Body"])
    assert alert.id == expected_id
    assert alert.title == (
        f"arn:aws:iam::{ACCOUNT}:role/intruder granted cluster admin (AmazonEKSClusterAdminPolicy, cluster scope) "
        "by role/Ops (session alice)"
    )
    assert (alert.cluster, alert.principal, alert.account, alert.region) == (
        "prod",
        f"arn:aws:iam::{ACCOUNT}:role/intruder",
        ACCOUNT,
        REGION,
    )
    assert alert.actor is not None and alert.actor.session_name == "alice"


def test_redelivered_event_keeps_its_alert_id(
    queue: dict[str, Any], lambda_context: Any, event_loader: EventLoader
) -> None:
    event = event_loader("eks_api_audit_logging_disabled.json")
    first = handler()(event, lambda_context)
    second = handler()(copy.deepcopy(event), lambda_context)
    assert first["alert_id"] == second["alert_id"]
    assert first["severity"] == "HIGH"
    assert {Alert.from_json(m["Body"]).id for m in received(queue)} == {first["alert_id"]}


def test_expected_admin_pattern_from_the_environment(
    queue: dict[str, Any], lambda_context: Any, event_loader: EventLoader
) -> None:
    result = handler()(event_loader("eks_api_admin_to_expected_admin.json"), lambda_context)
    assert result["severity"] == "INFO"


@pytest.mark.parametrize(
    ("cluster", "role", "severity"),
    [
        ("dev", "kubectl-dev", "INFO"),
        ("prod", "kubectl-dev", "CRITICAL"),  # the dev kubectl role is NOT an expected admin of prod
        ("prod", "kubectl-prod", "INFO"),  # role with an IAM path, cluster from the cluster tag
        ("dev", "kubectl-prod", "CRITICAL"),
        ("dev", "kubectl-orphan", "CRITICAL"),  # instance without a known cluster counts nowhere
        ("prod", "kubectl-orphan", "CRITICAL"),
        ("prod", "intruder", "HIGH"),  # tagged as prod's kubectl instance, but not a configured kubectl role
    ],
)
def test_kubectl_instance_roles_are_expected_only_on_their_cluster(
    env: dict[str, Any], lambda_context: Any, event_loader: EventLoader, cluster: str, role: str, severity: str
) -> None:
    event = grant_admin(event_loader("eks_api_kubectl_role_admin_dev.json"), cluster, role)
    result = handler()(event, lambda_context)
    assert result["severity"] == severity, result["title"]
    alert = Alert.from_json(received(env)[0]["Body"])
    assert alert.principal == f"arn:aws:iam::{ACCOUNT}:role/{role}"
    facts = dict((f.label, f.value) for f in alert.facts)
    if severity == "INFO":
        assert facts["Expected admin"].startswith(f"yes: kubectl instance role of cluster {cluster} (i-")
    else:
        assert facts["Expected admin"].startswith("no:")


def roles_by_cluster() -> dict[str, set[str]]:
    return kubectl_hosts.inventory(load_settings()).roles_by_cluster()


def test_kubectl_lookup_honours_the_stop_tag_value(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    assert roles_by_cluster() == {
        "dev": {f"arn:aws:iam::{ACCOUNT}:role/kubectl-dev"},
        "prod": {f"arn:aws:iam::{ACCOUNT}:role/kubectl-prod", f"arn:aws:iam::{ACCOUNT}:role/intruder"},
    }
    expected_admins.reset_caches()
    monkeypatch.setenv("STOP_TAG_VALUE", "d*")
    assert roles_by_cluster() == {
        "dev": {f"arn:aws:iam::{ACCOUNT}:role/kubectl-dev"},
    }


def test_stopped_and_terminated_kubectl_instances(env: dict[str, Any]) -> None:
    ec2 = env["ec2"]
    ec2.stop_instances(InstanceIds=[env["instances"]["kubectl-dev"]])
    ec2.terminate_instances(InstanceIds=[env["instances"]["kubectl-prod"]])
    ec2.terminate_instances(InstanceIds=[env["instances"]["intruder"]])
    assert roles_by_cluster() == {"dev": {f"arn:aws:iam::{ACCOUNT}:role/kubectl-dev"}}


def test_kubectl_roles_are_cached_until_the_ttl(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(kubectl_hosts, "_clock", lambda: now[0])
    assert set(roles_by_cluster()) == {"dev", "prod"}
    iam, ec2 = env["iam"], env["ec2"]
    iam.create_role(RoleName="kubectl-qa", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))
    iam.create_instance_profile(InstanceProfileName="kubectl-qa")
    iam.add_role_to_instance_profile(InstanceProfileName="kubectl-qa", RoleName="kubectl-qa")
    ec2.run_instances(
        ImageId=env["image"],
        MinCount=1,
        MaxCount=1,
        IamInstanceProfile={"Name": "kubectl-qa"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "kubectl-instance", "Value": "qa"}]}],
    )
    now[0] += kubectl_hosts.CACHE_TTL_SECONDS - 1
    assert set(roles_by_cluster()) == {"dev", "prod"}
    now[0] += 2
    assert set(roles_by_cluster()) == {"dev", "prod", "qa"}


def test_lookup_failure_degrades_to_not_expected(
    env: dict[str, Any], lambda_context: Any, event_loader: EventLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Permission missing on the instance profile: the lookup cannot tell, so the grant alerts.
    from eksguard import aws

    real_client = aws.lookup_client

    class DeniedIam:
        def get_instance_profile(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "GetInstanceProfile")

    monkeypatch.setattr(
        aws, "lookup_client", lambda service, region: DeniedIam() if service == "iam" else real_client(service, region)
    )
    result = handler()(event_loader("eks_api_kubectl_role_admin_dev.json"), lambda_context)
    assert result["status"] == "alerted"
    assert result["severity"] == "CRITICAL"
    facts = dict((f.label, f.value) for f in Alert.from_json(received(env)[0]["Body"]).facts)
    assert "AccessDenied" in facts["Expected-admin lookup"]
    assert facts["Expected admin"].startswith("no: kubectl instances unavailable")


def test_deleted_instance_profile_is_skipped(env: dict[str, Any]) -> None:
    iam = env["iam"]
    iam.remove_role_from_instance_profile(InstanceProfileName="kubectl-prod", RoleName="kubectl-prod")
    iam.delete_instance_profile(InstanceProfileName="kubectl-prod")
    assert roles_by_cluster() == {
        "dev": {f"arn:aws:iam::{ACCOUNT}:role/kubectl-dev"},
        "prod": {f"arn:aws:iam::{ACCOUNT}:role/intruder"},
    }


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "AssociateAccessPolicy",
        {},
        {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}},
        {"detail-type": "AWS API Call via CloudTrail", "source": "aws.eks"},
        {
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.eks",
            "detail": {"eventSource": "eks.amazonaws.com"},
        },
    ],
)
def test_malformed_events_are_dropped_without_raising(
    queue: dict[str, Any],
    lambda_context: Any,
    event: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = handler()(event, lambda_context)
    assert result["status"] == "ignored"
    assert result["reason"]
    assert received(queue) == []
    assert [r.levelname for r in caplog.records if r.getMessage() == "malformed_event"] == ["ERROR"]
    assert '"MalformedEvents":[1.0]' in capsys.readouterr().out  # the EMF metric line


def test_queue_failure_raises_so_lambda_retries(
    queue: dict[str, Any], lambda_context: Any, event_loader: EventLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_QUEUE_URL", f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/no-such-queue")
    with pytest.raises(ClientError):
        handler()(event_loader("eks_api_cluster_admin_granted.json"), lambda_context)


@pytest.mark.parametrize(
    "name",
    ["eks_api_unhandled_event.json", "eks_api_admin_grant_denied.json", "eks_api_create_cluster_public.json"],
)
def test_other_samples_are_queued(
    queue: dict[str, Any], lambda_context: Any, event_loader: EventLoader, name: str
) -> None:
    result = handler()(event_loader(name), lambda_context)
    assert result["status"] == "alerted"
    assert [Alert.from_json(m["Body"]).id for m in received(queue)] == [result["alert_id"]]
