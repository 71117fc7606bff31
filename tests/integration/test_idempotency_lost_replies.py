"""The worst case of `Idempotency-Key`, over real HTTP against moto's server: the first attempt's transaction
lands, every reply is lost, powertools' record is gone or stuck in progress, and the client retries.
Exactly one commit, and the retry answers what the first attempt would have said (the state the store holds)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError
from botocore.httpsession import URLLib3Session

from handlers import commands, idempotency
from handlers.app import App
from handlers.cli import main
from handlers.settings import Settings
from tests.api_support import LambdaContext, reply_of

pytestmark = pytest.mark.integration
OPEN = '{"requested_amount": 250.00, "interest": 0.10}'
CALLER = {"requestId": "req-1", "stage": "test", "identity": {"userArn": "arn:aws:iam::123456789012:user/carol"}}


def call(
        app: App, method: str, path: str, body: str | None = None, key: str | None = None) -> tuple[int, dict[str,
        Any]]:
    headers = {"Content-Type": "application/json", **({"Idempotency-Key": key} if key is not None else {})}
    event = {"httpMethod": method, "path": path, "resource": path, "headers": headers, "body": body,
             "requestContext": CALLER, "isBase64Encoded": False}
    return reply_of(commands.handler_for(app)(event, LambdaContext()))


def lost_reply(request: Any, **_: Any) -> None:
    """A before-send hook that delivers the request to the server (the write lands) and loses the reply."""
    URLLib3Session().send(request)
    raise ConnectionClosedError(endpoint_url=request.url)


@pytest.fixture
def stack(server_app, monkeypatch):
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    assert main(["init"]) == 0
    return server_app.dynamodb


def events(client: Any) -> list[tuple[str, int, str]]:
    items = client.scan(TableName="Loans", ConsistentRead=True)["Items"]
    return sorted((i["id"]["S"], int(i["number"]["N"]), i["type"]["S"]) for i in items if "." not in i["number"]["N"])


def powertools_records(client: Any) -> list[dict[str, Any]]:
    items = client.scan(TableName=idempotency.table_name(Settings()), ConsistentRead=True)["Items"]
    return [item for item in items if not item["id"]["S"].startswith("command#")]


def test_an_open_whose_every_reply_was_lost_is_answered_on_retry_and_committed_once(server_app, stack):
    stack.meta.events.register("before-send.dynamodb.TransactWriteItems", lost_reply)
    status, _ = call(server_app, "POST", "/loans", OPEN, key="open-lost")
    stack.meta.events.unregister("before-send.dynamodb.TransactWriteItems", lost_reply)
    assert status == 503  # what the client saw; the write landed nonetheless
    (loan_id, number, kind), = events(stack)
    assert (number, kind) == (1, "LoanCreated")
    assert powertools_records(stack) == []  # the failed attempt's record was deleted: only the marker remains

    status, body = call(server_app, "POST", "/loans", OPEN, key="open-lost")
    token = {"consistency": {"id": loan_id, "version": 1}}  # the marker's reply carries the commit's token
    assert status == 201 and body == {**call(server_app, "GET", f"/loans/{loan_id}")[1], **token}
    assert body["id"] == loan_id
    assert events(stack) == [(loan_id, 1, "LoanCreated")]
    assert call(server_app, "POST", "/loans", OPEN.replace("250.00", "251.00"), key="open-lost")[0] == 422


def test_an_event_whose_every_reply_was_lost_is_answered_on_retry_and_committed_once(server_app, stack):
    _, loan = call(server_app, "POST", "/loans", OPEN)
    path = f"/loans/{loan['id']}/events"
    stack.meta.events.register("before-send.dynamodb.TransactWriteItems", lost_reply)
    assert call(server_app, "POST", path, '{"type": "LoanApproved"}', key="approve-lost")[0] == 503
    stack.meta.events.unregister("before-send.dynamodb.TransactWriteItems", lost_reply)
    assert events(stack) == [(loan["id"], 1, "LoanCreated"), (loan["id"], 2, "LoanApproved")]

    # The retry decides on a state that already holds its own event (LoanApproved twice is illegal): the
    # marker answers, not the guard.
    status, body = call(server_app, "POST", path, '{"type": "LoanApproved"}', key="approve-lost")
    expected = {**call(server_app, "GET", f"/loans/{loan['id']}")[1], "event": {"type": "LoanApproved", "number": 2},
                "consistency": {"id": loan["id"], "version": 2}}
    assert status == 201 and body == expected
    assert len(events(stack)) == 2


def test_a_function_that_died_after_its_commit_leaves_a_record_in_progress_then_the_marker_answers(server_app, stack):
    """Powertools cannot mark its record done (its store is unreachable after the commit, or the function dies):
    the client sees a 503, a retry within the function's remaining time is a 409, and once that record expires
    the marker answers."""

    def refuse_update(request: Any, **_: Any) -> None:
        raise ConnectionClosedError(endpoint_url=request.url)

    stack.meta.events.register("before-send.dynamodb.UpdateItem", refuse_update)
    assert call(server_app, "POST", "/loans", OPEN, key="died")[0] == 503
    stack.meta.events.unregister("before-send.dynamodb.UpdateItem", refuse_update)
    (loan_id, _, _), = events(stack)
    (record,) = powertools_records(stack)
    assert record["status"]["S"] == "INPROGRESS"

    assert call(server_app, "POST", "/loans", OPEN, key="died")[0] == 409
    table = idempotency.table_name(server_app.settings)
    stack.update_item(TableName=table, Key={"id": record["id"]},  # the function's time is up
                      UpdateExpression="SET in_progress_expiration = :past",
                      ExpressionAttributeValues={":past": {"N": "1"}})
    status, body = call(server_app, "POST", "/loans", OPEN, key="died")
    assert status == 201 and body == {**call(server_app, "GET", f"/loans/{loan_id}")[1],
                                      "consistency": {"id": loan_id, "version": 1}}
    assert len(events(stack)) == 1
    assert json.loads(powertools_records(stack)[0]["data"]["S"])["body"] == body
