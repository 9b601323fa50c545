"""Property: whatever the write form, a ClusterRoleBinding that ends up binding an admin-equivalent role to a
subject that is not an expected admin is CRITICAL, through the real dispatch and judge.

Forms: create, update (PUT), JSON patch (add one subject, replace the list, add at an index), merge patch,
strategic-merge patch (what kubectl edit/set send), server-side apply; with the logged result
(`responseObject`) or without it (replayed by eksguard on the binding it holds).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eksguard.severity import Severity
from tests.aws_auth_support import ADMIN
from tests.rbac_harness import World
from tests.rbac_support import admin_session, audit_entry, recorded_write

RBAC = "rbac.authorization.k8s.io"
NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-:.@", min_size=1, max_size=30).filter(
    lambda n: n not in (ADMIN,)
)
SUBJECT = st.one_of(
    st.builds(lambda n: {"apiGroup": RBAC, "kind": "User", "name": n}, NAME),
    st.builds(lambda n: {"apiGroup": RBAC, "kind": "Group", "name": n}, NAME),
    st.builds(
        lambda n, ns: {"kind": "ServiceAccount", "name": n, "namespace": ns},
        NAME,
        st.sampled_from(["default", "kube-system", "ci", "team-a"]),
    ),
    st.sampled_from(
        [
            {"apiGroup": RBAC, "kind": "Group", "name": "system:authenticated"},
            {"apiGroup": RBAC, "kind": "Group", "name": "system:masters"},
            {"apiGroup": RBAC, "kind": "User", "name": "system:anonymous"},
            {"apiGroup": RBAC, "kind": "User", "name": f"arn:aws:iam::111122223333:role/{'x' * 5}"},
        ]
    ),
)
ADMIN_ROLE = st.sampled_from(["cluster-admin", "admin", "edit", "system:controller:clusterrole-aggregation-controller"])
FORMS = ["create", "update", "json-add", "json-replace", "json-insert", "merge", "strategic", "apply"]
EXPECTED_SUBJECT = {"apiGroup": RBAC, "kind": "User", "name": ADMIN}


def binding(name: str, role: str, subjects: list[dict[str, Any]], rv: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "resourceVersion": str(rv)},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


def write_for(form: str, role: str, subject: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(recorded kubectl request reshaped to this binding, the object it results in)."""
    result = binding("grant", role, [EXPECTED_SUBJECT, subject], 1001)
    if form in ("create", "update"):
        write = copy.deepcopy(recorded_write("crb_create_user" if form == "create" else "crb_replace"))
        write["path"] = write["path"].replace("/viewers", "/grant")
        write["body"] = copy.deepcopy(result)
    elif form.startswith("json"):
        write = copy.deepcopy(recorded_write("crb_patch_json"))
        op = {
            "json-add": {"op": "add", "path": "/subjects/-", "value": subject},
            "json-replace": {"op": "replace", "path": "/subjects", "value": [EXPECTED_SUBJECT, subject]},
            "json-insert": {"op": "add", "path": "/subjects/0", "value": subject},
        }[form]
        write["body"] = [op]
        if form == "json-insert":
            result["subjects"] = [subject, EXPECTED_SUBJECT]
    elif form == "apply":
        write = copy.deepcopy(recorded_write("crb_apply_server_side"))
        write["body"] = {k: v for k, v in result.items() if k != "metadata"} | {"metadata": {"name": "grant"}}
    else:
        write = copy.deepcopy(recorded_write("crb_patch_merge" if form == "merge" else "crb_edit"))
        write["body"] = {"subjects": [EXPECTED_SUBJECT, subject]}
    write["path"] = write["path"].replace("/viewers", "/grant").replace("/ssa-admin", "/grant")
    write["response"] = result
    write["status"] = 201 if form == "create" else 200
    return write, result


@settings(max_examples=150, deadline=None)
@given(subject=SUBJECT, role=ADMIN_ROLE, form=st.sampled_from(FORMS), logged_result=st.booleans())
def test_any_write_form_ending_in_an_admin_binding_for_a_non_expected_subject_is_critical(
    subject: dict[str, Any], role: str, form: str, logged_result: bool
) -> None:
    world = World()
    if form != "create":
        # eksguard saw the binding created for the expected admin alone
        seed = copy.deepcopy(recorded_write("crb_create_user"))
        seed["body"] = seed["response"] = binding("grant", role, [EXPECTED_SUBJECT], 1000)
        world.deliver(audit_entry(seed, "seed", actor=admin_session()))
    write, _ = write_for(form, role, subject)
    entry = audit_entry(write, "w1", response="recorded" if logged_result else None)
    alerts = [a for a in world.alerts(entry) if a.kind == "rbac"]
    assert alerts, (form, subject)
    assert alerts[0].severity is Severity.CRITICAL, (form, subject, alerts[0].title)
    assert alerts[0].summary is not None and subject["name"] in alerts[0].summary
