"""A local stand-in for a Slack incoming webhook (127.0.0.1 only).

Tests script its answers (ok, 429 + Retry-After, 500, 410 channel_is_archived, 404, 403,
400 invalid_payload, a slow answer, a dropped connection) and read back what was posted.
Run it on its own for demos and end-to-end checks:

    python -m tests.slack_standin --port 8765

It then answers `ok` to every POST, prints each message's `text` as it arrives and serves the
received payloads as JSON on `GET /messages`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"
WEBHOOK_PATH = "/services/T0EKSGUARD/B0STANDIN/s3cr3tW3bh00kT0k3n"
MAX_BODY_BYTES = 1_000_000
MAX_DELAY_SECONDS = 30.0


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    body: str = "ok"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    drop: bool = False  # close the connection without answering

    @classmethod
    def ok(cls) -> Reply:
        return cls()

    @classmethod
    def rate_limited(cls, retry_after: int | str = 1) -> Reply:
        return cls(429, "rate_limited", (("Retry-After", str(retry_after)),))

    @classmethod
    def server_error(cls, body: str = "rollup_error") -> Reply:
        return cls(500, body)

    @classmethod
    def archived(cls) -> Reply:
        return cls(410, "channel_is_archived")

    @classmethod
    def not_found(cls) -> Reply:
        return cls(404, "no_service")

    @classmethod
    def forbidden(cls) -> Reply:
        return cls(403, "action_prohibited")

    @classmethod
    def invalid_payload(cls, body: str = "invalid_payload") -> Reply:
        return cls(400, body)

    @classmethod
    def slow(cls, delay: float) -> Reply:
        return cls(delay=delay)

    @classmethod
    def dropped(cls) -> Reply:
        return cls(drop=True)


@dataclass(frozen=True)
class Received:
    path: str
    payload: Any
    status: int
    at: float


@dataclass
class _State:
    expected_path: str | None
    echo: bool
    default: Reply = field(default_factory=Reply)
    script: deque[Reply] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)


class _Handler(BaseHTTPRequestHandler):
    server_version = "SlackStandIn/1.0"
    protocol_version = "HTTP/1.1"

    @property
    def state(self) -> _State:
        return self.server.state  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature from the base class
        """Silent: the request line carries the webhook path, which is a credential."""

    def _answer(
        self, status: int, body: str, headers: Iterable[tuple[str, str]] = (), kind: str = "text/plain"
    ) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if self.path.split("?", 1)[0] != "/messages":
            self._answer(404, "not_found")
            return
        with self.state.lock:
            payloads = [r.payload for r in self.state.received]
        self._answer(200, json.dumps(payloads), kind="application/json")

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
        raw = self.rfile.read(length) if length else b""
        state = self.state
        if state.expected_path is not None and self.path != state.expected_path:
            self._answer(404, "no_service")
            return
        try:
            payload: Any = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = None
        with state.lock:
            reply = state.script.popleft() if state.script else state.default
        if reply.delay:
            time.sleep(min(reply.delay, MAX_DELAY_SECONDS))
        if reply.drop:
            self.close_connection = True
            self.connection.close()
            return
        status = 400 if payload is None and reply.status == 200 else reply.status
        body = "invalid_payload" if status != reply.status else reply.body
        with state.arrived:
            state.received.append(Received(self.path, payload, status, time.monotonic()))
            state.arrived.notify_all()
        if state.echo and isinstance(payload, dict):
            print(f"[slack] {payload.get('text', '')}", flush=True)
        self._answer(status, body, reply.headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients that gave up (timeouts, dropped connections); never print the path."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            return
        print(f"slack stand-in: {type(error).__name__}: {error}", file=sys.stderr)


class SlackStandIn:
    """A ThreadingHTTPServer in a daemon thread; `url` is the webhook URL to put in the secret."""

    def __init__(self, port: int = 0, path: str = WEBHOOK_PATH, echo: bool = False, strict_path: bool = True) -> None:
        self.path = path
        self._port = port
        self._state = _State(expected_path=path if strict_path else None, echo=echo)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------
    def start(self) -> SlackStandIn:
        if self._server is not None:
            return self
        server = _Server((HOST, self._port), _Handler)
        server.state = self._state  # type: ignore[attr-defined]
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (the port is kept, so `start()` again resumes on the same URL)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # addresses -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self._port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}{self.path}"

    # scripting -------------------------------------------------------------------------
    def enqueue(self, *replies: Reply) -> None:
        """Answer the next POSTs with these replies, in order; then fall back to the default."""
        with self._state.lock:
            self._state.script.extend(replies)

    def set_default(self, reply: Reply) -> None:
        with self._state.lock:
            self._state.default = reply

    def reset(self) -> None:
        with self._state.lock:
            self._state.script.clear()
            self._state.received.clear()
            self._state.default = Reply()

    # inspection ------------------------------------------------------------------------
    @property
    def received(self) -> list[Received]:
        with self._state.lock:
            return list(self._state.received)

    @property
    def payloads(self) -> list[Any]:
        return [r.payload for r in self.received]

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """Payloads Slack would have posted (answered 2xx)."""
        return [r.payload for r in self.received if 200 <= r.status < 300 and isinstance(r.payload, dict)]

    @property
    def texts(self) -> list[str]:
        return [str(p.get("text", "")) for p in self.delivered]

    @property
    def pending_replies(self) -> int:
        with self._state.lock:
            return len(self._state.script)

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least `count` requests arrived, at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._state.arrived:
            while len(self._state.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._state.arrived.wait(left)
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local stand-in for a Slack incoming webhook (answers ok).")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    standin = SlackStandIn(port=args.port, echo=True, strict_path=False).start()
    print(f"Slack stand-in listening on {standin.base_url} (POST any path; GET /messages)", flush=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    try:
        stopping.wait()
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
