"""Builders for RBAC audit entries from what a real kubectl sent (tests/data/kubectl_rbac_requests.json,
recorded by scripts/record_kubectl_requests.py against a stand-in API server).

An entry is what the API server's audit backend writes for that request at RequestResponse level
(k8s.io/apiserver/pkg/audit: `requestObject` is the decoded request body, or the patch as sent;
`responseObject` the object as stored; `objectRef` from the request info, with the name of a created
object filled in from the body).
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.aws_auth_support import ACCOUNT, ADMIN

RECORDING = Path(__file__).resolve().parent / "data" / "kubectl_rbac_requests.json"
RBAC_GROUP = "rbac.authorization.k8s.io"
KUBECTL_ROLE = f"arn:aws:iam::{ACCOUNT}:role/kubectl-prod"
VIEWER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ReadOnly"
VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@functools.cache
def _recording() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RECORDING.read_text(encoding="utf-8"))
    return data


def recorded_writes(command_id: str) -> list[dict[str, Any]]:
    """The RBAC write requests kubectl sent for one recorded command, in order."""
    for command in _recording()["commands"]:
        if command["id"] == command_id:
            return [
                copy.deepcopy(r)
                for r in command["requests"]
                if r["method"] != "GET" and f"/apis/{RBAC_GROUP}/" in r["path"]
            ]
    raise KeyError(command_id)


def recorded_write(command_id: str) -> dict[str, Any]:
    (write,) = recorded_writes(command_id)
    return write


def user(arn: str = KUBECTL_ROLE, session: str = "i-0123456789abcdef0", username: str | None = None) -> dict[str, Any]:
    """An IAM principal as EKS authenticates it (access entry: the user name is the session ARN)."""
    name = arn.rsplit("/", 1)[1]
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{session}"
    return {
        "username": username or session_arn,
        "uid": f"aws-iam-authenticator:{ACCOUNT}:AROAEXAMPLE{name.upper()[:8]}",
        "groups": ["system:authenticated"],
        "extra": {
            "accessKeyId": ["ASIAEXAMPLE0000001"],
            "arn": [session_arn],
            "canonicalArn": [arn],
            "principalId": [f"AROAEXAMPLE{name.upper()[:8]}"],
            "sessionName": [session],
        },
    }


def object_ref(path: str, body: Any) -> dict[str, Any]:
    parts = unquote(urlsplit(path).path).strip("/").split("/")
    rest = parts[3:]
    ref: dict[str, Any] = {"apiGroup": RBAC_GROUP, "apiVersion": "v1"}
    if rest[0] == "namespaces":
        ref["namespace"] = rest[1]
        rest = rest[2:]
    ref["resource"] = rest[0]
    if len(rest) > 1:
        ref["name"] = rest[1]
    elif isinstance(body, dict) and isinstance(body.get("metadata"), dict) and body["metadata"].get("name"):
        ref["name"] = body["metadata"]["name"]
    return ref


def audit_entry(
    write: dict[str, Any],
    audit_id: str = "rbac-0001",
    *,
    actor: dict[str, Any] | None = None,
    code: int | None = None,
    response: Any = "recorded",
    level: str = "RequestResponse",
    ts: str = "2025-06-01T10:00:00.000000Z",
    impersonated: str | None = None,
) -> dict[str, Any]:
    """The audit entry of one recorded write. `code=403` makes it a denied write (a Status response);
    `response=None` drops the responseObject (as a Metadata or Request level entry would)."""
    path = write["path"]
    body = write.get("body")
    status = code if code is not None else write["status"]
    verb = VERBS[write["method"]]
    ref = object_ref(path, body)
    if verb == "delete" and "name" not in ref:
        verb = "deletecollection"
    entry: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level,
        "auditID": audit_id,
        "stage": "ResponseComplete",
        "requestURI": path,
        "verb": verb,
        "user": actor or user(),
        "sourceIPs": ["10.0.12.34"],
        "userAgent": write.get("user_agent") or "kubectl",
        "objectRef": ref,
        "responseStatus": {"metadata": {}, "code": status},
        "requestReceivedTimestamp": ts,
        "stageTimestamp": ts,
        "annotations": {"authorization.k8s.io/decision": "allow" if status < 400 else "forbid"},
    }
    if impersonated:
        entry["impersonatedUser"] = {"username": impersonated, "groups": ["system:authenticated"]}
    if verb in ("delete", "deletecollection") and isinstance(body, dict):
        # the API server decodes the options and logs them as a typed object
        body = {"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1", **body}
    if level in ("Request", "RequestResponse") and body is not None:
        entry["requestObject"] = body
    if level == "RequestResponse":
        if status >= 400:
            entry["responseObject"] = {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "Forbidden",
                "code": status,
            }
            entry["responseStatus"].update({"status": "Failure", "reason": "Forbidden"})
        elif response == "recorded":
            entry["responseObject"] = write.get("response")
        elif response is not None:
            entry["responseObject"] = response
    return entry


def admin_session() -> dict[str, Any]:
    """An expected admin (the Admin role of tests.aws_auth_support)."""
    return user(ADMIN, session="alice")
