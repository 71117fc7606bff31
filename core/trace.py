"""Trace context carried from a command to the projector: W3C `traceparent` and X-Ray's trace header.

A command keeps the trace context of its request in its event's `meta` (`traceparent`, `xray_trace_id`), so
the projector, which runs later and in another invocation, can link what it does for that event to the
request's trace, whether or not the request was sampled. A `traceparent` that is not W3C's format is ignored
(as the W3C recommendation asks: a malformed header starts no trace and is not an error), and so is an X-Ray
header without a well-formed `Root`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

TRACEPARENT = re.compile(r"[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")
XRAY_ROOT = re.compile(r"Root=(1-[0-9a-f]{8}-[0-9a-f]{24})(?:;|$)")
#: The meta keys a trace context is kept under.
KEYS = ("traceparent", "xray_trace_id")


def trace_meta(headers: Mapping[str, str] | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The request's trace context for an event's `meta`: its `traceparent` header when well formed, and the
    X-Ray trace header (Lambda's `_X_AMZN_TRACE_ID`, else the request's `X-Amzn-Trace-Id`) when well formed."""
    found: dict[str, str] = {}
    lowered = {str(name).lower(): value for name, value in (headers or {}).items() if isinstance(value, str)}
    parent = lowered.get("traceparent", "").strip()
    if TRACEPARENT.fullmatch(parent) and not parent.startswith("ff"):
        found["traceparent"] = parent
    xray = environ.get("_X_AMZN_TRACE_ID") or lowered.get("x-amzn-trace-id", "")
    if xray.strip() and XRAY_ROOT.search(xray.strip()):
        found["xray_trace_id"] = xray.strip()[:256]
    return found


def trace_links(meta: Mapping[str, object]) -> dict[str, str]:
    """The trace context an event's `meta` holds (empty when none)."""
    return {key: value for key in KEYS if isinstance(value := meta.get(key), str) and value}
