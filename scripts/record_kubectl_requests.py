"""Record the exact HTTP requests a real kubectl sends for RBAC writes.

Starts an in-process stand-in Kubernetes API server on 127.0.0.1 (plain HTTP, random free port),
points a throw-away kubeconfig at it, runs a fixed list of kubectl commands (RBAC creates, client-
and server-side apply, every patch type, set subject, edit, replace, label, delete) and writes every
request each command sent, with the answer the stand-in gave, to tests/data/kubectl_rbac_requests.json.
Tests build Kubernetes audit-log entries from those real request shapes instead of guessing them.

Re-run it (from the repository root) whenever kubectl is upgraded:

    .venv/bin/python scripts/record_kubectl_requests.py
    .venv/bin/python scripts/record_kubectl_requests.py --kubectl /path/to/kubectl --discovery legacy

The output is stable: one fixed clock, deterministic uids, no ports or temp paths in it, JSON with
indent=1 and sorted keys, so a re-run only changes the file when kubectl's behaviour changes (and
the "recorded" date). Within a command requests keep their arrival order, except that requests
kubectl had in flight at the same time (client-go reads /api and /apis in parallel) are sorted by
path. Discovery, OpenAPI and /version answers are stored once under "documents" and referenced
from each request ("response_document") rather than repeated.

The stand-in server
  * serves /version, legacy discovery (/api, /api/v1, /apis, /apis/<group>/<version>) and, when
    the Accept header asks for it (kubectl 1.32 does), aggregated discovery
    (apidiscovery.k8s.io/v2; --discovery legacy turns that off), plus an OpenAPI v3 index and per
    group-version documents that list every operation with its query parameters and
    x-kubernetes-group-version-kind but no schemas. kubectl needs them: apply, replace and edit
    read them to learn that the server validates fields itself (fieldValidation=Strict); with
    /openapi/v3 answering 404 they fall back to /openapi/v2 for client-side validation and fail
    with "failed to download openapi". /openapi/v2 answers 404, which kubectl copes with.
  * answers JSON even when kubectl prefers protobuf (Accept: application/vnd.kubernetes.protobuf,
    application/json); it accepts protobuf request bodies of the RBAC kinds, which kubectl's
    typed clients (`kubectl create clusterrolebinding|rolebinding|clusterrole|role`) send. Those
    are recorded as base64 and decoded to the JSON the API server's Go types marshal to.
  * keeps objects in memory per (group, resource, namespace, name) and implements GET, LIST
    (labelSelector with =, ==, !=, exists and !exists; fieldSelector on metadata.name and
    metadata.namespace), POST, PUT (create on update, as the RBAC registry allows), PATCH
    (json-patch, merge-patch, strategic-merge-patch, apply-patch+yaml), DELETE and DELETE on a
    collection, dryRun=All (query or DeleteOptions), resourceVersion preconditions on PUT and
    PATCH, and namespaces that must exist for namespaced creates. Seed objects (namespaces, the
    default ClusterRoles, system:aggregate-to-view, a RoleBinding in team-a) go straight into the
    store, never through kubectl.
  * Not handled: watch (answered 405; none of the recorded commands needs it), field managers and
    managedFields, removal of fields a server-side apply manager stopped applying, apply
    conflicts, strategic-merge directives other than `$patch: delete|replace` on maps
    (`$retainKeys`, `$setElementOrder/...`, `$deleteFromPrimitiveList/...` and list-element
    `$patch` are dropped, which is correct only for lists without a patch merge key, as RBAC
    `subjects` and `rules` are), set-based label selectors, admission and RBAC authorisation.

/usr/bin/kubectl here is the Google Cloud SDK kubectl dispatcher (`Client Version:
v1.32.4-dispatcher`): it first reads /version (User-Agent kubectl-dispatcher/v1.0) to pick a
kubectl.<major>.<minor> matching the server; for the 1.32 server the stand-in reports it runs its
own built-in kubectl (User-Agent kubectl/v1.32.4). It skips that read when the command line has
--user=NAME (it takes the subject flag for the global kubeconfig --user flag, finds no such
kubeconfig user and falls back silently), so commands with --user= have no dispatcher /version
request. The output names every User-Agent seen ("kubectl_user_agents").
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "tests" / "data" / "kubectl_rbac_requests.json"
DEFAULT_KUBECTL = "/usr/bin/kubectl"
COMMAND_TIMEOUT_SECONDS = 60

RBAC_GROUP = "rbac.authorization.k8s.io"
SERVER_VERSION: dict[str, str] = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.5-eks-standin",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-05-15T00:00:00Z",
    "goVersion": "go1.23.8",
    "compiler": "gc",
    "platform": "linux/amd64",
}
# The stand-in's clock: creationTimestamp is EPOCH + resourceVersion seconds, so output is stable.
EPOCH = datetime(2025, 6, 1, tzinfo=UTC)
UID_NAMESPACE = uuid.UUID("6c0c9a4e-4f3b-4c36-9d39-4b1f5c1f2a10")
PLACEHOLDER_HOST = "kube-apiserver.invalid"

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
APPLY_PATCH = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
PATCH_TYPES = (APPLY_PATCH, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH)

Json = Any


@dataclass(frozen=True)
class Resource:
    """One API resource as discovery describes it."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The group-qualified resource name kube-apiserver uses in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "configmaps", "configmap", "ConfigMap", True, ALL_VERBS, ("cm",)),
    Resource(
        "",
        "v1",
        "namespaces",
        "namespace",
        "Namespace",
        False,
        ("create", "delete", "get", "list", "patch", "update", "watch"),
        ("ns",),
    ),
    Resource("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ALL_VERBS, ("sa",)),
    Resource(RBAC_GROUP, "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", False, ALL_VERBS),
    Resource(RBAC_GROUP, "v1", "clusterroles", "clusterrole", "ClusterRole", False, ALL_VERBS),
    Resource(RBAC_GROUP, "v1", "rolebindings", "rolebinding", "RoleBinding", True, ALL_VERBS),
    Resource(RBAC_GROUP, "v1", "roles", "role", "Role", True, ALL_VERBS),
)
GROUP_VERSIONS: tuple[tuple[str, str], ...] = (("", "v1"), (RBAC_GROUP, "v1"))

StoreKey = tuple[str, str, str, str]  # (group, plural, namespace, name)


class ApiError(Exception):
    """An error answered as a metav1.Status."""

    def __init__(self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details) if details else None

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{res.qualified} "{name}" not found',
        {"name": name, "group": res.group, "kind": res.plural},
    )


# --------------------------------------------------------------------------------------------
# Patch algorithms


def _unescape_pointer(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", f"json patch path {path!r} does not start with /")
    return [_unescape_pointer(token) for token in path[1:].split("/")]


def _list_index(container: list[Any], token: str, *, for_insert: bool) -> int:
    if token == "-" and for_insert:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise ApiError(422, "Invalid", f"json patch: invalid array index {token!r}")
    index = int(token)
    limit = len(container) if for_insert else len(container) - 1
    if index > limit:
        raise ApiError(422, "Invalid", f"json patch: array index {index} out of bounds")
    return index


def _parent(doc: Json, tokens: list[str]) -> Json:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise ApiError(422, "Invalid", f"json patch: path element {token!r} not found")
            node = node[token]
        elif isinstance(node, list):
            node = node[_list_index(node, token, for_insert=False)]
        else:
            raise ApiError(422, "Invalid", f"json patch: cannot descend into {token!r}")
    return node


def _get(doc: Json, tokens: list[str]) -> Json:
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise ApiError(422, "Invalid", f"json patch: path element {last!r} not found")
        return parent[last]
    if isinstance(parent, list):
        return parent[_list_index(parent, last, for_insert=False)]
    raise ApiError(422, "Invalid", "json patch: path does not exist")


def _remove(doc: Json, tokens: list[str]) -> Json:
    if not tokens:
        raise ApiError(422, "Invalid", "json patch: cannot remove the whole document")
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise ApiError(422, "Invalid", f"json patch: cannot remove missing {last!r}")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_list_index(parent, last, for_insert=False))
    raise ApiError(422, "Invalid", "json patch: path does not exist")


def _add(doc: Json, tokens: list[str], value: Json) -> Json:
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_list_index(parent, last, for_insert=True), value)
    else:
        raise ApiError(422, "Invalid", "json patch: path does not exist")
    return doc


def apply_json_patch(doc: Json, operations: Json) -> Json:
    """RFC 6902 JSON Patch: add, remove, replace, move, copy, test."""
    if not isinstance(operations, list):
        raise ApiError(400, "BadRequest", "json patch must be a list of operations")
    result = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ApiError(400, "BadRequest", f"invalid json patch operation {op!r}")
        kind, tokens = op["op"], _pointer(op["path"])
        if kind == "add":
            result = _add(result, tokens, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(result, tokens)
        elif kind == "replace":
            _get(result, tokens)
            if not tokens:
                result = copy.deepcopy(op.get("value"))
            else:
                parent = _parent(result, tokens)
                if isinstance(parent, list):
                    parent[_list_index(parent, tokens[-1], for_insert=False)] = copy.deepcopy(op.get("value"))
                else:
                    parent[tokens[-1]] = copy.deepcopy(op.get("value"))
        elif kind == "move":
            value = _remove(result, _pointer(op["from"]))
            result = _add(result, tokens, value)
        elif kind == "copy":
            result = _add(result, tokens, copy.deepcopy(_get(result, _pointer(op["from"]))))
        elif kind == "test":
            if _get(result, tokens) != op.get("value"):
                raise ApiError(422, "Invalid", f"json patch test failed at {op['path']}")
        else:
            raise ApiError(400, "BadRequest", f"unknown json patch operation {kind!r}")
    return result


def apply_merge_patch(target: Json, patch: Json) -> Json:
    """RFC 7386 JSON Merge Patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def apply_strategic_merge_patch(target: Json, patch: Json) -> Json:
    """Strategic merge patch for kinds whose lists have no patch merge key (RBAC objects).

    Maps merge recursively, null deletes, lists are replaced whole. `$patch: replace` on a map
    replaces it with the rest of the patch map, `$patch: delete` removes it; every other `$`
    directive key is dropped.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    rest = {key: value for key, value in patch.items() if not key.startswith("$")}
    if directive == "delete":
        return None
    if directive == "replace":
        return _drop_directives(rest)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in rest.items():
        if value is None:
            result.pop(key, None)
            continue
        merged = apply_strategic_merge_patch(result.get(key), value)
        if merged is None and isinstance(value, dict) and value.get("$patch") == "delete":
            result.pop(key, None)
        else:
            result[key] = merged
    return result


def _drop_directives(value: Json) -> Json:
    if isinstance(value, dict):
        return {key: _drop_directives(item) for key, item in value.items() if not key.startswith("$")}
    if isinstance(value, list):
        return [_drop_directives(item) for item in value]
    return value


def apply_server_side(target: Json, applied: Json) -> Json:
    """Server-side apply reduced to: the applied fields win, maps merge, lists are atomic."""
    if not isinstance(applied, dict) or not isinstance(target, dict):
        return copy.deepcopy(applied)
    result = copy.deepcopy(target)
    for key, value in applied.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_server_side(result.get(key), value)
    return result


# --------------------------------------------------------------------------------------------
# Selectors


def _parse_label_selector(selector: str) -> list[tuple[str, str, str]]:
    requirements: list[tuple[str, str, str]] = []
    for raw in filter(None, (part.strip() for part in selector.split(","))):
        if "!=" in raw:
            key, value = raw.split("!=", 1)
            requirements.append((key.strip(), "!=", value.strip()))
        elif "==" in raw:
            key, value = raw.split("==", 1)
            requirements.append((key.strip(), "=", value.strip()))
        elif "=" in raw:
            key, value = raw.split("=", 1)
            requirements.append((key.strip(), "=", value.strip()))
        elif raw.startswith("!"):
            requirements.append((raw[1:].strip(), "!exists", ""))
        elif " in " in raw or " notin " in raw:
            raise ApiError(400, "BadRequest", f"stand-in does not support set-based selector {raw!r}")
        else:
            requirements.append((raw, "exists", ""))
    return requirements


def _matches(values: Mapping[str, str], requirements: list[tuple[str, str, str]]) -> bool:
    for key, operator, expected in requirements:
        present = key in values
        if operator == "=" and (not present or values[key] != expected):
            return False
        if operator == "!=" and present and values[key] == expected:
            return False
        if operator == "exists" and not present:
            return False
        if operator == "!exists" and present:
            return False
    return True


def _field_values(obj: Mapping[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata", {})
    return {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", "")}


# --------------------------------------------------------------------------------------------
# Store


@dataclass
class Store:
    """Objects of the stand-in, with a resourceVersion counter and a fixed clock."""

    objects: dict[StoreKey, dict[str, Any]] = field(default_factory=dict)
    revision: int = 1000
    lock: threading.RLock = field(default_factory=threading.RLock)

    def next_revision(self) -> int:
        self.revision += 1
        return self.revision

    def namespace_exists(self, namespace: str) -> bool:
        return ("", "namespaces", "", namespace) in self.objects

    def select(
        self, res: Resource, namespace: str, label_selector: str = "", field_selector: str = ""
    ) -> list[dict[str, Any]]:
        labels = _parse_label_selector(label_selector)
        fields = _parse_label_selector(field_selector)
        items = []
        for (group, plural, ns, _name), obj in sorted(self.objects.items()):
            if group != res.group or plural != res.plural or (namespace and ns != namespace):
                continue
            if not _matches(obj.get("metadata", {}).get("labels", {}) or {}, labels):
                continue
            if not _matches(_field_values(obj), fields):
                continue
            items.append(copy.deepcopy(obj))
        return items

    def seed(self, obj: Mapping[str, Any]) -> None:
        res = resource_for_kind(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        key = (res.group, res.plural, meta.get("namespace", "") if res.namespaced else "", meta["name"])
        stored = copy.deepcopy(dict(obj))
        stamp(stored, key, self.next_revision(), created=True)
        self.objects[key] = stored


def resource_for_kind(api_version: str, kind: str) -> Resource:
    for res in RESOURCES:
        if res.group_version == api_version and res.kind == kind:
            return res
    raise KeyError(f"{api_version} {kind}")


def stamp(obj: dict[str, Any], key: StoreKey, revision: int, *, created: bool) -> None:
    meta = obj.setdefault("metadata", {})
    if created:
        meta["uid"] = str(uuid.uuid5(UID_NAMESPACE, f"{'/'.join(key)}@{revision}"))
        meta["creationTimestamp"] = (EPOCH + timedelta(seconds=revision)).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta["resourceVersion"] = str(revision)


# --------------------------------------------------------------------------------------------
# Discovery and OpenAPI documents


def legacy_resource(res: Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": res.plural,
        "singularName": res.singular,
        "namespaced": res.namespaced,
        "kind": res.kind,
        "verbs": list(res.verbs),
    }
    if res.short_names:
        entry["shortNames"] = list(res.short_names)
    return entry


def api_versions() -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": f"{PLACEHOLDER_HOST}:443"}],
    }


def api_group_list() -> dict[str, Any]:
    groups = []
    for group, version in GROUP_VERSIONS:
        if not group:
            continue
        gv = {"groupVersion": f"{group}/{version}", "version": version}
        groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(group: str, version: str) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [legacy_resource(r) for r in RESOURCES if r.group == group and r.version == version],
    }


def aggregated_discovery(core: bool) -> dict[str, Any]:
    items = []
    for group, version in GROUP_VERSIONS:
        if bool(group) == core:
            continue
        resources = [
            {
                "resource": r.plural,
                "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                "scope": "Namespaced" if r.namespaced else "Cluster",
                "singularResource": r.singular,
                "verbs": list(r.verbs),
                **({"shortNames": list(r.short_names)} if r.short_names else {}),
            }
            for r in RESOURCES
            if r.group == group and r.version == version
        ]
        items.append(
            {
                "metadata": {"name": group, "creationTimestamp": None},
                "versions": [{"version": version, "resources": resources, "freshness": "Current"}],
            }
        )
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}


def _query_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}


def _operation(action: str, params: list[dict[str, Any]], op_id: str, gvk: dict[str, str]) -> dict[str, Any]:
    return {
        "operationId": op_id,
        "parameters": params,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    }


def openapi_v3_document(group: str, version: str) -> dict[str, Any]:
    """Operations with their parameters and GVK extensions, no schemas (enough for kubectl's verifier)."""
    write_params = [_query_parameter(p) for p in ("dryRun", "fieldManager", "fieldValidation")]
    patch_params = [*write_params, _query_parameter("force")]
    list_params = [_query_parameter(p) for p in ("fieldSelector", "labelSelector", "limit", "watch")]
    dry_run = [_query_parameter("dryRun")]
    paths: dict[str, Any] = {}
    for res in RESOURCES:
        if res.group != group or res.version != version:
            continue
        gvk = {"group": res.group, "version": res.version, "kind": res.kind}
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        collection = f"{prefix}/namespaces/{{namespace}}/{res.plural}" if res.namespaced else f"{prefix}/{res.plural}"

        # kube-apiserver's operation ids, e.g. patchRbacAuthorizationV1NamespacedRoleBinding
        group_name = "".join(part.title() for part in group.split(".")[:-2]) if group else "Core"
        suffix = f"{group_name}{version.title()}{'Namespaced' if res.namespaced else ''}{res.kind}"
        paths[collection] = {
            "get": _operation("list", list_params, f"list{suffix}", gvk),
            "post": _operation("post", write_params, f"create{suffix}", gvk),
            "delete": _operation("deletecollection", dry_run, f"deleteCollection{suffix}", gvk),
        }
        paths[f"{collection}/{{name}}"] = {
            "get": _operation("get", [], f"read{suffix}", gvk),
            "put": _operation("put", write_params, f"replace{suffix}", gvk),
            "patch": _operation("patch", patch_params, f"patch{suffix}", gvk),
            "delete": _operation("delete", dry_run, f"delete{suffix}", gvk),
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": {}},
    }


def _canonical(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def openapi_v3_index() -> dict[str, Any]:
    paths = {}
    for group, version in GROUP_VERSIONS:
        path = f"apis/{group}/{version}" if group else f"api/{version}"
        digest = hashlib.sha512(_canonical(openapi_v3_document(group, version))).hexdigest().upper()
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def accepts_aggregated(accept: str) -> bool:
    for media_range in accept.split(","):
        parts = [p.strip() for p in media_range.split(";")]
        params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        if (
            parts[0] == "application/json"
            and params.get("g") == "apidiscovery.k8s.io"
            and params.get("v") == "v2"
            and params.get("as") == "APIGroupDiscoveryList"
        ):
            return True
    return False


# --------------------------------------------------------------------------------------------
# The API server


@dataclass
class Reply:
    status: int
    body: Json
    content_type: str = "application/json"
    document: bool = False  # discovery/OpenAPI/version: recorded by reference


@dataclass
class Route:
    res: Resource
    namespace: str
    name: str


def route(path: str) -> Route | None:
    segments = [unquote(s) for s in path.strip("/").split("/")]
    if segments[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", segments[2:]
    elif len(segments) >= 3 and segments[0] == "apis":
        group, version, rest = segments[1], segments[2], segments[3:]
    else:
        return None
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 2:
        return None
    for res in RESOURCES:
        if res.group == group and res.version == version and res.plural == rest[0]:
            if namespace and not res.namespaced:
                return None
            return Route(res, namespace, rest[1] if len(rest) == 2 else "")
    return None


class ApiServer:
    """Request handling, independent of the HTTP plumbing."""

    def __init__(self, store: Store, *, aggregated: bool) -> None:
        self.store = store
        self.aggregated = aggregated

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], body: Json
    ) -> Reply:
        try:
            document = self.document(method, path, headers)
            if document is not None:
                return document
            found = route(path)
            if found is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return self.resource(method, found, query, headers, body)
        except ApiError as error:
            return Reply(error.code, error.status())

    # ---- non-resource paths
    def document(self, method: str, path: str, headers: Mapping[str, str]) -> Reply | None:
        if method != "GET":
            return None
        accept = headers.get("Accept", "")
        if path == "/version":
            return Reply(200, dict(SERVER_VERSION), document=True)
        if path in ("/api", "/apis"):
            if self.aggregated and accepts_aggregated(accept):
                return Reply(200, aggregated_discovery(core=path == "/api"), AGGREGATED_V2, document=True)
            return Reply(200, api_versions() if path == "/api" else api_group_list(), document=True)
        if path == "/api/v1":
            return Reply(200, api_resource_list("", "v1"), document=True)
        for group, version in GROUP_VERSIONS:
            if group and path == f"/apis/{group}/{version}":
                return Reply(200, api_resource_list(group, version), document=True)
        if path == "/openapi/v3":
            return Reply(200, openapi_v3_index(), document=True)
        for group, version in GROUP_VERSIONS:
            gv_path = f"/openapi/v3/apis/{group}/{version}" if group else f"/openapi/v3/api/{version}"
            if path == gv_path:
                return Reply(200, openapi_v3_document(group, version), document=True)
        if path.startswith("/openapi/"):
            return Reply(404, ApiError(404, "NotFound", "the server could not find the requested resource").status())
        return None

    # ---- resources
    def resource(
        self, method: str, where: Route, query: dict[str, list[str]], headers: Mapping[str, str], body: Json
    ) -> Reply:
        res = where.res
        dry_run = _dry_run(query, body if method == "DELETE" else None)
        with self.store.lock:
            if where.namespace == "" and res.namespaced and method not in ("GET", "DELETE"):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            if not where.name:
                if method == "GET":
                    if query.get("watch", [""])[0] in ("true", "1"):
                        raise ApiError(405, "MethodNotAllowed", "the stand-in does not implement watch")
                    return self.list_objects(res, where.namespace, query)
                if method == "POST":
                    return self.create(where, body, dry_run)
                if method == "DELETE":
                    return self.delete_collection(res, where.namespace, query, dry_run)
                raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on a collection")
            if method == "GET":
                return Reply(200, self.get(where))
            if method == "PUT":
                return self.replace(where, body, dry_run)
            if method == "PATCH":
                return self.patch(where, headers.get("Content-Type", ""), body, dry_run)
            if method == "DELETE":
                return self.delete(where, dry_run)
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported")

    def key(self, where: Route, name: str | None = None) -> StoreKey:
        return (where.res.group, where.res.plural, where.namespace, where.name if name is None else name)

    def get(self, where: Route) -> dict[str, Any]:
        obj = self.store.objects.get(self.key(where))
        if obj is None:
            raise not_found(where.res, where.name)
        return copy.deepcopy(obj)

    def list_objects(self, res: Resource, namespace: str, query: dict[str, list[str]]) -> Reply:
        items = self.store.select(
            res, namespace, query.get("labelSelector", [""])[0], query.get("fieldSelector", [""])[0]
        )
        for item in items:
            item.pop("apiVersion", None)
            item.pop("kind", None)
        return Reply(
            200,
            {
                "kind": f"{res.kind}List",
                "apiVersion": res.group_version,
                "metadata": {"resourceVersion": str(self.store.revision)},
                "items": items,
            },
        )

    def admit(self, where: Route, obj: Json, *, name_from_path: bool) -> dict[str, Any]:
        res = where.res
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the request body is not an object")
        obj = copy.deepcopy(obj)
        if obj.get("apiVersion", res.group_version) != res.group_version or obj.get("kind", res.kind) != res.kind:
            raise ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({obj.get('apiVersion')}) does not match the expected API version"
                f" ({res.group_version})",
            )
        obj["apiVersion"], obj["kind"] = res.group_version, res.kind
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata is not an object")
        if name_from_path and meta.get("name", where.name) != where.name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        if not meta.get("name"):
            raise ApiError(422, "Invalid", f'{res.kind} "" is invalid: metadata.name: Required value: name is required')
        if res.namespaced:
            if meta.get("namespace", where.namespace) != where.namespace:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            meta["namespace"] = where.namespace
        else:
            meta.pop("namespace", None)
        for server_field in ("managedFields", "selfLink"):
            meta.pop(server_field, None)
        return obj

    def create(self, where: Route, body: Json, dry_run: bool) -> Reply:
        obj = self.admit(where, body, name_from_path=False)
        where = Route(where.res, where.namespace, obj["metadata"]["name"])
        return self.store_new(where, obj, dry_run)

    def store_new(self, where: Route, obj: dict[str, Any], dry_run: bool) -> Reply:
        res, key = where.res, self.key(where)
        if key in self.store.objects:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{res.qualified} "{where.name}" already exists',
                {"name": where.name, "group": res.group, "kind": res.plural},
            )
        if res.namespaced and not self.store.namespace_exists(where.namespace):
            raise ApiError(
                404,
                "NotFound",
                f'namespaces "{where.namespace}" not found',
                {"name": where.namespace, "kind": "namespaces"},
            )
        for server_field in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation"):
            obj["metadata"].pop(server_field, None)
        if dry_run:
            stamp(obj, key, self.store.revision + 1, created=True)
            del obj["metadata"]["resourceVersion"]
            obj["metadata"]["uid"] = str(uuid.uuid5(UID_NAMESPACE, f"dry-run:{'/'.join(key)}"))
        else:
            stamp(obj, key, self.store.next_revision(), created=True)
            self.store.objects[key] = copy.deepcopy(obj)
        return Reply(201, obj)

    def store_update(self, where: Route, current: dict[str, Any], new: dict[str, Any], dry_run: bool) -> Reply:
        wanted = new["metadata"].get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {where.res.qualified} "{where.name}": the object has been'
                " modified; please apply your changes to the latest version and try again",
                {"name": where.name, "group": where.res.group, "kind": where.res.plural},
            )
        for kept in ("uid", "creationTimestamp"):
            new["metadata"][kept] = current["metadata"][kept]
        new["metadata"].pop("generation", None)
        if dry_run:
            new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            return Reply(200, new)
        if _without_revision(new) == _without_revision(current):  # no-op writes keep the revision
            return Reply(200, copy.deepcopy(current))
        stamp(new, self.key(where), self.store.next_revision(), created=False)
        self.store.objects[self.key(where)] = copy.deepcopy(new)
        return Reply(200, new)

    def replace(self, where: Route, body: Json, dry_run: bool) -> Reply:
        obj = self.admit(where, body, name_from_path=True)
        current = self.store.objects.get(self.key(where))
        if current is None:  # the RBAC registry allows create on update
            return self.store_new(where, obj, dry_run)
        return self.store_update(where, current, obj, dry_run)

    def patch(self, where: Route, content_type: str, body: Json, dry_run: bool) -> Reply:
        media = content_type.split(";")[0].strip()
        current = self.store.objects.get(self.key(where))
        if media == APPLY_PATCH:
            if current is None:
                return self.store_new(where, self.admit(where, body, name_from_path=True), dry_run)
            patched = apply_server_side(current, body)
        elif current is None:
            raise not_found(where.res, where.name)
        elif media == JSON_PATCH:
            patched = apply_json_patch(current, body)
        elif media == MERGE_PATCH:
            patched = apply_merge_patch(current, body)
        elif media == STRATEGIC_PATCH:
            patched = apply_strategic_merge_patch(current, body)
        else:
            raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {media}")
        new = self.admit(where, patched, name_from_path=True)
        if new["metadata"].get("uid", current["metadata"]["uid"]) != current["metadata"]["uid"]:
            raise ApiError(409, "Conflict", "Precondition failed: UID in precondition does not match the object")
        return self.store_update(where, current, new, dry_run)

    def delete(self, where: Route, dry_run: bool) -> Reply:
        current = self.store.objects.get(self.key(where))
        if current is None:
            raise not_found(where.res, where.name)
        if not dry_run:
            del self.store.objects[self.key(where)]
        return Reply(200, _deleted_status(where.res, where.name, current["metadata"]["uid"]))

    def delete_collection(self, res: Resource, namespace: str, query: dict[str, list[str]], dry_run: bool) -> Reply:
        items = self.store.select(
            res, namespace, query.get("labelSelector", [""])[0], query.get("fieldSelector", [""])[0]
        )
        if not dry_run:
            for item in items:
                meta = item["metadata"]
                del self.store.objects[(res.group, res.plural, meta.get("namespace", ""), meta["name"])]
        return Reply(
            200,
            {
                "kind": f"{res.kind}List",
                "apiVersion": res.group_version,
                "metadata": {"resourceVersion": str(self.store.revision)},
                "items": items,
            },
        )


def _without_revision(obj: Mapping[str, Any]) -> dict[str, Any]:
    clone = copy.deepcopy(dict(obj))
    clone.get("metadata", {}).pop("resourceVersion", None)
    return clone


def _deleted_status(res: Resource, name: str, uid: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "group": res.group, "kind": res.plural, "uid": uid},
    }


def _dry_run(query: Mapping[str, list[str]], delete_options: Json) -> bool:
    values = list(query.get("dryRun", []))
    if isinstance(delete_options, dict) and isinstance(delete_options.get("dryRun"), list):
        values += delete_options["dryRun"]
    if not values:
        return False
    if any(value != "All" for value in values):
        raise ApiError(400, "BadRequest", f"Invalid dryRun value {values!r}: the only allowed value is All")
    return True


# --------------------------------------------------------------------------------------------
# Kubernetes protobuf bodies (kubectl's typed clients, e.g. `kubectl create clusterrolebinding`,
# send application/vnd.kubernetes.protobuf). Decoded for the RBAC kinds into the JSON that
# kube-apiserver's Go structs would marshal to (omitempty as in the Go types, a zero
# creationTimestamp as null), which is what an audit log's requestObject shows.

PROTOBUF = "application/vnd.kubernetes.protobuf"
PROTOBUF_MAGIC = b"k8s\x00"


@dataclass(frozen=True)
class ProtoField:
    """A protobuf field of a Kubernetes Go type: JSON name, type, repeated, omitted when empty."""

    name: str
    kind: str  # "string", "int", "bool", "map", "time" or a message name in PROTO_MESSAGES
    repeated: bool = False
    omitempty: bool = True


PROTO_MESSAGES: dict[str, dict[int, ProtoField]] = {
    "TypeMeta": {1: ProtoField("apiVersion", "string"), 2: ProtoField("kind", "string")},
    "Unknown": {
        1: ProtoField("typeMeta", "TypeMeta"),
        2: ProtoField("raw", "bytes"),
        3: ProtoField("contentEncoding", "string"),
        4: ProtoField("contentType", "string"),
    },
    "ObjectMeta": {
        1: ProtoField("name", "string"),
        2: ProtoField("generateName", "string"),
        3: ProtoField("namespace", "string"),
        4: ProtoField("selfLink", "string"),
        5: ProtoField("uid", "string"),
        6: ProtoField("resourceVersion", "string"),
        7: ProtoField("generation", "int"),
        8: ProtoField("creationTimestamp", "time", omitempty=False),
        9: ProtoField("deletionTimestamp", "time"),
        10: ProtoField("deletionGracePeriodSeconds", "int"),
        11: ProtoField("labels", "map"),
        12: ProtoField("annotations", "map"),
        13: ProtoField("ownerReferences", "OwnerReference", repeated=True),
        14: ProtoField("finalizers", "string", repeated=True),
    },
    "OwnerReference": {
        1: ProtoField("kind", "string", omitempty=False),
        3: ProtoField("name", "string", omitempty=False),
        4: ProtoField("uid", "string", omitempty=False),
        5: ProtoField("apiVersion", "string", omitempty=False),
        6: ProtoField("controller", "bool"),
        7: ProtoField("blockOwnerDeletion", "bool"),
    },
    "Subject": {
        1: ProtoField("kind", "string", omitempty=False),
        2: ProtoField("apiGroup", "string"),
        3: ProtoField("name", "string", omitempty=False),
        4: ProtoField("namespace", "string"),
    },
    "RoleRef": {
        1: ProtoField("apiGroup", "string", omitempty=False),
        2: ProtoField("kind", "string", omitempty=False),
        3: ProtoField("name", "string", omitempty=False),
    },
    "PolicyRule": {
        1: ProtoField("verbs", "string", repeated=True, omitempty=False),
        2: ProtoField("apiGroups", "string", repeated=True),
        3: ProtoField("resources", "string", repeated=True),
        4: ProtoField("resourceNames", "string", repeated=True),
        5: ProtoField("nonResourceURLs", "string", repeated=True),
    },
    "LabelSelector": {
        1: ProtoField("matchLabels", "map"),
        2: ProtoField("matchExpressions", "LabelSelectorRequirement", repeated=True),
    },
    "LabelSelectorRequirement": {
        1: ProtoField("key", "string", omitempty=False),
        2: ProtoField("operator", "string", omitempty=False),
        3: ProtoField("values", "string", repeated=True),
    },
    "AggregationRule": {1: ProtoField("clusterRoleSelectors", "LabelSelector", repeated=True)},
    "ClusterRoleBinding": {
        1: ProtoField("metadata", "ObjectMeta", omitempty=False),
        2: ProtoField("subjects", "Subject", repeated=True),
        3: ProtoField("roleRef", "RoleRef", omitempty=False),
    },
    "ClusterRole": {
        1: ProtoField("metadata", "ObjectMeta", omitempty=False),
        2: ProtoField("rules", "PolicyRule", repeated=True, omitempty=False),
        3: ProtoField("aggregationRule", "AggregationRule"),
    },
}
PROTO_MESSAGES["RoleBinding"] = PROTO_MESSAGES["ClusterRoleBinding"]
PROTO_MESSAGES["Role"] = {k: v for k, v in PROTO_MESSAGES["ClusterRole"].items() if k != 3}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _proto_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = int.from_bytes(data[pos : pos + size], "little"), pos + size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def _proto_scalar(spec: ProtoField, value: int | bytes) -> Json:
    if spec.kind in ("string", "bytes") and isinstance(value, bytes):
        return value.decode() if spec.kind == "string" else value.hex()
    if spec.kind == "int" and isinstance(value, int):
        return value - (1 << 64) if value >= 1 << 63 else value
    if spec.kind == "bool" and isinstance(value, int):
        return bool(value)
    if spec.kind == "time" and isinstance(value, bytes):
        parts = {number: item for number, _, item in _proto_fields(value)}
        seconds, nanos = parts.get(1, 0), parts.get(2, 0)
        if not isinstance(seconds, int) or not isinstance(nanos, int):
            raise ValueError("malformed Time")
        if seconds == 0 and nanos == 0:
            return None
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if spec.kind in PROTO_MESSAGES and isinstance(value, bytes):
        return decode_proto_message(spec.kind, value)
    raise ValueError(f"field {spec.name}: unexpected wire value for {spec.kind}")


def decode_proto_message(message: str, data: bytes) -> dict[str, Any]:
    """Decode one message of PROTO_MESSAGES into Go-JSON form; unknown fields are an error."""
    schema = PROTO_MESSAGES[message]
    out: dict[str, Any] = {}
    for number, _wire, value in _proto_fields(data):
        spec = schema.get(number)
        if spec is None:
            raise ValueError(f"{message}: unknown field {number}")
        if spec.kind == "map":
            if not isinstance(value, bytes):
                raise ValueError(f"{message}.{spec.name}: map entry is not a message")
            entry = {n: v for n, _, v in _proto_fields(value)}
            key, item = entry.get(1, b""), entry.get(2, b"")
            if not isinstance(key, bytes) or not isinstance(item, bytes):
                raise ValueError(f"{message}.{spec.name}: malformed map entry")
            out.setdefault(spec.name, {})[key.decode()] = item.decode()
        elif spec.repeated:
            out.setdefault(spec.name, []).append(_proto_scalar(spec, value))
        else:
            out[spec.name] = _proto_scalar(spec, value)
    for spec in schema.values():  # Go's encoding/json: omitempty drops zero values, the rest show
        present = spec.name in out
        if spec.omitempty and present and out[spec.name] in ("", 0, False, [], {}, None):
            del out[spec.name]
        elif not spec.omitempty and not present:
            if spec.repeated or spec.kind in ("map", "time"):
                out[spec.name] = None
            elif spec.kind in PROTO_MESSAGES:
                out[spec.name] = decode_proto_message(spec.kind, b"")
            else:
                out[spec.name] = {"string": "", "int": 0, "bool": False}.get(spec.kind)
    return out


def decode_kubernetes_protobuf(raw: bytes) -> dict[str, Any]:
    """Decode a `k8s\\x00` + runtime.Unknown body into the object's JSON form (kind and apiVersion first)."""
    if not raw.startswith(PROTOBUF_MAGIC):
        raise ValueError("missing the k8s protobuf magic prefix")
    envelope = decode_proto_message("Unknown", raw[len(PROTOBUF_MAGIC) :])
    type_meta = envelope.get("typeMeta", {})
    kind = type_meta.get("kind", "")
    if kind not in PROTO_MESSAGES:
        raise ValueError(f"no protobuf schema for kind {kind!r}")
    payload = bytes.fromhex(envelope.get("raw", ""))
    return {"kind": kind, "apiVersion": type_meta.get("apiVersion", ""), **decode_proto_message(kind, payload)}


# --------------------------------------------------------------------------------------------
# HTTP plumbing and recording


@dataclass
class Recorder:
    """Requests seen by the stand-in; a request is recorded once its answer has been written."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    documents: dict[str, Json] = field(default_factory=dict)
    in_flight: int = 0
    lock: threading.Condition = field(default_factory=threading.Condition)

    def begin(self) -> None:
        with self.lock:
            self.in_flight += 1

    def finish(self, record: dict[str, Any] | None) -> None:
        with self.lock:
            self.in_flight -= 1
            if record is not None:
                self.requests.append(record)
            self.lock.notify_all()

    def take(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Every request recorded so far, after waiting for requests still being answered."""
        with self.lock:
            self.lock.wait_for(lambda: self.in_flight == 0, timeout=timeout)
            taken, self.requests = self.requests, []
        return taken


def parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    """The recorded form of a request body: parsed JSON, YAML kept as text and parsed, or decoded protobuf."""
    if not raw:
        return {}
    media = content_type.split(";")[0].strip()
    if media == PROTOBUF:
        encoded = {"body_encoding": "protobuf", "body_base64": base64.b64encode(raw).decode()}
        try:
            return {**encoded, "body": decode_kubernetes_protobuf(raw)}
        except (ValueError, UnicodeDecodeError) as error:
            return {**encoded, "body_decode_error": str(error)}
    text = raw.decode("utf-8", errors="replace")
    if media == APPLY_PATCH:
        return {"body_text": text, "body": yaml.safe_load(text)}
    try:
        return {"body": json.loads(text)}
    except json.JSONDecodeError:
        return {"body_text": text}


def make_handler(server: ApiServer, recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "kube-apiserver-standin"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
            return

        def _serve(self) -> None:
            recorder.begin()
            record: dict[str, Any] | None = None
            try:
                record = self._answer()
            finally:
                recorder.finish(record)

        def _answer(self) -> dict[str, Any]:
            arrived = time.monotonic()
            raw = self._read_body()
            split = urlsplit(self.path)
            query = parse_qs(split.query, keep_blank_values=True)
            recorded_body = parse_body(self.headers.get("Content-Type", ""), raw)
            headers = dict(self.headers.items())
            reply = server.handle(self.command, split.path, query, headers, recorded_body.get("body"))
            payload = json.dumps(reply.body).encode()
            record: dict[str, Any] = {
                "method": self.command,
                "path": self.path,
                "query": query,
                "content_type": self.headers.get("Content-Type"),
                "accept": self.headers.get("Accept"),
                "user_agent": self.headers.get("User-Agent"),
                "kubectl_command": self.headers.get("Kubectl-Command"),
                "status": reply.status,
                "response_content_type": reply.content_type,
                "_arrived": arrived,
                **recorded_body,
            }
            if reply.document:
                ref = f"{split.path} {reply.content_type}"
                with recorder.lock:
                    recorder.documents[ref] = reply.body
                record["response_document"] = ref
            else:
                record["response"] = reply.body
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Cache-Control", "no-cache, private")
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()
            finally:
                record["_answered"] = time.monotonic()
            return record

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


# --------------------------------------------------------------------------------------------
# Seed objects (put straight into the store, never through kubectl)

_BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
_AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}


def _cluster_role(
    name: str, rules: list[dict[str, Any]], labels: Mapping[str, str] | None = None, **extra: Any
) -> dict:
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": name,
            "labels": {**_BOOTSTRAP_LABELS, **dict(labels or {})},
            "annotations": dict(_AUTOUPDATE),
        },
        "rules": rules,
        **extra,
    }


def _aggregated(name: str, label: str) -> dict:
    selector = {"clusterRoleSelectors": [{"matchLabels": {f"rbac.authorization.k8s.io/{label}": "true"}}]}
    return _cluster_role(name, [], {}, aggregationRule=selector)


READ = ["get", "list", "watch"]
SEED_OBJECTS: tuple[dict[str, Any], ...] = (
    *(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}, "spec": {"finalizers": ["kubernetes"]}}
        for ns in ("default", "kube-node-lease", "kube-public", "kube-system", "team-a")
    ),
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "default"}},
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder", "namespace": "default"}},
    _cluster_role(
        "cluster-admin",
        [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}],
    ),
    _aggregated("admin", "aggregate-to-admin"),
    _aggregated("edit", "aggregate-to-edit"),
    _aggregated("view", "aggregate-to-view"),
    _cluster_role(
        "system:aggregate-to-view",
        [
            {
                "apiGroups": [""],
                "resources": [
                    "configmaps",
                    "endpoints",
                    "persistentvolumeclaims",
                    "persistentvolumeclaims/status",
                    "pods",
                    "replicationcontrollers",
                    "replicationcontrollers/scale",
                    "serviceaccounts",
                    "services",
                    "services/status",
                ],
                "verbs": READ,
            },
            {
                "apiGroups": [""],
                "resources": [
                    "bindings",
                    "events",
                    "limitranges",
                    "namespaces/status",
                    "pods/log",
                    "pods/status",
                    "replicationcontrollers/status",
                    "resourcequotas",
                    "resourcequotas/status",
                ],
                "verbs": READ,
            },
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": READ},
            {
                "apiGroups": ["apps"],
                "resources": [
                    "controllerrevisions",
                    "daemonsets",
                    "daemonsets/status",
                    "deployments",
                    "deployments/scale",
                    "deployments/status",
                    "replicasets",
                    "replicasets/scale",
                    "replicasets/status",
                    "statefulsets",
                    "statefulsets/scale",
                    "statefulsets/status",
                ],
                "verbs": READ,
            },
            {
                "apiGroups": ["batch"],
                "resources": ["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
                "verbs": READ,
            },
        ],
        {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
    ),
    {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "team-view", "namespace": "team-a"},
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": "team-a-readers"}],
    },
)


# --------------------------------------------------------------------------------------------
# The commands


@dataclass(frozen=True)
class Command:
    """One kubectl invocation: argv after `kubectl`, files it reads (in its working directory)."""

    id: str
    args: tuple[str, ...]
    files: Mapping[str, str] = field(default_factory=dict)
    editor_script: str | None = None


def _crb(name: str, role: str, subjects: list[tuple[str, str]]) -> str:
    lines = [
        f"apiVersion: {RBAC_GROUP}/v1",
        "kind: ClusterRoleBinding",
        "metadata:",
        f"  name: {name}",
        "roleRef:",
        f"  apiGroup: {RBAC_GROUP}",
        "  kind: ClusterRole",
        f"  name: {role}",
        "subjects:",
    ]
    for kind, subject in subjects:
        lines += [f"- apiGroup: {RBAC_GROUP}", f"  kind: {kind}", f"  name: {subject}"]
    return "\n".join(lines) + "\n"


SNEAKY_CLUSTER_ROLE = f"""\
apiVersion: {RBAC_GROUP}/v1
kind: ClusterRole
metadata:
  name: sneaky
  labels:
    rbac.authorization.k8s.io/aggregate-to-view: "true"
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]
"""
EDIT_SUBJECT_SCRIPT = """\
#!/bin/sh
# kubectl edit passes the file to edit as the last argument
sed -i 's/name: mallory$/name: intruder/' "$1"
"""
CRB = "clusterrolebinding"

COMMANDS: tuple[Command, ...] = (
    Command("crb_create_user", ("create", CRB, "backdoor", "--clusterrole=cluster-admin", "--user=viewer")),
    Command("crb_create_group", ("create", CRB, "eks-admins", "--clusterrole=cluster-admin", "--group=eks-admins")),
    Command(
        "crb_create_sa", ("create", CRB, "ci-admin", "--clusterrole=cluster-admin", "--serviceaccount=default:builder")
    ),
    Command(
        "crb_create_dry_run",
        ("create", CRB, "probe", "--clusterrole=cluster-admin", "--user=viewer", "--dry-run=server"),
    ),
    Command(
        "rb_create_kube_system",
        ("create", "rolebinding", "-n", "kube-system", "ks-admin", "--clusterrole=cluster-admin", "--user=viewer"),
    ),
    Command(
        "rb_create_team",
        ("create", "rolebinding", "-n", "team-a", "team-admin", "--clusterrole=admin", "--user=viewer"),
    ),
    Command(
        "crb_apply_create",
        ("apply", "-f", "viewers.yaml"),
        {"viewers.yaml": _crb("viewers", "view", [("Group", "readers")])},
    ),
    Command(
        "crb_apply_update",
        ("apply", "-f", "viewers.yaml"),
        {"viewers.yaml": _crb("viewers", "view", [("Group", "readers"), ("User", "viewer")])},
    ),
    Command(
        "crb_apply_server_side",
        ("apply", "--server-side", "-f", "ssa-admin.yaml"),
        {"ssa-admin.yaml": _crb("ssa-admin", "cluster-admin", [("User", "viewer")])},
    ),
    Command(
        "crb_patch_json",
        (
            "patch",
            CRB,
            "viewers",
            "--type",
            "json",
            "-p",
            '[{"op":"add","path":"/subjects/-","value":{"kind":"User","apiGroup":"rbac.authorization.k8s.io",'
            '"name":"attacker"}}]',
        ),
    ),
    Command(
        "crb_patch_merge",
        (
            "patch",
            CRB,
            "viewers",
            "--type",
            "merge",
            "-p",
            '{"subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"viewer"}]}',
        ),
    ),
    Command(
        "crb_patch_strategic",
        (
            "patch",
            CRB,
            "viewers",
            "-p",
            '{"subjects":[{"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"system:authenticated"}]}',
        ),
    ),
    Command("crb_set_subject", ("set", "subject", CRB, "viewers", "--user=mallory")),
    Command("crb_edit", ("edit", CRB, "viewers"), editor_script=EDIT_SUBJECT_SCRIPT),
    Command(
        "crb_replace",
        ("replace", "-f", "viewers-replace.yaml"),
        {"viewers-replace.yaml": _crb("viewers", "view", [("Group", "auditors")])},
    ),
    Command("cr_create_wildcard", ("create", "clusterrole", "pwn", "--verb=*", "--resource=*")),
    Command(
        "cr_create_impersonate",
        ("create", "clusterrole", "imp", "--verb=impersonate", "--resource=users,groups,serviceaccounts"),
    ),
    Command(
        "role_create_escalate",
        (
            "create",
            "role",
            "esc",
            "-n",
            "kube-system",
            "--verb=escalate,bind",
            "--resource=roles.rbac.authorization.k8s.io",
        ),
    ),
    Command("cr_apply_aggregated", ("apply", "-f", "sneaky.yaml"), {"sneaky.yaml": SNEAKY_CLUSTER_ROLE}),
    Command(
        "cr_patch_rules_json",
        (
            "patch",
            "clusterrole",
            "system:aggregate-to-view",
            "--type",
            "json",
            "-p",
            '[{"op":"replace","path":"/rules","value":[{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}]}]',
        ),
    ),
    Command("cr_label_aggregate", ("label", "clusterrole", "imp", "rbac.authorization.k8s.io/aggregate-to-admin=true")),
    Command("crb_delete", ("delete", CRB, "backdoor")),
    Command("rb_delete_collection", ("delete", "rolebindings", "--all", "-n", "team-a")),
)


# --------------------------------------------------------------------------------------------
# Running kubectl


@dataclass
class Standin:
    """The running stand-in server."""

    httpd: ThreadingHTTPServer
    recorder: Recorder
    store: Store
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def start_standin(*, aggregated: bool) -> Standin:
    store = Store()
    for obj in SEED_OBJECTS:
        store.seed(obj)
    recorder = Recorder()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(ApiServer(store, aggregated=aggregated), recorder))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="kube-standin", daemon=True)
    thread.start()
    return Standin(httpd, recorder, store, thread)


def kubeconfig(port: int) -> str:
    return (
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        "- name: standin\n"
        "  cluster:\n"
        f"    server: http://127.0.0.1:{port}\n"
        "contexts:\n"
        "- name: standin\n"
        "  context:\n"
        "    cluster: standin\n"
        "    namespace: default\n"
        "    user: dummy\n"
        "current-context: standin\n"
        "users:\n"
        "- name: dummy\n"
        "  user:\n"
        "    token: dummy-token\n"
    )


def stable_order(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Arrival order, except that requests in flight at the same time are sorted by path.

    client-go sends some reads in parallel (/api and /apis, legacy group-version discovery), so
    their arrival order is chance; two requests overlap when one arrived before the other was
    answered. Sequential requests keep the order kubectl sent them in.
    """
    ordered: list[dict[str, Any]] = []
    group: list[dict[str, Any]] = []
    group_end = 0.0
    for record in sorted(requests, key=lambda r: r["_arrived"]):
        if group and record["_arrived"] >= group_end:
            ordered += sorted(group, key=_overlap_key)
            group = []
        group.append(record)
        group_end = max(group_end, record["_answered"]) if len(group) > 1 else record["_answered"]
    ordered += sorted(group, key=_overlap_key)
    return [{k: v for k, v in record.items() if not k.startswith("_")} for record in ordered]


def _overlap_key(record: Mapping[str, Any]) -> tuple[str, str, str]:
    return (record["path"], record["method"], record.get("accept") or "")


def _scrub(value: Json, replacements: Mapping[str, str]) -> Json:
    if isinstance(value, str):
        for old, new in replacements.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_scrub(item, replacements) for item in value]
    if isinstance(value, dict):
        return {_scrub(k, replacements): _scrub(v, replacements) for k, v in value.items()}
    return value


def kubectl_client_version(kubectl: str, env: Mapping[str, str]) -> str:
    done = subprocess.run(
        [kubectl, "version", "--client"], capture_output=True, text=True, env=dict(env), timeout=COMMAND_TIMEOUT_SECONDS
    )
    return (done.stdout.splitlines() or ["unknown"])[0].strip()


def run_all(kubectl: str, standin: Standin, workdir: Path, commands: tuple[Command, ...]) -> list[dict[str, Any]]:
    config = workdir / "kubeconfig"
    config.write_text(kubeconfig(standin.port))
    files = workdir / "files"
    files.mkdir()
    replacements = {
        f"http://127.0.0.1:{standin.port}": f"https://{PLACEHOLDER_HOST}",
        f"127.0.0.1:{standin.port}": PLACEHOLDER_HOST,
        str(workdir): "$WORKDIR",
    }
    results = []
    for command in commands:
        home = workdir / "home" / command.id  # a fresh discovery cache for every command
        home.mkdir(parents=True)
        for name, text in command.files.items():
            (files / name).write_text(text)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "KUBECONFIG": str(config), "LANG": "C.UTF-8"}
        if command.editor_script is not None:
            editor = workdir / f"{command.id}-editor.sh"
            editor.write_text(command.editor_script)
            editor.chmod(editor.stat().st_mode | stat.S_IXUSR)
            env["KUBE_EDITOR"] = str(editor)
        standin.recorder.take()
        done = subprocess.run(
            [kubectl, *command.args],
            cwd=files,
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            stdin=subprocess.DEVNULL,
        )
        requests = stable_order(standin.recorder.take())
        result: dict[str, Any] = {
            "id": command.id,
            "argv": ["kubectl", *command.args],
            "exit_code": done.returncode,
            "stdout": done.stdout,
            "stderr": done.stderr,
            "requests": requests,
        }
        if command.files:
            result["files"] = dict(command.files)
        if command.editor_script is not None:
            result["env"] = {"KUBE_EDITOR": "$WORKDIR/" + f"{command.id}-editor.sh"}
            result["editor_script"] = command.editor_script
        results.append(_scrub(result, replacements))
    return results


def record(kubectl: str, *, aggregated: bool) -> dict[str, Any]:
    standin = start_standin(aggregated=aggregated)
    try:
        with tempfile.TemporaryDirectory(prefix="kubectl-record-") as tmp:
            workdir = Path(tmp)
            version_home = workdir / "home" / "_version"
            version_home.mkdir(parents=True)
            version = kubectl_client_version(kubectl, {"PATH": "/usr/bin:/bin", "HOME": str(version_home)})
            commands = run_all(kubectl, standin, workdir, COMMANDS)
    finally:
        standin.close()
    agents = sorted({r["user_agent"] for c in commands for r in c["requests"] if r.get("user_agent")})
    return {
        "kubectl": version,
        "kubectl_user_agents": agents,
        "server_version": SERVER_VERSION["gitVersion"],
        "discovery": "aggregated" if aggregated else "legacy",
        "recorded": datetime.now(UTC).strftime("%Y-%m-%d"),
        "documents": dict(sorted(standin.recorder.documents.items())),
        "commands": commands,
    }


def write_output(data: Mapping[str, Any], output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kubectl", default=DEFAULT_KUBECTL, help=f"kubectl binary (default {DEFAULT_KUBECTL})")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the recording")
    parser.add_argument(
        "--discovery",
        choices=("aggregated", "legacy"),
        default="aggregated",
        help="aggregated: answer apidiscovery.k8s.io/v2 when asked, as kube-apiserver 1.32 does; legacy: never",
    )
    parser.add_argument("--force", action="store_true", help="write the output even if a command failed")
    args = parser.parse_args(argv)
    if shutil.which(args.kubectl) is None:
        print(f"kubectl not found: {args.kubectl}", file=sys.stderr)
        return 2
    data = record(args.kubectl, aggregated=args.discovery == "aggregated")
    failed = [c for c in data["commands"] if c["exit_code"] != 0]
    for command in data["commands"]:
        writes = [r for r in command["requests"] if r["method"] != "GET"]
        print(
            f"{command['id']}: exit {command['exit_code']}, {len(command['requests'])} requests, {len(writes)} writes"
        )
    for command in failed:
        print(f"FAILED {command['id']}: {command['stderr'].strip()}", file=sys.stderr)
    if failed and not args.force:
        print(f"not writing {args.output}: {len(failed)} command(s) failed (use --force)", file=sys.stderr)
        return 1
    write_output(data, args.output)
    print(f"wrote {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
