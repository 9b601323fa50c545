"""Ways to stay cluster admin unseen, each through the real InventoryFunction handler, the EKS front and
the Kubernetes API stand-in: other spellings of a subject, a forged bootstrap binding, paths through a
namespace's service accounts, templates, an identity provider without prefix. A baseline inventory is
taken first, then the backdoor is planted where no log shows it; the next run must name the intruder
CRITICAL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.inventory_world import LocalWorld, admin_entry, invoke, queued_alerts
from tests.kube_world import (
    ACCOUNT,
    INTRUDER,
    KUBECTL_ROLE,
    aws_auth,
    binding,
    cluster_binding,
    cluster_role,
    group,
    role,
    rule,
    service_account,
    user,
    with_objects,
)

OPS = {"principalArn": INTRUDER, "kubernetesGroups": ["ops"]}
CASES: dict[str, tuple[dict[str, Any], str | tuple[str, ...]]] = {
    "a User subject spelled as a service account": (
        {
            "objects": with_objects(
                clusterrolebindings=[
                    cluster_binding("u", "cluster-admin", [user("system:serviceaccount:default:backdoor")])
                ]
            )
        },
        "system:serviceaccount:default:backdoor",
    ),
    "a look-alike bootstrap controller binding": (
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
    ),
    "exec by get into kube-system pods": (
        {
            "entries": [OPS],
            "objects": with_objects(
                roles=[role("kube-system", "x", [rule(["get"], ["pods/exec"])])],
                rolebindings=[binding("kube-system", "x", "x", [group("ops")], "Role")],
            ),
        },
        INTRUDER,
    ),
    "Edit in a namespace whose service account is admin": (
        {
            "entries": [
                {
                    "principalArn": INTRUDER,
                    "policies": [
                        {
                            "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy",
                            "accessScope": {"type": "namespace", "namespaces": ["argo*"]},
                        }
                    ],
                }
            ],
            "objects": with_objects(
                clusterrolebindings=[cluster_binding("argo", "cluster-admin", [service_account("argocd", "manager")])]
            ),
        },
        (INTRUDER, "system:serviceaccount:argocd:manager"),  # the service account is a backdoor too
    ),
    "an aws-auth {{AccountID}} user name bound to cluster-admin": (
        {
            "config": aws_auth(f"- rolearn: {INTRUDER}\n  username: ops-{{{{AccountID}}}}\n"),
            "objects": with_objects(
                clusterrolebindings=[cluster_binding("o", "cluster-admin", [user(f"ops-{ACCOUNT}")])]
            ),
        },
        INTRUDER,
    ),
    "an identity provider without groups prefix": (
        {
            "identityProviders": [
                {
                    "identityProviderConfigName": "corp",
                    "issuerUrl": "https://idp.example",
                    "clientId": "eks",
                    "groupsClaim": "groups",
                }
            ]
        },
        "OIDC identity provider corp (https://idp.example): groups system:masters",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_backdoor_no_log_showed_is_found_through_the_handler(
    inventory_world: LocalWorld, inventory_env: dict[str, Any], lambda_context: Any, case: str
) -> None:
    inventory_world.add_cluster("prod", entries=[admin_entry(KUBECTL_ROLE)])
    invoke({"action": "inventory"}, lambda_context)
    queued_alerts(inventory_env["queue"])  # the baseline (the kubectl role: first inventory)

    backdoor, intruders = CASES[case]
    entries = [admin_entry(KUBECTL_ROLE), *backdoor.get("entries", [])]
    inventory_world.add_cluster("prod", entries=entries, **{k: v for k, v in backdoor.items() if k != "entries"})

    result = invoke({"action": "inventory"}, lambda_context)
    assert result["status"] == "ok"
    found = [a for a in queued_alerts(inventory_env["queue"]) if a["kind"] == "inventory-admin-found"]
    expected = {intruders} if isinstance(intruders, str) else set(intruders)
    assert {a["principal"] for a in found} == expected, [a["title"] for a in found]
    assert {a["severity"] for a in found} == {"CRITICAL"}
