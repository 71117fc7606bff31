"""The commands API handler, driven with API Gateway REST events against DynamoDB on moto."""

from __future__ import annotations

import base64
import functools
import json

import pytest

from core.codec import decode
from handlers import commands
from handlers.app import App
from tests.api_support import LambdaContext, refusing, reply_of, resetting, rest_event


def call(app: App, method: str, path: str, body: object = None, raw: str | None = None) -> tuple[int, dict]:
    event = {
        "httpMethod": method,
        "path": path,
        "resource": path,
        "headers": {"Content-Type": "application/json"},
        "requestContext": {"requestId": "req-1", "stage": "test"},
        "body": raw if raw is not None else (json.dumps(body) if body is not None else None),
        "isBase64Encoded": False,
    }
    response = commands.handler_for(app)(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def api(app, events_table):
    return functools.partial(call, app)


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


# -- inputs that used to crash the handler, store faults, stored-event faults, meta, money ----------

def stored_items(dynamodb) -> list[dict]:
    """Every item of the events table, read straight from DynamoDB (events and snapshots alike)."""
    return dynamodb.scan(TableName="Loans", ConsistentRead=True)["Items"]


def nested(depth: int) -> str:
    return '{"type": "LoanApproved", "x": ' + "[" * depth + "]" * depth + "}"


@pytest.fixture
def disbursed(api) -> str:
    _, loan = api("POST", "/loans", {"requested_amount": 100, "interest": 0})
    for body in ({"type": "LoanApproved"}, {"type": "LoanDisbursed"}):
        assert api("POST", f"/loans/{loan['id']}/events", body)[0] == 201
    return loan["id"]


@pytest.mark.parametrize(("raw", "field", "message"), [
    ('{"requested_amount": 1e400, "interest": 0}', "requested_amount", "not 1E+400"),
    ('{"requested_amount": 1' + "0" * 30 + ', "interest": 0}', "requested_amount", "from 0.01 to 1,000,000,000.00"),
    ('{"requested_amount": 1000000000.01, "interest": 0}', "requested_amount", "from 0.01 to 1,000,000,000.00"),
    ('{"requested_amount": 100, "interest": 1E+30}', "interest", "from 0 to 10 with at most six decimal places"),
    ('{"requested_amount": 100, "interest": 0.0000001}', "interest", "at most six decimal places"),
    ('{"requested_amount": 1e999999999999999999999, "interest": 0}', "body", "not JSON"),
    ('{"requested_amount": NaN, "interest": 0}', "body", "not JSON"),
    ('{"requested_amount": 100, "interest": 0, "meta": "x"}', "meta", "meta is set by the service"),
    ('{"requested_amount": 100, "interest": 0, "meta": 5}', "meta", "meta is set by the service"),
    ('{"requested_amount": 100, "interest": 0, "meta": [1]}', "meta", "meta is set by the service"),
    ('{"requested_amount": 100, "interest": 0, "meta": true}', "meta", "meta is set by the service"),
    ('{"requested_amount": 100, "interest": 0, "meta": {"correlation_id": "fake"}}', "meta", "set by the service"),
    ('{"requested_amount": 100, "interest": 0, "number": 1e5000}', "number", "not a number of more than 30 digits"),
    ('{"requested_amount": 100, "interest": 0, "number": 0}', "number", "from 1 to 1000000000000000000, not 0"),
    ('{"requested_amount": 100, "interest": 0, "number": "1"}', "number", "not str"),
    (nested(50_000), "body", "nests deeper than 32 levels"),
    (nested(900), "body", "nests deeper than 32 levels"),
])
def test_inputs_that_crashed_the_handler_are_4xx_naming_the_field_and_write_nothing(api, dynamodb, raw, field,
                                                                                    message):
    status, body = api("POST", "/loans", raw=raw)
    assert status == 422 and body["field"] == field and message in body["error"]
    assert stored_items(dynamodb) == []


@pytest.mark.parametrize("raw", ['{"type": "LoanPaid", "amount": 1e400}',
                                 '{"type": "LoanPaid", "amount": 1' + "0" * 30 + "}"])
def test_a_huge_repayment_is_refused_naming_amount(api, dynamodb, disbursed, raw):
    before = stored_items(dynamodb)
    status, body = api("POST", f"/loans/{disbursed}/events", raw=raw)
    assert status == 422 and body["field"] == "amount" and "whole cents" in body["error"]
    assert stored_items(dynamodb) == before


def test_an_event_over_400_kb_is_413_and_writes_nothing(api, dynamodb, disbursed):
    before = stored_items(dynamodb)
    status, body = api("POST", f"/loans/{disbursed}/events", {"type": "LoanArrears", "note": "x" * 500_000})
    assert status == 413 and body["field"] == "body" and "bytes" in body["error"]
    assert stored_items(dynamodb) == before


@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("POST", "/events")])
def test_a_3000_byte_id_is_400_naming_id_before_any_request(app, api, dynamodb, method, suffix):
    sent = []
    dynamodb_client = app.dynamodb
    dynamodb_client.meta.events.register("before-send.dynamodb", lambda **kwargs: sent.append(kwargs["event_name"]))
    status, body = api(method, "/loans/" + "x" * 3000 + suffix, {"type": "LoanApproved"})
    assert status == 400 and body["field"] == "id" and "3,000 bytes" in body["error"]
    assert sent == [] and stored_items(dynamodb) == []


def test_a_base64_body_is_decoded(app, api, dynamodb):
    raw = base64.b64encode(b'{"requested_amount": 250.5, "interest": 0.1}').decode()
    status, loan = call_event(app, "POST", "/loans", raw, base64_encoded=True)
    assert status == 201 and loan["requested_amount"] == "250.50" and loan["interest"] == "0.1"


@pytest.mark.parametrize("raw", ["not base64!", "//79", "eyJh"])  # not base64; bytes ff fe fd; '{"a' cut short
def test_a_base64_body_that_is_not_base64_utf8_json_is_422_naming_body(app, api, dynamodb, raw):
    status, body = call_event(app, "POST", "/loans", raw, base64_encoded=True)
    assert status == 422 and body["field"] == "body"
    assert stored_items(dynamodb) == []


def call_event(app: App, method: str, path: str, body: str | None, base64_encoded: bool = False,
               request_context: dict | None = None) -> tuple[int, dict]:
    event = rest_event(method, path, body, base64_encoded=base64_encoded, request_context=request_context)
    return reply_of(commands.handler_for(app)(event, LambdaContext()))


def test_amounts_leave_as_plain_decimal_strings_with_their_cents(api):
    status, loan = api("POST", "/loans", raw='{"requested_amount": 1E+2, "interest": 5E-2}')
    assert status == 201 and (loan["requested_amount"], loan["interest"], loan["balance"]) == ("100.00", "0.05",
                                                                                             "0.00")
    for body in ('{"type": "LoanApproved"}', '{"type": "LoanDisbursed"}', '{"type": "LoanPaid", "amount": 1E+1}'):
        status, reply = api("POST", f"/loans/{loan['id']}/events", raw=body)
        assert status == 201
    assert (reply["requested_amount"], reply["balance"]) == ("100.00", "95.00")  # 100 * 1.05 - 10
    assert api("GET", f"/loans/{loan['id']}")[1]["balance"] == "95.00"


def test_meta_is_the_servers_correlation_id_and_caller(app, api, dynamodb):
    context = {"requestId": "req-42", "stage": "test", "identity": {"userArn": "arn:aws:iam::1:user/ana"},
               "authorizer": {"claims": {"sub": "user-7"}}}
    status, loan = call_event(app, "POST", "/loans", '{"requested_amount": 10, "interest": 0}', request_context=context)
    assert status == 201
    iam = {"requestId": "req-43", "stage": "test", "identity": {"userArn": "arn:aws:iam::1:user/ana"}}
    approved = call_event(app, "POST", f"/loans/{loan['id']}/events", '{"type": "LoanApproved"}', request_context=iam)
    assert approved[0] == 201
    items = sorted(stored_items(dynamodb), key=lambda item: int(item["number"]["N"]))
    assert [decode(item["meta"]["S"]) for item in items] == [
        {"correlation_id": "req-42", "caller": "user-7"},
        {"correlation_id": "req-43", "caller": "arn:aws:iam::1:user/ana"},
    ]


def test_a_stored_event_that_cannot_be_decoded_is_a_logged_500(api, dynamodb, disbursed, caplog):
    dynamodb.put_item(TableName="Loans", Item={
        "id": {"S": disbursed}, "number": {"N": "4"}, "type": {"S": "LoanPaid"},
        "created": {"S": "2026-01-01T00:00:00.000000+00:00"}, "data": {"S": '{"amount": {"$d": '}})
    for method, suffix, body in (("POST", "/events", {"type": "LoanArrears"}), ("GET", "", None)):
        caplog.clear()
        status, reply = api(method, f"/loans/{disbursed}{suffix}", body)
        assert status == 500 and "cannot be read" in reply["error"] and "service's" in reply["error"]
        errors = [record for record in caplog.records if record.levelname == "ERROR"]
        assert len(errors) == 1 and errors[0].aggregate_id == disbursed
        assert getattr(errors[0], "event_number", None) == 4 or "LoanPaid#4" in errors[0].reason
    assert len(stored_items(dynamodb)) == 4


@pytest.mark.parametrize(("status", "code"), [(400, "ProvisionedThroughputExceededException"),
                                               (400, "ThrottlingException"), (500, "InternalServerError"),
                                               (503, "ServiceUnavailable")])
@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("POST", "/events")])
def test_an_unavailable_store_is_503_with_retry_after(app, api, dynamodb, disbursed, monkeypatch, status, code, method,
                                                     suffix):
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    before = stored_items(dynamodb)
    app.dynamodb.meta.events.register("before-send.dynamodb", refusing(status, code))
    response = commands.handler_for(app)(rest_event(method, f"/loans/{disbursed}{suffix}", '{"type": "LoanArrears"}'),
                                       LambdaContext())
    assert response["statusCode"] == 503 and int(response["multiValueHeaders"]["Retry-After"][0]) > 0
    assert "unavailable" in json.loads(response["body"])["error"]
    assert stored_items(dynamodb) == before


@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("POST", "/events")])
def test_a_lost_connection_is_503(app, api, dynamodb, disbursed, monkeypatch, method, suffix):
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    before = stored_items(dynamodb)
    app.dynamodb.meta.events.register("before-send.dynamodb", resetting)
    status, body = api(method, f"/loans/{disbursed}{suffix}", {"type": "LoanArrears"})
    assert status == 503 and "unavailable" in body["error"]
    assert stored_items(dynamodb) == before


@pytest.mark.parametrize(("path", "raw", "field", "where"), [
    ("/events", r'{"type": "LoanArrears", "note": "\ud800"}', "note", "note holds a lone surrogate"),
    ("/events", r'{"type": "LoanArrears", "notes": ["ok", {"text": "a\udfffb"}]}', "notes", "notes[1].text holds"),
    ("/events", r'{"type": "LoanArrears", "\ud800": 1}', "\ud800", "holds a lone surrogate"),
    ("", r'{"requested_amount": 10, "interest": 0, "note": "\ud800"}', "note", "note holds a lone surrogate"),
])
def test_text_no_store_can_keep_is_422_naming_the_field_and_writes_nothing(api, dynamodb, disbursed, path, raw,
                                                                           field, where):
    before = stored_items(dynamodb)
    status, body = api("POST", f"/loans/{disbursed}" + path if path else "/loans", raw=raw)
    assert (status, body["field"]) == (422, field) and where in body["error"] and "service's" not in body["error"]
    assert stored_items(dynamodb) == before


def test_a_body_that_is_not_json_is_named_in_our_words(api):
    status, body = api("POST", "/loans", raw='{"requested_amount": 10,}')
    assert status == 422 and body["error"] == ("the request body is not JSON: it stops being valid JSON at line 1, "
                                               "column 25")
