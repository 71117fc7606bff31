"""The APIs on 127.0.0.1 for the local stack: each HTTP request becomes an API Gateway REST proxy event for
the same Lambda handlers that run on AWS (commands, queries and the dashboard), and their reply goes back as
HTTP. Bodies and query strings pass through intact, and the path stays percent-encoded as API Gateway's REST
proxy event keeps it (a route decodes an id in it with `core.ids.id_from_segment`, so an id holding `/`, `?`
or `#` stays one segment); what no handler routes gets that handler's own 404.

Requests are read and answered on threads, but the handlers run one request at a time in the process (one lock
for every API and every server): powertools keeps the request being resolved in a class attribute that every
resolver shares, so two requests resolved at once could see each other's body. While a handler runs, what it
prints (powertools' EMF metrics, when POWERTOOLS_METRICS_DISABLED is not true) goes to stderr, so stdout keeps
only what `aws-es local` prints for the user. A client that hangs up before its reply is logged in one line.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import orjson

from core.errors import ConfigurationError
from handlers.error_pages import for_browser, route_missing

if TYPE_CHECKING:
    from handlers.app import App

#: API Gateway refuses a request body over 10 MB before any Lambda sees it; so does this server.
MAX_BODY = 10 * 1024 * 1024

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

#: Held while any handler runs, in any server of this process (see the module's docstring).
HANDLER_LOCK = threading.Lock()
#: The client hung up: the reply could not be written, or the request not read to its end.
HANGUPS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)

logger = logging.getLogger(__name__)


@dataclass
class LocalContext:
    """The parts of Lambda's context object that powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def default_handlers(app: App | None = None) -> dict[str, Handler]:
    """The two API handlers serving `app`; with none given, the Lambda entry points (the process's App)."""
    from handlers import commands, queries

    if app is None:
        return {"commands": commands.lambda_handler, "queries": queries.lambda_handler}
    return {"commands": commands.handler_for(app), "queries": queries.handler_for(app)}


def apis_for(method: str) -> tuple[str, ...]:
    """The APIs to ask, in order, as the deployed template splits them: reads go to the queries API first (its
    routes are whatever the registered modules add), and to the commands API when it has no such route;
    every write is a command."""
    return ("queries", "commands") if method in ("GET", "HEAD") else ("commands",)


def proxy_event(method: str, target: str, headers: dict[str, str], body: bytes | None) -> dict[str, Any]:
    """An API Gateway REST proxy event: the path as sent (percent-encoded, as API Gateway passes it), decoded
    query parameters, headers, and the body as text (or base64 with `isBase64Encoded` when it is not UTF-8)."""
    parts = urlsplit(target)
    path = parts.path or "/"
    query = parse_qs(parts.query, keep_blank_values=True)
    text, encoded = None, False
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode("ascii"), True
    request_id = str(uuid.uuid4())
    return {
        "resource": path, "path": path, "httpMethod": method,
        "headers": dict(headers), "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": None, "stageVariables": None, "body": text, "isBase64Encoded": encoded,
        "requestContext": {"requestId": request_id, "stage": "local", "httpMethod": method, "path": path,
                           "resourcePath": path, "identity": {"sourceIp": "127.0.0.1"}},
    }


class ApiServer:
    """The HTTP server; `start()` serves on a daemon thread, `url` is where it listens."""

    def __init__(self, port: int = 0, handlers: dict[str, Handler] | None = None) -> None:
        self.handlers = handlers if handlers is not None else default_handlers()
        try:
            self.server = ThreadingHTTPServer(("127.0.0.1", port), _request_handler(self))
        except OSError as exc:
            raise ConfigurationError(f"cannot serve the APIs on 127.0.0.1:{port}: {exc.strerror}") from exc
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def invoke(self, method: str, target: str, headers: dict[str, str], body: bytes | None) -> dict[str, Any]:
        """The reply of the first API that routes the request; each handler gets the event of its own."""
        event = proxy_event(method, target, headers, body)
        reply: dict[str, Any] = {}
        with HANDLER_LOCK, contextlib.redirect_stdout(sys.stderr):
            for name in apis_for(method):
                reply = self.handlers[name](copy_event(event), LocalContext(function_name=f"local-{name}"))
                if not route_missing(reply):
                    break
        return for_browser(event, reply)

    def start(self) -> ApiServer:
        self._thread = threading.Thread(target=self.server.serve_forever, name="http-local", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _request_handler(api: ApiServer) -> type[BaseHTTPRequestHandler]:
    class Request(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle(self) -> None:
            try:
                super().handle()
            except HANGUPS as exc:
                self.close_connection = True
                request = f"{getattr(self, 'command', None) or '?'} {getattr(self, 'path', None) or '?'}"
                logger.warning("%s: the client hung up before the reply was sent (%s)", request,
                               type(exc).__name__)

        def _serve(self) -> None:
            length = self.headers.get("Content-Length", "0")
            if not re.fullmatch(r"[0-9]{1,12}", length):
                return self._reply({"statusCode": 400, "body": _error(f"Content-Length {length!r} is not a size")})
            if int(length) > MAX_BODY:
                self.close_connection = True
                return self._reply({"statusCode": 413, "body": _error(f"the body is over {MAX_BODY:,} bytes")})
            body = self.rfile.read(int(length)) if int(length) else None
            headers = {name: value for name, value in self.headers.items()}
            try:
                reply = api.invoke(self.command, self.path, headers, body)
            except Exception as exc:
                reply = {"statusCode": 502, "body": _error(f"the handler failed: {type(exc).__name__}: {exc}")}
            self._reply(reply)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

        def _reply(self, reply: dict[str, Any]) -> None:
            body = reply.get("body") or ""
            data = base64.b64decode(body) if reply.get("isBase64Encoded") else body.encode("utf-8")
            self.send_response(int(reply["statusCode"]))
            headers = {**(reply.get("headers") or {})}
            for name, values in (reply.get("multiValueHeaders") or {}).items():
                headers.setdefault(name, ", ".join(values))
            headers.pop("Content-Length", None)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            """Quiet: the handlers log each request themselves."""

    return Request


def copy_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event for one handler: a handler that changes its event changes no other's."""
    copied: dict[str, Any] = orjson.loads(orjson.dumps(event))
    return copied


def _error(message: str) -> str:
    return orjson.dumps({"error": message}).decode()
