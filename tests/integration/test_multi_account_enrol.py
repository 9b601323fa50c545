"""AuditLogEnrolFunction of a hub: the spokes' EKS audit log groups subscribed to the hub's CloudWatch Logs
destination, each account on its own, on moto (spokes kept apart by assumed-role credentials)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from eksguard import accounts
from eksguard import aws as eksguard_aws
from eksguard.audit_log.enrol import FILTER_PATTERN, step_reserve_seconds
from eksguard.audit_log.spoke_enrol import account_reserve_seconds
from tests.accounts_world import HUB, REFUSING, SPOKE_A, SPOKE_B, in_spoke, refuse_assume
from tests.conftest import FakeLambdaContext
from tests.faults.inject import Fault, Injector
from tests.integration.test_audit_log_enrol import _function

REGION = "eu-west-1"
FILTER = "eksguard-aws-auth"
DESTINATION_NAME = "eksguard-audit-logs"
HUB_DESTINATION = f"arn:aws:logs:{REGION}:{HUB}:destination:{DESTINATION_NAME}"
SCHEDULE = {"source": "eksguard.schedule", "action": "enrol"}
GAP = "audit logs not delivered from us-east-1: no hub destination there"
ACCESS_DENIED = Fault("AccessDeniedException", "User is not authorized to perform: logs:PutSubscriptionFilter", 400)


def subscription_role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/eksguard-spoke-logs"


def logs_in(account: str) -> Any:
    with in_spoke(account):
        return eksguard_aws.client("logs", REGION)


def create_cluster(account: str, name: str) -> None:
    """An EKS cluster in a spoke: a spoke's log groups are enrolled for its clusters, not by their names."""
    with in_spoke(account):
        eksguard_aws.client("eks", REGION).create_cluster(
            name=name,
            roleArn=f"arn:aws:iam::{account}:role/eks-cluster",
            resourcesVpcConfig={"subnetIds": []},
            logging={"clusterLogging": [{"types": ["audit"], "enabled": True}]},
        )


def filters_of(account: str, group: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = logs_in(account).describe_subscription_filters(logGroupName=group)[
        "subscriptionFilters"
    ]
    return found


@pytest.fixture
def hub(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    accounts.reset_caches()
    function = _function("aws-auth-alert")
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    for name, value in {
        "AUDIT_LOG_DESTINATION_ARN": function,
        "AUDIT_LOG_HUB_DESTINATION_ARN": HUB_DESTINATION,
        "ALERT_QUEUE_URL": queue_url,
        "SPOKE_ACCOUNTS": f"{SPOKE_A},{SPOKE_B},{REFUSING}",
        "SPOKE_ROLE_NAME": "eksguard-spoke",
        "ACCOUNT_NAMES": f"{SPOKE_A}=payments-prod",
        "STOP_REGIONS": f"{REGION},us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    # moto accepts a `destination` ARN for a subscription filter only when a log group of that name exists
    # in the destination's account and region (it checks destinations as if they were log groups)
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName=DESTINATION_NAME)
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="/aws/eks/hub/cluster")
    for account, clusters in ((SPOKE_A, ("prod", "dev")), (SPOKE_B, ("prod",))):
        logs = logs_in(account)
        for cluster in clusters:
            create_cluster(account, cluster)
            logs.create_log_group(logGroupName=f"/aws/eks/{cluster}/cluster")
        logs.create_log_group(logGroupName="/aws/lambda/not-eks")
    yield {"sqs": sqs, "queue_url": queue_url, "function": function}
    accounts.reset_caches()


def queued(env: dict[str, Any]) -> list[dict[str, Any]]:
    messages = env["sqs"].receive_message(QueueUrl=env["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
    for m in messages:
        env["sqs"].delete_message(QueueUrl=env["queue_url"], ReceiptHandle=m["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in messages]


def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from audit_log_enrol_handler import lambda_handler

    result: dict[str, Any] = lambda_handler(event, context)
    return result


def test_two_spokes_enrolled_and_the_refusing_one_reported(hub, lambda_context) -> None:
    asked = refuse_assume(REFUSING)
    result = invoke(SCHEDULE, lambda_context)

    assert result["status"] == "ok"
    # the hub's own groups: to the function, directly
    assert result["subscribed"] == ["/aws/eks/hub/cluster"]
    # each spoke's EKS groups: to the hub's destination, with the role CloudWatch Logs checks them with
    spokes = result["spokes"]
    assert sorted(spokes[f"{SPOKE_A} (payments-prod)"]["subscribed"]) == [
        "/aws/eks/dev/cluster",
        "/aws/eks/prod/cluster",
    ]
    assert spokes[SPOKE_B]["subscribed"] == ["/aws/eks/prod/cluster"]
    for account, group in (
        (SPOKE_A, "/aws/eks/prod/cluster"),
        (SPOKE_A, "/aws/eks/dev/cluster"),
        (SPOKE_B, "/aws/eks/prod/cluster"),
    ):
        (mine,) = filters_of(account, group)
        assert (mine["filterName"], mine["filterPattern"], mine["destinationArn"], mine.get("roleArn")) == (
            FILTER,
            FILTER_PATTERN,
            HUB_DESTINATION,
            subscription_role(account),
        )
    assert filters_of(SPOKE_A, "/aws/lambda/not-eks") == []

    # the refusing account: reported by account, the others went on
    assert asked == [f"arn:aws:iam::{REFUSING}:role/eksguard-spoke"]
    (problems,) = result["spokesNotEnrolled"].values()
    assert list(result["spokesNotEnrolled"]) == [REFUSING] and "AccessDenied" in problems[0]
    assert result["regionsNotDelivered"] == [GAP]
    (alert,) = queued(hub)
    assert alert["severity"] == "HIGH" and alert["account"] == REFUSING and alert["kind"] == "aws-auth-coverage"
    assert alert["title"].startswith(f"EKS audit logs of account {REFUSING} are not all delivered to the hub")

    again = invoke(SCHEDULE, lambda_context)
    assert again["spokes"][SPOKE_B] == {
        **again["spokes"][SPOKE_B],
        "subscribed": [],
        "alreadySubscribed": ["/aws/eks/prod/cluster"],
    }


def test_a_refused_filter_is_reported_and_the_accounts_other_groups_still_enrolled(hub, lambda_context) -> None:
    def refuse_prod(_: int, params: dict[str, Any]) -> Fault | None:
        return ACCESS_DENIED if params.get("logGroupName") == "/aws/eks/prod/cluster" else None

    Injector(logs_in(SPOKE_A), "PutSubscriptionFilter", refuse_prod)
    result = invoke(SCHEDULE, lambda_context)
    a = result["spokes"][f"{SPOKE_A} (payments-prod)"]
    assert a["subscribed"] == ["/aws/eks/dev/cluster"]
    assert "AccessDeniedException" in a["refused"]["/aws/eks/prod/cluster"]
    assert result["spokes"][SPOKE_B]["subscribed"] == ["/aws/eks/prod/cluster"]
    refused = [x for x in queued(hub) if x["account"] == SPOKE_A]
    assert len(refused) == 1 and refused[0]["severity"] == "HIGH"
    assert "subscription filter refused on 1 log group(s)" in refused[0]["title"]
    assert ["Refused on /aws/eks/prod/cluster"] == [f for f, _ in refused[0]["facts"] if f.startswith("Refused")]


def test_an_existing_filter_without_the_role_is_put_back(hub, lambda_context) -> None:
    logs = logs_in(SPOKE_B)
    logs.put_subscription_filter(
        logGroupName="/aws/eks/prod/cluster",
        filterName=FILTER,
        filterPattern=FILTER_PATTERN,
        destinationArn=HUB_DESTINATION,
    )
    result = invoke(SCHEDULE, lambda_context)
    assert result["spokes"][SPOKE_B]["updated"] == ["/aws/eks/prod/cluster"]
    (mine,) = filters_of(SPOKE_B, "/aws/eks/prod/cluster")
    assert mine["roleArn"] == subscription_role(SPOKE_B)


def test_spoke_accounts_are_started_only_with_their_worst_case_left(hub) -> None:
    """This account's enrolment is short and unguarded; a spoke is started only with the time for its role,
    one log group and the report's send left, else reported (not silently skipped)."""
    context = FakeLambdaContext(remaining_ms=int(account_reserve_seconds() * 1000) - 1)
    result = invoke(SCHEDULE, context)
    assert result["subscribed"] == ["/aws/eks/hub/cluster"]
    assert set(result["spokesNotEnrolled"]) == {f"{SPOKE_A} (payments-prod)", SPOKE_B, REFUSING}
    assert all(
        p == ["not reached: the run ran out of time before this account"] for p in result["spokesNotEnrolled"].values()
    )
    assert filters_of(SPOKE_B, "/aws/eks/prod/cluster") == []
    assert sorted(a["account"] for a in queued(hub)) == sorted([SPOKE_A, SPOKE_B, REFUSING])
    assert account_reserve_seconds() > step_reserve_seconds(2)


def test_a_log_group_created_in_a_spoke_enrols_that_spoke_only(hub, lambda_context) -> None:
    event = {
        "source": "aws.logs",
        "detail-type": "AWS API Call via CloudTrail",
        "account": SPOKE_B,
        "detail": {"eventName": "CreateLogGroup", "requestParameters": {"logGroupName": "/aws/eks/prod/cluster"}},
    }
    result = invoke(event, lambda_context)
    assert "subscribed" not in result  # the hub's own groups are not this event's business
    assert list(result["spokes"]) == [SPOKE_B] and result["spokes"][SPOKE_B]["subscribed"] == ["/aws/eks/prod/cluster"]
    assert filters_of(SPOKE_A, "/aws/eks/prod/cluster") == []


def test_without_the_destinations_region_in_the_watched_regions_nothing_is_enrolled_and_it_says_so(
    hub, lambda_context, monkeypatch
) -> None:
    monkeypatch.setenv("STOP_REGIONS", "us-east-1")
    result = invoke(SCHEDULE, lambda_context)
    assert result["regionsNotDelivered"] == [GAP] and result["spokes"] == {}
    assert filters_of(SPOKE_A, "/aws/eks/prod/cluster") == []


def test_a_single_account_deployment_does_not_touch_any_spoke(hub, lambda_context, monkeypatch) -> None:
    monkeypatch.delenv("SPOKE_ACCOUNTS")
    result = invoke(SCHEDULE, lambda_context)
    assert result["subscribed"] == ["/aws/eks/hub/cluster"] and "spokes" not in result
    assert filters_of(SPOKE_A, "/aws/eks/prod/cluster") == []


def test_a_missing_hub_destination_is_reported_not_taken_for_success(hub, lambda_context) -> None:
    boto3.client("logs", region_name=REGION).delete_log_group(logGroupName=DESTINATION_NAME)  # moto: no destination
    result = invoke(SCHEDULE, lambda_context)
    assert result["spokes"][SPOKE_B]["subscribed"] == []
    assert (
        "the log group or the hub destination is gone" in result["spokes"][SPOKE_B]["refused"]["/aws/eks/prod/cluster"]
    )
    assert {a["account"] for a in queued(hub)} == {SPOKE_A, SPOKE_B}


def test_a_cluster_whose_log_group_does_not_exist_yet_is_not_a_refusal(hub, lambda_context) -> None:
    """A new cluster's audit log group appears with its first logs: until then there is nothing to subscribe
    (the next run, or the CreateLogGroup trigger, enrols it), and no account is reported as refusing."""
    create_cluster(SPOKE_B, "staging")
    refuse_assume(REFUSING)
    result = invoke(SCHEDULE, lambda_context)
    assert list(result["spokesNotEnrolled"]) == [REFUSING], result["spokesNotEnrolled"]
    assert filters_of(SPOKE_B, "/aws/eks/prod/cluster")
