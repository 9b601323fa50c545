"""Facts about the requests a real kubectl sends for RBAC writes, as recorded by
scripts/record_kubectl_requests.py into tests/data/kubectl_rbac_requests.json."""

import base64
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from scripts.record_kubectl_requests import decode_kubernetes_protobuf

DATA = Path(__file__).resolve().parent.parent / "data" / "kubectl_rbac_requests.json"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
PROTOBUF = "application/vnd.kubernetes.protobuf"
SMP = "application/strategic-merge-patch+json"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@cache
def recording() -> dict[str, Any]:
    return json.loads(DATA.read_text())


def command(command_id: str) -> dict[str, Any]:
    matches = [c for c in recording()["commands"] if c["id"] == command_id]
    assert len(matches) == 1, command_id
    return matches[0]


def writes(command_id: str) -> list[dict[str, Any]]:
    return [r for r in command(command_id)["requests"] if r["method"] != "GET"]


def only_write(command_id: str) -> dict[str, Any]:
    found = writes(command_id)
    assert len(found) == 1, [(r["method"], r["path"]) for r in found]
    return found[0]


def bare_path(request: dict[str, Any]) -> str:
    return request["path"].split("?", 1)[0]


def test_every_command_succeeded_with_the_real_kubectl():
    data = recording()
    assert data["kubectl"].startswith("Client Version: v1.32")
    assert len(data["commands"]) == 23
    for cmd in data["commands"]:
        assert cmd["exit_code"] == 0, (cmd["id"], cmd["stderr"])
        assert cmd["requests"], cmd["id"]
        for request in cmd["requests"]:
            assert request["user_agent"].startswith(("kubectl/v1.32.4 ", "kubectl-dispatcher/")), request


def test_no_host_port_or_temp_path_leaks_into_the_recording():
    text = DATA.read_text()
    assert "127.0.0.1" not in text
    assert "/tmp/" not in text


def test_dispatcher_reads_version_first_unless_the_command_line_has_user():
    for cmd in recording()["commands"]:
        dispatcher = [r for r in cmd["requests"] if r["user_agent"].startswith("kubectl-dispatcher/")]
        if any(arg.startswith("--user=") for arg in cmd["argv"]):
            assert dispatcher == [], cmd["id"]
        else:
            assert [bare_path(r) for r in dispatcher] == ["/version"], cmd["id"]
            assert cmd["requests"][0] is dispatcher[0]


def test_crb_create_user_is_one_protobuf_post_with_kubectl_create_field_manager():
    cmd = command("crb_create_user")
    assert len(cmd["requests"]) == 1
    post = cmd["requests"][0]
    assert post["method"] == "POST"
    assert bare_path(post) == f"{RBAC}/clusterrolebindings"
    assert post["query"] == {"fieldManager": ["kubectl-create"], "fieldValidation": ["Strict"]}
    assert post["content_type"] == PROTOBUF
    assert post["accept"] == f"{PROTOBUF},application/json"
    assert post["kubectl_command"] == "kubectl create clusterrolebinding"
    body = post["body"]
    assert body["kind"] == "ClusterRoleBinding"
    assert body["apiVersion"] == "rbac.authorization.k8s.io/v1"
    assert body["metadata"] == {"name": "backdoor", "creationTimestamp": None}
    assert body["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}
    assert body["subjects"] == [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "viewer"}]
    assert post["status"] == 201


def test_protobuf_bodies_decode_to_the_recorded_json():
    protobuf = [r for c in recording()["commands"] for r in c["requests"] if r.get("body_encoding") == "protobuf"]
    assert len(protobuf) == 9  # every `kubectl create <rbac kind>`
    for request in protobuf:
        assert request["content_type"] == PROTOBUF
        raw = base64.b64decode(request["body_base64"])
        assert raw.startswith(b"k8s\x00")
        assert decode_kubernetes_protobuf(raw) == request["body"]


def test_crb_create_group_and_service_account_subjects():
    assert only_write("crb_create_group")["body"]["subjects"] == [
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "eks-admins"}
    ]
    # a ServiceAccount subject carries a namespace and no apiGroup
    assert only_write("crb_create_sa")["body"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "builder", "namespace": "default"}
    ]


def test_server_dry_run_create_sends_dry_run_all_and_nothing_is_stored():
    post = only_write("crb_create_dry_run")
    assert post["method"] == "POST"
    assert post["query"]["dryRun"] == ["All"]
    assert post["query"]["fieldManager"] == ["kubectl-create"]
    assert post["body"]["metadata"]["name"] == "probe"
    assert "resourceVersion" not in post["response"]["metadata"]
    others = [r for c in recording()["commands"] if c["id"] != "crb_create_dry_run" for r in c["requests"]]
    assert not [r for r in others if "dryRun" in r["query"]]


@pytest.mark.parametrize(
    ("command_id", "namespace", "role"),
    [("rb_create_kube_system", "kube-system", "cluster-admin"), ("rb_create_team", "team-a", "admin")],
)
def test_rolebinding_create_posts_to_the_namespaced_collection(command_id: str, namespace: str, role: str):
    post = only_write(command_id)
    assert bare_path(post) == f"{RBAC}/namespaces/{namespace}/rolebindings"
    assert post["content_type"] == PROTOBUF
    assert post["body"]["kind"] == "RoleBinding"
    assert post["body"]["metadata"]["namespace"] == namespace
    assert post["body"]["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}


def test_client_side_apply_create_gets_then_posts_json_with_last_applied():
    cmd = command("crb_apply_create")
    get = [r for r in cmd["requests"] if bare_path(r) == f"{RBAC}/clusterrolebindings/viewers"]
    assert [(r["method"], r["status"]) for r in get] == [("GET", 404)]
    post = only_write("crb_apply_create")
    assert post["method"] == "POST"
    assert bare_path(post) == f"{RBAC}/clusterrolebindings"
    assert post["query"] == {"fieldManager": ["kubectl-client-side-apply"], "fieldValidation": ["Strict"]}
    assert post["content_type"] == "application/json"
    last_applied = json.loads(post["body"]["metadata"]["annotations"][LAST_APPLIED])
    assert last_applied["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "readers"}]
    assert last_applied["metadata"] == {"annotations": {}, "name": "viewers"}


def test_client_side_apply_update_is_a_strategic_merge_patch_carrying_last_applied():
    patch = only_write("crb_apply_update")
    assert patch["method"] == "PATCH"
    assert bare_path(patch) == f"{RBAC}/clusterrolebindings/viewers"
    assert patch["content_type"] == SMP
    assert patch["query"] == {"fieldManager": ["kubectl-client-side-apply"], "fieldValidation": ["Strict"]}
    assert set(patch["body"]) == {"metadata", "subjects"}
    assert set(patch["body"]["metadata"]) == {"annotations"}
    user = {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "viewer"}
    assert user in patch["body"]["subjects"]
    assert user in json.loads(patch["body"]["metadata"]["annotations"][LAST_APPLIED])["subjects"]
    assert "roleRef" not in patch["body"]


def test_server_side_apply_sends_json_as_apply_patch_yaml_with_field_manager_kubectl():
    patch = only_write("crb_apply_server_side")
    assert patch["method"] == "PATCH"
    assert bare_path(patch) == f"{RBAC}/clusterrolebindings/ssa-admin"
    assert patch["content_type"] == "application/apply-patch+yaml"
    assert patch["query"] == {"fieldManager": ["kubectl"], "fieldValidation": ["Strict"], "force": ["false"]}
    assert json.loads(patch["body_text"]) == patch["body"]  # the "YAML" kubectl sends is JSON
    assert set(patch["body"]) == {"apiVersion", "kind", "metadata", "roleRef", "subjects"}
    assert LAST_APPLIED not in json.dumps(patch["body"])
    assert patch["status"] == 201  # the apply created the object


@pytest.mark.parametrize(
    ("command_id", "content_type"),
    [
        ("crb_patch_json", "application/json-patch+json"),
        ("crb_patch_merge", "application/merge-patch+json"),
        ("crb_patch_strategic", SMP),
        ("cr_patch_rules_json", "application/json-patch+json"),
    ],
)
def test_kubectl_patch_gets_then_patches_with_field_manager_kubectl_patch(command_id: str, content_type: str):
    requests = [r for r in command(command_id)["requests"] if r["path"].startswith(RBAC)]
    assert [r["method"] for r in requests] == ["GET", "PATCH"]
    assert bare_path(requests[0]) == bare_path(requests[1])
    patch = requests[1]
    assert patch["content_type"] == content_type
    assert patch["query"] == {"fieldManager": ["kubectl-patch"]}  # no fieldValidation on kubectl patch


def test_json_patch_bodies_are_the_operations_as_given():
    assert only_write("crb_patch_json")["body"] == [
        {
            "op": "add",
            "path": "/subjects/-",
            "value": {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "attacker"},
        }
    ]
    assert only_write("cr_patch_rules_json")["body"] == [
        {"op": "replace", "path": "/rules", "value": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}
    ]
    assert bare_path(only_write("cr_patch_rules_json")) == f"{RBAC}/clusterroles/system:aggregate-to-view"


def test_set_subject_sends_the_whole_subject_list_as_strategic_merge_patch():
    patch = only_write("crb_set_subject")
    assert patch["content_type"] == SMP
    assert patch["query"] == {"fieldManager": ["kubectl-set"]}
    assert patch["body"] == {
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"},
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory"},
        ]
    }


def test_edit_sends_a_strategic_merge_patch_with_field_manager_kubectl_edit():
    patch = only_write("crb_edit")
    assert patch["method"] == "PATCH"
    assert patch["content_type"] == SMP
    assert patch["query"] == {"fieldManager": ["kubectl-edit"], "fieldValidation": ["Strict"]}
    assert set(patch["body"]) == {"subjects"}  # no resourceVersion precondition, last-applied untouched
    assert {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "intruder"} in patch["body"]["subjects"]


def test_replace_is_a_put_with_the_resource_version_kubectl_fetched_first():
    requests = [r for r in command("crb_replace")["requests"] if r["path"].startswith(RBAC)]
    assert [r["method"] for r in requests] == ["GET", "PUT"]
    get, put = requests
    assert put["content_type"] == "application/json"
    assert put["query"] == {"fieldManager": ["kubectl-replace"], "fieldValidation": ["Strict"]}
    assert put["body"]["metadata"] == {
        "name": "viewers",
        "resourceVersion": get["response"]["metadata"]["resourceVersion"],
    }
    assert put["body"]["roleRef"]["name"] == "view"
    assert put["body"]["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "auditors"}]


@pytest.mark.parametrize(
    ("command_id", "rule"),
    [
        ("cr_create_wildcard", {"apiGroups": [""], "resources": ["*"], "verbs": ["*"]}),
        (
            "cr_create_impersonate",
            {"apiGroups": [""], "resources": ["users", "groups", "serviceaccounts"], "verbs": ["impersonate"]},
        ),
    ],
)
def test_create_clusterrole_rules(command_id: str, rule: dict[str, list[str]]):
    post = only_write(command_id)
    assert bare_path(post) == f"{RBAC}/clusterroles"
    assert post["content_type"] == PROTOBUF
    assert post["body"]["rules"] == [rule]


def test_create_role_with_escalate_and_bind():
    post = only_write("role_create_escalate")
    assert bare_path(post) == f"{RBAC}/namespaces/kube-system/roles"
    assert post["body"]["kind"] == "Role"
    assert post["body"]["rules"] == [
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate", "bind"]}
    ]


def test_apply_of_an_aggregated_clusterrole_posts_the_aggregation_label():
    post = only_write("cr_apply_aggregated")
    assert post["content_type"] == "application/json"
    assert post["query"]["fieldManager"] == ["kubectl-client-side-apply"]
    assert post["body"]["metadata"]["labels"] == {"rbac.authorization.k8s.io/aggregate-to-view": "true"}
    assert post["body"]["rules"] == [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]


def test_label_is_a_merge_patch_of_metadata_labels():
    patch = only_write("cr_label_aggregate")
    assert bare_path(patch) == f"{RBAC}/clusterroles/imp"
    assert patch["content_type"] == "application/merge-patch+json"
    assert patch["query"] == {"fieldManager": ["kubectl-label"]}
    assert patch["body"] == {"metadata": {"labels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}}


def test_delete_sends_background_propagation_then_polls_with_get():
    requests = [r for r in command("crb_delete")["requests"] if r["path"].startswith(RBAC)]
    assert [(r["method"], r["path"], r["status"]) for r in requests] == [
        ("DELETE", f"{RBAC}/clusterrolebindings/backdoor", 200),
        ("GET", f"{RBAC}/clusterrolebindings/backdoor", 404),
    ]
    delete = requests[0]
    assert delete["query"] == {}
    assert delete["content_type"] == "application/json"
    assert delete["body"] == {"propagationPolicy": "Background"}
    assert delete["response"]["kind"] == "Status"
    assert delete["response"]["details"]["kind"] == "clusterrolebindings"


def test_delete_all_lists_then_deletes_each_object_not_deletecollection():
    requests = [r for r in command("rb_delete_collection")["requests"] if r["path"].startswith(RBAC)]
    collection = f"{RBAC}/namespaces/team-a/rolebindings"
    assert [(r["method"], r["path"]) for r in requests] == [
        ("GET", collection),
        ("DELETE", f"{collection}/team-admin"),
        ("DELETE", f"{collection}/team-view"),
        ("GET", f"{collection}/team-admin"),
        ("GET", f"{collection}/team-view"),
    ]
    assert all(r["body"] == {"propagationPolicy": "Background"} for r in requests if r["method"] == "DELETE")


def test_apply_replace_and_edit_read_openapi_v3_for_field_validation():
    for command_id in ("crb_apply_create", "crb_apply_update", "crb_apply_server_side", "crb_edit", "crb_replace"):
        paths = [bare_path(r) for r in command(command_id)["requests"]]
        assert "/openapi/v3" in paths, command_id
        assert f"/openapi/v3{RBAC}" in paths, command_id
    # client-side apply of an existing object also asks for OpenAPI v2 (protobuf) and copes with a 404
    v2 = [r for r in command("crb_apply_update")["requests"] if bare_path(r) == "/openapi/v2"]
    assert [(r["accept"], r["status"]) for r in v2] == [
        ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf", 404)
    ]


def test_discovery_asks_for_aggregated_v2_first():
    api = [r for r in command("crb_apply_create")["requests"] if bare_path(r) in ("/api", "/apis")]
    assert [bare_path(r) for r in api] == ["/api", "/apis"]
    for request in api:
        assert request["accept"].split(",")[0] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        assert request["response_content_type"] == request["accept"].split(",")[0]
