"""Each handler's tracer: powertools' `Tracer` (X-Ray) when tracing is on, else `Untraced`, which does nothing.

Tracing is on in Lambda (`LAMBDA_TASK_ROOT` is set) unless `POWERTOOLS_TRACE_DISABLED` is true, and off under
`sam local` (`AWS_SAM_LOCAL`) and Chalice's local mode (`AWS_CHALICE_CLI_MODE`): the rules powertools' Tracer
applies itself. When it is off, the X-Ray SDK is never imported (powertools' Tracer imports it even when
disabled, and `aws_xray_sdk.core` builds a botocore session as it is imported: a good part of a cold start).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

F = TypeVar("F", bound=Callable[..., Any])
TRUE = ("1", "true", "yes", "on", "y", "t")


def tracing_on(environ: Mapping[str, str] | None = None) -> bool:
    """Whether powertools' Tracer would trace in this environment (`os.environ` unless given)."""
    values = os.environ if environ is None else environ
    if values.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in TRUE:
        return False
    return bool(values.get("LAMBDA_TASK_ROOT")) and not values.get("AWS_SAM_LOCAL") and not values.get(
        "AWS_CHALICE_CLI_MODE")


class Untraced:
    """What a handler uses of powertools' Tracer, doing nothing: tracing is off."""

    disabled = True

    def __init__(self, service: str) -> None:
        self.service = service

    @overload
    def capture_lambda_handler(self, lambda_handler: F) -> F: ...

    @overload
    def capture_lambda_handler(self, lambda_handler: None = None, **options: Any) -> Callable[[F], F]: ...

    def capture_lambda_handler(self, lambda_handler: F | None = None, **options: Any) -> F | Callable[[F], F]:
        """The handler as it is (with options: a decorator leaving it as it is)."""
        if lambda_handler is None:
            return lambda function: function
        return lambda_handler

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        """Nothing to record on: no segment while tracing is off."""

    def put_annotation(self, key: str, value: Any) -> None:
        """Nothing to record on: no segment while tracing is off."""


def tracer_for(service: str, environ: Mapping[str, str] | None = None) -> Tracer | Untraced:
    """powertools' Tracer for `service` when tracing is on (`tracing_on`), else `Untraced`."""
    if not tracing_on(environ):
        return Untraced(service)
    from aws_lambda_powertools import Tracer

    return Tracer(service=service)
