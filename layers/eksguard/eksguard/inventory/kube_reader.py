"""The Kubernetes API side of an inventory: aws-auth and every RBAC object, read with plain HTTPS GETs.

Authentication is what `aws eks get-token` does (aws-iam-authenticator pkg/token/token.go
`GetWithSTS`): presign sts:GetCallerIdentity with the header `x-k8s-aws-id: <cluster>` signed, then
`k8s-aws-v1.` + base64url(URL) without padding, sent as a bearer token. The server side (`Verify`)
checks the prefix, the host, `Action=GetCallerIdentity`, that `x-k8s-aws-id` is a signed header and
`X-Amz-Expires` <= 900, then calls STS with the URL. The cluster CA comes from DescribeCluster and is
the only CA trusted; the host name is checked against the endpoint.

Why no Kubernetes client library: five GETs (one object, four lists) need only `http.client` and
`ssl`; the official client adds ~30 MB of dependencies and hundreds of milliseconds of import to
every cold start. Lists are paged (`limit`, `continue`), bodies are capped, and the endpoint is
reached directly (never through HTTPS_PROXY: a private endpoint lives in the VPC).
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

from botocore.config import Config

from eksguard import aws
from eksguard.inventory.model import KubeObjects
from eksguard.rbac.model import Binding, Invalid, Role, parse_binding, parse_role

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
PRESIGN_SECONDS = 60  # what aws-iam-authenticator uses; the server allows 15 minutes from X-Amz-Date
STS_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2, read_timeout=5)

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
MAX_ATTEMPTS = 3  # a 429 or 5xx is retried; Retry-After honoured up to MAX_RETRY_WAIT
MAX_RETRY_WAIT = 2.0
PAGE_SIZE = 250
MAX_PAGES = 200  # 50,000 objects of one kind
MAX_BODY_BYTES = 8 * 1024 * 1024  # one response
# Everything read from one cluster: real clusters' RBAC is well under 1 MB; past this the cluster is a
# blind spot ("too-large") instead of a function out of memory with every other cluster's run lost.
MAX_CLUSTER_BYTES = 24 * 1024 * 1024
MAX_OBJECTS = 40_000

AWS_AUTH_PATH = "/api/v1/namespaces/kube-system/configmaps/aws-auth"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
LISTS = (
    ("ClusterRole", f"{RBAC}/clusterroles"),
    ("Role", f"{RBAC}/roles"),
    ("ClusterRoleBinding", f"{RBAC}/clusterrolebindings"),
    ("RoleBinding", f"{RBAC}/rolebindings"),
)

_token_lock = threading.Lock()


class KubeError(RuntimeError):
    """The Kubernetes API could not be read; `kind` says how (a blind spot key), the message says why."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def token(cluster: str, region: str, sts: Any = None) -> str:
    """A bearer token for `cluster`, valid 15 minutes (never logged: it authenticates as eksguard)."""
    client = sts if sts is not None else aws.client_with("sts", region, STS_CONFIG)

    def add_cluster_id(request: Any, **_: Any) -> None:
        request.headers[CLUSTER_ID_HEADER] = cluster

    event = "before-sign.sts.GetCallerIdentity"
    with _token_lock:  # the handler is per client, and the client is shared between threads
        client.meta.events.register(event, add_cluster_id)
        try:
            url = client.generate_presigned_url(
                "get_caller_identity", Params={}, ExpiresIn=PRESIGN_SECONDS, HttpMethod="GET"
            )
        finally:
            client.meta.events.unregister(event, add_cluster_id)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")


class KubeReader:
    def __init__(
        self,
        endpoint: str,
        ca_pem: str,
        bearer: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme != "https" or not parts.hostname:
            raise KubeError("endpoint", f"cluster endpoint {endpoint!r} is not an https URL")
        self.host = parts.hostname
        self.port = parts.port or 443
        self.base = parts.path.rstrip("/")
        try:
            self.context = ssl.create_default_context(cadata=ca_pem)
        except (ssl.SSLError, ValueError) as exc:
            raise KubeError("tls", f"the cluster CA cannot be loaded: {exc}") from None
        self._bearer = bearer
        self._sleep = sleep
        self._connection: http.client.HTTPSConnection | None = None
        self.calls = 0
        self.bytes_read = 0

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _request(self, path: str) -> tuple[int, dict[str, str], bytes]:
        if self._connection is None:
            self._connection = http.client.HTTPSConnection(
                self.host, self.port, timeout=CONNECT_TIMEOUT, context=self.context
            )
            self._connection.connect()
            if self._connection.sock is not None:
                self._connection.sock.settimeout(READ_TIMEOUT)
        self.calls += 1
        headers = {"Authorization": f"Bearer {self._bearer}", "Accept": "application/json"}
        self._connection.request("GET", self.base + path, headers=headers)
        response = self._connection.getresponse()
        body = response.read(MAX_BODY_BYTES + 1)
        self.bytes_read += len(body)
        if len(body) > MAX_BODY_BYTES:
            self.close()
            raise KubeError("too-large", f"GET {path}: response larger than {MAX_BODY_BYTES} bytes")
        if self.bytes_read > MAX_CLUSTER_BYTES:
            self.close()
            raise KubeError("too-large", f"more than {MAX_CLUSTER_BYTES} bytes of RBAC objects and aws-auth")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body

    def get(self, path: str) -> dict[str, Any] | None:
        """The JSON object at `path`; None for 404. Raises KubeError for anything else."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if not aws.CallDeadline.allows(CONNECT_TIMEOUT + READ_TIMEOUT):
                self.close()
                raise KubeError("out-of-time", "not read: the run ran out of time")
            try:
                status, headers, body = self._request(path)
            except ssl.SSLCertVerificationError as exc:
                self.close()
                raise KubeError(
                    "tls",
                    f"the API server's certificate is not signed by the cluster CA from DescribeCluster "
                    f"({exc.verify_message})",
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if attempt == MAX_ATTEMPTS or isinstance(exc, ssl.SSLError):
                    raise KubeError("unreachable", f"GET {path}: {type(exc).__name__}: {exc}") from None
                continue
            if status == 200:
                try:
                    data = json.loads(body)
                except ValueError:
                    raise KubeError("bad-response", f"GET {path}: the response is not JSON") from None
                if not isinstance(data, dict):
                    raise KubeError("bad-response", f"GET {path}: the response is not a JSON object")
                return data
            if status == 404:
                return None
            if status == 401:
                raise KubeError("unauthorized", "the API server rejected eksguard's token (401)")
            if status == 403:
                raise KubeError("forbidden", f"GET {path}: eksguard's role has no read access (403)")
            if (status == 429 or status >= 500) and attempt < MAX_ATTEMPTS:
                self._sleep(_retry_wait(headers.get("retry-after"), attempt))
                continue
            raise KubeError("throttled" if status == 429 else "server-error", f"GET {path}: HTTP {status}")
        raise KubeError("unreachable", f"GET {path}: no answer")  # pragma: no cover - the loop returns or raises

    def items(self, path: str) -> Iterator[Any]:
        token: str | None = None
        for _ in range(MAX_PAGES):
            query = f"?limit={PAGE_SIZE}" + (f"&continue={quote(token, safe='')}" if token else "")
            page = self.get(path + query)
            if page is None:
                raise KubeError("bad-response", f"GET {path}: not found")
            items = page.get("items")
            if not isinstance(items, list):
                raise KubeError("bad-response", f"GET {path}: the list has no items")
            yield from items
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return
        raise KubeError("too-large", f"GET {path}: more than {MAX_PAGES} pages")

    def read(self) -> KubeObjects:
        configmap = self.get(AWS_AUTH_PATH)
        aws_auth: dict[str, Any] | None = None
        if configmap is not None:
            data = configmap.get("data")
            aws_auth = dict(data) if isinstance(data, dict) else {}
        roles: list[Role] = []
        bindings: list[Binding] = []
        unreadable: list[str] = []
        count = 0
        for kind, path in LISTS:
            for obj in self.items(path):
                count += 1
                if count > MAX_OBJECTS:
                    raise KubeError("too-large", f"more than {MAX_OBJECTS} RBAC objects")
                try:
                    if kind.endswith("Binding"):
                        bindings.append(parse_binding(obj, kind))
                    else:
                        roles.append(parse_role(obj, kind))
                except Invalid as exc:
                    unreadable.append(f"{kind} {_name_of(obj)}: {exc}")
        return KubeObjects(aws_auth, tuple(roles), tuple(bindings), tuple(unreadable))


def _name_of(obj: Any) -> str:
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    if isinstance(metadata, dict):
        namespace = metadata.get("namespace")
        return f"{namespace}/{metadata.get('name')}" if namespace else str(metadata.get("name"))
    return "(unnamed)"


def _retry_wait(header: str | None, attempt: int) -> float:
    try:
        wait = float(header) if header else 0.2 * 2**attempt
    except ValueError:
        wait = 0.2 * 2**attempt
    return max(0.0, min(wait, MAX_RETRY_WAIT))
