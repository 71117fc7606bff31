"""The queries API handler over the live query tables, fed by the real projector from the stream (moto)."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest

from handlers import queries
from handlers.app import App
from handlers.cli import main
from handlers.tables import ensure_tables
from loans import Loan
from loans.api import SUMMARY
from loans.projections import STATUS_SHARDS, status_partitions
from projections.query import scan_rows
from tests.api_support import LambdaContext, refusing, rest_event


def get(app: App, path: str, query: dict[str, str] | None = None) -> tuple[int, dict]:
    event = {"httpMethod": "GET", "path": path, "resource": path, "headers": {},
             "queryStringParameters": query, "requestContext": {"requestId": "req-2", "stage": "test"},
             "body": None, "isBase64Encoded": False}
    response = queries.handler_for(app)(event, LambdaContext(function_name="loan-queries"))
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def loans(app, aws) -> list[Loan]:
    ensure_tables(app)
    made = []
    for payments in (0, 1, 2):
        loan = Loan()
        loan.commit([{"type": "LoanCreated", "requested_amount": Decimal("100.00"), "interest": Decimal("0.10")},
                     {"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
        for _ in range(payments):
            loan.commit({"type": "LoanPaid", "amount": Decimal("10.00")})
        made.append(loan)
    assert main(["project", "--once"], app) == 0
    return made


def test_summary_portfolio_and_listing_by_status(app, loans):
    status, row = get(app, f"/loans/{loans[2].id}/summary")
    assert status == 200
    assert (row["id"], row["status"], row["balance"], row["total_paid"], row["version"]) == (
        loans[2].id, "PAID", "90.00", "20.00", 5)
    status, portfolio = get(app, "/portfolio")
    assert status == 200 and portfolio == {
        "DISBURSED": {"loans": 1, "principal": "100.00", "outstanding": "110.00"},
        "PAID": {"loans": 2, "principal": "200.00", "outstanding": "190.00"},
    }
    status, listing = get(app, "/loans", {"status": "PAID"})
    assert status == 200 and [loan["id"] for loan in listing["loans"]] == [loans[2].id, loans[1].id]
    assert get(app, "/loans", {"status": "PAID", "limit": "1"})[1]["loans"][0]["id"] == loans[2].id


@pytest.mark.parametrize(("query", "message"), [
    (None, "status must be one of CREATED, APPROVED"),
    ({"status": "paid"}, "not 'paid'"),
    ({"status": "PAID", "limit": "0"}, "limit must be a whole number from 1 to 1000, not '0'"),
    ({"status": "PAID", "limit": "many"}, "not 'many'"),
])
def test_bad_listing_queries_name_what_was_wrong(app, loans, query, message):
    status, body = get(app, "/loans", query)
    assert status == 400 and message in body["error"]


def test_an_unknown_loan_is_404(app, loans):
    assert get(app, "/loans/nope/summary") == (404, {"error": "no loan 'nope'"})


# -- odd limits and ids, cursor paging, an unavailable store --------------------------------------

@pytest.mark.parametrize("limit", ["²", "⑤", "9" * 5000, "1001", "-1", " 5", "5 ", "0x10", "1e2"])
def test_a_limit_is_ascii_digits_from_1_to_1000(app, loans, limit):
    status, body = get(app, "/loans", {"status": "PAID", "limit": limit})
    assert status == 400 and body["field"] == "limit" and "from 1 to 1000" in body["error"]
    assert len(body["error"]) < 200


def test_a_3000_byte_id_is_400_naming_id_before_any_request(app, loans):
    sent = []
    app.dynamodb.meta.events.register("before-send.dynamodb", lambda **kwargs: sent.append(1))
    status, body = get(app, "/loans/" + "x" * 3000 + "/summary")
    assert status == 400 and body["field"] == "id" and "3,000 bytes" in body["error"] and sent == []


def page_through(app: App, status: str, limit: int) -> list[str]:
    seen, cursor = [], None
    for _ in range(100):
        query = {"status": status, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        code, page = get(app, "/loans", query)
        assert code == 200 and len(page["loans"]) <= limit
        seen += [loan["id"] for loan in page["loans"]]
        cursor = page.get("next")
        if cursor is None:
            return seen
    raise AssertionError("the listing never ended")


@pytest.fixture
def many(app, aws) -> list[str]:
    """Eleven loans just created (status CREATED), projected."""
    ensure_tables(app)
    made = []
    for _ in range(11):
        loan = Loan()
        loan.commit({"type": "LoanCreated", "requested_amount": Decimal("1E+2"), "interest": Decimal("0.10")})
        made.append(loan.id)
    assert main(["project", "--once"], app) == 0
    return made


@pytest.mark.parametrize("limit", [1, 3, 4, 11, 50])
def test_paging_with_the_cursor_reaches_every_loan_exactly_once(app, many, limit):
    seen = page_through(app, "CREATED", limit)
    assert sorted(seen) == sorted(many) and len(seen) == len(many)


def test_listed_amounts_are_plain_decimal_strings_with_their_cents(app, many):
    _, page = get(app, "/loans", {"status": "CREATED", "limit": "2"})
    assert {loan["requested_amount"] for loan in page["loans"]} == {"100.00"}
    assert get(app, f"/loans/{many[0]}/summary")[1]["requested_amount"] == "100.00"


def cursor_of(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def tampered(many_page: dict) -> list[str]:
    cursor = json.loads(base64.urlsafe_b64decode(many_page["next"] + "=" * (-len(many_page["next"]) % 4)))
    after = cursor["after"]
    # a shard's position: where its page stopped, or (every shard the page read having ended) one made up
    listed = next((position for position in after if isinstance(position, list)),
                  ["L-1", "2026-01-01T00:00:00.000000+00:00"])
    other_status = {**cursor, "status": "PAID"}
    short = {**cursor, "after": after[:-1]}
    as_number = {**cursor, "after": [[listed[0], 1], *after[1:]]}
    extra = {**cursor, "balance": "1"}
    long_id = {**cursor, "after": [["x" * 3000, listed[1]], *after[1:]]}
    bad_id = {**cursor, "after": [["tab\there", listed[1]], *after[1:]]}
    three = {**cursor, "after": [[*listed, "x"], *after[1:]]}
    return ["!!!", "a", many_page["next"] + "!", cursor_of([1]), cursor_of("x"), cursor_of(other_status),
            cursor_of(short), cursor_of(as_number), cursor_of(extra), cursor_of(long_id), cursor_of(bad_id),
            cursor_of(three), cursor_of({}), cursor_of({"status": "CREATED", "after": [True] * len(after)}),
            base64.urlsafe_b64encode(b"\xff\xfe").decode(), "A" * 3000,
            base64.urlsafe_b64encode(b"[" * 1500 + b"]" * 1500).decode()[:2048]]  # deep, and cut at the limit


def test_a_tampered_cursor_is_400_naming_cursor(app, many):
    _, first = get(app, "/loans", {"status": "CREATED", "limit": "2"})
    for cursor in tampered(first):
        status, body = get(app, "/loans", {"status": "CREATED", "limit": "2", "cursor": cursor})
        assert (status, body.get("field")) == (400, "cursor"), (cursor[:40], body)


@pytest.mark.parametrize("path", ["/loans/x/summary", "/portfolio", "/loans"])
def test_an_unavailable_store_is_503_with_retry_after(app, loans, monkeypatch, path):
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    app.dynamodb.meta.events.register("before-send.dynamodb",
                                                  refusing(400, "ProvisionedThroughputExceededException"))
    event = rest_event("GET", path, query={"status": "PAID"})
    response = queries.handler_for(app)(event, LambdaContext(function_name="loan-queries"))
    assert response["statusCode"] == 503 and int(response["multiValueHeaders"]["Retry-After"][0]) > 0
    assert "unavailable" in json.loads(response["body"])["error"]


# -- the sharded by-status index: a merged, ordered, paged read ---------------------------------------------------
def test_a_listing_merges_the_shards_newest_first_whichever_shard_each_loan_is_in(app, many):
    rows = [row for row in scan_rows(app.dynamodb, *app.live_tables(SUMMARY)).values() if row["status"] == "CREATED"]
    assert len({row["status_shard"] for row in rows}) > 1, "eleven loans should not all hash to one shard"
    newest_first = [loan["id"] for loan in get(app, "/loans", {"status": "CREATED", "limit": "50"})[1]["loans"]]
    updated = {loan_id: row["last_updated"] for loan_id, row in scan_rows(
        app.dynamodb, *app.live_tables(SUMMARY)).items()}
    assert [updated[loan_id] for loan_id in newest_first] == sorted(updated.values(), reverse=True)
    paged = page_through(app, "CREATED", 3)
    assert paged == newest_first


def test_a_page_costs_at_most_one_query_per_shard_and_a_read_shard_is_not_read_again(app, many):
    queries_sent: list[str] = []
    app.dynamodb.meta.events.register("provide-client-params.dynamodb.Query",
                                      lambda params, **kwargs: queries_sent.append(
                                          params["ExpressionAttributeValues"][":v"]["S"]))
    code, first = get(app, "/loans", {"status": "CREATED", "limit": "2"})
    assert code == 200 and len(queries_sent) == STATUS_SHARDS
    assert sorted(queries_sent) == sorted(status_partitions("CREATED"))
    cursor = json.loads(base64.urlsafe_b64decode(first["next"] + "=" * (-len(first["next"]) % 4)))
    done = {f"CREATED#{shard}" for shard, position in enumerate(cursor["after"]) if position is False}
    queries_sent.clear()
    get(app, "/loans", {"status": "CREATED", "limit": "2", "cursor": first["next"]})
    assert len(queries_sent) <= STATUS_SHARDS and not done & set(queries_sent)


def test_the_last_page_has_no_next_and_an_empty_status_lists_nothing(app, many):
    code, page = get(app, "/loans", {"status": "CREATED", "limit": "11"})
    assert code == 200 and len(page["loans"]) == 11
    code, rest = get(app, "/loans", {"status": "CREATED", "limit": "11", "cursor": page["next"]}) if "next" in page \
        else (200, {"loans": []})
    assert code == 200 and rest["loans"] == [] and "next" not in rest
    assert get(app, "/loans", {"status": "SETTLED"})[1] == {"status": "SETTLED", "loans": []}
