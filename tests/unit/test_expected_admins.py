"""Expected-admin patterns as IAM matches names, paths and cases; kubectl roles trusted only when configured."""

from __future__ import annotations

import pytest

from eksguard import arns
from eksguard.config import Settings
from eksguard.expected_admins import AdminPattern, ExpectedAdmins, parse_pattern
from eksguard.kubectl_hosts import KubectlInstance, KubectlInventory, cluster_of_instance

ACCOUNT = "111122223333"
SSO_PATH = "/aws-reserved/sso.amazonaws.com/"
SSO_ADMINS = f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*"


def role(name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{ACCOUNT}:role{path}{name}"


@pytest.mark.parametrize(
    ("item", "cluster", "iam"),
    [
        (role("Admin"), None, ("aws", ACCOUNT, "role", None, "Admin")),
        (f" prod = {role('Admin')} ", "prod", ("aws", ACCOUNT, "role", None, "Admin")),
        (f"dev-*={role('*')}", "dev-*", ("aws", ACCOUNT, "role", None, "*")),
        # A role name may contain "=": an item starting with arn: is always a plain glob.
        (role("team=platform"), None, ("aws", ACCOUNT, "role", None, "team=platform")),
        # The path is kept: it is part of the identity.
        (SSO_ADMINS, None, ("aws", ACCOUNT, "role", SSO_PATH, "AWSReservedSSO_Admin_*")),
        (role("*", "/team/"), None, ("aws", ACCOUNT, "role", "/team/", "*")),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Ops/alice", None, ("aws", ACCOUNT, "role", None, "Ops")),
        ("arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2FAdmin", None, ("aws", ACCOUNT, "role", None, "Admin")),
        ("*", None, None),
    ],
)
def test_parse_pattern(item: str, cluster: str | None, iam: tuple[str, ...] | None) -> None:
    pattern = parse_pattern(item)
    assert pattern is not None
    assert (pattern.cluster, pattern.iam) == (cluster, iam)


@pytest.mark.parametrize("item", ["", "  ", "prod="])
def test_unusable_patterns_are_ignored(item: str) -> None:
    assert parse_pattern(item) is None


def paths(table: dict[str, str]) -> tuple[list[str], object]:
    """A path lookup answering from `table` (name -> path) and recording what it was asked."""
    asked: list[str] = []

    def path_of(principal: arns.IamPrincipal) -> str | None:
        asked.append(principal.name)
        return table.get(principal.name.lower())

    return asked, path_of


def test_a_path_glob_trusts_only_that_path() -> None:
    asked, path_of = paths({"awsreservedsso_admin_pwn": "/team/", "awsreservedsso_admin_abc": SSO_PATH})
    admins = ExpectedAdmins([SSO_ADMINS], path_of=path_of)  # type: ignore[arg-type]
    assert admins.is_expected("prod", role("AWSReservedSSO_Admin_abc", SSO_PATH))
    assert not admins.is_expected("prod", role("AWSReservedSSO_Admin_pwn", "/team/"))
    assert asked == []  # the spelling carried the path
    # Session ARNs and aws-auth role ARNs carry no path: IAM is asked, by name.
    assert admins.is_expected("prod", f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Admin_abc/alice")
    assert not admins.is_expected("prod", role("AWSReservedSSO_Admin_pwn"))
    assert asked == ["AWSReservedSSO_Admin_abc", "AWSReservedSSO_Admin_pwn"]


def test_a_glob_name_without_path_means_the_root_path() -> None:
    _, path_of = paths({"platformadmin": "/", "platformpwn": "/team/"})
    admins = ExpectedAdmins([role("Platform*")], path_of=path_of)  # type: ignore[arg-type]
    assert admins.is_expected("prod", role("PlatformAdmin"))
    assert not admins.is_expected("prod", role("PlatformPwn"))
    assert not admins.is_expected("prod", role("PlatformPwn", "/team/"))


def test_a_literal_name_without_path_is_that_one_role_wherever_it_lives() -> None:
    asked, path_of = paths({})
    admins = ExpectedAdmins([role("Admin")], path_of=path_of)  # type: ignore[arg-type]
    assert admins.is_expected("prod", role("Admin", "/ops/"))
    assert admins.is_expected("prod", f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/bob")
    assert asked == []


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        (role("admin"), True),  # IAM names are unique case-insensitively: the same role
        (role("ADMIN"), True),
        ("arn:aws:iam::444455556666:role/Admin", False),  # another account
        (f"arn:aws-cn:iam::{ACCOUNT}:role/Admin", False),  # another partition
        (f"arn:aws:iam::{ACCOUNT}:user/Admin", False),  # a user, not the role
        (None, False),
    ],
)
def test_names_compare_as_iam_compares_them(principal: str | None, expected: bool) -> None:
    assert ExpectedAdmins([role("Admin")]).is_expected("prod", principal) is expected


def test_a_path_that_cannot_be_read_is_not_trusted_and_says_why() -> None:
    def broken(principal: arns.IamPrincipal) -> str | None:
        raise PermissionError("AccessDenied on iam:GetRole")

    match = ExpectedAdmins([SSO_ADMINS], path_of=broken).check("prod", role("AWSReservedSSO_Admin_abc"))
    assert not match.expected
    assert match.lookup_error == "PermissionError: AccessDenied on iam:GetRole"
    # Without any lookup the unknown path is not guessed either.
    assert not ExpectedAdmins([SSO_ADMINS]).is_expected("prod", role("AWSReservedSSO_Admin_abc"))


def test_global_and_cluster_scoped_patterns() -> None:
    admins = ExpectedAdmins([role("PlatformAdmin"), f"prod=arn:aws:iam::{ACCOUNT}:user/oncall"])
    assert admins.is_expected("prod", role("PlatformAdmin"))
    assert admins.is_expected("dev", f"arn:aws:sts::{ACCOUNT}:assumed-role/PlatformAdmin/bob")
    assert admins.is_expected("prod", f"arn:aws:iam::{ACCOUNT}:user/oncall")
    assert not admins.is_expected("dev", f"arn:aws:iam::{ACCOUNT}:user/oncall")
    assert not admins.is_expected(None, f"arn:aws:iam::{ACCOUNT}:user/oncall")


def host(instance_id: str, cluster: str | None, *roles: str) -> KubectlInstance:
    return KubectlInstance(instance_id, "eu-west-1", cluster, {"kubectl-instance": cluster or "true"}, "p", roles)


INVENTORY = KubectlInventory(
    (
        host("i-dev", "dev", role("kubectl-dev")),
        host("i-prod", "prod", role("kubectl-prod", "/admins/")),
        host("i-forged", "prod", role("intruder")),  # someone tagged their own instance
    )
)


def kubectl_admins(*patterns: str) -> ExpectedAdmins:
    return ExpectedAdmins([role("Platform")], list(patterns), inventory=lambda: INVENTORY)


def test_a_kubectl_tag_alone_trusts_nobody() -> None:
    match = kubectl_admins().check("dev", f"arn:aws:sts::{ACCOUNT}:assumed-role/kubectl-dev/i-dev")
    assert not match.expected
    assert match.unconfigured_kubectl_role
    assert "tagged as kubectl instance of dev (i-dev) that is not a configured kubectl role" in match.reason


def test_a_configured_kubectl_role_is_expected_on_its_own_cluster_only() -> None:
    admins = kubectl_admins(role("kubectl-*"), role("kubectl-*", "/admins/"))
    assert admins.check("dev", f"arn:aws:sts::{ACCOUNT}:assumed-role/kubectl-dev/i-dev").expected
    assert admins.is_expected("prod", role("kubectl-prod"))  # the instance's role carries the path
    other = admins.check("prod", role("kubectl-dev"))
    assert not other.expected and not other.unconfigured_kubectl_role
    assert "kubectl instance of dev, not of prod" in other.reason
    forged = admins.check("prod", role("intruder"))
    assert not forged.expected and forged.unconfigured_kubectl_role
    assert not admins.is_expected(None, role("kubectl-dev"))


def test_failed_inventory_means_not_expected_with_the_error() -> None:
    def broken() -> KubectlInventory:
        raise PermissionError("AccessDenied")

    match = ExpectedAdmins([], inventory=broken).check("dev", role("kubectl-dev"))
    assert not match.expected
    assert match.lookup_error == "PermissionError: AccessDenied"


def test_a_pattern_match_answers_without_the_inventory() -> None:
    def boom() -> KubectlInventory:
        raise AssertionError("inventory consulted")

    assert ExpectedAdmins([role("Platform")], inventory=boom).is_expected("prod", role("Platform"))


SETTINGS = Settings(stop_tag_key="kubectl-instance", stop_tag_value="*", cluster_tag_key="eks-cluster")


@pytest.mark.parametrize(
    ("tags", "cluster"),
    [
        ({"kubectl-instance": "true", "eks-cluster": "prod"}, "prod"),
        ({"kubectl-instance": "dev", "eks-cluster": "prod"}, "prod"),
        ({"kubectl-instance": "dev"}, "dev"),
        ({"kubectl-instance": "true"}, None),
        ({"kubectl-instance": "Yes"}, None),
        ({"kubectl-instance": ""}, None),
        ({"kubectl-instance": "*"}, None),
        ({"kubectl-instance": "dev-?"}, None),
        ({"kubectl-instance": "x", "eks-cluster": "  "}, "x"),
    ],
)
def test_cluster_of_instance(tags: dict[str, str], cluster: str | None) -> None:
    assert cluster_of_instance(tags, SETTINGS) == cluster


def test_pattern_repr_keeps_the_cluster() -> None:
    assert str(AdminPattern(role("Admin"), "prod")) == f"prod={role('Admin')}"
