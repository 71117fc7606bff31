"""`Idempotency-Key` on the commands API, against DynamoDB on moto: a retry is answered with the first reply and
commits nothing; a reused key is a 422, a malformed one a 400, a duplicate still running a 409."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from handlers import commands, idempotency
from handlers.app import App
from handlers.tables import ensure_table
from tests.api_support import LambdaContext, reply_of

OPEN = '{"requested_amount": 1000.00, "interest": 0.05}'
ALICE = {"requestId": "req-1", "stage": "test", "identity": {"userArn": "arn:aws:iam::123456789012:user/alice"}}
BOB = {"requestId": "req-2", "stage": "test", "identity": {"userArn": "arn:aws:iam::123456789012:user/bob"}}


def call(app: App, method: str, path: str, body: Any = None, key: str | None = None,
         context: dict[str, Any] | None = None) -> tuple[int, dict[str, Any], dict[str, list[str]]]:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["idempotency-key"] = key  # any case: API Gateway passes names as the client sent them
    event = {"httpMethod": method, "path": path, "resource": path, "headers": headers,
             "requestContext": context or ALICE, "isBase64Encoded": False,
             "body": body if isinstance(body, str) or body is None else json.dumps(body)}
    response = commands.handler_for(app)(event, LambdaContext())
    status, payload = reply_of(response)
    return status, payload, response.get("multiValueHeaders") or {}


@pytest.fixture
def api(app, events_table, dynamodb):
    ensure_table(dynamodb, idempotency.table_definition(app.settings))
    return functools.partial(call, app)


def stored_events(app: App, table: str = "Loans") -> int:
    return app.dynamodb.scan(TableName=table, Select="COUNT")["Count"]


def test_a_retried_open_returns_the_first_reply_and_commits_nothing(app, api):
    first = api("POST", "/loans", OPEN, key="open-1")
    assert first[0] == 201 and stored_events(app) == 1
    assert api("POST", "/loans", OPEN, key="open-1")[:2] == first[:2]
    assert stored_events(app) == 1
    state = {k: v for k, v in first[1].items() if k != "consistency"}
    assert api("GET", f"/loans/{first[1]['id']}")[1] == state  # the reply is the state the store holds
    assert first[1]["consistency"] == {"id": first[1]["id"], "version": 1}


def test_a_retried_event_returns_the_first_reply_and_commits_nothing(app, api):
    _, loan, _ = api("POST", "/loans", OPEN)
    path = f"/loans/{loan['id']}/events"
    first = api("POST", path, {"type": "LoanApproved"}, key="approve-1")
    assert first[0] == 201 and first[1]["event"] == {"type": "LoanApproved", "number": 2}
    assert api("POST", path, {"type": "LoanApproved"}, key="approve-1")[:2] == first[:2]
    assert stored_events(app) == 2
    assert api("GET", f"/loans/{loan['id']}")[1] == {k: v for k, v in first[1].items()
                                                     if k not in ("event", "consistency")}
    assert first[1]["consistency"] == {"id": loan["id"], "version": 2}


def test_without_a_key_every_request_commits(app, api):
    one, two = api("POST", "/loans", OPEN), api("POST", "/loans", OPEN)
    assert one[1]["id"] != two[1]["id"] and stored_events(app) == 2


@pytest.mark.parametrize(("path_of", "body"), [
    (lambda loan_id: "/loans", OPEN.replace("1000.00", "999.00")),
    (lambda loan_id: f"/loans/{loan_id}/events", {"type": "LoanApproved"}),
])
def test_the_same_key_for_a_different_request_is_422_naming_the_key(app, api, path_of, body):
    status, loan, _ = api("POST", "/loans", OPEN, key="reused-key")
    status, reply, _ = api("POST", path_of(loan["id"]), body, key="reused-key")
    assert status == 422 and "'reused-key'" in reply["error"] and reply["field"] == "Idempotency-Key"
    assert stored_events(app) == 1


def test_keys_belong_to_their_caller(app, api):
    alice = api("POST", "/loans", OPEN, key="same", context=ALICE)
    bob = api("POST", "/loans", OPEN, key="same", context=BOB)
    assert alice[0] == bob[0] == 201 and alice[1]["id"] != bob[1]["id"] and stored_events(app) == 2


@pytest.mark.parametrize("key", ["", "   ", "x" * 129, "a\nb", "tab\there", "del\x7f"])
def test_a_malformed_key_is_400_naming_the_header_and_commits_nothing(app, api, key):
    status, reply, _ = api("POST", "/loans", OPEN, key=key)
    assert status == 400 and "Idempotency-Key" in reply["error"] and reply["field"] == "Idempotency-Key"
    assert stored_events(app) == 0


def test_the_longest_key_is_accepted(api):
    assert api("POST", "/loans", OPEN, key="k" * 128)[0] == 201


def test_a_refused_command_is_not_remembered(app, api):
    """A 422 from the domain deletes powertools' record: the same key may then be sent with a fixed body."""
    _, loan, _ = api("POST", "/loans", OPEN)
    path = f"/loans/{loan['id']}/events"
    assert api("POST", path, {"type": "LoanDisbursed"}, key="fix-me")[0] == 422
    assert api("POST", path, {"type": "LoanDisbursed", "note": "fixed"}, key="fix-me")[0] == 422
    assert api("POST", path, {"type": "LoanApproved"}, key="fix-me")[0] == 201
    assert stored_events(app) == 2


def test_a_duplicate_while_the_first_is_running_is_409_with_retry_after(app, api):
    """The duplicate arrives while the first request is about to commit (sent from botocore's hook on the
    first request's transaction, as a second function instance would)."""
    client = app.dynamodb
    seen: list[tuple[int, dict[str, Any], dict[str, list[str]]]] = []

    def duplicate(**_: Any) -> None:
        if not seen:
            seen.append(call(app, "POST", "/loans", OPEN, key="busy"))

    client.meta.events.register("before-send.dynamodb.TransactWriteItems", duplicate)
    first = call(app, "POST", "/loans", OPEN, key="busy")
    client.meta.events.unregister("before-send.dynamodb.TransactWriteItems", duplicate)
    (status, reply, headers), = seen
    assert status == 409 and "'busy'" in reply["error"] and headers["Retry-After"] == ["2"]
    assert first[0] == 201 and stored_events(app) == 1
    assert call(app, "POST", "/loans", OPEN, key="busy")[:2] == first[:2]


def test_init_creates_the_idempotency_table_with_its_ttl_once(app, aws, monkeypatch, capsys):
    from handlers.cli import main

    monkeypatch.setenv("IDEMPOTENCY_TABLE", "CommandKeys")
    assert main(["init"]) == 0 and "CommandKeys: created" in capsys.readouterr().out
    assert main(["init"]) == 0 and "CommandKeys: exists" in capsys.readouterr().out
    ttl = app.dynamodb.describe_time_to_live(TableName="CommandKeys")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expiration")


def test_the_derived_id_item_key_and_request_hash_do_not_depend_on_the_process(tmp_path):
    """Compared across processes (docs/local-aws.md): two hash seeds, and this process, agree."""
    import subprocess
    import sys

    script = ("import json; from handlers.idempotency import CommandKey; "
              "event = {'httpMethod': 'POST', 'path': '/loans', 'body': '{\"a\": 1}', 'requestContext': "
              "{'identity': {'userArn': 'arn:aws:iam::1:user/x'}}}; "
              "key = CommandKey.of(event, 'k-1', dict, 201, 'Idempotency', None); "
              "print(json.dumps([key.aggregate_id, key.item_key, key.request_hash, key.caller]))")
    outputs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                              env={**__import__("os").environ, "PYTHONHASHSEED": seed}).stdout
               for seed in ("1", "2")}
    assert len(outputs) == 1
    (output,) = outputs
    aggregate_id, item_key, request_hash, caller = json.loads(output)
    assert caller == "arn:aws:iam::1:user/x" and item_key.startswith("command#") and len(request_hash) == 64
    assert aggregate_id != item_key


def test_a_missing_idempotency_table_is_named_and_nothing_is_committed(app, api):
    from core import ConfigurationError

    elsewhere = App.from_env({"IDEMPOTENCY_TABLE": "NoSuchKeys"})
    with pytest.raises(ConfigurationError, match="'NoSuchKeys' does not exist.*IDEMPOTENCY_TABLE"):
        call(elsewhere, "POST", "/loans", OPEN, key="k")
    assert stored_events(app) == 0
    assert call(elsewhere, "POST", "/loans", OPEN)[0] == 201  # without a key the table is not needed


def test_unreachable_idempotency_records_are_503_and_nothing_is_committed(app, api, monkeypatch):
    from tests.api_support import refusing

    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    app.dynamodb.meta.events.register("before-send.dynamodb.PutItem",
                                                  refusing(400, "ThrottlingException"))
    status, body, headers = call(app, "POST", "/loans", OPEN, key="k")
    assert status == 503 and "unavailable" in body["error"] and headers["Retry-After"] == ["2"]
    assert stored_events(app) == 0
