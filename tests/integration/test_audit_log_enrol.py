"""AuditLogEnrolFunction against moto: CloudWatch Logs subscription filters, Lambda destination, EKS clusters."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest

from eksguard.audit_log.enrol import FILTER_PATTERN, is_relevant_trigger

REGION = "eu-west-1"
FILTER = "eksguard-aws-auth"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
    return buffer.getvalue()


def _function(name: str) -> str:
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(
        RoleName=f"{name}-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    fn = boto3.client("lambda", region_name=REGION).create_function(
        FunctionName=name, Runtime="python3.13", Role=role, Handler="handler.lambda_handler", Code={"ZipFile": _zip()}
    )
    arn: str = fn["FunctionArn"]
    return arn


@pytest.fixture
def env(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    destination = _function("aws-auth-alert")
    foreign = _function("someone-elses")
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    monkeypatch.setenv("AUDIT_LOG_DESTINATION_ARN", destination)
    monkeypatch.setenv("ALERT_QUEUE_URL", queue_url)
    return {
        "logs": boto3.client("logs", region_name=REGION),
        "eks": boto3.client("eks", region_name=REGION),
        "sqs": sqs,
        "queue_url": queue_url,
        "destination": destination,
        "foreign": foreign,
    }


def queued(env: dict[str, Any]) -> list[dict[str, Any]]:
    got = env["sqs"].receive_message(QueueUrl=env["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in got]


def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from audit_log_enrol_handler import lambda_handler

    result: dict[str, Any] = lambda_handler(event, context)
    return result


def filters(env: dict[str, Any], group: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = env["logs"].describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    return found


def _cluster(env: dict[str, Any], name: str, audit: bool) -> None:
    types = ["api", "audit", "authenticator"] if audit else ["api"]
    env["eks"].create_cluster(
        name=name,
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={"subnetIds": ["subnet-1"]},
        logging={
            "clusterLogging": [
                {"types": types, "enabled": True},
                {"types": [t for t in ("audit",) if not audit], "enabled": False},
            ]
        },
    )


def test_subscribes_every_cluster_group_idempotently(env, event_loader, lambda_context) -> None:
    for name in ("/aws/eks/prod/cluster", "/aws/eks/dev/cluster", "/aws/eks/prod/other", "/aws/lambda/x"):
        env["logs"].create_log_group(logGroupName=name)
    result = invoke(event_loader("audit_log_enrol_schedule.json"), lambda_context)
    assert sorted(result["subscribed"]) == ["/aws/eks/dev/cluster", "/aws/eks/prod/cluster"]
    (mine,) = filters(env, "/aws/eks/prod/cluster")
    assert (mine["filterName"], mine["filterPattern"], mine["destinationArn"]) == (
        FILTER,
        FILTER_PATTERN,
        env["destination"],
    )
    assert len(FILTER_PATTERN) <= 1024
    assert filters(env, "/aws/eks/prod/other") == []
    again = invoke(event_loader("audit_log_enrol_schedule.json"), lambda_context)
    assert again["subscribed"] == [] and sorted(again["alreadySubscribed"]) == sorted(result["subscribed"])
    assert len(filters(env, "/aws/eks/prod/cluster")) == 1


def test_outdated_own_filter_is_updated(env, lambda_context) -> None:
    group = "/aws/eks/prod/cluster"
    env["logs"].create_log_group(logGroupName=group)
    env["logs"].put_subscription_filter(
        logGroupName=group, filterName=FILTER, filterPattern='"aws-auth"', destinationArn=env["destination"]
    )
    result = invoke({"source": "eksguard.schedule", "action": "enrol"}, lambda_context)
    assert result["updated"] == [group]
    assert [f["filterPattern"] for f in filters(env, group)] == [FILTER_PATTERN]


def test_two_foreign_filters_mean_blind_high_alert_and_nothing_removed(env, lambda_context) -> None:
    group = "/aws/eks/prod/cluster"
    env["logs"].create_log_group(logGroupName=group)
    for name in ("siem", "archive"):
        env["logs"].put_subscription_filter(
            logGroupName=group, filterName=name, filterPattern="", destinationArn=env["foreign"]
        )
    result = invoke({"source": "eksguard.schedule"}, lambda_context)
    assert result["blindLogGroups"] == [group]
    assert sorted(f["filterName"] for f in filters(env, group)) == ["archive", "siem"]
    (alert,) = queued(env)
    assert alert["severity"] == "HIGH" and alert["cluster"] == "prod"
    assert alert["title"].startswith("aws-auth changes on prod are not watched")


def test_one_foreign_filter_leaves_room_for_ours(env, lambda_context) -> None:
    group = "/aws/eks/prod/cluster"
    env["logs"].create_log_group(logGroupName=group)
    env["logs"].put_subscription_filter(
        logGroupName=group, filterName="siem", filterPattern="", destinationArn=env["foreign"]
    )
    result = invoke({"source": "eksguard.schedule"}, lambda_context)
    assert result["subscribed"] == [group]
    assert sorted(f["filterName"] for f in filters(env, group)) == [FILTER, "siem"]


def test_clusters_with_audit_logging_off_raise_high_alert(env, lambda_context) -> None:
    _cluster(env, "prod", audit=True)
    _cluster(env, "dark", audit=False)
    result = invoke({"source": "eksguard.schedule"}, lambda_context)
    assert result["auditLoggingOff"] == ["dark"]
    (alert,) = queued(env)
    assert alert["severity"] == "HIGH" and alert["cluster"] == "dark"
    assert "audit logging is off for dark" in alert["title"]
    assert "update-cluster-config" in alert["summary"]


@pytest.mark.parametrize(
    ("event", "relevant"),
    [
        ({"source": "eksguard.schedule", "action": "enrol"}, True),
        (
            {
                "detail-type": "AWS API Call via CloudTrail",
                "source": "aws.logs",
                "detail": {
                    "eventName": "CreateLogGroup",
                    "requestParameters": {"logGroupName": "/aws/eks/new/cluster"},
                },
            },
            True,
        ),
        (
            {
                "detail-type": "AWS API Call via CloudTrail",
                "source": "aws.logs",
                "detail": {"eventName": "CreateLogGroup", "requestParameters": {"logGroupName": "/aws/lambda/fn"}},
            },
            False,
        ),
        ({"source": "aws.eks", "detail": {"eventName": "CreateCluster"}}, True),
        ({"source": "aws.eks", "detail": {"eventName": "UpdateClusterConfig"}}, True),
        ({"source": "aws.eks", "detail": {"eventName": "DeleteCluster"}}, False),
        ({}, False),
    ],
)
def test_triggers(event: dict[str, Any], relevant: bool) -> None:
    assert is_relevant_trigger(event)[0] is relevant


def test_irrelevant_trigger_is_skipped_without_aws_calls(env, lambda_context) -> None:
    env["logs"].create_log_group(logGroupName="/aws/eks/prod/cluster")
    event = {
        "source": "aws.logs",
        "detail": {"eventName": "CreateLogGroup", "requestParameters": {"logGroupName": "/aws/lambda/fn"}},
    }
    assert invoke(event, lambda_context)["status"] == "skipped"
    assert filters(env, "/aws/eks/prod/cluster") == []


@pytest.mark.parametrize(
    "option", [{"fieldSelectionCriteria": '@aws.region = "xx-none-1"'}, {"applyOnTransformedLogs": True}]
)
def test_own_filter_narrowed_by_an_option_is_put_back_plain(option: dict[str, Any]) -> None:
    """Same name, pattern and destination, plus an option that keeps audit events away: not healthy."""
    from eksguard.audit_log.enrol import EnrolResult, enrol_log_group

    existing = {"filterName": FILTER, "filterPattern": FILTER_PATTERN, "destinationArn": "arn:dest", **option}
    puts: list[dict[str, Any]] = []

    class Logs:
        def describe_subscription_filters(self, **_: Any) -> dict[str, Any]:
            return {"subscriptionFilters": [existing]}

        def put_subscription_filter(self, **kwargs: Any) -> None:
            puts.append(kwargs)

    result = EnrolResult(region="eu-west-1")
    enrol_log_group(Logs(), "/aws/eks/prod/cluster", FILTER, "arn:dest", "eu-west-1", None, result)
    assert result.updated == ["/aws/eks/prod/cluster"]
    assert puts == [
        {
            "logGroupName": "/aws/eks/prod/cluster",
            "filterName": FILTER,
            "filterPattern": FILTER_PATTERN,
            "destinationArn": "arn:dest",
        }
    ]
