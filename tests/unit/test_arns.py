"""ARN parsing and canonical principal forms (the comparisons behind expected admins)."""

from __future__ import annotations

import pytest

from eksguard import arns

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/intruder"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (ROLE, ROLE),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Ops/alice", f"arn:aws:iam::{ACCOUNT}:role/Ops"),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Ops", f"arn:aws:iam::{ACCOUNT}:role/Ops"),
        (
            f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123abcd",
            f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_Admin_0123abcd",
        ),
        (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Admin_0123abcd/bob@example.com",
            f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_Admin_0123abcd",
        ),
        (f"arn:aws:iam::{ACCOUNT}:user/division/ops-bob", f"arn:aws:iam::{ACCOUNT}:user/ops-bob"),
        ("arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fintruder", ROLE),
        ("arn%253Aaws%253Aiam%253A%253A111122223333%253Arole%252Fintruder", ROLE),  # encoded twice
        (f"  {ROLE}\n", ROLE),
        (f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{ACCOUNT}:root"),
        ("arn:aws-us-gov:iam::111122223333:role/gov", "arn:aws-us-gov:iam::111122223333:role/gov"),
        ("arn:aws-cn:sts::111122223333:assumed-role/cn/s", "arn:aws-cn:iam::111122223333:role/cn"),
        ("kubernetes-admin", "kubernetes-admin"),
        ("", None),
        (None, None),
    ],
)
def test_principal_arn_canonical_form(value: str | None, expected: str | None) -> None:
    assert arns.principal_arn(value) == expected


def test_parse_arn_reads_every_part() -> None:
    arn = arns.parse_arn("arn:aws:eks:eu-west-1:111122223333:cluster/prod")
    assert arn is not None
    assert (arn.partition, arn.service, arn.region, arn.account, arn.resource) == (
        "aws",
        "eks",
        "eu-west-1",
        ACCOUNT,
        "cluster/prod",
    )
    assert arn.resource_type == "cluster"
    assert str(arn) == "arn:aws:eks:eu-west-1:111122223333:cluster/prod"


def test_parse_arn_accepts_aws_owned_policy_arns() -> None:
    arn = arns.parse_arn("arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy")
    assert arn is not None and arn.account == "aws" and arn.resource_type == "cluster-access-policy"


def test_parse_arn_decodes_path_parameters() -> None:
    arn = arns.parse_arn("arn%3Aaws%3Aeks%3A%3Aaws%3Acluster-access-policy%2FAmazonEKSViewPolicy")
    assert arn is not None and arn.resource == "cluster-access-policy/AmazonEKSViewPolicy"


@pytest.mark.parametrize("value", [None, "", "not-an-arn", "arn:aws", "arn:aws:iam::12345:role/short-account", 42])
def test_parse_arn_rejects_non_arns(value: object) -> None:
    assert arns.parse_arn(value) is None  # type: ignore[arg-type]


def test_account_of() -> None:
    assert arns.account_of("arn%3Aaws%3Aiam%3A%3A444455556666%3Arole%2Fpartner") == "444455556666"
    assert arns.account_of("arn:aws:s3:::bucket") is None
    assert arns.account_of("nobody") is None


@pytest.mark.parametrize(
    ("value", "session"),
    [
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Ops/alice", "alice"),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/kubectl-dev/i-0123456789abcdef0", "i-0123456789abcdef0"),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Ops", None),
        (f"arn:aws:iam::{ACCOUNT}:user/alice", None),
        (None, None),
    ],
)
def test_session_name_of(value: str | None, session: str | None) -> None:
    assert arns.session_name_of(value) == session


@pytest.mark.parametrize(
    ("value", "has_path"),
    [
        (f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_1", True),
        (f"arn:aws:iam::{ACCOUNT}:user/division/bob", True),
        (f"arn:aws:iam::{ACCOUNT}:role/plain", False),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Ops/alice", False),
        ("arn:aws:eks:eu-west-1:111122223333:cluster/prod", False),
        (None, False),
    ],
)
def test_has_iam_path(value: str | None, has_path: bool) -> None:
    assert arns.has_iam_path(value) is has_path


@pytest.mark.parametrize(
    ("value", "short"),
    [
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Ops/alice", "role/Ops"),
        (f"arn:aws:iam::{ACCOUNT}:user/division/bob", "user/bob"),
        (f"arn:aws:iam::{ACCOUNT}:root", "root"),
        ("arn:aws:eks:eu-west-1:111122223333:cluster/prod", "arn:aws:eks:eu-west-1:111122223333:cluster/prod"),
        ("system:node:ip-10-0-0-1", "system:node:ip-10-0-0-1"),
        (None, "unknown"),
    ],
)
def test_short_name(value: str | None, short: str) -> None:
    assert arns.short_name(value) == short


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("arn:aws:iam::111122223333:role/Admin", ("role", "Admin", None)),  # no path in the spelling: unknown
        ("arn:aws:iam::111122223333:role/team/x/Admin", ("role", "Admin", "/team/x/")),
        ("arn:aws:iam::111122223333:user/ops/bob", ("user", "bob", "/ops/")),
        ("arn:aws:sts::111122223333:assumed-role/Admin/alice", ("role", "Admin", None)),
        ("arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fteam%2FAdmin", ("role", "Admin", "/team/")),
    ],
)
def test_iam_principal_keeps_the_path_when_spelled(value: str, expected: tuple[str, str, str | None]) -> None:
    from eksguard.arns import iam_principal

    principal = iam_principal(value)
    assert principal is not None and (principal.kind, principal.name, principal.path) == expected
    assert principal.account == "111122223333"


@pytest.mark.parametrize(
    "value", [None, "", "admin", "arn:aws:iam::111122223333:group/ops", "arn:aws:iam::aws:policy/Admin"]
)
def test_iam_principal_is_only_roles_and_users(value: str | None) -> None:
    from eksguard.arns import iam_principal

    assert iam_principal(value) is None
