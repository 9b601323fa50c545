"""Ways around the RBAC alerts, tried as someone on the kubectl instance (or with a stolen token) would,
each through the real handler against moto (DynamoDB state, SQS queue), each line first checked against
the installed subscription filter pattern: what CloudWatch Logs would not forward never reaches eksguard."""

from __future__ import annotations

import copy
import json
from typing import Any

from eksguard.audit_log.enrol import FILTER_PATTERN
from tests.aws_auth_support import ADMIN, INTRUDER, delivery, role, update
from tests.cwl_filter import matches
from tests.integration import test_audit_log_alert_handler as handler_tests
from tests.integration.test_audit_log_alert_handler import invoke, queued
from tests.rbac_support import KUBECTL_ROLE, admin_session, audit_entry, recorded_write, user

env = handler_tests.env  # the same moto fixture: state table + alert queue
lambda_context = handler_tests.lambda_context  # the function runs in the clusters' own account
NOISE = [
    {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": f"noise-{i}",
        "stage": "ResponseComplete",
        "requestURI": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?watch=true",
        "verb": "watch",
        "user": {"username": "system:kube-controller-manager"},
        "objectRef": {"resource": "clusterrolebindings", "apiGroup": "rbac.authorization.k8s.io", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
    }
    for i in range(3)
]


def send(events: list[Any], context: Any, stream: str = "kube-apiserver-audit-bbbb") -> dict[str, Any]:
    """Deliver what the subscription filter forwards of `events`, as CloudWatch Logs would."""
    lines = [e if isinstance(e, str) else json.dumps(e, separators=(",", ":")) for e in events]
    forwarded = [line for line in lines if matches(FILTER_PATTERN, line)]
    return invoke(delivery(list(forwarded), log_stream=stream), context)


def rbac_alerts(env: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in queued(env) if a["kind"] == "rbac"]


def with_body(command: str, **changes: Any) -> dict[str, Any]:
    write = copy.deepcopy(recorded_write(command))
    for obj in (write["body"], write["response"]):
        for key, value in changes.items():
            obj[key] = copy.deepcopy(value)
    return write


def test_the_kubectl_instance_backdoor_is_critical_and_remembered(env, lambda_context) -> None:
    result = send([*NOISE, audit_entry(recorded_write("crb_create_user"))], lambda_context)
    assert result["status"] == "ok" and result["rbacEvents"] == 1 and result["rbacStateWritten"]
    (alert,) = rbac_alerts(env)
    assert alert["severity"] == "CRITICAL" and alert["principal"] == "viewer"
    assert alert["actor"]["arn"] == KUBECTL_ROLE
    item = env["ddb"].get_item(TableName="aws-auth-state", Key={"cluster": {"S": "prod#rbac"}})["Item"]
    assert item["objects"]["N"] == "1"
    # redelivered: the binding is known now, nothing new is granted
    send([audit_entry(recorded_write("crb_create_user"))], lambda_context)
    assert rbac_alerts(env) == []


def test_padding_the_entry_past_256_kb_still_alerts(env, lambda_context) -> None:
    entry = audit_entry(recorded_write("crb_create_user"))
    entry["user"]["extra"]["padding"] = ["x" * 300_000]
    text = json.dumps(entry, separators=(",", ":"))
    send([text[:262_000] + "[Truncated...]"], lambda_context)
    (alert,) = rbac_alerts(env)
    assert alert["severity"] == "HIGH" and "content unknown" in alert["title"]
    # the cut came before objectRef; a create names its object only in the body
    assert alert["title"].startswith("ClusterRoleBinding (name not visible) written by")


def test_patch_instead_of_create_on_a_known_binding(env, lambda_context) -> None:
    seed = with_body(
        "crb_apply_create",
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": ADMIN}],
    )
    send([audit_entry(seed, "s1", actor=admin_session())], lambda_context)
    queued(env)
    send([audit_entry(recorded_write("crb_patch_json"), "p1", response=None)], lambda_context)
    (alert,) = rbac_alerts(env)
    assert alert["severity"] == "CRITICAL" and "attacker" in alert["summary"]


def test_a_renamed_copy_of_cluster_admin_is_judged_by_its_rules(env, lambda_context) -> None:
    role_write = with_body("cr_create_wildcard", metadata={"name": "monitoring-reader"})
    bind = with_body(
        "crb_create_user",
        metadata={"name": "monitoring"},
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "monitoring-reader"},
    )
    send([audit_entry(role_write, "r1"), audit_entry(bind, "b1")], lambda_context)
    severities = sorted(a["severity"] for a in rbac_alerts(env))
    assert severities == ["CRITICAL", "HIGH"]


def test_aggregation_into_view_makes_every_viewer_admin(env, lambda_context) -> None:
    view_binding = with_body(
        "crb_apply_create",
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
    )
    send([audit_entry(view_binding, "v1", actor=admin_session())], lambda_context)
    queued(env)
    send([audit_entry(recorded_write("cr_apply_aggregated"), "a1")], lambda_context)
    (alert,) = rbac_alerts(env)
    assert alert["severity"] == "CRITICAL"
    assert "ClusterRole view became admin-equivalent through aggregation of ClusterRole sneaky" in alert["title"]


def test_rolebinding_in_kube_system_rather_than_a_clusterrolebinding(env, lambda_context) -> None:
    send([audit_entry(recorded_write("rb_create_kube_system"))], lambda_context)
    (alert,) = rbac_alerts(env)
    assert alert["severity"] == "CRITICAL" and "in namespace kube-system" in alert["title"]


def test_impersonating_an_eks_component_does_not_buy_trust(env, lambda_context) -> None:
    write = with_body("crb_create_sa", metadata={"name": "eks:node-manager-extra"})
    send([audit_entry(write, impersonated="eks:node-manager", actor=user())], lambda_context)
    (alert,) = rbac_alerts(env)
    assert alert["severity"] == "CRITICAL" and "(impersonated)" in alert["title"]


def test_binding_the_expected_admins_arn_while_aws_auth_maps_it_to_an_intruder(env, lambda_context) -> None:
    send([update("aa-1", role(INTRUDER, "viewers", username=ADMIN), 500)], lambda_context)
    queued(env)
    write = with_body(
        "crb_create_user", subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": ADMIN}]
    )
    send([audit_entry(write)], lambda_context)
    (alert,) = rbac_alerts(env)
    assert alert["severity"] == "CRITICAL" and INTRUDER in alert["summary"]


def test_dry_run_probe_then_real_write(env, lambda_context) -> None:
    send([audit_entry(recorded_write("crb_create_dry_run"), "d1")], lambda_context)
    (probe,) = rbac_alerts(env)
    assert probe["severity"] == "MEDIUM"
    probe_name = with_body("crb_create_user", metadata={"name": "probe"})
    send([audit_entry(probe_name, "d2")], lambda_context)
    (real,) = rbac_alerts(env)
    assert real["severity"] == "CRITICAL"


def test_one_unreadable_entry_does_not_hide_the_backdoor_in_the_same_delivery(env, lambda_context) -> None:
    odd = audit_entry(recorded_write("crb_create_group"), "o1")
    odd["requestObject"] = odd["responseObject"] = {"kind": "ClusterRoleBinding", "roleRef": "cluster-admin"}
    send([odd, audit_entry(recorded_write("crb_create_user"), "b1")], lambda_context)
    severities = sorted(a["severity"] for a in rbac_alerts(env))
    assert severities == ["CRITICAL", "MEDIUM"]


def test_access_entry_groups_recorded_from_cloudtrail_name_the_carrier(env, event_loader, lambda_context) -> None:
    """The detour AWS recommends after aws-auth: an access entry with `kubernetesGroups`, then a binding
    of that group. The EKS API detector records the entry; the RBAC alert names the principal."""
    from eks_api_alert_handler import lambda_handler as eks_api_handler

    created = eks_api_handler(event_loader("eks_api_access_entry_custom_groups.json"), lambda_context)
    assert created["status"] == "alerted"
    queued(env)
    write = with_body(
        "crb_create_group", subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "data-admins"}]
    )
    send([audit_entry(write)], lambda_context)
    (alert,) = rbac_alerts(env)
    assert alert["severity"] == "CRITICAL"
    assert "arn:aws:iam::111122223333:role/data-team (access entry)" in alert["summary"]


def test_a_deleted_access_entry_no_longer_carries_the_group(env, event_loader, lambda_context) -> None:
    from eks_api_alert_handler import lambda_handler as eks_api_handler

    eks_api_handler(event_loader("eks_api_access_entry_custom_groups.json"), lambda_context)
    deleted = copy.deepcopy(event_loader("eks_api_delete_access_entry.json"))
    deleted["detail"]["requestParameters"]["principalArn"] = "arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fdata-team"
    deleted["detail"]["requestParameters"]["name"] = "prod"
    eks_api_handler(deleted, lambda_context)
    queued(env)
    write = with_body(
        "crb_create_group", subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "data-admins"}]
    )
    send([audit_entry(write)], lambda_context)
    (alert,) = rbac_alerts(env)
    assert "no IAM principal known to eksguard carries it" in alert["summary"]


def test_aws_auth_mapping_to_a_group_rbac_makes_admin_is_critical(env, lambda_context) -> None:
    """The RBAC door seen from aws-auth: no system:masters anywhere, yet the mapped group is cluster admin."""
    bound = with_body(
        "crb_create_group", subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "eks-admins"}]
    )
    send([audit_entry(bound, "g1", actor=admin_session())], lambda_context)
    queued(env)
    send([update("aa-1", role(INTRUDER, "eks-admins", username="someone"), 500)], lambda_context)
    (alert,) = [a for a in queued(env) if a["kind"] == "aws-auth"]
    assert alert["severity"] == "CRITICAL" and alert["principal"] == INTRUDER
    assert "as cluster admin through RBAC" in alert["title"]
    assert "ClusterRoleBinding eks-admins binds it to ClusterRole cluster-admin cluster-wide" in alert["summary"]


def test_aws_auth_mapping_to_a_user_name_rbac_makes_admin_and_expected_admins_stay_info(env, lambda_context) -> None:
    send([audit_entry(recorded_write("crb_create_user"), "u1", actor=admin_session())], lambda_context)  # viewer
    queued(env)
    send([update("aa-1", role(INTRUDER, "readers", username="viewer"), 500)], lambda_context)
    (alert,) = [a for a in queued(env) if a["kind"] == "aws-auth"]
    assert alert["severity"] == "CRITICAL" and "user name viewer" in alert["summary"]
    send([update("aa-2", role(ADMIN, "readers", username="viewer"), 501)], lambda_context)
    (replaced,) = [a for a in queued(env) if a["kind"] == "aws-auth"]
    assert replaced["severity"] == "INFO"  # the expected admin through the same door; the intruder unmapped
    assert "user name viewer: ClusterRoleBinding backdoor" in replaced["summary"]
    assert "NOT an expected admin" not in replaced["summary"]


def test_borrowing_an_eks_user_name_through_aws_auth_buys_no_trust(env, lambda_context) -> None:
    """Map the kubectl role to `eks:addon-manager`, then write an `eks:`-named binding as that user."""
    send([update("aa-1", role(KUBECTL_ROLE, "readers", username="eks:addon-manager"), 500)], lambda_context)
    (mapping,) = [a for a in queued(env) if a["kind"] == "aws-auth"]
    assert mapping["severity"] == "HIGH" and "reserved user name eks:addon-manager" in mapping["title"]
    write = with_body("crb_create_user", metadata={"name": "eks:addon-support"})
    borrowed = user(username="eks:addon-manager")
    send([audit_entry(write, actor=borrowed)], lambda_context)
    (alert,) = rbac_alerts(env)
    assert alert["severity"] == "CRITICAL"


def test_minting_tokens_for_one_named_service_account_counts(env, lambda_context) -> None:
    """`create serviceaccounts/token` restricted to the aggregation controller's account: that account can
    escalate any ClusterRole, so the role is admin-equivalent however narrow it looks."""
    minting = with_body(
        "cr_create_impersonate",
        metadata={"name": "sa-token-helper"},
        rules=[
            {
                "apiGroups": [""],
                "resources": ["serviceaccounts/token"],
                "verbs": ["create"],
                "resourceNames": ["clusterrole-aggregation-controller"],
            }
        ],
    )
    bind = with_body(
        "crb_create_user",
        metadata={"name": "token-helper"},
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "sa-token-helper"},
    )
    send([audit_entry(minting, "m1"), audit_entry(bind, "m2")], lambda_context)
    assert sorted(a["severity"] for a in rbac_alerts(env)) == ["CRITICAL", "HIGH"]


def test_a_kube_system_rolebinding_that_delegates_bind_on_cluster_admin(env, lambda_context) -> None:
    """`bind` on clusterroles is checked in the RoleBinding's namespace: in kube-system it delegates admin."""
    delegator = with_body(
        "role_create_escalate",
        metadata={"name": "rbac-delegator", "namespace": "kube-system"},
        rules=[
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["clusterroles"],
                "verbs": ["bind"],
                "resourceNames": ["cluster-admin"],
            },
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create"]},
        ],
    )
    bind = with_body(
        "rb_create_kube_system",
        metadata={"name": "delegate", "namespace": "kube-system"},
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "rbac-delegator"},
    )
    send([audit_entry(delegator, "r1"), audit_entry(bind, "r2")], lambda_context)
    severities = sorted(a["severity"] for a in rbac_alerts(env))
    assert severities == ["CRITICAL", "HIGH"], severities


def test_a_path_spelling_of_the_expected_admins_arn_is_not_the_expected_admin(env, lambda_context) -> None:
    spelled = ADMIN.replace(":role/", ":role/x/")
    write = with_body(
        "crb_create_user", subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": spelled}]
    )
    send([audit_entry(write)], lambda_context)
    (alert,) = rbac_alerts(env)
    assert alert["severity"] == "CRITICAL" and "not the expected admin's own user name" in alert["summary"]


def test_an_empty_deletecollection_does_not_wipe_what_eksguard_knows(env, lambda_context) -> None:
    send([audit_entry(recorded_write("cr_create_wildcard"), "c1")], lambda_context)
    queued(env)
    wipe = copy.deepcopy(recorded_write("crb_delete"))
    wipe["path"] = "/apis/rbac.authorization.k8s.io/v1/clusterroles?labelSelector=no-such-label%3Dx"
    wipe["response"] = {"kind": "ClusterRoleList", "apiVersion": "rbac.authorization.k8s.io/v1", "items": []}
    send([audit_entry(wipe, "w1")], lambda_context)
    assert rbac_alerts(env) == []
    bind = with_body(
        "crb_create_user",
        metadata={"name": "later"},
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pwn"},
    )
    send([audit_entry(bind, "b1")], lambda_context)
    (alert,) = rbac_alerts(env)
    assert alert["severity"] == "CRITICAL"


def test_an_eks_user_name_on_the_customers_own_iam_principal_is_not_eks(env, lambda_context) -> None:
    """The mapping to `eks:addon-manager` was made before eksguard watched: the entry still shows the
    kubectl role's ARN in `user.extra`, and that is not an EKS component."""
    write = with_body("crb_create_user", metadata={"name": "eks:addon-support"})
    send([audit_entry(write, actor=user(username="eks:addon-manager"))], lambda_context)
    (alert,) = rbac_alerts(env)
    assert alert["severity"] == "CRITICAL"


def test_a_session_name_group_template_reaching_an_rbac_admin_group_is_critical(env, lambda_context) -> None:
    """Other spelling of the same door: the group is `{{SessionName}}`, and the caller picks the session
    name `eks-admins`, a group a ClusterRoleBinding makes cluster admin."""
    bound = with_body(
        "crb_create_group", subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "eks-admins"}]
    )
    send([audit_entry(bound, "g1", actor=admin_session())], lambda_context)
    queued(env)
    templated = f"- rolearn: {INTRUDER}\n  username: someone\n  groups:\n    - '{{{{SessionName}}}}'\n"
    send([update("aa-1", templated, 500)], lambda_context)
    (alert,) = [a for a in queued(env) if a["kind"] == "aws-auth"]
    assert alert["severity"] == "CRITICAL" and "through RBAC (group eks-admins)" in alert["title"]
