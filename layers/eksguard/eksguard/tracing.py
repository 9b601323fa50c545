"""X-Ray tracing only where the stack turns it on (template parameter `Tracing`).

Powertools' `Tracer()` imports `aws_xray_sdk.core` when it is constructed, even with tracing
disabled, and patches every library the SDK knows: 120-150 ms of every cold start, paid by the
nightly functions too (botocore alone patched: some tens of ms, docs/benchmarks.md). So the handlers
wrap themselves with `capture_lambda_handler` below, which builds a Tracer only when tracing is
on (`POWERTOOLS_TRACE_DISABLED` not true, the variable the template sets from `Tracing`) and is
otherwise the identity.

When on, only botocore is patched (AWS calls become subsegments). The X-Ray SDK's http.client patch
would record the Slack webhook's full URL, a secret, in every trace; and handlers' responses are not
captured (a stop run's report of thousands of instances would exceed X-Ray's 64 KB segment).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

_TRUE = {"1", "true", "yes", "on"}
PATCHED_MODULES = ("botocore",)


def enabled(environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() not in _TRUE


def capture_lambda_handler(handler: F) -> F:
    """The handler traced by Powertools when tracing is on; the handler itself otherwise."""
    if not enabled():
        return handler
    from aws_lambda_powertools import Tracer

    tracer = Tracer(patch_modules=PATCHED_MODULES)
    return cast(F, tracer.capture_lambda_handler(handler, capture_response=False))
