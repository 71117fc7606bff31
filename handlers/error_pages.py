"""Error replies for browsers: a request that accepts `text/html` (a browser following a link) gets a short HTML
page for a 4xx or 5xx instead of the JSON an API client gets. A 400 names the field at fault, never the
message behind it; a 503 keeps `Retry-After` and reloads itself after that many seconds (a meta refresh, no
script). Both API handlers pass every reply through `for_browser`."""

from __future__ import annotations

import json
from html import escape
from typing import Any

#: What powertools answers when a resolver has no route for a request (no module declares its own).
ROUTE_MISSING = {"statusCode": 404, "message": "Not found"}
#: No script may run on an error page, and nothing is fetched from elsewhere (styles are inline).
HEADERS = {"Content-Type": "text/html; charset=utf-8",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
           "X-Content-Type-Options": "nosniff"}
TITLES = {400: "Bad request", 404: "Not found", 503: "Unavailable for now"}


def route_missing(reply: dict[str, Any]) -> bool:
    """True when a resolver answered that it has no route for the request (not a 404 of a route's own)."""
    if reply.get("statusCode") != 404:
        return False
    try:
        return bool(json.loads(reply.get("body") or "null") == ROUTE_MISSING)
    except ValueError:
        return False


def wants_html(event: dict[str, Any]) -> bool:
    """True when the request's Accept header names text/html (browsers send it; API clients do not)."""
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    return "text/html" in headers.get("accept", "").lower()


def for_browser(event: dict[str, Any], reply: dict[str, Any], *, missing_route: bool = True) -> dict[str, Any]:
    """`reply` as an HTML page when it is an error and the request wants HTML; otherwise `reply` untouched.
    With `missing_route=False` a resolver's own "no such route" stays JSON (another API may still route it)."""
    status = int(reply.get("statusCode") or 0)
    if status < 400 or not wants_html(event) or (not missing_route and route_missing(reply)):
        return reply
    headers = {name: value for name, values in (reply.get("multiValueHeaders") or {}).items()
               for value in values[-1:]}
    headers.update(reply.get("headers") or {})
    if any(name.lower() == "content-type" and "text/html" in value for name, value in headers.items()):
        return reply  # a page already
    retry = next((value for name, value in headers.items() if name.lower() == "retry-after"), None)
    kept = {"Retry-After": retry} if retry else {}
    return {"statusCode": status, "headers": {**HEADERS, **kept}, "body": page(status, _detail(reply), retry),
            "isBase64Encoded": False}


def _detail(reply: dict[str, Any]) -> dict[str, Any]:
    try:
        body = json.loads(reply.get("body") or "null")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def page(status: int, detail: dict[str, Any], retry: str | None) -> str:
    """The page: what went wrong in words a reader can act on, and the way back to the dashboard."""
    field = detail.get("field")
    if status == 400:
        text = (f"The {field} in this address is not valid. " if field else "This address is not valid. ") + \
               "Go back and follow a link, or check what was typed."
    elif status == 404:
        text = "Nothing here: the address names something that does not exist (a loan not yet projected " \
               "shows up within a few seconds)."
    elif status == 503:
        text = f"The store is busy or unreachable for now. This page tries again in {retry or 'a few'} seconds."
    elif status < 500:
        text = "The request cannot be answered as it is."
    else:
        text = "The service failed to answer; the fault is ours and is logged."
    title = f"{status} {TITLES.get(status, 'Error')}"
    refresh = f'<meta http-equiv="refresh" content="{escape(retry)}">' if status == 503 and retry else ""
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">{refresh}'
            f"<title>{escape(title)}</title><style>body{{font:16px/1.5 system-ui,sans-serif;margin:2em;"
            "max-width:40em;color:#1c2430}a{color:#1f5fa8}</style></head>"
            f'<body><h1>{escape(title)}</h1><p id="error">{escape(text)}</p>'
            '<p><a href="/dashboard">Back to the dashboard</a></p></body></html>')
