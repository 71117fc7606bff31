"""Error pages for browsers: over real HTTP (the local server in front of the Lambda handlers, in-process moto),
a request accepting text/html gets an HTML page for 404, 400 and 503; an API client keeps its JSON."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import EndpointConnectionError

from handlers.error_pages import for_browser
from tests.dashboard_support import Page
from tests.unit import test_http_local
from tests.unit.test_http_local import call

#: the API emulator serving the default modules on moto (the fixture `test_http_local` uses)
server = test_http_local.server

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def fetch(base: str, path: str, headers: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(base + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)




@pytest.mark.parametrize(("path", "status", "says"), [
    ("/dashboard/loans/no-such-loan", 404, "Nothing here"),
    ("/loans/no-such-loan/summary", 404, "Nothing here"),
    ("/dashboard/nowhere", 404, "Nothing here"),
    ("/dashboard/loans/x?before=abc", 400, "The before in this address is not valid"),
    ("/loans?status=PAID&cursor=%25%25%25", 400, "The cursor in this address is not valid"),
    ("/dashboard/loans/%FF", 400, "The id in this address is not valid"),
])
def test_a_browser_gets_an_html_page_and_an_api_client_json(server, path, status, says):
    code, body, headers = fetch(server, path, BROWSER)
    assert code == status and headers["Content-Type"].startswith("text/html"), body
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert says in body and ("/dashboard", "Back to the dashboard") in Page(body).links
    assert "Error" not in body and "line 1" not in body and "padding" not in body.lower()
    code, body, headers = fetch(server, path, {"Accept": "application/json"})
    assert code == status and headers["Content-Type"] == "application/json"
    assert set(json.loads(body)) & {"error", "message"}


def test_no_400_leaks_a_python_message(server):
    for cursor in ("%25%25%25", "e30", "bm90IGpzb24"):
        code, body, _ = call(server, "GET", f"/loans?status=PAID&cursor={cursor}")
        reply = json.loads(body)
        assert code == 400 and reply["field"] == "cursor"
        assert "Expecting" not in reply["error"] and "padding" not in reply["error"], reply


def test_a_store_outage_is_a_503_page_that_retries(server, monkeypatch):
    from loans import dashboard

    def unreachable(*args, **kwargs):
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    monkeypatch.setattr(dashboard, "read_totals", unreachable)
    code, body, headers = fetch(server, "/dashboard", BROWSER)
    assert code == 503 and headers["Retry-After"] == "2" and headers["Content-Type"].startswith("text/html")
    assert '<meta http-equiv="refresh" content="2">' in body and "<script" not in body
    code, body, headers = fetch(server, "/dashboard", {})
    assert code == 503 and headers["Retry-After"] == "2" and "unavailable" in json.loads(body)["error"]


def test_success_and_api_replies_pass_untouched():
    ok = {"statusCode": 200, "body": "{}", "headers": {"Content-Type": "application/json"}}
    assert for_browser({"headers": BROWSER}, ok) is ok
    error = {"statusCode": 404, "body": '{"error": "x"}'}
    assert for_browser({"headers": {"accept": "application/json"}}, error) is error
    missing = {"statusCode": 404, "body": json.dumps({"statusCode": 404, "message": "Not found"})}
    assert for_browser({"headers": BROWSER}, missing, missing_route=False) is missing
