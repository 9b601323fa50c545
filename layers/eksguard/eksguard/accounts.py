"""Which accounts the hub acts in, and what to call them.

A single-account deployment has one target: its own account, with the function's own
credentials. A hub (SPOKE_ACCOUNTS set) adds each spoke account, reached through the role the
spoke template creates (`arn:<partition>:iam::<account>:role/<SPOKE_ROLE_NAME>`), either listed
explicitly or, with the word ORGANIZATION, every ACTIVE account that organizations:ListAccounts
returns. Every loop over targets treats each account on its own: an account whose role cannot be
assumed is reported and the others go on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from eksguard import arns, aws
from eksguard.config import Settings

logger = Logger(child=True)

# organizations:ListAccounts returns at most 20 per page; an organisation of 2,000 accounts is 100 pages.
MAX_ORGANIZATION_PAGES = 200


@dataclass(frozen=True)
class Target:
    account: str
    role_arn: str | None  # None: the function's own account and credentials
    name: str | None = None

    @property
    def label(self) -> str:
        return f"{self.account} ({self.name})" if self.name else self.account

    def scope(self) -> AbstractContextManager[None]:
        return aws.in_account(self.account, self.role_arn)


@dataclass(frozen=True)
class Targets:
    targets: tuple[Target, ...]
    # what kept the list from being complete (the organisation could not be listed): reported, never silent
    problems: tuple[str, ...] = ()
    # every ACTIVE account of the organisation, when it could be read (for the coverage report)
    organization: tuple[str, ...] | None = None
    names: dict[str, str] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Target]:
        return iter(self.targets)

    @property
    def multi_account(self) -> bool:
        return len(self.targets) > 1 or any(t.role_arn for t in self.targets)


def role_arn(partition: str, account: str, role_name: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{role_name}"


def partition_of(function_arn: str | None) -> str:
    arn = arns.parse_arn(function_arn)
    return arn.partition if arn else "aws"


class ListingCutShort(RuntimeError):
    """The organisation's listing stopped before its end: no time left for another page."""


def list_organization(
    organizations: Any, may_call: Callable[[], bool] | None = None
) -> tuple[tuple[str, ...], dict[str, str]]:
    """ACTIVE accounts of the organisation and their names (raises ClientError/BotoCoreError, or
    ListingCutShort when `may_call` says no time is left for the next page)."""
    accounts: list[str] = []
    names: dict[str, str] = {}
    token: str | None = None
    for _ in range(MAX_ORGANIZATION_PAGES):
        if may_call is not None and not may_call():
            raise ListingCutShort(f"the listing stopped after {len(accounts)} accounts: no time left for another page")
        page = organizations.list_accounts(**({"NextToken": token} if token else {}))
        for account in page.get("Accounts") or []:
            account_id = str(account.get("Id") or "")
            state = str(account.get("State") or account.get("Status") or "").upper()
            if not account_id or state != "ACTIVE":
                continue
            accounts.append(account_id)
            if account.get("Name"):
                names[account_id] = str(account["Name"])
        token = page.get("NextToken")
        if not token:
            break
    else:
        raise RuntimeError(f"organizations:ListAccounts returned more than {MAX_ORGANIZATION_PAGES} pages")
    return tuple(accounts), names


def resolve(
    settings: Settings,
    home_account: str | None,
    *,
    partition: str = "aws",
    organizations: Callable[[], Any] | None = None,
    may_call: Callable[[], bool] | None = None,
) -> Targets:
    """The home account first, then every spoke account (listed, or the organisation's). `may_call`
    guards each page of the organisation's listing (a run's time left)."""
    names = dict(settings.account_names)
    problems: list[str] = []
    organization: tuple[str, ...] | None = None
    wanted = list(settings.spoke_accounts)
    if settings.spoke_whole_organization:
        try:
            client = organizations() if organizations else aws.client("organizations", settings.region)
            organization, org_names = list_organization(client, may_call)
            wanted += [a for a in organization if a not in wanted]
            names = {**org_names, **names}  # a configured name wins over the organisation's
        except (ClientError, BotoCoreError, RuntimeError) as exc:
            why = aws.describe_error(exc)
            problem = f"cannot list the organisation's accounts ({why}): only the listed accounts were covered"
            problems.append(problem)
            logger.error("organization_unreadable", extra={"error": problem})
    targets: list[Target] = []
    if home_account:
        targets.append(Target(home_account, None, names.get(home_account)))
    for account in wanted:
        if account == home_account or any(t.account == account for t in targets):
            continue
        targets.append(Target(account, role_arn(partition, account, settings.spoke_role_name), names.get(account)))
    return Targets(tuple(targets), tuple(problems), organization, names)


def for_account(settings: Settings, home_account: str | None, account: str | None, partition: str = "aws") -> Target:
    """The target for the account an event came from: the function's own credentials for the home
    account (and in a single-account deployment), the spoke role otherwise. An event from an account
    that grants no role is still judged: its lookups fail and the alert says so, instead of answering
    with the hub's own instances and roles."""
    names = settings.account_names
    if not account or account == home_account or not settings.multi_account:
        own = home_account or account or ""
        return Target(own, None, names.get(own))
    return Target(account, role_arn(partition, account, settings.spoke_role_name), names.get(account))


_home: str | None = None


def set_home(account: str | None) -> None:
    """The account the function runs in (from its ARN): its clusters keep their plain state keys."""
    global _home
    _home = account or None


def home() -> str | None:
    return _home


def cluster_key(cluster: str, account: str | None) -> str:
    """The key of a cluster's state records (aws-auth, RBAC, access entries, inventory).

    Cluster names are unique per account and region only: a hub that judges several accounts must
    keep `prod` of one account apart from `prod` of another, or an account could write the baseline
    another account's alerts are judged against. The home account's clusters keep the plain name,
    so a single-account deployment reads the records it already has. EKS cluster names cannot
    contain ':', so a qualified key never equals a plain one."""
    if not account or not _home or account == _home:
        return cluster
    return f"{account}:{cluster}"


_alias_lock = threading.Lock()
_aliases: dict[str, str | None] = {}


def alias_in_scope(account: str, region: str) -> str | None:
    """The IAM account alias, read once per process through the current scope; None when unknown."""
    with _alias_lock:
        if account in _aliases:
            return _aliases[account]
    alias: str | None = None
    try:
        page = aws.lookup_client("iam", region).list_account_aliases()
        found = page.get("AccountAliases") or []
        alias = str(found[0]) if found else None
    except (ClientError, BotoCoreError, aws.AccountUnreachable) as exc:
        logger.info("account_alias_unknown", extra={"account": account, "error": aws.describe_error(exc)})
        return None
    with _alias_lock:
        _aliases[account] = alias
    return alias


def named(target: Target, region: str) -> Target:
    """The target with a name: the configured or organisation name, else the IAM alias."""
    if target.name:
        return target
    with target.scope():
        alias = alias_in_scope(target.account, region)
    return Target(target.account, target.role_arn, alias) if alias else target


def configured_name(settings: Settings, account: str | None) -> str:
    """The ACCOUNT_NAMES name of an account, "" when none is configured (no call is made)."""
    return settings.account_names.get(account or "", "")


def reset_caches() -> None:
    with _alias_lock:
        _aliases.clear()
