"""Effective cluster admins, door by door, on a faithful baseline cluster (tests/kube_world.py)."""

from __future__ import annotations

import pytest

from eksguard.inventory.admins import CREATOR, effective_admins
from eksguard.inventory.model import AccessEntry, AccessPolicy, IdentityProvider, PodIdentity
from tests.kube_world import (
    ACCOUNT,
    INTRUDER,
    KUBECTL_ROLE,
    NODE_ROLE,
    aws_auth,
    binding,
    cluster_admin_entry,
    cluster_binding,
    cluster_role,
    group,
    masters_mapping,
    role,
    rule,
    service_account,
    snapshot,
    user,
    with_objects,
)

SA_ARGO = "system:serviceaccount:argocd:argocd-application-controller"


def admins_of(snap: object) -> dict[str, list[str]]:
    report = effective_admins(snap)  # type: ignore[arg-type]
    return {a.principal: [d.kind for d in a.doors] for a in report.admins}


def test_baseline_has_only_the_kubectl_role() -> None:
    report = effective_admins(snapshot())
    assert {a.principal: a.door_kinds for a in report.admins} == {KUBECTL_ROLE: ("access-policy",)}
    # the control plane's own identities are seen but never reported as admins
    assert any("system:kube-controller-manager" in p for p in report.platform)
    assert any("clusterrole-aggregation-controller" in p for p in report.platform)
    assert report.latent == ()


@pytest.mark.parametrize(
    ("case", "kwargs", "principal", "door"),
    [
        ("aws-auth system:masters", {"config": aws_auth(masters_mapping(INTRUDER))}, INTRUDER, "aws-auth"),
        (
            "aws-auth masters through a session-name template",
            {
                "config": aws_auth(
                    f"- rolearn: {INTRUDER}\n  username: x\n  groups:\n    - 'system:{{{{SessionName}}}}'\n"
                )
            },
            INTRUDER,
            "aws-auth",
        ),
        (
            "access entry + ClusterAdmin",
            {"entries": (cluster_admin_entry(INTRUDER),)},
            INTRUDER,
            "access-policy",
        ),
        (
            "access entry + Admin at cluster scope",
            {"entries": (AccessEntry(INTRUDER, policies=(AccessPolicy("AmazonEKSAdminPolicy", "cluster"),)),)},
            INTRUDER,
            "access-policy",
        ),
        (
            "access entry + Edit on kube-* namespaces",
            {
                "entries": (
                    AccessEntry(INTRUDER, policies=(AccessPolicy("AmazonEKSEditPolicy", "namespace", ("kube-*",)),)),
                )
            },
            INTRUDER,
            "access-policy",
        ),
        (
            "RBAC: access entry group bound to cluster-admin",
            {
                "entries": (AccessEntry(INTRUDER, groups=("ops",)),),
                "objects": with_objects(clusterrolebindings=[cluster_binding("ops", "cluster-admin", [group("ops")])]),
            },
            INTRUDER,
            "rbac",
        ),
        (
            "RBAC: aws-auth user name bound to cluster-admin",
            {
                "config": aws_auth(f"- rolearn: {INTRUDER}\n  username: alice\n"),
                "objects": with_objects(clusterrolebindings=[cluster_binding("a", "cluster-admin", [user("alice")])]),
            },
            INTRUDER,
            "rbac",
        ),
        (
            "RBAC: access entry default user name (assumed-role template)",
            {
                "entries": (
                    AccessEntry(INTRUDER, username=f"arn:aws:sts::{ACCOUNT}:assumed-role/intruder/{{{{SessionName}}}}"),
                ),
                "objects": with_objects(
                    clusterrolebindings=[
                        cluster_binding(
                            "s",
                            "cluster-admin",
                            [user(f"arn:aws:sts::{ACCOUNT}:assumed-role/intruder/{{{{SessionName}}}}")],
                        )
                    ]
                ),
            },
            INTRUDER,
            "rbac",
        ),
        (
            "RBAC: a role that became admin through aggregation",
            {
                "entries": (AccessEntry(INTRUDER, groups=("viewers",)),),
                "objects": with_objects(
                    clusterroles=[
                        cluster_role(
                            "sneaky",
                            [rule(["*"], ["*"], ["*"])],
                            {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
                        )
                    ],
                    clusterrolebindings=[cluster_binding("viewers", "view", [group("viewers")])],
                ),
            },
            INTRUDER,
            "rbac",
        ),
        (
            "RBAC: cluster-admin bound in kube-system by a RoleBinding",
            {
                "entries": (AccessEntry(INTRUDER, groups=("ks",)),),
                "objects": with_objects(rolebindings=[binding("kube-system", "ks", "cluster-admin", [group("ks")])]),
            },
            INTRUDER,
            "rbac",
        ),
        (
            "RBAC: a service account bound to cluster-admin",
            {
                "objects": with_objects(
                    clusterrolebindings=[
                        cluster_binding(
                            "argo", "cluster-admin", [service_account("argocd", "argocd-application-controller")]
                        )
                    ]
                )
            },
            SA_ARGO,
            "rbac",
        ),
        (
            "RBAC: a fake bootstrap controller binding with its own powerful role",
            {
                "objects": with_objects(
                    clusterroles=[cluster_role("system:controller:backdoor", [rule(["*"], ["*"], ["*"])])],
                    clusterrolebindings=[
                        cluster_binding(
                            "system:controller:backdoor",
                            "system:controller:backdoor",
                            [service_account("kube-system", "backdoor")],
                        )
                    ],
                )
            },
            "system:serviceaccount:kube-system:backdoor",
            "rbac",
        ),
        (
            "RBAC: a real bootstrap controller role rewritten with wildcard rules",
            {
                "objects": {
                    **with_objects(),
                    "clusterroles": [
                        o
                        for o in with_objects()["clusterroles"]
                        if o["metadata"]["name"] != "system:controller:deployment-controller"
                    ]
                    + [cluster_role("system:controller:deployment-controller", [rule(["*"], ["*"], ["*"])])],
                }
            },
            "system:serviceaccount:kube-system:deployment-controller",
            "rbac",
        ),
        (
            "RBAC: system:authenticated bound to cluster-admin",
            {
                "objects": with_objects(
                    clusterrolebindings=[cluster_binding("all", "cluster-admin", [group("system:authenticated")])]
                )
            },
            "group system:authenticated (every authenticated identity)",
            "rbac",
        ),
        (
            "RBAC: node group bound to an admin role makes the node role admin",
            {
                "objects": with_objects(
                    clusterrolebindings=[cluster_binding("n", "cluster-admin", [group("system:nodes")])]
                )
            },
            NODE_ROLE,
            "rbac",
        ),
        (
            "identity provider group bound to cluster-admin",
            {
                "providers": (
                    IdentityProvider("okta", "https://okta.example", "eks", "email", "okta:", "groups", "okta:"),
                ),
                "objects": with_objects(
                    clusterrolebindings=[cluster_binding("o", "cluster-admin", [group("okta:admins")])]
                ),
            },
            "OIDC identity provider okta (https://okta.example): groups admins",
            "rbac",
        ),
        (
            "pod identity with an admin role",
            {
                "entries": (cluster_admin_entry(INTRUDER),),
                "pods": (PodIdentity("default", "builder", INTRUDER),),
            },
            "system:serviceaccount:default:builder",
            "pod-identity",
        ),
        (
            "RBAC: a User subject spelled as a service account is that service account",
            {
                "objects": with_objects(
                    clusterrolebindings=[
                        cluster_binding("u", "cluster-admin", [user("system:serviceaccount:default:backdoor")])
                    ]
                )
            },
            "system:serviceaccount:default:backdoor",
            "rbac",
        ),
        (
            "RBAC: system:anonymous bound to cluster-admin",
            {
                "objects": with_objects(
                    clusterrolebindings=[cluster_binding("a", "cluster-admin", [user("system:anonymous")])]
                )
            },
            "user system:anonymous (anonymous requests)",
            "rbac",
        ),
        (
            "RBAC: a node's user name (aws-auth node mapping and node access entry carry it)",
            {
                "objects": with_objects(
                    clusterrolebindings=[
                        cluster_binding("n", "cluster-admin", [user("system:node:ip-10-0-0-1.ec2.internal")])
                    ]
                )
            },
            NODE_ROLE,
            "rbac",
        ),
        (
            "RBAC: an access entry's templated user name renders the bound one",
            {
                "entries": (
                    AccessEntry(INTRUDER, username=f"arn:aws:sts::{ACCOUNT}:assumed-role/intruder/{{{{SessionName}}}}"),
                ),
                "objects": with_objects(
                    clusterrolebindings=[
                        cluster_binding(
                            "b", "cluster-admin", [user(f"arn:aws:sts::{ACCOUNT}:assumed-role/intruder/bob")]
                        )
                    ]
                ),
            },
            INTRUDER,
            "rbac",
        ),
        (
            "RBAC: aws-auth {{AccountID}} template renders the bound user name",
            {
                "config": aws_auth(f"- rolearn: {INTRUDER}\n  username: ops-{{{{AccountID}}}}\n"),
                "objects": with_objects(
                    clusterrolebindings=[cluster_binding("o", "cluster-admin", [user(f"ops-{ACCOUNT}")])]
                ),
            },
            INTRUDER,
            "rbac",
        ),
        (
            "RBAC: mapAccounts gives every principal of the account its ARN as user name",
            {
                "config": {**aws_auth(), "mapAccounts": "- '111122223333'\n"},
                "objects": with_objects(
                    clusterrolebindings=[
                        cluster_binding("m", "cluster-admin", [user("arn:aws:iam::111122223333:role/attacker")])
                    ]
                ),
            },
            "arn:aws:iam::111122223333:role/attacker",
            "rbac",
        ),
        (
            "kube-system: a Role that rewrites aws-auth",
            {
                "entries": (AccessEntry(INTRUDER, groups=("cm",)),),
                "objects": with_objects(
                    roles=[
                        role("kube-system", "cm", [rule(["get", "update"], ["configmaps"], resourceNames=["aws-auth"])])
                    ],
                    rolebindings=[binding("kube-system", "cm", "cm", [group("cm")], "Role")],
                ),
            },
            INTRUDER,
            "rbac",
        ),
        (
            "kube-system: a Role that creates pods",
            {
                "entries": (AccessEntry(INTRUDER, groups=("pods",)),),
                "objects": with_objects(
                    roles=[role("kube-system", "p", [rule(["create"], ["pods"])])],
                    rolebindings=[binding("kube-system", "p", "p", [group("pods")], "Role")],
                ),
            },
            INTRUDER,
            "rbac",
        ),
        (
            "kube-system: a ClusterRole with every apps verb bound in kube-system",
            {
                "entries": (AccessEntry(INTRUDER, groups=("apps",)),),
                "objects": with_objects(
                    clusterroles=[cluster_role("apps-all", [rule(["*"], ["*"], ["apps"])])],
                    rolebindings=[binding("kube-system", "apps", "apps-all", [group("apps")])],
                ),
            },
            INTRUDER,
            "rbac",
        ),
        (
            "a namespace with a cluster-admin service account: edit there is a path",
            {
                "entries": (AccessEntry(INTRUDER, groups=("argo-devs",)),),
                "objects": with_objects(
                    clusterrolebindings=[
                        cluster_binding("argo", "cluster-admin", [service_account("argocd", "argocd-manager")])
                    ],
                    rolebindings=[binding("argocd", "devs", "edit", [group("argo-devs")])],
                    clusterroles=[
                        cluster_role(
                            "pods-all",
                            [rule(["create"], ["pods"])],
                            {"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
                        )
                    ],
                ),
            },
            INTRUDER,
            "rbac",
        ),
        (
            "a namespace with a cluster-admin service account: Edit policy scoped to it",
            {
                "entries": (
                    AccessEntry(INTRUDER, policies=(AccessPolicy("AmazonEKSEditPolicy", "namespace", ("argocd",)),)),
                ),
                "objects": with_objects(
                    clusterrolebindings=[
                        cluster_binding("argo", "cluster-admin", [service_account("argocd", "argocd-manager")])
                    ]
                ),
            },
            INTRUDER,
            "access-policy",
        ),
        (
            "identity provider with usernamePrefix '-' (no prefix)",
            {
                "providers": (IdentityProvider("okta", "https://okta.example", "eks", "sub", "-", "", ""),),
                "objects": with_objects(clusterrolebindings=[cluster_binding("a", "cluster-admin", [user("alice")])]),
            },
            "OIDC identity provider okta (https://okta.example): sub alice",
            "rbac",
        ),
        (
            "identity provider without usernamePrefix: the issuer and # are prepended",
            {
                "providers": (IdentityProvider("okta", "https://okta.example", "eks", "sub", "", "", ""),),
                "objects": with_objects(
                    clusterrolebindings=[cluster_binding("a", "cluster-admin", [user("https://okta.example#alice")])]
                ),
            },
            "OIDC identity provider okta (https://okta.example): sub alice",
            "rbac",
        ),
        (
            "RBAC: a RoleBinding's ServiceAccount subject without namespace is in the binding's namespace",
            {
                "objects": with_objects(
                    rolebindings=[
                        binding("kube-system", "x", "cluster-admin", [{"kind": "ServiceAccount", "name": "backdoor"}])
                    ]
                )
            },
            "system:serviceaccount:kube-system:backdoor",
            "rbac",
        ),
        (
            "identity provider with a groups claim and no groups prefix issues system:masters",
            {"providers": (IdentityProvider("corp", "https://idp.example", "eks", "email", "", "groups", ""),)},
            "OIDC identity provider corp (https://idp.example): groups system:masters",
            "identity-provider",
        ),
        (
            "identity provider without prefixes carries a control-plane user name",
            {"providers": (IdentityProvider("corp", "https://idp.example", "eks", "email", "-", "", ""),)},
            "OIDC identity provider corp (https://idp.example): email system:kube-controller-manager",
            "rbac",
        ),
        *[
            (
                f"kube-system: a Role that {what}",
                {
                    "entries": (AccessEntry(INTRUDER, groups=("ops",)),),
                    "objects": with_objects(
                        roles=[role("kube-system", "r", rules)],
                        rolebindings=[binding("kube-system", "r", "r", [group("ops")], "Role")],
                    ),
                },
                INTRUDER,
                "rbac",
            )
            for what, rules in [
                ("patches pods", [rule(["patch"], ["pods"])]),
                ("patches pods/ephemeralcontainers", [rule(["patch"], ["pods/ephemeralcontainers"])]),
                ("gets pods/exec (WebSocket exec)", [rule(["get"], ["pods/exec"])]),
                ("creates pods/exec of one named pod", [rule(["create"], ["pods/exec"], resourceNames=["coredns-0"])]),
                ("attaches to pods", [rule(["create"], ["pods/attach"])]),
                ("creates and reads Secrets", [rule(["create", "get"], ["secrets"])]),
                ("deletes and creates ConfigMaps (aws-auth again)", [rule(["create", "delete"], ["configmaps"])]),
            ]
        ],
        (
            "kube-system: creating ConfigMaps while aws-auth does not exist",
            {
                "aws_auth_absent": True,
                "entries": (AccessEntry(INTRUDER, groups=("ops",)),),
                "objects": with_objects(
                    roles=[role("kube-system", "r", [rule(["create"], ["configmaps"])])],
                    rolebindings=[binding("kube-system", "r", "r", [group("ops")], "Role")],
                ),
            },
            INTRUDER,
            "rbac",
        ),
        (
            "a namespace whose service accounts group is admin holds power",
            {
                "entries": (
                    AccessEntry(INTRUDER, policies=(AccessPolicy("AmazonEKSEditPolicy", "namespace", ("tools",)),)),
                ),
                "objects": with_objects(
                    clusterrolebindings=[cluster_binding("t", "cluster-admin", [group("system:serviceaccounts:tools")])]
                ),
            },
            INTRUDER,
            "access-policy",
        ),
        (
            "cluster creator in CONFIG_MAP mode",
            {"mode": "CONFIG_MAP", "bootstrap_creator_admin": True},
            CREATOR,
            "cluster-creator",
        ),
    ],
)
def test_every_door(case: str, kwargs: dict[str, object], principal: str, door: str) -> None:
    found = admins_of(snapshot(**kwargs))  # type: ignore[arg-type]
    assert principal in found, f"{case}: {found}"
    assert door in found[principal], case


def test_a_plain_user_name_prefix_does_not_match_unprefixed_names() -> None:
    provider = IdentityProvider("okta", "https://okta.example", "eks", "sub", "", "", "")
    objects = with_objects(clusterrolebindings=[cluster_binding("a", "cluster-admin", [user("alice")])])
    report = effective_admins(snapshot(providers=(provider,), objects=objects))
    assert not any(a.principal.startswith("OIDC") for a in report.admins)
    assert any(line.startswith("user alice") for line in report.latent)


def test_workload_rights_outside_powerful_namespaces_are_not_admin() -> None:
    objects = with_objects(
        roles=[role("team-a", "p", [rule(["create"], ["pods"]), rule(["update"], ["configmaps"])])],
        rolebindings=[binding("team-a", "p", "p", [group("devs")], "Role")],
    )
    assert INTRUDER not in admins_of(snapshot(entries=(AccessEntry(INTRUDER, groups=("devs",)),), objects=objects))


def test_unknown_system_names_are_latent_and_control_plane_names_platform() -> None:
    objects = with_objects(
        clusterrolebindings=[
            cluster_binding("x", "cluster-admin", [user("system:something-new"), group("system:custom")]),
            cluster_binding("y", "cluster-admin", [user("eks:some-component")]),
        ]
    )
    report = effective_admins(snapshot(objects=objects))
    assert {line.split(":", 2)[1] for line in report.latent} >= {"something-new", "custom"}
    assert any(line.startswith("user eks:some-component") for line in report.platform)


def test_creating_configmaps_is_harmless_while_aws_auth_exists() -> None:
    objects = with_objects(
        roles=[role("kube-system", "r", [rule(["create"], ["configmaps"])])],
        rolebindings=[binding("kube-system", "r", "r", [group("ops")], "Role")],
    )
    assert INTRUDER not in admins_of(snapshot(entries=(AccessEntry(INTRUDER, groups=("ops",)),), objects=objects))


def test_the_namespace_fixed_point_has_no_round_limit() -> None:
    """ns0's service account is admin; each next namespace's service account can create pods in the one before."""
    rolebindings = [binding(f"ns{i}", f"r{i}", "edit", [service_account(f"ns{i + 1}", "sa")]) for i in range(20)]
    objects = with_objects(
        clusterrolebindings=[cluster_binding("root", "cluster-admin", [service_account("ns0", "sa")])],
        clusterroles=[
            cluster_role("pods", [rule(["create"], ["pods"])], {"rbac.authorization.k8s.io/aggregate-to-edit": "true"})
        ],
        rolebindings=rolebindings,
    )
    found = admins_of(snapshot(objects=objects))
    assert "system:serviceaccount:ns20:sa" in found


def test_door_keys_do_not_depend_on_list_positions() -> None:
    one = effective_admins(snapshot(config=aws_auth(masters_mapping(INTRUDER))))
    extra = (
        "- rolearn: arn:aws:iam::123456789012:role/other-nodes\n"
        "  username: system:node:{{EC2PrivateDNSName}}\n  groups: [system:nodes]\n"
    )
    two = effective_admins(snapshot(config=aws_auth(extra + masters_mapping(INTRUDER))))
    [door_one] = one.by_principal()[INTRUDER].doors
    [door_two] = two.by_principal()[INTRUDER].doors
    assert door_one.via != door_two.via and door_one.key == door_two.key


def test_auth_mode_decides_which_doors_exist() -> None:
    config = aws_auth(masters_mapping(INTRUDER))
    assert INTRUDER not in admins_of(snapshot(mode="API", config=config))
    entries = (cluster_admin_entry(INTRUDER),)
    assert INTRUDER not in admins_of(snapshot(mode="CONFIG_MAP", entries=entries))
    assert CREATOR not in admins_of(snapshot(mode="API", bootstrap_creator_admin=True))


@pytest.mark.parametrize(
    "policy",
    [
        AccessPolicy("AmazonEKSViewPolicy", "cluster"),
        AccessPolicy("AmazonEKSAdminViewPolicy", "namespace", ("team-a",)),
        AccessPolicy("AmazonEKSEditPolicy", "namespace", ("team-*",)),
        AccessPolicy("AmazonEKSAdminPolicy", "namespace", ("team-a", "default")),
    ],
)
def test_policies_that_do_not_make_admin(policy: AccessPolicy) -> None:
    assert INTRUDER not in admins_of(snapshot(entries=(AccessEntry(INTRUDER, policies=(policy,)),)))


def test_unbound_or_weak_bindings_are_not_admin() -> None:
    objects = with_objects(
        clusterrolebindings=[cluster_binding("v", "view", [group("ops")])],
        rolebindings=[binding("team-a", "ta", "cluster-admin", [group("ops")])],  # only team-a
    )
    assert INTRUDER not in admins_of(snapshot(entries=(AccessEntry(INTRUDER, groups=("ops",)),), objects=objects))


def test_group_bound_to_admin_that_nobody_carries_is_latent() -> None:
    objects = with_objects(clusterrolebindings=[cluster_binding("later", "cluster-admin", [group("eks-admins")])])
    report = effective_admins(snapshot(objects=objects))
    assert any(line.startswith("group eks-admins") for line in report.latent)


def test_unread_kubernetes_side_gives_only_eks_doors() -> None:
    snap = snapshot(kube=False, entries=(cluster_admin_entry(INTRUDER),))
    assert admins_of(snap) == {INTRUDER: ["access-policy"]}
    assert snap.sources_read == frozenset({"eks"})


def test_a_flood_of_catch_all_templates_and_subjects_is_bounded_and_said() -> None:
    mappings = "".join(
        f"- rolearn: arn:aws:iam::{ACCOUNT}:role/r{i}\n  username: u{i}\n  groups:\n    - '{{{{SessionName}}}}'\n"
        for i in range(400)
    )
    objects = with_objects(
        clusterrolebindings=[cluster_binding("big", "cluster-admin", [group(f"x{j}") for j in range(400)])]
    )
    report = effective_admins(snapshot(objects=objects, config=aws_auth(mappings), mode="CONFIG_MAP"))
    assert any("too many RBAC subjects" in note for note in report.notes)
    assert len(report.admins) == 400  # every templated role carries the first groups: each is found
    assert all(len(a.doors) <= 20 for a in report.admins)
