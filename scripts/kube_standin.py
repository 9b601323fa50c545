"""A stand-in for EKS clusters' Kubernetes API servers: HTTPS with its own CA, EKS token checks, the
objects the inventory reads, and faults on demand. For tests, the demo and `sam local invoke` only.

One server plays many clusters, each under `/clusters/<name>` (its endpoint is
`https://<host>:<port>/clusters/<name>`). A request must carry `Authorization: Bearer k8s-aws-v1.…`,
checked as aws-iam-authenticator's server checks it (pkg/token/token.go `Verify`): the prefix,
base64url without padding, a URL with path `/`, only the allowed query parameters each once,
`Action=GetCallerIdentity`, `x-k8s-aws-id` among the signed headers, `X-Amz-Expires` in 0..900 and
`X-Amz-Date` younger than 15 minutes. The STS host must be one of `sts_hosts` (real ones, or the
local AWS endpoint). With `verify_sts`, the URL is then called with the `x-k8s-aws-id` header, as the
authenticator does, and the caller's ARN is read from the answer; a cluster with `readers` set
answers 403 to anyone else. Only GET is served; every request is recorded.

Admin API (same server, JSON): PUT /_standin/clusters/<name> {"objects": {clusterroles, clusterrolebindings,
roles, rolebindings}, "aws_auth": {...} | null, "fault": null | 401 | 403 | 429 | 500 | "hang", "fault_count": n,
"readers": [ARN]}; GET /_standin/requests; DELETE /_standin/requests; GET /_standin/ca.

    python scripts/kube_standin.py --port 6443 --host 0.0.0.0 --cert-host eksguard-local-aws --cert-dir /tmp/kube
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import ipaddress
import json
import re
import signal
import ssl
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ADMIN_PREFIX = "/_standin"
TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
ALLOWED_PARAMETERS = frozenset(
    {
        "action",
        "version",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-expires",
        "x-amz-security-token",
        "x-amz-signature",
        "x-amz-signedheaders",
    }
)
MAX_TOKEN_BYTES = 1024 * 1024  # token.go maxTokenLenBytes
TOKEN_LIFETIME = dt.timedelta(minutes=15)
PATHS = {
    "/api/v1/namespaces/kube-system/configmaps/aws-auth": "aws-auth",
    "/apis/rbac.authorization.k8s.io/v1/clusterroles": "clusterroles",
    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings": "clusterrolebindings",
    "/apis/rbac.authorization.k8s.io/v1/roles": "roles",
    "/apis/rbac.authorization.k8s.io/v1/rolebindings": "rolebindings",
}
_ARN_IN_XML = re.compile(r"<Arn>([^<]+)</Arn>")


# ----------------------------------------------------------------------------- certificates


def make_certificates(hosts: Iterable[str]) -> tuple[str, str, str]:
    """(CA PEM, server certificate PEM, server key PEM) for these host names / IP addresses."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes stand-in CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca.public_bytes(pem).decode(), cert.public_bytes(pem).decode(), key_pem.decode()


# ----------------------------------------------------------------------------- token


class TokenRejected(ValueError):
    pass


def check_token(header: str | None, sts_hosts: frozenset[str], now: dt.datetime | None = None) -> str:
    """The presigned URL inside a valid bearer token; raises TokenRejected (token.go `Verify`)."""
    if not header or not header.startswith("Bearer "):
        raise TokenRejected("no bearer token")
    token = header[len("Bearer ") :].strip()
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenRejected("token is too large")
    if not token.startswith(TOKEN_PREFIX):
        raise TokenRejected(f"token is missing expected {TOKEN_PREFIX!r} prefix")
    encoded = token[len(TOKEN_PREFIX) :]
    if "=" in encoded:
        raise TokenRejected("token is padded base64 (RawURLEncoding has no padding)")
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise TokenRejected("token is not base64url") from None
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and parts.netloc not in sts_hosts):
        raise TokenRejected(f"unexpected scheme {parts.scheme!r} in pre-signed URL")
    if parts.netloc not in sts_hosts:
        raise TokenRejected(f"unexpected hostname {parts.netloc!r} in pre-signed URL")
    if parts.path != "/":
        raise TokenRejected("unexpected path in pre-signed URL")
    params: dict[str, str] = {}
    for key, values in parse_qs(parts.query, keep_blank_values=True).items():
        if key.lower() not in ALLOWED_PARAMETERS:
            raise TokenRejected(f"non-whitelisted query parameter {key!r}")
        if len(values) != 1:
            raise TokenRejected("query parameter with multiple values not supported")
        params[key.lower()] = values[0]
    if params.get("action") != "GetCallerIdentity":
        raise TokenRejected("unexpected action parameter in pre-signed URL")
    signed = [h.lower() for h in params.get("x-amz-signedheaders", "").split(";")]
    if CLUSTER_ID_HEADER not in signed:
        raise TokenRejected(f"client did not sign the {CLUSTER_ID_HEADER} header in the pre-signed URL")
    try:
        expires = int(params.get("x-amz-expires", ""))
    except ValueError:
        raise TokenRejected("invalid X-Amz-Expires parameter in pre-signed URL") from None
    if not 0 <= expires <= 900:
        raise TokenRejected(f"invalid X-Amz-Expires parameter in pre-signed URL: {expires}")
    try:
        signed_at = dt.datetime.strptime(params.get("x-amz-date", ""), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise TokenRejected("X-Amz-Date parameter must be present in pre-signed URL") from None
    if (now or dt.datetime.now(dt.UTC)) > signed_at + TOKEN_LIFETIME:
        raise TokenRejected("X-Amz-Date parameter is expired (15 minute expiration)")
    return url


def caller_arn(url: str, cluster: str, timeout: float = 3.0) -> str:
    """What the authenticator does next: call STS with the URL and the cluster id header."""
    request = urllib.request.Request(url, headers={CLUSTER_ID_HEADER: cluster, "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - local STS only
        body = response.read(100_000).decode("utf-8", "replace")
    try:
        data = json.loads(body)
        return str(data["GetCallerIdentityResponse"]["GetCallerIdentityResult"]["Arn"])
    except (ValueError, KeyError, TypeError):
        match = _ARN_IN_XML.search(body)
        if not match:
            raise TokenRejected("STS did not return the caller's ARN") from None
        return match.group(1)


# ----------------------------------------------------------------------------- server


class ClusterState:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.objects: dict[str, list[dict[str, Any]]] = {
            k: list(spec.get("objects", {}).get(k) or [])
            for k in ("clusterroles", "clusterrolebindings", "roles", "rolebindings")
        }
        self.aws_auth: dict[str, Any] | None = spec.get("aws_auth")
        self.fault: int | str | None = spec.get("fault")
        self.fault_count: int | None = spec.get("fault_count")
        self.readers: list[str] | None = spec.get("readers")


class KubeStandIn:
    """The stand-in in a daemon thread (port 0 picks a free port)."""

    def __init__(
        self,
        sts_hosts: Iterable[str],
        host: str = "127.0.0.1",
        port: int = 0,
        cert_hosts: Iterable[str] = ("127.0.0.1", "localhost"),
        verify_sts: bool = False,
        cert_dir: str | None = None,
    ) -> None:
        self.sts_hosts = frozenset(sts_hosts)
        self.verify_sts = verify_sts
        self.clusters: dict[str, ClusterState] = {}
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.ca_pem, cert_pem, key_pem = make_certificates(cert_hosts)
        directory = Path(cert_dir or tempfile.mkdtemp(prefix="kube-standin-"))
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "ca.pem").write_text(self.ca_pem)
        (directory / "server.pem").write_text(cert_pem)
        (directory / "server.key").write_text(key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(directory / "server.pem", directory / "server.key")
        self._server = _Server((host, port), _Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._server.standin = self  # type: ignore[attr-defined]
        self.host = host
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def endpoint(self, cluster: str, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}/clusters/{cluster}"

    @property
    def ca_data(self) -> str:
        """The CA as DescribeCluster gives it: base64 of the PEM."""
        return base64.b64encode(self.ca_pem.encode()).decode()

    def put_cluster(self, name: str, spec: dict[str, Any]) -> None:
        with self.lock:
            self.clusters[name] = ClusterState(spec)

    def start(self) -> KubeStandIn:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client that went away or failed TLS
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server_version = "KubeStandIn/1.0"
    protocol_version = "HTTP/1.1"

    @property
    def standin(self) -> KubeStandIn:
        return self.server.standin  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
        return

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code: int, reason: str, message: str) -> None:
        self._send(
            code,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": reason,
                "message": message,
                "code": code,
            },
        )

    def _body(self) -> bytes:
        length = min(int(self.headers.get("Content-Length") or 0), 10_000_000)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._handle()

    def do_PUT(self) -> None:  # noqa: N802
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle()

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle()

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith(ADMIN_PREFIX):
            self._admin(parts.path[len(ADMIN_PREFIX) :])
            return
        match = re.fullmatch(r"/clusters/([^/]+)(/.*)", parts.path)
        record: dict[str, Any] = {"method": self.command, "path": parts.path, "query": parts.query}
        status = self._api(match, parts.query, record)
        record["status"] = status
        with self.standin.lock:
            self.standin.requests.append(record)

    def _api(self, match: re.Match[str] | None, query: str, record: dict[str, Any]) -> int:
        standin = self.standin
        if match is None:
            self._status(404, "NotFound", "no such cluster path")
            return 404
        cluster, path = match.group(1), match.group(2)
        record["cluster"] = cluster
        state = standin.clusters.get(cluster)
        if state is None:
            self._status(404, "NotFound", f"cluster {cluster} is not served here")
            return 404
        try:
            url = check_token(self.headers.get("Authorization"), standin.sts_hosts)
            if standin.verify_sts:
                record["identity"] = caller_arn(url, cluster)
        except (TokenRejected, OSError) as exc:
            record["rejected"] = str(exc)
            self._status(401, "Unauthorized", "Unauthorized")
            return 401
        if self.command != "GET":
            self._status(405, "MethodNotAllowed", "the stand-in serves reads only")
            return 405
        if state.readers is not None and record.get("identity") not in state.readers:
            self._status(403, "Forbidden", f"{record.get('identity')} cannot read this cluster")
            return 403
        fault = state.fault
        if fault is not None and (state.fault_count is None or state.fault_count > 0):
            if state.fault_count is not None:
                state.fault_count -= 1
            if fault == "hang":
                time.sleep(30)
                return 0
            code = int(fault)
            headers = {"Retry-After": "0"} if code == 429 else None
            self._send(code, {"kind": "Status", "code": code, "message": "fault injected"}, headers)
            return code
        kind = PATHS.get(path)
        if kind is None:
            self._status(403, "Forbidden", f"eksguard-inventory-reader cannot get {path}")
            return 403
        if kind == "aws-auth":
            if state.aws_auth is None:
                self._status(404, "NotFound", 'configmaps "aws-auth" not found')
                return 404
            self._send(
                200,
                {
                    "kind": "ConfigMap",
                    "apiVersion": "v1",
                    "metadata": {"name": "aws-auth", "namespace": "kube-system"},
                    "data": state.aws_auth,
                },
            )
            return 200
        params = parse_qs(query)
        limit = max(1, min(int((params.get("limit") or ["500"])[0]), 500))
        start = int((params.get("continue") or ["0"])[0] or 0)
        items = state.objects[kind]
        page = items[start : start + limit]
        metadata = {"continue": str(start + limit)} if start + limit < len(items) else {}
        self._send(200, {"kind": "List", "apiVersion": "v1", "metadata": metadata, "items": page})
        return 200

    def _admin(self, path: str) -> None:
        standin = self.standin
        if path == "/ca" and self.command == "GET":
            self._send(200, {"ca": standin.ca_pem})
        elif path == "/requests" and self.command == "GET":
            with standin.lock:
                self._send(200, {"requests": list(standin.requests)})
        elif path == "/requests" and self.command == "DELETE":
            with standin.lock:
                standin.requests.clear()
            self._send(200, {})
        elif path.startswith("/clusters/") and self.command in ("PUT", "POST"):
            try:
                spec = json.loads(self._body() or b"{}")
                if not isinstance(spec, dict):
                    raise ValueError("the cluster spec must be an object")
            except ValueError as exc:
                self._send(400, {"error": str(exc)})
                return
            standin.put_cluster(path[len("/clusters/") :], spec)
            self._send(200, {"cluster": path[len("/clusters/") :]})
        else:
            self._send(404, {"error": "unknown admin path"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Kubernetes API stand-in for EKS clusters (HTTPS, own CA)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6443)
    parser.add_argument("--cert-host", action="append", default=[], help="host name or IP for the certificate")
    parser.add_argument("--cert-dir", default=None)
    parser.add_argument("--sts-host", action="append", default=[], help="accepted STS host[:port] in tokens")
    parser.add_argument("--verify-sts", action="store_true", help="call STS with the token, as EKS does")
    args = parser.parse_args(argv)
    hosts = args.cert_host or ["127.0.0.1", "localhost"]
    standin = KubeStandIn(args.sts_host, args.host, args.port, hosts, args.verify_sts, args.cert_dir).start()
    print(f"kubernetes stand-in on {args.host}:{standin.port} (certificate for {', '.join(hosts)})", flush=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    while not stopping.wait(0.5):
        pass
    standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
