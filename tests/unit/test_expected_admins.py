"""Expected-admin patterns and the per-cluster rule for kubectl instance roles (no AWS here)."""

from __future__ import annotations

import pytest

from eksguard.config import Settings
from eksguard.expected_admins import AdminPattern, ExpectedAdmins, cluster_of_instance, parse_pattern

ACCOUNT = "111122223333"


@pytest.mark.parametrize(
    ("item", "pattern"),
    [
        (f"arn:aws:iam::{ACCOUNT}:role/Admin", AdminPattern(f"arn:aws:iam::{ACCOUNT}:role/Admin")),
        (f" prod = arn:aws:iam::{ACCOUNT}:role/Admin ", AdminPattern(f"arn:aws:iam::{ACCOUNT}:role/Admin", "prod")),
        (f"dev-*=arn:aws:iam::{ACCOUNT}:role/*", AdminPattern(f"arn:aws:iam::{ACCOUNT}:role/*", "dev-*")),
        # A role name may contain "=": an item starting with arn: is always a plain glob.
        (f"arn:aws:iam::{ACCOUNT}:role/team=platform", AdminPattern(f"arn:aws:iam::{ACCOUNT}:role/team=platform")),
        # Paths are dropped, like on the principals compared against.
        (
            f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*",
            AdminPattern(f"arn:aws:iam::{ACCOUNT}:role/AWSReservedSSO_Admin_*"),
        ),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/Ops/alice", AdminPattern(f"arn:aws:iam::{ACCOUNT}:role/Ops")),
        ("arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2FAdmin", AdminPattern(f"arn:aws:iam::{ACCOUNT}:role/Admin")),
        ("*", AdminPattern("*")),
    ],
)
def test_parse_pattern(item: str, pattern: AdminPattern) -> None:
    assert parse_pattern(item) == pattern


@pytest.mark.parametrize("item", ["", "  ", "prod=", f"arn:aws:iam::{ACCOUNT}:role/team/*"])
def test_unusable_patterns_are_ignored(item: str) -> None:
    assert parse_pattern(item) is None


def test_global_and_cluster_scoped_patterns() -> None:
    admins = ExpectedAdmins([f"arn:aws:iam::{ACCOUNT}:role/Platform*", f"prod=arn:aws:iam::{ACCOUNT}:user/oncall"])
    assert admins.is_expected("prod", f"arn:aws:iam::{ACCOUNT}:role/PlatformAdmin")
    assert admins.is_expected("dev", f"arn:aws:sts::{ACCOUNT}:assumed-role/PlatformAdmin/bob")
    assert admins.is_expected("prod", f"arn:aws:iam::{ACCOUNT}:user/oncall")
    assert not admins.is_expected("dev", f"arn:aws:iam::{ACCOUNT}:user/oncall")
    assert not admins.is_expected(None, f"arn:aws:iam::{ACCOUNT}:user/oncall")
    assert not admins.is_expected("prod", f"arn:aws:iam::{ACCOUNT}:role/platformadmin")  # case-sensitive
    assert not admins.is_expected("prod", "arn:aws:iam::444455556666:role/PlatformAdmin")
    assert not admins.is_expected("prod", None)


def test_instance_roles_count_only_for_their_own_cluster() -> None:
    asked: list[str] = []

    def roles(cluster: str) -> set[str]:
        asked.append(cluster)
        return {"dev": {f"arn:aws:iam::{ACCOUNT}:role/kubectl-dev"}}.get(cluster, set())

    admins = ExpectedAdmins([f"arn:aws:iam::{ACCOUNT}:role/Platform"], instance_roles=roles)
    assert admins.check("dev", f"arn:aws:sts::{ACCOUNT}:assumed-role/kubectl-dev/i-0abc").expected
    assert not admins.is_expected("prod", f"arn:aws:iam::{ACCOUNT}:role/kubectl-dev")
    assert not admins.is_expected(None, f"arn:aws:iam::{ACCOUNT}:role/kubectl-dev")
    assert asked == ["dev", "prod"]
    # A pattern match answers without the (AWS-backed) lookup.
    assert admins.is_expected("prod", f"arn:aws:iam::{ACCOUNT}:role/Platform")
    assert asked == ["dev", "prod"]


def test_failed_lookup_means_not_expected_with_the_error() -> None:
    def broken(cluster: str) -> set[str]:
        raise PermissionError("AccessDenied")

    match = ExpectedAdmins([], instance_roles=broken).check("dev", f"arn:aws:iam::{ACCOUNT}:role/kubectl-dev")
    assert not match.expected
    assert match.lookup_error == "PermissionError: AccessDenied"


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
