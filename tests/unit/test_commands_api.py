"""The commands API handler, driven with API Gateway REST events against DynamoDB on moto."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from handlers import commands


@dataclass
class LambdaContext:
    function_name: str = "loan-commands"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:loan-commands"
    aws_request_id: str = "req-1"


def call(method: str, path: str, body: object = None, raw: str | None = None) -> tuple[int, dict]:
    event = {
        "httpMethod": method,
        "path": path,
        "resource": path,
        "headers": {"Content-Type": "application/json"},
        "requestContext": {"requestId": "req-1", "stage": "test"},
        "body": raw if raw is not None else (json.dumps(body) if body is not None else None),
        "isBase64Encoded": False,
    }
    response = commands.lambda_handler(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def api(events_table):
    return call


def test_a_loan_through_the_api_keeps_money_exact(api):
    status, loan = api("POST", "/loans", raw='{"requested_amount": 1000.10, "interest": 0.05}')
    assert status == 201 and loan["status"] == "CREATED" and loan["requested_amount"] == "1000.10"
    loan_id = loan["id"]
    for body in ({"type": "LoanApproved"}, {"type": "LoanDisbursed"}):
        assert api("POST", f"/loans/{loan_id}/events", body)[0] == 201
    status, paid = api("POST", f"/loans/{loan_id}/events", raw='{"type": "LoanPaid", "amount": 50.105}')
    assert status == 422 and "whole cents, not 50.105" in paid["error"] and paid["field"] == "amount"
    status, paid = api("POST", f"/loans/{loan_id}/events", raw='{"type": "LoanPaid", "amount": 50.11}')
    assert status == 201 and paid["balance"] == "1000.00" and paid["event"]["number"] >= 4
    status, got = api("GET", f"/loans/{loan_id}")
    assert status == 200 and got["balance"] == "1000.00" and got["status"] == "PAID"


def test_an_explicit_number_is_optimistic_concurrency(api):
    _, loan = api("POST", "/loans", {"requested_amount": 10, "interest": 0})
    path = f"/loans/{loan['id']}/events"
    assert api("POST", path, {"type": "LoanApproved", "number": 2})[0] == 201
    status, body = api("POST", path, {"type": "LoanRejected", "number": 2})
    assert status == 409 and "next event must be number 3" in body["error"]


@pytest.mark.parametrize(
    ("path", "raw", "status", "message"),
    [
        ("/loans", "", 422, "no body"),
        ("/loans", "{nope", 422, "not JSON"),
        ("/loans", "[1]", 422, "must be a JSON object"),
        ("/loans", '{"requested_amount": "ten", "interest": 0}', 422, "'requested_amount' must be Decimal, not str"),
        ("/loans", '{"interest": 0}', 422, "missing field 'requested_amount'"),
        ("/loans", '{"type": "LoanPaid"}', 422, "starts with LoanCreated"),
        ("/loans", '{"requested_amount": 1, "interest": 0, "created": "2020-01-01"}', 422, "created is set by"),
        ("/loans/missing/events", '{"type": "LoanApproved"}', 404, "no loan 'missing'"),
    ],
)
def test_bad_requests_name_what_was_wrong(api, path, raw, status, message):
    got, body = api("POST", path, raw=raw)
    assert got == status and message in body["error"]


def test_an_illegal_transition_is_422_and_writes_nothing(api):
    _, loan = api("POST", "/loans", {"requested_amount": 10, "interest": 0})
    status, body = api("POST", f"/loans/{loan['id']}/events", {"type": "LoanDisbursed"})
    assert status == 422 and "LoanDisbursed is illegal for a loan in status CREATED" in body["error"]
    assert api("GET", f"/loans/{loan['id']}")[1]["version"] == 1


def test_unknown_loan_is_404(api):
    assert api("GET", "/loans/nope") == (404, {"error": "no loan 'nope'"})
