"""Which accounts a hub acts in: resolution, the organisation's listing, state keys."""

from __future__ import annotations

from typing import Any

import pytest

from eksguard import accounts
from eksguard.config import load_settings


class Organizations:
    """organizations:ListAccounts in pages of two."""

    def __init__(self, listed: list[dict[str, Any]]) -> None:
        self.listed = listed
        self.calls = 0

    def list_accounts(self, NextToken: str | None = None) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls += 1
        start = int(NextToken or 0)
        page: dict[str, Any] = {"Accounts": self.listed[start : start + 2]}
        if start + 2 < len(self.listed):
            page["NextToken"] = str(start + 2)
        return page


LISTED = [
    {"Id": "111111111111", "Name": "payments-prod", "State": "ACTIVE"},
    {"Id": "222222222222", "Name": "leaving", "State": "SUSPENDED"},
    {"Id": "333333333333", "Name": "sandbox", "Status": "ACTIVE"},
    {"Id": "123456789012", "Name": "security", "State": "ACTIVE"},
]


def test_the_organisation_is_resolved_home_first_active_only_configured_names_win() -> None:
    settings = load_settings({"SPOKE_ACCOUNTS": "ORGANIZATION", "ACCOUNT_NAMES": "333333333333=playground"})
    targets = accounts.resolve(settings, "123456789012", organizations=lambda: Organizations(LISTED))
    assert [(t.account, t.role_arn, t.name) for t in targets] == [
        ("123456789012", None, "security"),
        ("111111111111", "arn:aws:iam::111111111111:role/eksguard-spoke", "payments-prod"),
        ("333333333333", "arn:aws:iam::333333333333:role/eksguard-spoke", "playground"),
    ]
    assert targets.organization == ("111111111111", "333333333333", "123456789012")
    assert not targets.problems


def test_a_listing_without_time_left_is_cut_short_and_said_so() -> None:
    settings = load_settings({"SPOKE_ACCOUNTS": "ORGANIZATION,444444444444"})
    pages = Organizations(LISTED)
    budget = iter([True, False])
    targets = accounts.resolve(
        settings, "123456789012", organizations=lambda: pages, may_call=lambda: next(budget, False)
    )
    assert pages.calls == 1
    assert [t.account for t in targets] == ["123456789012", "444444444444"]
    assert targets.organization is None
    assert "no time left" in targets.problems[0] and "only the listed accounts" in targets.problems[0]


def test_the_partition_follows_the_functions_arn() -> None:
    settings = load_settings({"SPOKE_ACCOUNTS": "111111111111"})
    partition = accounts.partition_of("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:x")
    (_, spoke) = accounts.resolve(settings, "123456789012", partition=partition)
    assert spoke.role_arn == "arn:aws-us-gov:iam::111111111111:role/eksguard-spoke"


@pytest.mark.parametrize(
    ("home", "account", "key"),
    [
        ("123456789012", "123456789012", "prod"),  # the home account keeps its existing records
        ("123456789012", None, "prod"),
        ("123456789012", "111111111111", "111111111111:prod"),
        (None, "111111111111", "prod"),  # no home known: a single-account function
    ],
)
def test_state_keys_keep_accounts_apart(home: str | None, account: str | None, key: str) -> None:
    accounts.set_home(home)
    try:
        assert accounts.cluster_key("prod", account) == key
    finally:
        accounts.set_home(None)


def test_an_event_from_another_account_goes_through_that_accounts_role() -> None:
    single = load_settings({})
    assert accounts.for_account(single, "123456789012", "111111111111").role_arn is None
    hub = load_settings({"ORGANIZATION_ID": "o-abcd1234ef"})
    assert accounts.for_account(hub, "123456789012", "123456789012").role_arn is None
    assert (
        accounts.for_account(hub, "123456789012", "111111111111").role_arn
        == "arn:aws:iam::111111111111:role/eksguard-spoke"
    )
