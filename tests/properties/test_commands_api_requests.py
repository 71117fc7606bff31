"""Property: whatever malformed request API Gateway hands the commands handler, the reply is JSON with a
status below 500 (DynamoDB on in-process moto; no store fault is injected, so every 5xx would be a crash).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import commands
from tests.api_support import LambdaContext

ODD_NUMBERS = ["1e400", "-1e400", "1" + "0" * 30, "1e999999999999999999999", "1e5000", "9" * 5000, "-0", "0.000",
               "1E+2", "5E-2", "1e-400", "NaN", "Infinity", "-Infinity", "1000000000.00", "10.000001", "0.1"]
FIELDS = ["type", "requested_amount", "interest", "amount", "number", "meta", "created", "", "id", "$d"]
TYPES = ["LoanCreated", "LoanApproved", "LoanDisbursed", "LoanPaid", "LoanSettled", "loan_paid", "", "X" * 300]

ids = st.one_of(st.sampled_from(["", "x" * 3000, "a b", "%00", "..", "missing", "é" * 200, "a\tb"]),
                st.text(min_size=1, max_size=40))
#: `KNOWN` in a path stands for a loan the test made (disbursed), so commands reach its handlers.
KNOWN = "{known}"
paths = st.one_of(
    st.sampled_from(["/loans", f"/loans/{KNOWN}/events", f"/loans/{KNOWN}"]),
    st.builds(lambda i: f"/loans/{i}", ids), st.builds(lambda i: f"/loans/{i}/events", ids),
    st.sampled_from(["/loans", "/loans/", "/", "//loans", "/loans//events", "/portfolio", "/loans/x/events/y"]),
    st.text(max_size=30).map(lambda text: "/" + text))
scalars = st.one_of(st.sampled_from(ODD_NUMBERS), st.sampled_from(TYPES).map(json.dumps),
                    st.integers().map(str), st.sampled_from(["true", "false", "null", '"x"', "[]", "{}"]),
                    st.text(max_size=10).map(json.dumps))


def json_texts() -> st.SearchStrategy[str]:
    """JSON-ish text of odd shapes: objects with the fields the service reads, odd numbers, nesting."""
    values = st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
        st.dictionaries(st.sampled_from(FIELDS).map(json.dumps), inner, max_size=4).map(
            lambda fields: "{" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}")), max_leaves=8)
    objects = st.dictionaries(st.sampled_from(FIELDS).map(json.dumps), values, max_size=5).map(
        lambda fields: "{" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}")
    deep = st.integers(min_value=1, max_value=60_000).map(lambda depth: '{"type": "LoanApproved", "x": '
                                                          + "[" * depth + "]" * depth + "}")
    bases = st.sampled_from(['"requested_amount": 100, "interest": 0.05', '"type": "LoanPaid", "amount": 1',
                             '"type": "LoanArrears"', '"type": "LoanPaid", "amount": 1, "number": 4'])
    mutated = st.tuples(bases, st.sampled_from(FIELDS).map(json.dumps), values).map(
        lambda parts: "{" + f"{parts[0]}, {parts[1]}: {parts[2]}" + "}")
    return st.one_of(mutated, mutated, objects, values, deep)


bodies = st.one_of(st.none(), st.just(""), json_texts(), st.text(max_size=50),
                   st.sampled_from(['{"type": "LoanPaid", "amount": ' + "1" * 600_000 + "}",
                                    '{"type": "LoanArrears", "note": "' + "x" * 450_000 + '"}']))


METHODS = ["POST"] * 6 + ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "post"]


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    body = draw(bodies)
    encoded = draw(st.sampled_from([False, True, None, "true", 1]))
    if encoded is True and body is not None and draw(st.booleans()):
        body = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
    return {
        "httpMethod": draw(st.sampled_from(METHODS)),
        "path": draw(paths), "resource": "/{proxy+}",
        "headers": draw(st.one_of(st.none(), st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=3),
                                  st.just({"Content-Type": "text/plain", "Content-Encoding": "gzip"}))),
        "queryStringParameters": draw(st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.text(max_size=5),
                                                                           max_size=2))),
        "requestContext": draw(st.one_of(st.just({"requestId": "r", "stage": "test"}), st.just({}), st.just(
            {"requestId": "r", "identity": {"userArn": 5}, "authorizer": {"claims": "x"}}))),
        "body": body, "isBase64Encoded": encoded,
    }


@pytest.fixture
def api(app, events_table):
    """The handler on the test's App, with `KNOWN` in a path replaced by a disbursed loan's id."""
    handler = commands.handler_for(app)
    made = handler(
        {**_event("/loans", '{"requested_amount": 1000, "interest": 0.1}')}, LambdaContext())
    known = json.loads(made["body"])["id"]
    for body in ('{"type": "LoanApproved"}', '{"type": "LoanDisbursed"}'):
        assert handler(_event(f"/loans/{known}/events", body), LambdaContext())["statusCode"] == 201

    def call(event: dict[str, Any]) -> dict[str, Any]:
        return handler({**event, "path": event["path"].replace(KNOWN, known)}, LambdaContext())

    return call


def _event(path: str, body: str) -> dict[str, Any]:
    return {"httpMethod": "POST", "path": path, "resource": path, "headers": {}, "body": body,
            "requestContext": {"requestId": "r"}, "isBase64Encoded": False}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow, HealthCheck.data_too_large])
@given(event=requests())
def test_every_malformed_request_gets_a_json_reply_below_500(api, event):
    response = api(event)
    assert response["statusCode"] < 500, (response, {k: str(v)[:200] for k, v in event.items()})
    json.loads(response["body"])
