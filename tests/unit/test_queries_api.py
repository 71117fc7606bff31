"""The queries API handler over the live query tables, fed by the real projector from the stream (moto)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from handlers import queries
from handlers.cli import main
from handlers.tables import ensure_tables
from loans import Loan
from tests.unit.test_commands_api import LambdaContext


def get(path: str, query: dict[str, str] | None = None) -> tuple[int, dict]:
    event = {"httpMethod": "GET", "path": path, "resource": path, "headers": {},
             "queryStringParameters": query, "requestContext": {"requestId": "req-2", "stage": "test"},
             "body": None, "isBase64Encoded": False}
    response = queries.lambda_handler(event, LambdaContext(function_name="loan-queries"))
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def loans(aws) -> list[Loan]:
    ensure_tables()
    made = []
    for payments in (0, 1, 2):
        loan = Loan()
        loan.commit([{"type": "LoanCreated", "requested_amount": Decimal("100.00"), "interest": Decimal("0.10")},
                     {"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
        for _ in range(payments):
            loan.commit({"type": "LoanPaid", "amount": Decimal("10.00")})
        made.append(loan)
    assert main(["project", "--once"]) == 0
    return made


def test_summary_portfolio_and_listing_by_status(loans):
    status, row = get(f"/loans/{loans[2].id}/summary")
    assert status == 200
    assert (row["id"], row["status"], row["balance"], row["total_paid"], row["version"]) == (
        loans[2].id, "PAID", "90.00", "20.00", 5)
    status, portfolio = get("/portfolio")
    assert status == 200 and portfolio == {
        "DISBURSED": {"loans": 1, "principal": "100.00", "outstanding": "110.00"},
        "PAID": {"loans": 2, "principal": "200.00", "outstanding": "190.00"},
    }
    status, listing = get("/loans", {"status": "PAID"})
    assert status == 200 and [loan["id"] for loan in listing["loans"]] == [loans[2].id, loans[1].id]
    assert get("/loans", {"status": "PAID", "limit": "1"})[1]["loans"][0]["id"] == loans[2].id


@pytest.mark.parametrize(("query", "message"), [
    (None, "status must be one of CREATED, APPROVED"),
    ({"status": "paid"}, "not 'paid'"),
    ({"status": "PAID", "limit": "0"}, "limit must be a whole number from 1 to 1000, not '0'"),
    ({"status": "PAID", "limit": "many"}, "not 'many'"),
])
def test_bad_listing_queries_name_what_was_wrong(loans, query, message):
    status, body = get("/loans", query)
    assert status == 400 and message in body["error"]


def test_an_unknown_loan_is_404(loans):
    assert get("/loans/nope/summary") == (404, {"error": "no loan 'nope'"})
