"""Fault injection below boto3: answer chosen HTTP attempts of one operation with an AWS error.

The answer is given from botocore's `before-send` event, after the request is signed and before
it would leave the process, so everything above it runs as in production: the client's retry
mode (standard, 5 attempts), the error parser, our own handling. Attempts that are not faulted
fall through to moto (or to `passthrough`, for operations moto does not implement).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any
from urllib.parse import parse_qs

import botocore.endpoint
from botocore.awsrequest import AWSResponse


class _Raw(BytesIO):
    def stream(self, **_: Any) -> Any:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


@dataclass(frozen=True)
class Fault:
    code: str
    message: str = "injected fault"
    status: int = 503


THROTTLED_EC2 = Fault("RequestLimitExceeded", "Request limit exceeded.", 503)
UNAVAILABLE = Fault("ServiceUnavailable", "Service is unavailable.", 503)
INTERNAL = Fault("InternalServerError", "Internal server error.", 500)
DDB_THROTTLED = Fault("ProvisionedThroughputExceededException", "Rate of requests exceeds the allowed throughput.", 400)


def error_response(protocol: str, url: str, fault: Fault) -> AWSResponse:
    """An error answer in the wire format of the service's protocol."""
    headers: dict[str, str] = {"x-amzn-RequestId": "fault-injected"}
    if protocol in ("ec2", "query"):
        inner = f"<Error><Code>{fault.code}</Code><Message>{fault.message}</Message></Error>"
        body = (
            f"<Response><Errors>{inner}</Errors><RequestID>fault</RequestID></Response>"
            if protocol == "ec2"
            else f"<ErrorResponse>{inner}<RequestId>fault</RequestId></ErrorResponse>"
        )
        headers["Content-Type"] = "text/xml"
    else:
        body = json.dumps({"__type": fault.code, "message": fault.message})
        headers["Content-Type"] = "application/x-amz-json-1.0"
        headers["x-amzn-query-error"] = f"{fault.code};Sender"
    return AWSResponse(url, fault.status, headers, _Raw(body.encode()))


def json_response(url: str, data: dict[str, Any]) -> AWSResponse:
    return AWSResponse(url, 200, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(json.dumps(data).encode()))


def xml_response(url: str, body: str) -> AWSResponse:
    return AWSResponse(url, 200, {"Content-Type": "text/xml"}, _Raw(body.encode()))


def request_params(request: Any) -> dict[str, Any]:
    """The operation's parameters as sent (query form for EC2, JSON for json protocols)."""
    body = request.body or b""
    text = body.decode() if isinstance(body, bytes) else str(body)
    if text.startswith("{"):
        loaded: dict[str, Any] = json.loads(text)
        return loaded
    return {k: v if len(v) > 1 else v[0] for k, v in parse_qs(text).items()}


UNSERVED_URL = "http://fault-injected.invalid/"
Decider = Callable[[int, dict[str, Any]], Fault | None]


@dataclass
class Injector:
    """Faults for one operation of one client. `decide(attempt_number, params)` returns a Fault or None.

    `attempts` counts every HTTP attempt (botocore retries included); `faulted` those answered with a fault.
    """

    client: Any
    operation: str
    decide: Decider
    passthrough: Callable[[dict[str, Any]], dict[str, Any] | str] | None = None
    attempts: int = 0
    faulted: int = 0
    params_seen: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        model = self.client.meta.service_model
        self._protocol = model.protocol
        event = f"before-send.{model.service_id.hyphenize()}.{self.operation}"
        self.client.meta.events.register_first(event, self._answer, unique_id=f"fault-{id(self)}")

    def _answer(self, request: Any, **_: Any) -> AWSResponse | None:
        self.attempts += 1
        params = request_params(request)
        self.params_seen.append(params)
        fault = self.decide(self.attempts, params)
        url = request.url
        if fault is not None:
            self.faulted += 1
            response = error_response(self._protocol, url, fault)
        elif self.passthrough is not None:
            answer = self.passthrough(params)
            response = json_response(url, answer) if isinstance(answer, dict) else xml_response(url, answer)
        else:
            return None
        # Every before-send handler runs; send moto's to an address it does not serve, so the
        # answered attempt has no side effect there (a throttled StopInstances stops nothing).
        request.url = UNSERVED_URL
        return response

    def remove(self) -> None:
        model = self.client.meta.service_model
        self.client.meta.events.unregister(
            f"before-send.{model.service_id.hyphenize()}.{self.operation}", unique_id=f"fault-{id(self)}"
        )


def always(fault: Fault) -> Decider:
    return lambda _attempt, _params: fault


def first_n(count: int, fault: Fault) -> Decider:
    return lambda attempt, _params: fault if attempt <= count else None


class NoBackoff:
    """Replaces botocore's retry sleep: records the delays instead of waiting them out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)


def install_no_backoff(monkeypatch: Any) -> NoBackoff:
    fake = NoBackoff()
    monkeypatch.setattr(botocore.endpoint, "time", fake)
    return fake


def ec2_instance_ids(params: dict[str, Any]) -> list[str]:
    """InstanceId.N values of an EC2 query request, in order."""
    keyed = [(int(k.split(".")[1]), v) for k, v in params.items() if k.startswith("InstanceId.")]
    return [v for _, v in sorted(keyed)]
