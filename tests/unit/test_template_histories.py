"""The template's grants for the archive and the personal data keys: only the functions that read them, and each
grant used and needed: what each function's code sends to the archive, the key table and KMS on moto is exactly
what its role allows there."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3

from core.dynamodb import DynamoDBEventStore
from handlers.app import App
from handlers.cli import main
from tests.api_support import LambdaContext, rest_event
from tests.iam_support import principals
from tests.template_support import deployed

ARCHIVE = {"ArchiveBucket": "cold", "ArchivePrefix": "archive/"}
#: The resources whose grants are checked, per function (the rest of each role is checked elsewhere).
CHECKED = {"CommandsFunction": {"archive", "keys", "kms"},
           "QueriesFunction": {"archive", "keys", "kms", "events"},
           "RebuildWorkerFunction": {"archive", "keys", "kms"},
           "ProjectorFunction": {"archive", "keys", "kms"}}  # the projector folds sealed values: it sees no key


#: The IAM action of an API operation, where the two differ.
ACTIONS = {"s3:ListObjectsV2": "s3:ListBucket"}


def granted_kind(resource: str) -> str | None:
    if ":s3:::cold/archive/*" in resource or resource.endswith(":s3:::cold"):
        return "archive"
    return {"PersonalKeysTable.Arn": "keys", "PersonalDataKey.Arn": "kms", "LoansTable.Arn": "events"}.get(resource)


def grants(parameters: dict[str, str]) -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = {}
    for name, granted in principals(deployed(parameters)).items():
        for _, action, resource in granted:
            kind = granted_kind(resource)
            if name in CHECKED and kind in CHECKED[name]:
                found.setdefault(name, set()).add((action, kind))
    return found


def variables(parameters: dict[str, str]) -> dict[str, dict[str, Any]]:
    functions = {name: resource for name, resource in deployed(parameters)["Resources"].items()
                 if resource["Type"] == "AWS::Lambda::Function"}
    return {name: function["Properties"].get("Environment", {}).get("Variables", {})
            for name, function in functions.items()}


def test_without_an_archive_bucket_no_function_may_read_one() -> None:
    assert all(kind != "archive" for granted in grants({}).values() for _, kind in granted)
    assert all("ARCHIVE_BUCKET" not in found for found in variables({}).values())
    with_bucket = variables(ARCHIVE)
    assert {name for name, found in with_bucket.items() if found.get("ARCHIVE_BUCKET") == "cold"} == {
        "CommandsFunction", "QueriesFunction", "RebuildWorkerFunction", "ProjectorFunction"}
    assert with_bucket["QueriesFunction"]["ARCHIVE_PREFIX"] == "archive/"
    assert {name for name, found in with_bucket.items() if "PERSONAL_KEYS_TABLE" in found} == {
        "CommandsFunction", "QueriesFunction"}


class Recorder:
    """Every request an App's clients send, as (action, kind of resource) for the resources checked here."""

    def __init__(self) -> None:
        self.calls: set[tuple[str, str]] = set()

    def app(self) -> App:
        app = App.from_env()
        for client in (app.dynamodb, app.s3, app.kms):
            client.meta.events.register("before-parameter-build", self._record)
        return app

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        service = model.service_model.endpoint_prefix
        kind = None
        if service == "kms":
            kind = "kms"
        elif service == "s3" and params.get("Bucket") == "cold" and (
                str(params.get("Key", params.get("Prefix", ""))).startswith("archive/")):
            kind = "archive"
        elif params.get("TableName") == "PersonalKeys":
            kind = "keys"
        elif params.get("TableName") == "Loans":
            kind = "events"
        if kind is not None:
            action = f"{service}:{model.name}"
            self.calls.add((ACTIONS.get(action, action), kind))


def test_each_grant_on_the_archive_and_the_keys_is_used_and_needed(aws, monkeypatch, capsys) -> None:
    key_id = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["KeyId"]
    for name, value in {"PERSONAL_KMS_KEY": key_id, "ARCHIVE_BUCKET": "cold", "SNAPSHOT_EVERY": "3"}.items():
        monkeypatch.setenv(name, value)
    operator = App.from_env()
    operator.bind()
    assert main(["init"], app=operator) == 0
    recorded = {name: Recorder() for name in CHECKED}

    def call(handler: Callable[..., dict[str, Any]], method: str, path: str, body: dict[str, Any] | None = None,
             **query: str) -> dict[str, Any]:
        response = handler(rest_event(method, path, json.dumps(body) if body else None, query=query or None),
                           LambdaContext())
        assert response["statusCode"] in (200, 201), response
        return dict(json.loads(response["body"])) if method != "GET" or "dashboard" not in path else {}

    from handlers import commands, queries

    writer = commands.handler_for(recorded["CommandsFunction"].app())
    loan_id = call(writer, "POST", "/loans", {"type": "LoanCreated", "requested_amount": 100, "interest": 0,
                                              "borrower_name": "Ada Lovelace", "borrower_id": "b-1"})["id"]
    for event in ({"type": "LoanApproved"}, {"type": "LoanDisbursed"}, *[{"type": "LoanPaid", "amount": 1}] * 3):
        call(writer, "POST", f"/loans/{loan_id}/events", event)
    assert main(["rebuild", "loan-summary"], app=operator) == 0
    assert main(["archive", "Loan", loan_id, "--margin", "1"], app=operator) == 0  # events 1..5 move to S3
    capsys.readouterr()
    second = next(iter(operator.event_store(operator.registry.aggregate("Loan")).read(loan_id, 1)))

    # a cold commands function: the loan as of its second event replays from the archive and opens the name
    past = call(commands.handler_for(recorded["CommandsFunction"].app()), "GET", f"/loans/{loan_id}",
                as_of=second.created)
    assert (past["version"], past["borrower_name"]) == (2, "Ada Lovelace")
    reader = queries.handler_for(recorded["QueriesFunction"].app())
    assert call(reader, "GET", f"/loans/{loan_id}/summary")["borrower_name"] == "Ada Lovelace"
    call(reader, "GET", f"/dashboard/loans/{loan_id}", before="3")  # older events: in the archive
    worker = recorded["RebuildWorkerFunction"].app()
    events = worker.events_of(worker.projection("loan-summary"))
    assert len(list(events.scan())) == 6
    assert events.estimate() == DynamoDBEventStore("Loans", worker.dynamodb).estimate() + 5  # and the archived five

    # the projector fills a gap below what was archived: a row gone behind (deleted here) and the newest event
    from projections.projector import StreamEvent

    projector_app = recorded["ProjectorFunction"].app()
    summary = projector_app.projection("loan-summary")
    _, tables = projector_app.live_tables(summary)
    operator.dynamodb.delete_item(TableName=tables.rows, Key={summary.key: {"S": loan_id}})
    newest = next(iter(operator.event_store(operator.registry.aggregate("Loan")).read(loan_id, 5)))
    outcome = projector_app.projector_for(summary).apply([StreamEvent(loan_id, newest)])
    assert outcome.gaps_filled == 5

    allowed = grants(ARCHIVE)
    assert allowed["QueriesFunction"] >= {("kms:Decrypt", "kms"), ("s3:GetObject", "archive")}
    for name, recorder in recorded.items():
        used = {(action, kind) for action, kind in recorder.calls if kind in CHECKED[name]}
        assert used == allowed.get(name, set()), name
