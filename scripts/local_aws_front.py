"""A small HTTP front for a local moto server that also answers ssm:DescribeSessions and the EKS
access-state APIs moto lacks (scripts/local_eks_api.py), and can run the Kubernetes API stand-in.

moto does not implement Session Manager's DescribeSessions, which the stop function calls to
leave instances with an open shell alone. This front answers that one call from a session list
(seeded through an admin endpoint or a JSON file) and forwards every other request to moto
unchanged (method, path, headers including Host, body), so queue URLs and signatures still work.

    python scripts/local_aws_front.py --port 5000 --upstream http://127.0.0.1:5001
    python scripts/local_aws_front.py --host 0.0.0.0 --port 5000 --start-moto 5001   # container

Admin endpoints (JSON):
    PUT  /_eksguard/sessions   {"sessions": [{"SessionId", "Target", "Status", "Owner", "Region"}]}
    PUT  /_eksguard/eks        {"clusters": [...]}  EKS access state (scripts/local_eks_api.py)
    GET  /_eksguard/kube       the Kubernetes API stand-in's CA and port (with --kube-port)
    PUT  /_eksguard/kube/NAME  a cluster's objects for the stand-in (scripts/kube_standin.py)
    GET  /_eksguard/sessions
    GET  /_eksguard/health     200 once the front and moto both answer

Standard library only: it runs in the same image as moto without extra dependencies.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import local_eks_api  # noqa: E402 - a sibling module, also copied into the local AWS image

ADMIN_PREFIX = "/_eksguard"
DESCRIBE_SESSIONS_TARGET = "AmazonSSM.DescribeSessions"
ACTIVE_STATUSES = frozenset({"Connected", "Connecting", "Disconnected", "Terminating"})
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
MAX_BODY_BYTES = 50_000_000
UPSTREAM_TIMEOUT_SECONDS = 60.0
_REGION_IN_SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/([a-z0-9-]+)/")
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([a-z0-9-]+)/")
_ACCOUNT_IN_XML = re.compile(r"<Account>(\d{12})</Account>")


class SessionStore:
    """Session Manager sessions, thread-safe; a session without Region is visible in every region."""

    def __init__(self, sessions: Iterable[Mapping[str, Any]] = ()) -> None:
        self._lock = threading.Lock()
        self._sessions: list[dict[str, Any]] = [dict(s) for s in sessions]

    def replace(self, sessions: Iterable[Mapping[str, Any]]) -> None:
        with self._lock:
            self._sessions = [dict(s) for s in sessions]

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(s) for s in self._sessions]

    def describe(self, request: Mapping[str, Any], region: str | None) -> dict[str, Any]:
        """DescribeSessions semantics: State Active|History, Filters, MaxResults, NextToken."""
        state = request.get("State")
        if state not in ("Active", "History"):
            raise ValueError("State must be Active or History")
        filters = {f.get("key"): f.get("value") for f in request.get("Filters") or [] if isinstance(f, dict)}
        selected = []
        for session in self.all():
            if region and session.get("Region") not in (None, region):
                continue
            status = session.get("Status", "Connected")
            if (status in ACTIVE_STATUSES) != (state == "Active"):
                continue
            if "Target" in filters and session.get("Target") != filters["Target"]:
                continue
            if "Owner" in filters and session.get("Owner") != filters["Owner"]:
                continue
            if "Status" in filters and status != filters["Status"]:
                continue
            if "SessionId" in filters and session.get("SessionId") != filters["SessionId"]:
                continue
            public = {k: v for k, v in session.items() if k != "Region"}
            public.setdefault("Status", status)
            public.setdefault("StartDate", datetime.now(UTC).timestamp())
            selected.append(public)
        max_results = max(1, min(int(request.get("MaxResults") or 200), 200))
        start = int(request.get("NextToken") or 0)
        page = selected[start : start + max_results]
        answer: dict[str, Any] = {"Sessions": page}
        if start + max_results < len(selected):
            answer["NextToken"] = str(start + max_results)
        return answer


def _presigned_authorization(path: str) -> str | None:
    """A presigned URL carries its SigV4 credential in the query (what EKS tokens are); moto routes by the
    Authorization header only, so the front restates the credential there (moto checks no signature)."""
    query = parse_qs(path.partition("?")[2])
    credentials = query.get("X-Amz-Credential")
    if not credentials:
        return None
    credential = credentials[0]
    signed = (query.get("X-Amz-SignedHeaders") or ["host"])[0]
    signature = (query.get("X-Amz-Signature") or [""])[0]
    return f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, Signature={signature}"


def region_of(authorization: str) -> str | None:
    """The region of a SigV4 Authorization header's credential scope."""
    match = _REGION_IN_SCOPE.search(authorization)
    return match.group(1) if match else None


class _Handler(BaseHTTPRequestHandler):
    server_version = "EksguardLocalAws/1.0"
    protocol_version = "HTTP/1.1"

    @property
    def front(self) -> AwsFront:
        return self.server.front  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
        if self.front.verbose:
            super().log_message(format, *args)

    def _body(self) -> bytes:
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
        return self.rfile.read(length) if length else b""

    def _json(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        body = self._body()
        path = self.path.split("?", 1)[0]
        if path.startswith(ADMIN_PREFIX):
            self._admin(path, body)
            return
        if self.headers.get("X-Amz-Target") == DESCRIBE_SESSIONS_TARGET:
            self._describe_sessions(body)
            return
        region, service = local_eks_api.scope_of(self.headers.get("Authorization") or "")
        if service == "eks" and region and self._eks(body, region):
            return
        self._forward(body)

    def _account(self) -> str:
        """The account this call's credentials act in, as moto sees it (cached per access key)."""
        authorization = self.headers.get("Authorization") or ""
        match = _CREDENTIAL.search(authorization)
        if match is None:
            return local_eks_api.DEFAULT_ACCOUNT
        key, day, region = match.groups()
        with self.front.lock:
            known = self.front.accounts.get(key)
        if known:
            return known
        upstream = self.front.upstream
        connection = http.client.HTTPConnection(
            upstream.hostname or "127.0.0.1", upstream.port or 80, timeout=UPSTREAM_TIMEOUT_SECONDS
        )
        try:  # moto checks no signature: the call's credential, restated for STS, says whose it is
            connection.request(
                "POST",
                "/",
                body=b"Action=GetCallerIdentity&Version=2011-06-15",
                headers={
                    "Authorization": f"AWS4-HMAC-SHA256 Credential={key}/{day}/{region}/sts/aws4_request, "
                    "SignedHeaders=host, Signature=0",
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            )
            found = _ACCOUNT_IN_XML.search(connection.getresponse().read().decode("utf-8", "replace"))
        except OSError:
            found = None
        finally:
            connection.close()
        account = found.group(1) if found else local_eks_api.DEFAULT_ACCOUNT
        with self.front.lock:
            self.front.accounts[key] = account
        return account

    def _eks(self, body: bytes, region: str) -> bool:
        """The EKS access-state calls moto lacks (scripts/local_eks_api.py); True when answered here."""
        world = self.front.eks
        account = self._account() if world.multi_account else local_eks_api.DEFAULT_ACCOUNT
        path, _, query = self.path.partition("?")
        if path == "/clusters" and self.command == "GET":
            status, _, data = self._upstream(body)
            listed = json.loads(data or b"{}").get("clusters") or [] if status == 200 else []
            self._json(200, {"clusters": sorted(set(listed) | set(world.names(region, account)))})
            return True
        match = re.fullmatch(r"/clusters/([^/]+)", path)
        seeded = world.get(region, match.group(1), account) if match else None
        if seeded is not None and self.command == "GET":
            fault = seeded.get("describeFault")
            if fault:
                status = local_eks_api.FAULT_STATUS.get(fault, 400)
                self._json(status, {"__type": fault, "message": f"{fault} (injected)"})
                return True
            status, _, data = self._upstream(body)
            moto_cluster = json.loads(data).get("cluster") if status == 200 else None
            self._json(200, {"cluster": local_eks_api.describe_overlay(seeded, moto_cluster)})
            return True
        answered = local_eks_api.answer(world, self.command, path, query, body, region, account)
        if answered is None:
            return False
        self._json(answered[0], answered[1])
        return True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle  # noqa: N815 - http.server naming

    def _admin(self, path: str, body: bytes) -> None:
        if path == f"{ADMIN_PREFIX}/health":
            healthy = self.front.upstream_alive()
            self._json(200 if healthy else 503, {"front": True, "upstream": healthy})
        elif path == f"{ADMIN_PREFIX}/sessions" and self.command == "GET":
            self._json(200, {"sessions": self.front.sessions.all()})
        elif path == f"{ADMIN_PREFIX}/eks" and self.command in ("PUT", "POST"):
            try:
                clusters = json.loads(body or b"{}").get("clusters") or []
                if not isinstance(clusters, list) or not all(isinstance(c, dict) and c.get("name") for c in clusters):
                    raise ValueError("clusters must be a list of objects with a name")
                for cluster in clusters:
                    cluster.setdefault("region", "us-east-1")
            except (ValueError, AttributeError) as exc:
                self._json(400, {"error": str(exc)})
                return
            self.front.eks.replace(clusters)
            self._json(200, {"clusters": len(clusters)})
        elif path == f"{ADMIN_PREFIX}/kube" and self.command == "GET" and self.front.kube is not None:
            kube = self.front.kube
            self._json(200, {"ca": kube.ca_pem, "caData": kube.ca_data, "port": kube.port})
        elif path.startswith(f"{ADMIN_PREFIX}/kube/") and self.command in ("PUT", "POST") and self.front.kube:
            try:
                spec = json.loads(body or b"{}")
                if not isinstance(spec, dict):
                    raise ValueError("the cluster spec must be an object")
            except ValueError as exc:
                self._json(400, {"error": str(exc)})
                return
            self.front.kube.put_cluster(path[len(f"{ADMIN_PREFIX}/kube/") :], spec)
            self._json(200, {"cluster": path[len(f"{ADMIN_PREFIX}/kube/") :]})
        elif path == f"{ADMIN_PREFIX}/sessions" and self.command in ("PUT", "POST"):
            try:
                sessions = json.loads(body or b"{}").get("sessions") or []
                if not isinstance(sessions, list) or not all(isinstance(s, dict) for s in sessions):
                    raise ValueError("sessions must be a list of objects")
            except (ValueError, AttributeError) as exc:
                self._json(400, {"error": str(exc)})
                return
            self.front.sessions.replace(sessions)
            self._json(200, {"sessions": len(sessions)})
        else:
            self._json(404, {"error": "unknown admin path"})

    def _describe_sessions(self, body: bytes) -> None:
        try:
            request = json.loads(body or b"{}")
            answer = self.front.sessions.describe(request, region_of(self.headers.get("Authorization") or ""))
        except (ValueError, TypeError) as exc:
            self._json(400, {"__type": "ValidationException", "message": str(exc)}, "application/x-amz-json-1.1")
            return
        self._json(200, answer, "application/x-amz-json-1.1")

    def _upstream(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """This request as moto answers it (status 502 when moto cannot be reached)."""
        upstream = self.front.upstream
        connection = http.client.HTTPConnection(
            upstream.hostname or "127.0.0.1", upstream.port or 80, timeout=UPSTREAM_TIMEOUT_SECONDS
        )
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        presigned = _presigned_authorization(self.path)
        if presigned and "authorization" not in {k.lower() for k in headers}:
            headers["Authorization"] = presigned
        try:
            connection.request(
                self.command, self.path, body=body if body or self.command != "GET" else None, headers=headers
            )
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        except OSError as exc:
            return 502, [], json.dumps({"error": f"moto unreachable: {type(exc).__name__}"}).encode()
        finally:
            connection.close()

    def _forward(self, body: bytes) -> None:
        status, response_headers, data = self._upstream(body)
        self.send_response(status)
        for name, value in response_headers:
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client that went away
        super().handle_error(request, client_address)


class AwsFront:
    """The front in a daemon thread (port 0 picks a free port)."""

    def __init__(
        self,
        upstream: str,
        host: str = "127.0.0.1",
        port: int = 0,
        sessions: Iterable[Mapping[str, Any]] = (),
        verbose: bool = False,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.host = host
        self.sessions = SessionStore(sessions)
        self.eks = local_eks_api.EksWorld()
        self.lock = threading.Lock()
        self.accounts: dict[str, str] = {}  # access key -> account (moto's answer; see _account)
        self.kube: Any = None  # a scripts/kube_standin.KubeStandIn started by main() (--kube-port)
        self.verbose = verbose
        self._server = _Server((host, port), _Handler)
        self._server.front = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{'127.0.0.1' if self.host == '0.0.0.0' else self.host}:{self.port}"

    def start(self) -> AwsFront:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def upstream_alive(self) -> bool:
        return upstream_alive(self.upstream.geturl())


def upstream_alive(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/moto-api/", timeout=timeout) as response:  # noqa: S310
            return bool(200 <= response.status < 500)
    except OSError:
        return False


def wait_until_alive(url: str, timeout: float = 30.0) -> None:
    """Poll moto until it answers; bounded in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if upstream_alive(url):
            return
        time.sleep(0.1)
    raise TimeoutError(f"moto at {url} did not answer within {timeout:.0f}s")


def start_moto(port: int, host: str = "127.0.0.1") -> subprocess.Popen[bytes]:
    """moto's own server as a child process (its threaded server, quiet request log)."""
    return subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="moto front that also answers ssm:DescribeSessions")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--upstream", default=None, help="moto URL (default http://127.0.0.1:<--start-moto>)")
    parser.add_argument("--start-moto", type=int, metavar="PORT", help="start moto on 127.0.0.1:PORT as a child")
    parser.add_argument("--sessions-file", help='JSON file: {"sessions": [...]} loaded at start')
    parser.add_argument("--kube-port", type=int, help="also run the Kubernetes API stand-in on this port")
    parser.add_argument("--kube-cert-host", action="append", default=[], help="host name in its certificate")
    parser.add_argument("--kube-sts-host", action="append", default=[], help="STS host[:port] its tokens may name")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.upstream is None and args.start_moto is None:
        parser.error("give --upstream or --start-moto")
    upstream = args.upstream or f"http://127.0.0.1:{args.start_moto}"
    sessions: list[dict[str, Any]] = []
    if args.sessions_file:
        with open(args.sessions_file, encoding="utf-8") as handle:
            sessions = json.load(handle).get("sessions") or []
    moto = start_moto(args.start_moto) if args.start_moto is not None else None
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    try:
        wait_until_alive(upstream)
        front = AwsFront(upstream, args.host, args.port, sessions, args.verbose).start()
        print(f"local AWS front on {args.host}:{front.port} -> {upstream}", flush=True)
        if args.kube_port is not None:
            from kube_standin import KubeStandIn

            hosts = args.kube_cert_host or ["127.0.0.1", "localhost"]
            front.kube = KubeStandIn(args.kube_sts_host, args.host, args.kube_port, hosts, verify_sts=True).start()
            print(f"kubernetes stand-in on {args.host}:{args.kube_port} for {', '.join(hosts)}", flush=True)
        while not stopping.wait(0.5):
            if moto is not None and moto.poll() is not None:
                print("moto exited", file=sys.stderr, flush=True)
                return 1
        front.stop()
    finally:
        if moto is not None and moto.poll() is None:
            moto.terminate()
            try:
                moto.wait(timeout=10)
            except subprocess.TimeoutExpired:
                moto.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
