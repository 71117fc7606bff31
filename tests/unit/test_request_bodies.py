"""`handlers.bodies.json_body`, the JSON body reader custom routes use: exact decimals, a 400 in our words for a
body that is not a JSON object, a 422 naming the field for text no store can keep."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from core import Aggregate, Event, InMemoryEventStore, UnencodablePayloadError
from core.codec import encode, unstorable_text
from core.errors import CodecError
from handlers.api_errors import add_error_handlers, reply
from handlers.bodies import RequestBodyError, json_body
from tests.api_support import LambdaContext, reply_of, rest_event


def test_numbers_keep_their_digits_and_ints_stay_ints() -> None:
    body = json_body({"body": '{"amount": 0.10, "rate": 1E-2, "count": 3, "nested": [{"x": 120.00}]}'})
    assert body == {"amount": Decimal("0.10"), "rate": Decimal("0.01"), "count": 3, "nested": [{"x": Decimal("120")}]}
    assert str(body["amount"]) == "0.10" and str(body["nested"][0]["x"]) == "120.00" and type(body["count"]) is int


def test_a_base64_body_is_decoded_first() -> None:
    raw = base64.b64encode('{"owner": "zoë"}'.encode()).decode()
    assert json_body({"body": raw, "isBase64Encoded": True}) == {"owner": "zoë"}


NUMBER = ("the request body is not JSON this service can read exactly: it holds NaN, Infinity or a number of "
          "thousands of digits")


@pytest.mark.parametrize(("body", "base64_encoded", "message"), [
    (None, False, "the request has no body: send a JSON object"),
    ("", False, "the request has no body: send a JSON object"),
    ("{nope", False, "the request body is not JSON: it stops being valid JSON at line 1, column 2"),
    ('{"a": 1}\n{"b": 2}', False, "the request body is not JSON: it stops being valid JSON at line 2, column 1"),
    ("[1, 2]", False, "the request body must be a JSON object, not an array"),
    ('"text"', False, "the request body must be a JSON object, not a string"),
    ("12", False, "the request body must be a JSON object, not a number"),
    ("null", False, "the request body must be a JSON object, not null"),
    ('{"a": NaN}', False, NUMBER),
    ('{"a": ' + "1" * 5000 + "}", False, NUMBER),
    ('{"a": ' + "[" * 40 + "]" * 40 + "}", False, "the request body nests deeper than 32 levels"),
    ('{"a": ' + "[" * 50_000 + "]" * 50_000 + "}", False, "the request body nests deeper than 32 levels"),
    ("not base64!", True, "the request body is marked base64-encoded but is not base64"),
    ("\x80", True, "the request body is marked base64-encoded but is not base64"),
    ("//79", True, "the request body is not UTF-8 text (byte 0 cannot start a character)"),
])
def test_a_body_that_is_not_a_json_object_is_400_in_our_words(body, base64_encoded, message) -> None:
    with pytest.raises(RequestBodyError) as caught:
        json_body({"body": body, "isBase64Encoded": base64_encoded})
    assert (str(caught.value), caught.value.status, caught.value.field) == (message, 400, "body")
    assert "Expecting" not in str(caught.value) and "char " not in str(caught.value)


@pytest.mark.parametrize(("raw", "field", "path"), [
    (r'{"note": "\ud800"}', "note", "note"),
    (r'{"ok": "fine", "lines": ["a", "\udc00b"]}', "lines", "lines[1]"),
    (r'{"owner": {"name": "x\ud83d"}}', "owner", "owner.name"),
    (r'{"a.b": ["\ud800"]}', "a.b", "a.b[0]"),
])
def test_text_no_store_can_keep_is_422_naming_the_field(raw, field, path) -> None:
    with pytest.raises(RequestBodyError) as caught:
        json_body({"body": raw})
    assert (caught.value.status, caught.value.field) == (422, field)
    assert str(caught.value).startswith(f"{path} holds a lone surrogate")


def test_a_surrogate_pair_is_text_a_store_keeps() -> None:
    assert json_body({"body": r'{"note": "\ud83d\ude00"}'}) == {"note": "\U0001F600"}
    assert unstorable_text({"note": "\U0001F600"}) is None


def test_the_codec_names_the_field_holding_a_lone_surrogate() -> None:
    with pytest.raises(CodecError) as caught:
        encode({"fine": "x", "note": "\ud800"})
    assert caught.value.field == "note" and str(caught.value).startswith("data.note cannot be encoded")


class Note(Aggregate):
    table = "Notes"

    def on_noted(self, event: Event) -> None:
        pass


def test_committing_text_no_store_can_keep_is_the_callers_error_and_stores_nothing() -> None:
    note = Note(store=InMemoryEventStore())
    with pytest.raises(UnencodablePayloadError) as caught:
        note.commit({"type": "Noted", "text": "\ud800"})
    assert caught.value.field == "text" and isinstance(caught.value, CodecError) and note.version == 0


def routes_with_a_custom_post() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()
    add_error_handlers(app, Logger(service="test"))

    @app.post("/notes")
    def add() -> Response:
        body = json_body(app.current_event)
        note = Note(store=InMemoryEventStore())
        note.commit({"type": "Noted", **body})
        return reply(201, {"version": note.version, "amount": str(body.get("amount"))})

    return app


@pytest.mark.parametrize(("raw", "status", "field", "error"), [
    ('{"amount": 10.50}', 201, None, None),
    ("{nope", 400, "body", "the request body is not JSON: it stops being valid JSON at line 1, column 2"),
    (r'{"text": "\ud800"}', 422, "text", "text holds a lone surrogate"),
])
def test_a_custom_route_answers_through_the_shared_error_handlers(raw, status, field, error) -> None:
    got, body = reply_of(routes_with_a_custom_post().resolve(rest_event("POST", "/notes", raw), LambdaContext()))
    assert got == status
    if status == 201:
        assert body == {"version": 1, "amount": "10.50"}
    else:
        assert body["field"] == field and body["error"].startswith(error)


def test_a_commit_that_cannot_be_encoded_past_the_body_check_is_422_not_500() -> None:
    app = APIGatewayRestResolver()
    add_error_handlers(app, Logger(service="test"))

    @app.post("/notes")
    def add() -> Response:
        Note(store=InMemoryEventStore()).commit({"type": "Noted", "text": json.loads(r'"\ud800"')})
        return reply(201, {})

    got, body = reply_of(app.resolve(rest_event("POST", "/notes", "{}"), LambdaContext()))
    assert (got, body["field"]) == (422, "text") and "service's" not in body["error"]
