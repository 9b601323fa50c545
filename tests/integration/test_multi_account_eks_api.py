"""CloudTrail events forwarded from a spoke account to the hub's bus, judged by the hub's EksApiAlertFunction
on moto: the lookups (kubectl instances, instance profiles, IAM paths) are made in the account the event
happened in, through the role it grants the hub; the alert names that account."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from eksguard import accounts, expected_admins
from eksguard.alerts import Alert
from tests.accounts_world import HUB, REFUSING, SPOKE_A, SPOKE_B, boto3_session_in, in_spoke, refuse_assume
from tests.cloudtrail_world import ENVIRONMENT, SAMPLE_KUBECTL_INSTANCE, aim_at
from tests.conftest import load_event

REGION = "eu-west-1"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": []})
SAMPLE_ACCOUNT = "111122223333"


def _kubectl_instance(cluster: str, session: Any = None) -> str:
    """A kubectl instance of `cluster`, with its profile and role, in the hub (or the session's account)."""
    source = session or boto3
    iam = source.client("iam", region_name=REGION)
    ec2 = source.client("ec2", region_name=REGION)
    name = f"eksguard-kubectl-{cluster}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return str(
        ec2.run_instances(
            ImageId="ami-03cf127a",
            MinCount=1,
            MaxCount=1,
            IamInstanceProfile={"Name": name},
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "kubectl-instance", "Value": cluster}]}],
        )["Instances"][0]["InstanceId"]
    )


@pytest.fixture
def hub(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value.replace(SAMPLE_ACCOUNT, "*"))
    monkeypatch.setenv("STOP_REGIONS", REGION)
    monkeypatch.setenv("SPOKE_ACCOUNTS", f"{SPOKE_A},{SPOKE_B},{REFUSING}")
    monkeypatch.setenv("ACCOUNT_NAMES", f"{SPOKE_A}=payments-prod")
    monkeypatch.delenv("AUDIT_STATE_TABLE", raising=False)
    expected_admins.reset_caches()
    accounts.reset_caches()
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="eksguard-alerts")["QueueUrl"]
    monkeypatch.setenv("ALERT_QUEUE_URL", queue_url)
    # spoke A runs the prod kubectl instance; spoke B and the hub have none
    instance = _kubectl_instance("prod", boto3_session_in(SPOKE_A))
    yield {"sqs": sqs, "queue_url": queue_url, "instance": instance}
    expected_admins.reset_caches()
    accounts.reset_caches()


def handler() -> Callable[[Any, Any], dict[str, Any]]:
    import eks_api_alert_handler

    return eks_api_alert_handler.lambda_handler


def forwarded(name: str, account: str, instance: str, event_id: str) -> dict[str, Any]:
    """A sample event as a spoke's forwarding rule delivers it to the hub's bus: EventBridge keeps the
    account (and the CloudTrail record its recipientAccountId) of the account where the call was made."""
    event = copy.deepcopy(aim_at(load_event(name), {SAMPLE_KUBECTL_INSTANCE: instance}))
    text = json.dumps(event).replace(SAMPLE_ACCOUNT, account)
    event = json.loads(text)
    event["detail"]["eventID"] = event_id
    return event


def queued(world: dict[str, Any]) -> list[Alert]:
    messages = world["sqs"].receive_message(QueueUrl=world["queue_url"], MaxNumberOfMessages=10).get("Messages")
    return [Alert.from_json(m["Body"]) for m in messages or []]


def test_a_session_on_a_spoke_kubectl_instance_is_judged_in_that_spoke(hub, lambda_context) -> None:
    event = forwarded(
        "eks_api_kubectl_session_night.json", SPOKE_A, hub["instance"], "a1b2c3d4-0000-0000-0000-00000000000a"
    )
    result = handler()(event, lambda_context)
    assert result["status"] == "alerted", result
    assert "kubectl instance of prod" in result["title"], result
    (alert,) = queued(hub)
    assert alert.account == SPOKE_A
    assert alert.severity.name == result["severity"]


def test_the_same_instance_id_in_another_account_is_not_that_spokes_kubectl_instance(hub, lambda_context) -> None:
    """Spoke B has no such instance: judged in B, the call concerns no kubectl instance (the hub's or A's
    inventory must not answer for B)."""
    event = forwarded(
        "eks_api_ssh_key_other_instance.json", SPOKE_B, hub["instance"], "a1b2c3d4-0000-0000-0000-00000000000b"
    )
    event["detail"]["requestParameters"]["instanceId"] = hub["instance"]
    result = handler()(event, lambda_context)
    assert result == {"status": "skipped", "reason": "no kubectl instance or admin role concerned"}, result
    assert queued(hub) == []
    # and the same call from spoke A, where the instance is its kubectl instance, alerts
    event = forwarded(
        "eks_api_ssh_key_other_instance.json", SPOKE_A, hub["instance"], "a1b2c3d4-0000-0000-0000-00000000000c"
    )
    event["detail"]["requestParameters"]["instanceId"] = hub["instance"]
    result = handler()(event, lambda_context)
    assert result["status"] == "alerted" and "kubectl instance of prod" in result["title"], result
    (alert,) = queued(hub)
    assert alert.account == SPOKE_A


def test_a_spoke_whose_role_is_refused_is_judged_with_its_lookup_failure_stated(hub, lambda_context) -> None:
    asked = refuse_assume(REFUSING)
    event = forwarded("eks_api_kubectl_session.json", REFUSING, hub["instance"], "a1b2c3d4-0000-0000-0000-00000000000d")
    result = handler()(event, lambda_context)
    assert asked, "the hub did not try the spoke's role"
    assert result["status"] == "alerted", result
    (alert,) = queued(hub)
    assert alert.account == REFUSING
    text = alert.to_json()
    assert "AccessDenied" in text and REFUSING in text


def test_disabling_a_spoke_forwarding_rule_is_blinding(hub, lambda_context) -> None:
    event = forwarded(
        "eks_api_eksguard_rule_disabled.json", SPOKE_B, hub["instance"], "a1b2c3d4-0000-0000-0000-00000000000e"
    )
    event["detail"]["requestParameters"]["name"] = "eksguard-spoke-start-session"
    result = handler()(event, lambda_context)
    assert result["status"] == "alerted" and result["severity"] == "HIGH", result
    (alert,) = queued(hub)
    assert alert.account == SPOKE_B


def test_the_hubs_own_events_are_judged_in_the_hub(hub, lambda_context) -> None:
    with in_spoke(HUB):
        own = _kubectl_instance("dev")
    event = forwarded("eks_api_kubectl_session.json", HUB, own, "a1b2c3d4-0000-0000-0000-00000000000f")
    result = handler()(event, lambda_context)
    assert result["status"] == "alerted" and "kubectl instance of dev" in result["title"], result


def test_the_envelope_names_the_account_not_the_forwarded_detail(hub, lambda_context) -> None:
    """What a sender's rule forwards is its own to shape; the account EventBridge stamps is not. A record
    claiming another recipient account is judged, and reported, as the account it came from."""
    event = forwarded(
        "eks_api_kubectl_session_night.json", SPOKE_A, hub["instance"], "a1b2c3d4-0000-0000-0000-000000000010"
    )
    event["detail"]["recipientAccountId"] = SPOKE_B
    result = handler()(event, lambda_context)
    assert result["status"] == "alerted" and "kubectl instance of prod" in result["title"], result
    (alert,) = queued(hub)
    assert alert.account == SPOKE_A


def test_an_organisation_bus_without_listed_spokes_never_judges_a_spoke_with_the_hubs_lookups(
    hub, lambda_context, monkeypatch
) -> None:
    """OrganizationId alone opens the hub's bus to the organisation: a spoke's event is still judged through the
    spoke's role (here refused: the lookup failure is in the alert), never against the hub's instances."""
    monkeypatch.delenv("SPOKE_ACCOUNTS")
    monkeypatch.setenv("ORGANIZATION_ID", "o-abcd1234ef")
    asked = refuse_assume(SPOKE_B)
    with in_spoke(HUB):
        own = _kubectl_instance("dev")  # the hub has a kubectl instance with this ID; spoke B does not
    event = forwarded("eks_api_kubectl_session.json", SPOKE_B, own, "a1b2c3d4-0000-0000-0000-000000000011")
    result = handler()(event, lambda_context)
    assert result["status"] == "alerted", result
    assert asked, "the hub did not go to spoke B's role"
    (alert,) = queued(hub)
    assert alert.account == SPOKE_B
    assert "kubectl instance of dev" not in alert.title
    assert "AccessDenied" in alert.to_json()


def test_deleting_a_spoke_stack_instance_is_blinding_and_any_other_stack_is_not_eksguards(hub, lambda_context) -> None:
    """A spoke's rule forwards the calls on its own stack instance only (StackSet-<set>-<id>): its deletion takes
    the spoke's rules and role away, the hub's view of that account with them."""
    event = forwarded(
        "eks_api_eksguard_rule_disabled.json", SPOKE_B, hub["instance"], "a1b2c3d4-0000-0000-0000-000000000012"
    )
    detail = event["detail"]
    event["source"], detail["eventSource"], detail["eventName"] = (
        "aws.cloudformation",
        "cloudformation.amazonaws.com",
        "DeleteStack",
    )
    detail["requestParameters"] = {"stackName": "StackSet-eksguard-spoke-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"}
    detail["responseElements"] = None
    result = handler()(event, lambda_context)
    assert result["status"] == "alerted" and result["severity"] == "HIGH", result
    (alert,) = queued(hub)
    assert alert.account == SPOKE_B
    # the same call in the hub's own account on a stack that is not eksguard's is not a blinding
    detail["eventID"], event["account"], detail["recipientAccountId"] = (
        "a1b2c3d4-0000-0000-0000-000000000013",
        HUB,
        HUB,
    )
    result = handler()(event, lambda_context)
    assert result.get("severity") != "HIGH", result
