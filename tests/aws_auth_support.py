"""Builders for aws-auth audit events and CloudWatch Logs deliveries used by the aws-auth tests."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

from eksguard.expected_admins import ExpectedAdmins

ACCOUNT = "111122223333"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Admin"
INTRUDER = f"arn:aws:iam::{ACCOUNT}:role/intruder"
NODE = f"arn:aws:iam::{ACCOUNT}:role/eks-node-group-role"
VIEWER = f"arn:aws:iam::{ACCOUNT}:role/ReadOnly"
URI = "/api/v1/namespaces/kube-system/configmaps/aws-auth"
LOG_GROUP = "/aws/eks/prod/cluster"
LOG_STREAM = "kube-apiserver-audit-0123456789abcdef"


def role(arn: str, *groups: str, username: str = "someone") -> str:
    lines = [f"- rolearn: {arn}", f"  username: {username}", "  groups:"]
    lines += [f"    - {g}" for g in groups]
    return "\n".join(lines) + "\n"


NODE_YAML = role(NODE, "system:bootstrappers", "system:nodes", username="system:node:{{EC2PrivateDNSName}}")
ADMIN_YAML = role(ADMIN, "system:masters", username="admin")
INTRUDER_YAML = role(INTRUDER, "system:masters", username="intruder")
VIEWER_YAML = role(VIEWER, "eksguard:viewers", username="viewer")
BASE = NODE_YAML + ADMIN_YAML


def expected_admins(*arns: str) -> ExpectedAdmins:
    """The real expected-admin list, with these ARN globs for every cluster (no kubectl role lookup)."""
    return ExpectedAdmins(list(arns))


def configmap(data: dict[str, Any] | None, rv: int | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "aws-auth", "namespace": "kube-system"}
    if rv is not None:
        metadata["resourceVersion"] = str(rv)
    obj: dict[str, Any] = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": metadata}
    if data is not None:
        obj["data"] = data
    return obj


def audit_event(
    verb: str,
    audit_id: str,
    *,
    request: Any = None,
    response: Any = None,
    code: int = 200,
    stage: str = "ResponseComplete",
    ts: str = "2025-05-01T10:00:00.000000Z",
    uri: str = URI + "?fieldManager=kubectl-patch",
    level: str = "RequestResponse",
    session: str = "alice",
    namespace: str = "kube-system",
    name: str = "aws-auth",
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level,
        "auditID": audit_id,
        "stage": stage,
        "requestURI": uri,
        "verb": verb,
        "user": {
            "username": "admin",
            "groups": ["system:masters", "system:authenticated"],
            "extra": {
                "arn": [f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/{session}"],
                "canonicalArn": [ADMIN],
                "sessionName": [session],
                "accessKeyId": ["ASIAEXAMPLE"],
            },
        },
        "sourceIPs": ["203.0.113.10"],
        "userAgent": "kubectl/v1.31.2",
        "objectRef": {"resource": "configmaps", "namespace": namespace, "name": name, "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": ts,
        "stageTimestamp": ts,
    }
    if request is not None:
        event["requestObject"] = request
    if response is not None:
        event["responseObject"] = response
    return event


def update(
    audit_id: str, map_roles: str, rv: int, ts: str = "2025-05-01T10:00:00.000000Z", **extra: Any
) -> dict[str, Any]:
    data = {"mapRoles": map_roles, **extra}
    return audit_event(
        "update", audit_id, request=configmap(data, rv - 1), response=configmap(data, rv), ts=ts, uri=URI
    )


def delivery(
    messages: list[str | dict[str, Any]],
    *,
    log_group: str = LOG_GROUP,
    log_stream: str = LOG_STREAM,
    message_type: str = "DATA_MESSAGE",
) -> dict[str, Any]:
    body = {
        "messageType": message_type,
        "owner": ACCOUNT,
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": ["eksguard-aws-auth"],
        "logEvents": [
            {
                "id": str(i),
                "timestamp": 1746093600000 + i,
                "message": m if isinstance(m, str) else json.dumps(m, separators=(",", ":")),
            }
            for i, m in enumerate(messages)
        ],
    }
    data = gzip.compress(json.dumps(body).encode(), mtime=0)
    return {"awslogs": {"data": base64.b64encode(data).decode()}}


def entry_keys(delivery_event: dict[str, Any]) -> list[str]:
    """The identities eksguard remembers for the lines of a delivery (not their auditIDs)."""
    from eksguard.audit_log.payload import decode_awslogs, entry_key

    return [entry_key(e) for e in decode_awslogs(delivery_event).events]
