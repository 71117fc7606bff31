"""handlers.http_local: real HTTP on 127.0.0.1 into the same Lambda handlers (in-process moto behind them)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from handlers.http_local import MAX_BODY, ApiServer, default_handlers, proxy_event
from handlers.tables import ensure_tables


def call(base: str, method: str, path: str, body: bytes | None = None) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(base + path, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def raw(base: str, lines: list[str]) -> tuple[int, str]:
    """A request written header by header, for headers urllib would not send."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.putrequest("POST", "/loans")
    for line in lines:
        name, value = line.split(": ", 1)
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    status, text = response.status, response.read().decode()
    connection.close()
    return status, text


@pytest.fixture
def server(app, aws) -> Iterator[str]:
    ensure_tables(app)
    api = ApiServer(handlers=default_handlers(app)).start()
    yield api.url
    api.stop()


def test_a_loan_is_opened_moved_and_read_over_http(server):
    status, body, headers = call(server, "POST", "/loans", b'{"requested_amount": 250.00, "interest": 0.04}')
    opened = json.loads(body)
    assert status == 201 and headers["Content-Type"] == "application/json" and opened["status"] == "CREATED"
    loan = f"/loans/{opened['id']}"
    for kind in ("LoanApproved", "LoanDisbursed"):
        assert call(server, "POST", f"{loan}/events", json.dumps({"type": kind}).encode())[0] == 201
    status, body, _ = call(server, "GET", loan)
    assert status == 200 and json.loads(body)["balance"] == "260.00"


def test_query_strings_and_bodies_arrive_intact(server):
    status, body, _ = call(server, "GET", "/loans?status=A%26B%3D%C3%A9&limit=5")
    assert status == 400 and "'A&B=é'" in json.loads(body)["error"]
    status, body, _ = call(server, "POST", "/loans", '{"requested_amount": 1, "interest": 0, "note": "é"}'.encode())
    assert status == 201 and json.loads(body)["requested_amount"] == "1.00"


@pytest.mark.parametrize(("method", "path", "body", "expected"), [
    ("GET", "/nowhere", None, 404),
    ("DELETE", "/loans", None, 404),
    ("PUT", "/dashboard", b"{}", 404),
    ("POST", "/loans", b"\xff\xfe not utf-8", 422),
    ("POST", "/loans", b"[1, 2", 422),
])
def test_bad_requests_get_the_handlers_4xx(server, method, path, body, expected):
    status, text, _ = call(server, method, path, body)
    assert status == expected and text
    assert call(server, "GET", "/portfolio")[0] == 200  # and the server still answers


def test_an_oversized_or_unmeasurable_body_is_refused_before_it_is_read(server):
    status, text = raw(server, [f"Content-Length: {MAX_BODY + 1}"])
    assert status == 413 and "over 10,485,760 bytes" in json.loads(text)["error"]
    status, text = raw(server, ["Content-Length: -5"])
    assert status == 400 and "'-5'" in json.loads(text)["error"]
    assert call(server, "GET", "/portfolio")[0] == 200


def test_a_failing_handler_is_a_502_and_the_server_stays_up():
    calls: list[dict[str, Any]] = []

    def failing(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return {"statusCode": 200, "body": "fine", "headers": {"Content-Type": "text/plain"}}

    api = ApiServer(handlers={"commands": failing, "queries": failing}).start()
    try:
        status, body, _ = call(api.url, "GET", "/loans/x")
        assert status == 502 and "RuntimeError: boom" in json.loads(body)["error"]
        assert call(api.url, "GET", "/loans/x")[:2] == (200, "fine")
    finally:
        api.stop()


def test_the_proxy_event_holds_the_request_as_api_gateway_would():
    event = proxy_event("GET", "/dashboard/loans/a%20%26b?before=7&x=1&x=2", {"Accept": "text/html"}, None)
    assert (event["path"], event["httpMethod"], event["body"]) == ("/dashboard/loans/a%20%26b", "GET", None)
    assert event["queryStringParameters"] == {"before": "7", "x": "2"}
    assert event["multiValueQueryStringParameters"] == {"before": ["7"], "x": ["1", "2"]}
    assert event["requestContext"]["requestId"] and event["headers"] == {"Accept": "text/html"}
    binary = proxy_event("POST", "/loans", {}, b"\xff")
    assert (binary["body"], binary["isBase64Encoded"]) == ("/w==", True)


@pytest.mark.parametrize(("method", "path", "api"), [
    ("GET", "/dashboard", "queries"), ("GET", "/dashboard/loans/x", "queries"), ("GET", "/portfolio", "queries"),
    ("GET", "/loans", "queries"), ("GET", "/loans/x/summary", "queries"), ("GET", "/loans/x", "commands"),
    ("POST", "/loans", "commands"), ("POST", "/dashboard", "commands"), ("GET", "/nowhere", "commands"),
])
def test_requests_go_to_the_api_whose_routes_serve_them(app, aws, method, path, api):
    """Reads go to the queries API unless it has no route for them; writes to the commands API."""
    ensure_tables(app)
    served: list[str] = []

    def recording(name, handler):
        def run(event, context):
            reply = handler(event, context)
            served.append(name)
            return reply
        return run

    handlers = default_handlers(app)
    server = ApiServer(handlers={name: recording(name, handler) for name, handler in handlers.items()})
    try:
        server.invoke(method, path, {}, None)
    finally:
        server.server.server_close()
    assert served[-1] == api


def test_every_id_class_works_on_every_route_and_page(server, app):
    """Ids of every character class the README allows, committed on the write side, then read and written
    through every route that takes an id, and reached from the dashboard's own links."""
    from decimal import Decimal

    from core.ids import path_segment
    from handlers.cli import main
    from loans import Loan
    from tests.dashboard_support import Page
    from tests.unit.test_ids import ID_CLASSES

    for loan_id in ID_CLASSES.values():
        Loan(loan_id).commit([{"type": "LoanCreated", "requested_amount": Decimal("10.00"), "interest": Decimal("0")},
                              {"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
    for loan_id in ID_CLASSES.values():
        segment = path_segment(loan_id)
        status, body, _ = call(server, "POST", f"/loans/{segment}/events", b'{"type": "LoanArrears"}')
        assert status == 201, (loan_id, body)
        status, body, _ = call(server, "GET", f"/loans/{segment}")
        assert (status, json.loads(body)["id"], json.loads(body)["status"]) == (200, loan_id, "ARREARS")
    assert main(["project", "--once"], app) == 0
    for loan_id in ID_CLASSES.values():
        status, body, _ = call(server, "GET", f"/loans/{path_segment(loan_id)}/summary")
        assert (status, json.loads(body)["id"], json.loads(body)["version"]) == (200, loan_id, 4)
    status, body, _ = call(server, "GET", "/dashboard")
    links = {text: href for href, text in Page(body).links if href.startswith("/dashboard/loans/")}
    assert set(links) >= set(ID_CLASSES.values())
    for loan_id in ID_CLASSES.values():
        status, body, _ = call(server, "GET", links[loan_id])
        assert status == 200 and ["Loan", loan_id.strip()] in Page(body).rows("summary"), loan_id


@pytest.mark.parametrize("path", ["/loans/%FF/summary", "/loans/a%2/summary", "/loans/%00/summary",
                                  "/dashboard/loans/%C3", "/loans/%FF"])
def test_an_undecodable_id_in_the_path_is_a_400_naming_the_id(server, path):
    status, body, _ = call(server, "GET", path)
    assert status == 400 and json.loads(body)["field"] == "id", body
