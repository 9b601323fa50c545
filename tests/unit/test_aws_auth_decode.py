from __future__ import annotations

import json

import pytest

from eksguard.audit_log.patches import PatchError, json_patch, strategic_merge_patch
from eksguard.audit_log.request import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    normalise_timestamp,
    patch_form,
)
from eksguard.aws_auth.decode import decode_change
from tests.aws_auth_support import ADMIN_YAML, BASE, INTRUDER_YAML, URI, VIEWER_YAML, audit_event, configmap

PRIOR = {"mapRoles": BASE, "mapUsers": ""}


def test_update_uses_response_object_and_names_the_actor() -> None:
    event = audit_event(
        "update", "a1", request=configmap({"mapRoles": "stale"}, 9), response=configmap({"mapRoles": BASE}, 10), uri=URI
    )
    change = decode_change(event, None)
    assert change is not None
    assert (change.effect, change.write_form, change.data, change.resource_version) == (
        "changed",
        "update",
        {"mapRoles": BASE},
        "10",
    )
    assert change.actor.arn == "arn:aws:sts::111122223333:assumed-role/Admin/alice"
    assert change.actor.session_name == "alice"
    assert change.actor.source_ips == ("203.0.113.10",)


def test_update_without_response_uses_the_full_request_object() -> None:
    event = audit_event("update", "a1", request=configmap({"mapRoles": ADMIN_YAML}, 9))
    change = decode_change(event, PRIOR)
    assert change is not None and change.data == {"mapRoles": ADMIN_YAML}


def test_merge_patch_replayed_on_prior_state() -> None:
    event = audit_event("patch", "a1", request={"data": {"mapRoles": BASE + INTRUDER_YAML, "mapUsers": None}})
    change = decode_change(event, PRIOR)
    assert change is not None
    assert change.write_form == MERGE_PATCH
    assert change.data == {"mapRoles": BASE + INTRUDER_YAML}


def test_strategic_merge_with_last_applied_annotation_and_directives() -> None:
    last_applied = json.dumps({"data": {"mapRoles": BASE + VIEWER_YAML}})
    request = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied}},
        "data": {"mapRoles": BASE + VIEWER_YAML, "$retainKeys": ["mapRoles"]},
    }
    event = audit_event("patch", "a1", request=request, uri=URI + "?fieldManager=kubectl-client-side-apply")
    change = decode_change(event, {**PRIOR, "mapAccounts": "- '1'"})
    assert change is not None and change.write_form == STRATEGIC_MERGE_PATCH
    assert change.data == {"mapRoles": BASE + VIEWER_YAML}


def test_strategic_merge_replace_and_delete_directives() -> None:
    replaced = strategic_merge_patch({"data": {"a": "1", "b": "2"}}, {"data": {"$patch": "replace", "c": "3"}})
    assert replaced == {"data": {"c": "3"}}
    deleted = strategic_merge_patch({"data": {"a": "1"}, "x": 1}, {"data": {"$patch": "delete"}})
    assert deleted == {"x": 1}
    ordered = strategic_merge_patch({"data": {"a": "1"}}, {"$setElementOrder/data": [], "data": {"b": "2"}})
    assert ordered == {"data": {"a": "1", "b": "2"}}


def test_json_patch_all_operations() -> None:
    doc = {"data": {"mapRoles": BASE, "mapUsers": "u"}}
    ops = [
        {"op": "test", "path": "/data/mapRoles", "value": BASE},
        {"op": "copy", "from": "/data/mapRoles", "path": "/data/backup"},
        {"op": "move", "from": "/data/mapUsers", "path": "/data/mapAccounts"},
        {"op": "replace", "path": "/data/mapRoles", "value": ADMIN_YAML},
        {"op": "add", "path": "/data/a~1b", "value": "slash"},
        {"op": "remove", "path": "/data/backup"},
    ]
    assert json_patch(doc, ops) == {"data": {"mapRoles": ADMIN_YAML, "mapAccounts": "u", "a/b": "slash"}}
    assert doc == {"data": {"mapRoles": BASE, "mapUsers": "u"}}  # input untouched


def test_json_patch_event_and_failing_test_means_content_unknown() -> None:
    ops = [
        {"op": "test", "path": "/data/mapRoles", "value": BASE},
        {"op": "replace", "path": "/data/mapRoles", "value": BASE + INTRUDER_YAML},
    ]
    event = audit_event("patch", "a1", request=ops)
    change = decode_change(event, PRIOR)
    assert change is not None and change.write_form == JSON_PATCH
    assert change.data == {"mapRoles": BASE + INTRUDER_YAML, "mapUsers": ""}
    stale = decode_change(event, {"mapRoles": ADMIN_YAML})
    assert stale is not None and stale.effect == "unknown"
    assert "could not be replayed" in (stale.unknown_reason or "")


def test_json_patch_without_prior_is_lenient() -> None:
    ops = [
        {"op": "test", "path": "/data/mapRoles", "value": "whatever"},
        {"op": "replace", "path": "/data/mapRoles", "value": INTRUDER_YAML},
    ]
    change = decode_change(audit_event("patch", "a1", request=ops), None)
    assert change is not None and change.data == {"mapRoles": INTRUDER_YAML}
    assert any("no earlier aws-auth state" in n for n in change.notes)
    with pytest.raises(PatchError):
        json_patch({"data": {}}, [{"op": "remove", "path": "/data/missing"}])
    with pytest.raises(PatchError):
        json_patch({"data": {}}, [{"op": "frobnicate", "path": "/data"}])


def test_apply_patch_full_intent() -> None:
    intent = configmap({"mapRoles": ADMIN_YAML})
    event = audit_event("patch", "a1", request=intent, uri=URI + "?fieldManager=kubectl&force=true")
    change = decode_change(event, PRIOR)
    assert change is not None and change.write_form == APPLY_PATCH
    assert change.data == {"mapRoles": ADMIN_YAML, "mapUsers": ""}
    assert any("server-side apply" in n for n in change.notes)


@pytest.mark.parametrize(
    ("body", "uri", "form"),
    [
        ([{"op": "add", "path": "/data/x", "value": "1"}], URI, JSON_PATCH),
        (configmap({"a": "b"}), URI + "?fieldManager=flux", APPLY_PATCH),
        ({"data": {"a": "b"}}, URI + "?fieldManager=kubectl-edit", STRATEGIC_MERGE_PATCH),
        ({"data": {"a": "b"}}, URI + "?fieldManager=kubectl-patch", MERGE_PATCH),
    ],
)
def test_patch_form(body: object, uri: str, form: str) -> None:
    assert patch_form(body, uri) == form


def test_delete_and_metadata_only_create() -> None:
    deleted = decode_change(audit_event("delete", "a1", response={"kind": "Status", "status": "Success"}), PRIOR)
    assert deleted is not None and deleted.effect == "deleted"
    created = decode_change(audit_event("create", "a2", code=201, level="Metadata"), None)
    assert created is not None and created.effect == "unknown"
    assert "Metadata level" in (created.unknown_reason or "")
    with_body = decode_change(audit_event("create", "a3", code=201, request=configmap({"mapRoles": BASE})), None)
    assert with_body is not None and with_body.data == {"mapRoles": BASE}


def test_failed_write_is_an_attempt_with_what_was_tried() -> None:
    event = audit_event("patch", "a1", code=403, request={"data": {"mapRoles": BASE + INTRUDER_YAML}})
    change = decode_change(event, PRIOR)
    assert change is not None
    assert change.effect == "failed" and change.data is None
    assert change.attempted_data == {"mapRoles": BASE + INTRUDER_YAML, "mapUsers": ""}


@pytest.mark.parametrize("verb", ["get", "list", "watch"])
def test_reads_are_ignored(verb: str) -> None:
    assert decode_change(audit_event(verb, "a1"), PRIOR) is None


def test_non_final_stages_are_ignored() -> None:
    assert (
        decode_change(
            audit_event("update", "a1", stage="ResponseStarted", request=configmap({"mapRoles": INTRUDER_YAML})), PRIOR
        )
        is None
    )


def test_timestamps_normalise_to_sortable_utc() -> None:
    assert normalise_timestamp("2025-05-01T10:00:00Z") == "2025-05-01T10:00:00.000000Z"
    assert normalise_timestamp("2025-05-01T12:00:00.5+02:00") == "2025-05-01T10:00:00.500000Z"


@pytest.mark.parametrize(
    ("query", "effect"),
    [
        ("?dryRun=All", "dry_run"),
        ("?dryRun=All&dryRun=All", "dry_run"),
        ("?dryRun=%zz", "changed"),  # Go's ParseQuery drops a pair with a bad escape: a real write
        ("?dryRun=All;", "changed"),  # ... and a pair holding ';'
        ("?dryrun=All", "changed"),
    ],
)
def test_dry_run_is_read_as_the_api_server_reads_the_query(query: str, effect: str) -> None:
    data = {"mapRoles": BASE + INTRUDER_YAML}
    event = audit_event("update", "a", request=configmap(data, 1), response=configmap(data, 2), uri=URI + query)
    change = decode_change(event, PRIOR)
    assert change is not None and change.effect == effect


COLLECTION = "/api/v1/namespaces/kube-system/configmaps"


@pytest.mark.parametrize(
    ("query", "response", "effect"),
    [
        ("?fieldSelector=metadata.name%3Daws-auth&fieldSelector=metadata.name%3Dnope", None, "deleted"),
        ("?fieldSelector=metadata.name%3Dnope&fieldSelector=metadata.name%3Daws-auth", None, None),
        ("?fieldSelector=metadata.name%3Dnope%zz", None, "deleted"),  # the bad pair is dropped: no selector
        (
            "?fieldSelector=metadata.name%3Dnope",
            {"kind": "ConfigMapList", "items": [{"metadata": {"name": "aws-auth"}}]},
            "deleted",
        ),
        ("?labelSelector=a%3Db", {"kind": "ConfigMapList", "items": [{"metadata": {"name": "x"}}]}, None),
        ("?fieldSelector=metadata.name%21%3Daws-auth", None, None),
    ],
)
def test_deletecollection_selector_and_response(query: str, response: dict | None, effect: str | None) -> None:
    event = audit_event("deletecollection", "dc", uri=COLLECTION + query, response=response)
    del event["objectRef"]["name"]
    change = decode_change(event, PRIOR)
    assert (change.effect if change else None) == effect


def test_json_patch_testing_the_resource_version_replays_without_a_response() -> None:
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "100"},
        {"op": "replace", "path": "/data/mapRoles", "value": BASE + INTRUDER_YAML},
    ]
    event = audit_event("patch", "jp", request=ops)
    change = decode_change(event, PRIOR, "100")
    assert change is not None and change.effect == "changed" and change.replaced_version == "100"
    assert change.data == {"mapRoles": BASE + INTRUDER_YAML, "mapUsers": ""}
    stale = decode_change(event, PRIOR, "99")
    assert stale is not None and stale.effect == "unknown"
