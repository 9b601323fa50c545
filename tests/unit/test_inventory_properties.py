"""Property: any admin-equivalent grant to a principal, through any door, makes that principal appear
among the effective admins (with that door), whatever its name, path, group or user name."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eksguard.arns import principal_arn
from eksguard.inventory.admins import effective_admins
from eksguard.inventory.model import AccessEntry, AccessPolicy
from tests.kube_world import (
    ACCOUNT,
    aws_auth,
    binding,
    cluster_admin_entry,
    cluster_binding,
    cluster_role,
    group,
    masters_mapping,
    rule,
    snapshot,
    user,
    with_objects,
)

NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20)
PATH = st.sampled_from(["", "team/", "a/b/"])
KIND = st.sampled_from(["role", "user"])
KUBE_NAME = NAME.filter(lambda n: not n.startswith(("system", "eks"))).map(lambda n: f"n-{n}")
ADMIN_RULES = st.sampled_from(
    [
        [rule(["*"], ["*"], ["*"])],
        [rule(["*"], ["*"])],
        [rule(["escalate"], ["clusterroles"], ["rbac.authorization.k8s.io"])],
        [rule(["bind"], ["clusterroles"], ["rbac.authorization.k8s.io"], resourceNames=["cluster-admin"])],
        [rule(["impersonate"], ["groups"])],
        [rule(["create"], ["serviceaccounts/token"])],
    ]
)
DOORS = [
    "masters",
    "cluster-admin-policy",
    "admin-policy",
    "edit-kube-system",
    "entry-group",
    "aws-auth-user",
    "kube-system-rolebinding",
    "aggregated",
]


def grant(door: str, arn: str, kube_name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    entry = AccessEntry
    if door == "masters":
        return (
            {"config": aws_auth(masters_mapping(arn))}
            if ":role/" in arn
            else {
                "config": {**aws_auth(), "mapUsers": f"- userarn: {arn}\n  username: u\n  groups: [system:masters]\n"}
            }
        )
    if door == "cluster-admin-policy":
        return {"entries": (cluster_admin_entry(arn),)}
    if door == "admin-policy":
        return {"entries": (entry(arn, policies=(AccessPolicy("AmazonEKSAdminPolicy", "cluster"),)),)}
    if door == "edit-kube-system":
        scope = AccessPolicy("AmazonEKSEditPolicy", "namespace", ("default", "kube-system"))
        return {"entries": (entry(arn, policies=(scope,)),)}
    powerful = cluster_role(f"r-{kube_name}", rules)
    if door == "entry-group":
        objects = with_objects(
            clusterroles=[powerful],
            clusterrolebindings=[cluster_binding(kube_name, f"r-{kube_name}", [group(kube_name)])],
        )
        return {"entries": (entry(arn, groups=(kube_name,)),), "objects": objects}
    if door == "aws-auth-user":
        objects = with_objects(
            clusterroles=[powerful],
            clusterrolebindings=[cluster_binding(kube_name, f"r-{kube_name}", [user(kube_name)])],
        )
        key = "rolearn" if ":role/" in arn else "userarn"
        mapping = f"- {key}: {arn}\n  username: {kube_name}\n"
        config = aws_auth(mapping) if key == "rolearn" else {**aws_auth(), "mapUsers": mapping}
        return {"config": config, "objects": objects}
    if door == "kube-system-rolebinding":
        objects = with_objects(rolebindings=[binding("kube-system", kube_name, "cluster-admin", [group(kube_name)])])
        return {"entries": (entry(arn, groups=(kube_name,)),), "objects": objects}
    # aggregated: a labelled role makes the built-in `view` admin-equivalent, and `view` is bound
    labelled = cluster_role(f"r-{kube_name}", rules, {"rbac.authorization.k8s.io/aggregate-to-view": "true"})
    objects = with_objects(
        clusterroles=[labelled], clusterrolebindings=[cluster_binding(kube_name, "view", [group(kube_name)])]
    )
    return {"entries": (entry(arn, groups=(kube_name,)),), "objects": objects}


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(DOORS),
    KIND,
    PATH,
    NAME,
    KUBE_NAME,
    ADMIN_RULES,
    st.sampled_from(["API_AND_CONFIG_MAP", None, "API", "CONFIG_MAP"]),
)
def test_any_grant_through_any_door_appears(
    door: str, kind: str, path: str, name: str, kube_name: str, rules: list[dict[str, Any]], mode: str | None
) -> None:
    if door in ("masters", "aws-auth-user") and kind == "role":
        path = ""  # a role ARN with a path in aws-auth never matches (the authenticator strips it from callers)
    arn = f"arn:aws:iam::{ACCOUNT}:{kind}/{path}{name}"
    kwargs = grant(door, arn, kube_name, rules)
    through_aws_auth = door in ("masters", "aws-auth-user")
    if through_aws_auth and mode == "API" or not through_aws_auth and mode in (None, "CONFIG_MAP"):
        mode = "API_AND_CONFIG_MAP"  # the door exists only in modes that read it (tested elsewhere)
    if door in ("masters", "aws-auth-user"):
        kwargs.setdefault("entries", ())
    report = effective_admins(snapshot(mode=mode, **kwargs))
    found = report.by_principal()
    canonical = principal_arn(arn)
    assert canonical in found, (door, arn, list(found))
