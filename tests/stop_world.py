"""Builders for stop-run tests and benchmarks: tagged instances in moto, stubbed SSM sessions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from botocore.stub import Stubber

from eksguard import aws

AMI_ID = "ami-12c6146b"  # registered by moto in every region


def launch(region: str, count: int, tags: dict[str, str] | None = None, **extra: Any) -> list[str]:
    ec2 = aws.client("ec2", region)
    spec: dict[str, Any] = {"ImageId": AMI_ID, "MinCount": count, "MaxCount": count, "InstanceType": "t3.micro"}
    if tags:
        spec["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    spec.update(extra)
    response = ec2.run_instances(**spec)
    return [i["InstanceId"] for i in response["Instances"]]


def states(region: str, instance_ids: Iterable[str]) -> dict[str, str]:
    ec2 = aws.client("ec2", region)
    ids = list(instance_ids)
    result: dict[str, str] = {}
    for start in range(0, len(ids), 200):
        page = ec2.describe_instances(InstanceIds=ids[start : start + 200])
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                result[instance["InstanceId"]] = instance["State"]["Name"]
    return result


def stub_sessions(region: str, pages: Sequence[Sequence[str]] | Exception) -> Stubber:
    """moto has no ssm:DescribeSessions: answer it with botocore's Stubber on the cached client.

    `pages` lists the instance ids with an active session, one list per page (NextToken chains
    them), or an exception to raise (service unavailable)."""
    ssm = aws.client("ssm", region)
    stubber = Stubber(ssm)
    if isinstance(pages, Exception):
        stubber.add_client_error(
            "describe_sessions",
            service_error_code="InternalServerError",
            service_message=str(pages),
            http_status_code=500,
        )
        # standard retry mode retries 5xx: answer every attempt the same way
        for _ in range(4):
            stubber.add_client_error(
                "describe_sessions",
                service_error_code="InternalServerError",
                service_message=str(pages),
                http_status_code=500,
            )
    else:
        page_list = list(pages) or [[]]
        for index, targets in enumerate(page_list):
            expected: dict[str, Any] = {"State": "Active", "MaxResults": 200}
            if index:
                expected["NextToken"] = f"token-{index}"
            response: dict[str, Any] = {
                "Sessions": [
                    {"SessionId": f"alice-{index}-{n}", "Target": t, "Status": "Connected", "Owner": "alice"}
                    for n, t in enumerate(targets)
                ]
            }
            if index + 1 < len(page_list):
                response["NextToken"] = f"token-{index + 1}"
            stubber.add_response("describe_sessions", response, expected)
    stubber.activate()
    return stubber
