"""The installed subscription filter against RBAC lines: every write is forwarded (whatever the verb,
level, status or dry run, truncated too), reads are not, and what is forwarded reaches the RBAC judge."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eksguard.audit_log.enrol import FILTER_PATTERN
from eksguard.audit_log.payload import TOPIC_RBAC, audit_records, decode_awslogs
from tests import cwl_filter
from tests.aws_auth_support import delivery
from tests.rbac_support import _recording, audit_entry, recorded_writes, user

WRITE_COMMANDS = [c["id"] for c in _recording()["commands"] if recorded_writes(c["id"])]


def line(entry: dict[str, Any]) -> str:
    return json.dumps(entry, separators=(",", ":"))


def selected(message: str) -> list[str]:
    return [r.topic for r in audit_records(decode_awslogs(delivery([message])))]


def variants(command: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for i, write in enumerate(recorded_writes(command)):
        found += [
            (f"{i}-as-logged", audit_entry(write)),
            (f"{i}-denied", audit_entry(write, code=403)),
            (f"{i}-metadata", audit_entry(write, level="Metadata")),
            (f"{i}-impersonated", audit_entry(write, impersonated="system:admin")),
        ]
    return found


CASES = [(f"{c}/{name}", entry) for c in WRITE_COMMANDS for name, entry in variants(c)]


@pytest.mark.parametrize(("where", "entry"), CASES, ids=[w for w, _ in CASES])
def test_every_recorded_kubectl_write_is_forwarded_and_selected_for_the_rbac_judge(
    where: str, entry: dict[str, Any]
) -> None:
    message = line(entry)
    assert cwl_filter.matches(FILTER_PATTERN, message), where
    assert selected(message) == [TOPIC_RBAC]


def read(verb: str, resource: str, namespace: str | None = None, name: str | None = None) -> str:
    path = "/apis/rbac.authorization.k8s.io/v1/" + (f"namespaces/{namespace}/" if namespace else "") + resource
    ref: dict[str, Any] = {"resource": resource, "apiGroup": "rbac.authorization.k8s.io", "apiVersion": "v1"}
    if namespace:
        ref["namespace"] = namespace
    if name:
        ref["name"] = name
        path += f"/{name}"
    if verb == "watch":
        path += "?allowWatchBookmarks=true&resourceVersion=1&timeout=9m&watch=true"
    entry = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": "r-1",
        "stage": "ResponseComplete",
        "requestURI": path,
        "verb": verb,
        "user": {
            "username": "system:serviceaccount:kube-system:clusterrole-aggregation-controller",
            "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"],
        },
        "sourceIPs": ["10.0.0.1"],
        "userAgent": "kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/system:serviceaccount",
        "objectRef": ref,
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": "2025-06-01T10:00:00.000000Z",
        "stageTimestamp": "2025-06-01T10:00:00.000000Z",
    }
    return line(entry)


READS = {
    "watch clusterroles": read("watch", "clusterroles"),
    "list rolebindings everywhere": read("list", "rolebindings"),
    "get a clusterrolebinding": read("get", "clusterrolebindings", name="cluster-admin"),
    "list roles in kube-system": read("list", "roles", namespace="kube-system"),
    "get a role by name": read(
        "get", "roles", namespace="kube-system", name="extension-apiserver-authentication-reader"
    ),
}


@pytest.mark.parametrize("name", sorted(READS))
def test_rbac_reads_are_not_forwarded(name: str) -> None:
    assert not cwl_filter.matches(FILTER_PATTERN, READS[name])


def truncated(entry: dict[str, Any], before: str) -> str:
    """Pad `user.extra` (Impersonate-Extra-* headers do that) past 256 KB and cut where CloudWatch would."""
    entry = json.loads(json.dumps(entry))
    entry["user"]["extra"]["padding"] = ["p" * 270_000]
    text = line(entry)
    cut = text.index(before) - 10 if before else 262_000
    return text[:cut] + "[Truncated...]"


@pytest.mark.parametrize("before", ['"objectRef"', '"requestObject"', ""])
def test_truncated_rbac_writes_are_forwarded_and_reach_the_rbac_judge(before: str) -> None:
    write = recorded_writes("crb_create_user")[0]
    entry = audit_entry(write, actor=user())
    if before == '"requestObject"':
        # with the padding after objectRef (a huge annotation in the body), the reference is visible
        entry["requestObject"]["metadata"]["annotations"] = {"pad": "p" * 270_000}
        text = line(entry)
        message = text[: text.index('"requestObject"') + 5000] + "[Truncated...]"
    else:
        message = truncated(entry, before)
    assert message.endswith("[Truncated...]") and len(message) < 300_000
    assert cwl_filter.matches(FILTER_PATTERN, message)
    assert selected(message) == [TOPIC_RBAC]


def test_a_truncated_rbac_read_is_forwarded_but_not_judged() -> None:
    entry = json.loads(READS["watch clusterroles"])
    entry["user"]["extra"] = {"padding": ["p" * 270_000]}
    text = line(entry)
    message = text[: text.index('"objectRef"') - 10] + "[Truncated...]"
    assert cwl_filter.matches(FILTER_PATTERN, message)
    assert selected(message) == []
