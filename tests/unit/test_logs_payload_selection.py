"""Which audit lines `audit_records` hands to the aws-auth detector.

The catalogue of lines built here (every aws-auth write form, and typical noise) is shared with
test_filter_pattern.py, so the subscription filter and the selection are tested on the same lines.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from eksguard.audit_log.payload import (
    TRUNCATION_MARKER,
    AuditRecord,
    LogEvent,
    audit_records,
    decode_awslogs,
    is_aws_auth_ref,
    is_configmap_collection_ref,
    might_be_selected,
    truncated_fields,
)
from tests.aws_auth_support import BASE, URI, audit_event, configmap, delivery, update

CWL_EVENT_LIMIT = 256 * 1024
COLLECTION_URI = "/api/v1/namespaces/kube-system/configmaps"


def line(event: dict[str, Any]) -> str:
    """Compact JSON, as the API server writes an audit entry."""
    return json.dumps(event, separators=(",", ":"))


def truncate(text: str, at: int = CWL_EVENT_LIMIT - len(TRUNCATION_MARKER)) -> str:
    """What CloudWatch Logs stores for an entry over 256 KB."""
    assert len(text) > at, "the entry is not big enough to be truncated"
    return text[:at] + TRUNCATION_MARKER


def without_name(event: dict[str, Any]) -> dict[str, Any]:
    event["objectRef"].pop("name", None)
    return event


def deletecollection(audit_id: str, query: str = "", namespace: str = "kube-system", resource: str = "configmaps"):
    uri = f"/api/v1/namespaces/{namespace}/{resource}" + (f"?{query}" if query else "")
    event = without_name(audit_event("deletecollection", audit_id, uri=uri, namespace=namespace))
    event["objectRef"]["resource"] = resource
    return event


def pad_extra(event: dict[str, Any], size: int = 300_000) -> dict[str, Any]:
    """Impersonate-Extra-* headers land in user.extra, which is written before objectRef."""
    event["user"]["extra"]["padding"] = ["x" * size]
    return event


def pad_source_ips(event: dict[str, Any], count: int = 20_000) -> dict[str, Any]:
    """X-Forwarded-For entries land in sourceIPs, also written before objectRef."""
    event["sourceIPs"] = [f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}" for i in range(count)]
    return event


def cut_before_object_ref(event: dict[str, Any]) -> str:
    text = truncate(line(event))
    assert '"objectRef"' not in text and "aws-auth" not in text.split('"requestURI"')[0]
    return text


def big_update() -> dict[str, Any]:
    roles = BASE + "".join(f"- rolearn: arn:aws:iam::111122223333:role/r{i}\n  username: u{i}\n" for i in range(9000))
    return update("big", roles, 7)


# ------------------------------------------------------------------ the catalogue

ONE_ROLE = BASE
MERGE = {"data": {"mapRoles": ONE_ROLE}}

# Every aws-auth write form must be selected (and forwarded by the subscription filter).
WRITE_FORMS: dict[str, str] = {
    "create (Metadata level)": line(
        audit_event("create", "c1", uri=COLLECTION_URI + "?fieldManager=eksctl", level="Metadata")
    ),
    "update": line(update("u1", ONE_ROLE, 2)),
    "update dry run": line(
        audit_event(
            "update", "u2", uri=URI + "?dryRun=All", request=configmap(MERGE["data"]), response=configmap(MERGE["data"])
        )
    ),
    "patch merge (Metadata level)": line(audit_event("patch", "p1", level="Metadata")),
    "patch merge (RequestResponse)": line(
        audit_event("patch", "p2", request=MERGE, response=configmap(MERGE["data"], 3))
    ),
    "patch json": line(audit_event("patch", "p3", request=[{"op": "remove", "path": "/data/mapUsers"}])),
    "delete": line(audit_event("delete", "d1", uri=URI)),
    "delete dry run": line(audit_event("delete", "d2", uri=URI + "?dryRun=All")),
    "deletecollection, no selector": line(deletecollection("dc1")),
    "deletecollection, fieldSelector aws-auth": line(deletecollection("dc2", "fieldSelector=metadata.name%3Daws-auth")),
    "deletecollection, labelSelector": line(deletecollection("dc3", "labelSelector=app%21%3Dnone")),
    "deletecollection, dry run": line(deletecollection("dc4", "dryRun=All")),
    "deletecollection, Metadata level": line({**deletecollection("dc5"), "level": "Metadata"}),
    "update truncated after objectRef": truncate(line(big_update())),
    "update cut before objectRef (user.extra padded)": cut_before_object_ref(pad_extra(update("t1", ONE_ROLE, 4))),
    "patch cut before objectRef (sourceIPs padded)": cut_before_object_ref(pad_source_ips(audit_event("patch", "t2"))),
    "update cut before objectRef, name percent-encoded": cut_before_object_ref(
        pad_extra(audit_event("update", "t3", uri=URI.replace("aws-auth", "aws%2Dauth")))
    ),
    "deletecollection cut before objectRef": cut_before_object_ref(pad_extra(deletecollection("t4"))),
    "deletecollection cut inside requestURI": truncate(
        line(deletecollection("t5", "labelSelector=" + ",".join(f"k{i}%21%3Dv" for i in range(40_000))))
    ),
    "create cut before objectRef": cut_before_object_ref(
        pad_extra(audit_event("create", "t6", uri=COLLECTION_URI, level="Metadata"))
    ),
}

KUBELET_WATCH = (
    COLLECTION_URI + "?allowWatchBookmarks=true&fieldSelector=metadata.name%3D{name}"
    "&resourceVersion=4711&timeout=7m2s&timeoutSeconds=422&watch=true"
)


def _lease_update() -> dict[str, Any]:
    node = "ip-10-0-1-23.eu-west-1.compute.internal"
    event = audit_event(
        "update",
        "n1",
        uri=f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}",
        level="Metadata",
        namespace="kube-node-lease",
        name=node,
    )
    event["objectRef"].update({"resource": "leases", "apiGroup": "coordination.k8s.io"})
    event["user"] = {"username": f"system:node:{node}", "groups": ["system:nodes", "system:authenticated"]}
    return event


def _read(verb: str, uri: str, resource: str, namespace: str, name: str | None) -> dict[str, Any]:
    event = audit_event(verb, f"r-{verb}-{name}", uri=uri, level="Metadata", namespace=namespace, name=name or "x")
    event["objectRef"]["resource"] = resource
    return without_name(event) if name is None else event


# Typical audit-log traffic that is not about aws-auth: the subscription filter must drop it.
NOISE: dict[str, str] = {
    "node lease update": line(_lease_update()),
    "pod get": line(_read("get", "/api/v1/namespaces/default/pods/web-1", "pods", "default", "web-1")),
    "pod list": line(_read("list", "/api/v1/namespaces/default/pods?limit=500", "pods", "default", None)),
    "pod watch": line(_read("watch", "/api/v1/pods?allowWatchBookmarks=true&watch=true", "pods", "", None)),
    "coredns configmap get": line(_read("get", COLLECTION_URI + "/coredns", "configmaps", "kube-system", "coredns")),
    "kube-proxy configmap watch (kubelet)": line(
        _read("watch", KUBELET_WATCH.format(name="kube-proxy"), "configmaps", "kube-system", "kube-proxy")
    ),
    "kube-system configmap list": line(_read("list", COLLECTION_URI + "?limit=500", "configmaps", "kube-system", None)),
    "namespace controller deletecollection of pods": line(deletecollection("ns1", namespace="team-a", resource="pods")),
}

# Forwarded by the subscription filter (cheaper than a narrower pattern could be), dropped by the function.
FORWARDED_BUT_NOT_AWS_AUTH: dict[str, str] = {
    "deletecollection of configmaps in another namespace": line(deletecollection("o1", namespace="team-a")),
    "custom resource named aws-auth": line(
        {
            **audit_event("update", "o2", uri="/apis/evil.example.com/v1/namespaces/kube-system/configmaps/aws-auth"),
            "objectRef": {
                "resource": "configmaps",
                "namespace": "kube-system",
                "name": "aws-auth",
                "apiGroup": "evil.example.com",
                "apiVersion": "v1",
            },
        }
    ),
    "big CRD update truncated": truncate(
        line(
            {
                **audit_event(
                    "update", "o3", uri="/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x.example.com"
                ),
                "objectRef": {"resource": "customresourcedefinitions", "name": "x.example.com", "apiVersion": "v1"},
                "requestObject": {"spec": "y" * 300_000},
            }
        )
    ),
}


def records(*messages: str | dict[str, Any]) -> list[AuditRecord]:
    return list(audit_records(decode_awslogs(delivery(list(messages)))))


def log_event(message: str) -> LogEvent:
    return LogEvent(id="1", timestamp=0, message=message)


# ------------------------------------------------------------------ the core API group only


def test_custom_resource_named_aws_auth_is_not_selected() -> None:
    assert records(FORWARDED_BUT_NOT_AWS_AUTH["custom resource named aws-auth"]) == []


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ({"resource": "configmaps", "namespace": "kube-system", "name": "aws-auth"}, True),
        ({"resource": "configmaps", "namespace": "kube-system", "name": "aws-auth", "apiVersion": "v1"}, True),
        ({"resource": "configmaps", "namespace": "kube-system", "name": "aws-auth", "apiGroup": ""}, True),
        (
            {"resource": "configmaps", "namespace": "kube-system", "name": "aws-auth", "apiGroup": "evil.example.com"},
            False,
        ),
        ({"resource": "configmaps", "namespace": "kube-system", "name": "aws-auth", "apiVersion": "v1beta1"}, False),
        ({"resource": "configmaps", "namespace": "kube-system", "name": "aws-auth", "subresource": "x"}, False),
        ({"resource": "configmaps", "namespace": "default", "name": "aws-auth"}, False),
        (None, False),
    ],
)
def test_is_aws_auth_ref(ref: dict[str, str] | None, expected: bool) -> None:
    assert is_aws_auth_ref(ref) is expected


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ({"resource": "configmaps", "namespace": "kube-system", "apiVersion": "v1"}, True),
        ({"resource": "configmaps", "namespace": "kube-system", "name": ""}, True),
        ({"resource": "configmaps", "namespace": "kube-system", "name": "aws-auth"}, False),
        ({"resource": "configmaps", "namespace": "team-a", "apiVersion": "v1"}, False),
        ({"resource": "secrets", "namespace": "kube-system", "apiVersion": "v1"}, False),
        ({"resource": "configmaps", "namespace": "kube-system", "apiGroup": "evil.example.com"}, False),
        ({"resource": "configmaps", "namespace": "kube-system", "apiVersion": "v2"}, False),
        ({"resource": "configmaps", "namespace": "kube-system", "subresource": "status"}, False),
        ("configmaps", False),
    ],
)
def test_is_configmap_collection_ref(ref: object, expected: bool) -> None:
    assert is_configmap_collection_ref(ref) is expected  # type: ignore[arg-type]


# ------------------------------------------------------------------ deletecollection


@pytest.mark.parametrize(
    "form",
    [
        "deletecollection, no selector",
        "deletecollection, fieldSelector aws-auth",
        "deletecollection, labelSelector",
        "deletecollection, dry run",
        "deletecollection, Metadata level",
    ],
)
def test_deletecollection_in_kube_system_is_selected_as_a_collection_record(form: str) -> None:
    (record,) = records(WRITE_FORMS[form])
    assert record.collection and not record.truncated
    assert record.event is not None and record.event["verb"] == "deletecollection"


def test_deletecollection_elsewhere_is_not_selected() -> None:
    assert records(FORWARDED_BUT_NOT_AWS_AUTH["deletecollection of configmaps in another namespace"]) == []
    assert records(NOISE["namespace controller deletecollection of pods"]) == []


def test_reads_of_the_collection_are_dropped_here() -> None:
    watch = _read("watch", COLLECTION_URI + "?watch=true&labelSelector=app%3Dx", "configmaps", "kube-system", None)
    assert records(NOISE["kube-system configmap list"], watch) == []


def test_named_reads_of_aws_auth_are_still_selected_for_the_detector_to_ignore() -> None:
    """A list/watch with fieldSelector metadata.name=aws-auth carries the name in objectRef (RequestInfo)."""
    watch = _read("watch", KUBELET_WATCH.format(name="aws-auth"), "configmaps", "kube-system", "aws-auth")
    (record,) = records(watch)
    assert not record.collection


def test_the_fast_path_lets_deletecollection_and_truncated_lines_through() -> None:
    assert might_be_selected(WRITE_FORMS["deletecollection, no selector"])
    assert might_be_selected(WRITE_FORMS["deletecollection cut inside requestURI"])
    assert not might_be_selected(NOISE["pod get"])


def test_aws_auth_records_by_name_are_not_collection_records() -> None:
    (record,) = records(WRITE_FORMS["update"])
    assert not record.collection
    assert AuditRecord(log_event(""), None, {}).collection is False


# ------------------------------------------------------------------ verbs


@pytest.mark.parametrize("verb", [None, "", "frobnicate"])
def test_missing_or_unknown_verb_on_aws_auth_is_selected(verb: str | None) -> None:
    event = audit_event("update", "v1", uri=URI)
    if verb is None:
        del event["verb"]
    else:
        event["verb"] = verb
    (record,) = records(event)
    assert not record.collection


@pytest.mark.parametrize("verb", [None, "frobnicate"])
def test_missing_or_unknown_verb_on_the_collection_is_selected(verb: str | None) -> None:
    """The API server always writes a known verb for a resource request, so a whole line without one only
    reaches the function when it names aws-auth (here in the selector); a cut line always does."""
    event = deletecollection("v2", "fieldSelector=metadata.name%3Daws-auth")
    if verb is None:
        del event["verb"]
    else:
        event["verb"] = verb
    (record,) = records(event)
    assert record.collection


# ------------------------------------------------------------------ truncated lines


@pytest.mark.parametrize(
    ("form", "collection", "verb"),
    [
        ("update truncated after objectRef", False, "update"),
        ("update cut before objectRef (user.extra padded)", False, "update"),
        ("patch cut before objectRef (sourceIPs padded)", False, "patch"),
        ("update cut before objectRef, name percent-encoded", False, "update"),
        ("deletecollection cut before objectRef", True, "deletecollection"),
        ("deletecollection cut inside requestURI", True, None),
        ("create cut before objectRef", True, "create"),
    ],
)
def test_truncated_write_forms_are_selected(form: str, collection: bool, verb: str | None) -> None:
    (record,) = records(WRITE_FORMS[form])
    assert record.truncated and record.collection is collection
    fields = record.truncated_fields or {}
    assert fields["verb"] == verb
    assert fields["requestURI"] is not None and fields["requestURI"].startswith("/api/v1/namespaces/kube")
    assert fields["auditID"]
    assert fields["target"] == ("kube-system/configmaps" if collection else "kube-system/configmaps/aws-auth")


def test_truncated_fields_say_how_the_target_was_recognised() -> None:
    by_ref = truncated_fields(WRITE_FORMS["update truncated after objectRef"]) or {}
    by_uri = truncated_fields(WRITE_FORMS["update cut before objectRef (user.extra padded)"]) or {}
    assert (by_ref["matchedBy"], by_uri["matchedBy"]) == ("objectRef", "requestURI")
    assert by_uri["username"] == "admin" and by_uri["arn"] == "arn:aws:sts::111122223333:assumed-role/Admin/alice"


@pytest.mark.parametrize(
    "message",
    [
        FORWARDED_BUT_NOT_AWS_AUTH["big CRD update truncated"],
        truncate(line(pad_extra(audit_event("update", "x1", uri=COLLECTION_URI + "/coredns", name="coredns")))),
        truncate(line(pad_extra(audit_event("update", "x2", uri=URI.replace("kube-system", "team-a"))))),
        truncate(line(pad_extra(audit_event("list", "x3", uri=COLLECTION_URI + "?limit=500")))),
        truncate(line(pad_extra(audit_event("watch", "x4", uri=KUBELET_WATCH.format(name="aws-auth"))))),
        truncate(line(pad_extra(deletecollection("x5", namespace="team-a")))),
        truncate(
            line(
                pad_extra(
                    audit_event(
                        "update", "x6", uri="/apis/evil.example.com/v1/namespaces/kube-system/configmaps/aws-auth"
                    )
                )
            )
        ),
    ],
)
def test_truncated_lines_clearly_about_something_else_are_dropped(message: str) -> None:
    assert truncated_fields(message) is None
    assert records(message) == []


# ------------------------------------------------------------------ the whole catalogue


@pytest.mark.parametrize("form", sorted(WRITE_FORMS))
def test_every_write_form_is_selected(form: str) -> None:
    assert len(records(WRITE_FORMS[form])) == 1


@pytest.mark.parametrize("name", sorted(NOISE | FORWARDED_BUT_NOT_AWS_AUTH))
def test_noise_is_not_selected(name: str) -> None:
    assert records((NOISE | FORWARDED_BUT_NOT_AWS_AUTH)[name]) == []
