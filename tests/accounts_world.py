"""A hub account and spoke accounts on moto.

moto keeps accounts apart by credentials: what an `sts:AssumeRole` into account X returns acts in
X. moto does not check trust policies, so a spoke whose role the hub cannot assume is played by
refusing that AssumeRole below boto3 (botocore's `before-send`), which leaves eksguard's own
handling of the refusal (ClientError -> AccountUnreachable) to run as in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eksguard import aws
from eksguard.accounts import role_arn
from tests.faults.inject import UNSERVED_URL, Fault, error_response, request_params

HUB = "123456789012"  # moto's default account: the function's own credentials act here
SPOKE_A = "111111111111"
SPOKE_B = "222222222222"
REFUSING = "333333333333"
ROLE_NAME = "eksguard-spoke"


def spoke_role(account: str) -> str:
    return role_arn("aws", account, ROLE_NAME)


@contextmanager
def in_spoke(account: str) -> Iterator[None]:
    """Seed or inspect a spoke's world with the credentials the hub would use there."""
    if account == HUB:
        yield
        return
    with aws.in_account(account, spoke_role(account)):
        yield


def boto3_session_in(account: str, region: str = "eu-west-1") -> Any:
    """Plain boto3 credentials in a spoke, for seeding its world outside eksguard's own clients."""
    import boto3

    creds = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/seed", RoleSessionName="seed"
    )["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )


def refuse_assume(*accounts: str) -> list[str]:
    """AssumeRole into these accounts is answered AccessDenied (as a trust policy without the hub would).
    Returns the list of refused role ARNs as they were asked for, to check the hub did try."""
    refused_roles = {spoke_role(a) for a in accounts}
    asked: list[str] = []

    def answer(request: Any, **_: Any) -> Any:
        params = request_params(request)
        if params.get("RoleArn") in refused_roles:
            asked.append(str(params["RoleArn"]))
            fault = Fault("AccessDenied", "User is not authorized to perform: sts:AssumeRole", 403)
            response = error_response("query", request.url, fault)
            request.url = UNSERVED_URL
            return response
        return None

    aws._base_session()._session.register("before-send.sts.AssumeRole", answer)
    for role in refused_roles:  # a session assumed while seeding the world would outlive the refusal
        aws._assumed.pop(role, None)
    return asked


def deny_organization_listing() -> None:
    """organizations:ListAccounts answered AccessDenied (a hub that is neither the management account
    nor a delegated administrator)."""

    def answer(request: Any, **_: Any) -> Any:
        fault = Fault("AccessDeniedException", "You don't have permissions to access this resource.", 400)
        response = error_response("json", request.url, fault)
        request.url = UNSERVED_URL
        return response

    aws._base_session()._session.register("before-send.organizations.ListAccounts", answer)
