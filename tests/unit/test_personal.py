"""Personal fields and forgetting a person: the key store contract (in memory, the local table, KMS on moto),
sealing and revealing, the Loan's borrower name, and `aws-es forget` across every place data is kept."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal

import boto3
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import IllegalEventError
from core.kms_keys import KmsKeyStore, LocalTableKeyStore, keys_table_definition
from core.personal import (
    FORGOTTEN,
    InMemoryKeyStore,
    KeyStore,
    PersonalDataError,
    Sealer,
    count_readable,
    is_sealed,
    reveal_fields,
)
from core.repository import Repository
from core.store import InMemoryEventStore
from handlers.app import App
from handlers.cli import main
from loans import Loan
from loans.projections import fold_summary

NAME = "Ada Lovelace"


@pytest.fixture(params=["memory", "local-table", "kms"])
def keys(request: pytest.FixtureRequest) -> Iterator[KeyStore]:
    if request.param == "memory":
        yield InMemoryKeyStore()
        return
    request.getfixturevalue("aws")
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(**keys_table_definition("Keys"))
    if request.param == "local-table":
        yield LocalTableKeyStore(dynamodb, "Keys")
    else:
        kms = boto3.client("kms", region_name="us-east-1")
        yield KmsKeyStore(kms, dynamodb, "Keys", kms.create_key()["KeyMetadata"]["KeyId"])


# -- the key store contract ---------------------------------------------------------------------------------

def test_a_key_is_made_on_first_need_kept_and_destroyed_for_good(keys: KeyStore) -> None:
    assert keys.key("borrower-1") is None
    made = keys.key("borrower-1", create=True)
    assert made is not None and len(made) == 32
    assert keys.key("borrower-1") == made == keys.key("borrower-1", create=True)
    assert keys.key("borrower-2", create=True) != made
    assert keys.destroy("borrower-1") is True
    assert keys.key("borrower-1") is None
    assert keys.destroy("borrower-1") is False
    again = keys.key("borrower-1", create=True)
    assert again is not None and again != made
    assert keys.key("borrower-2") is not None


@pytest.mark.parametrize("subject", ["", None, 7, "x" * 1025])
def test_a_bad_subject_is_refused_by_name(keys: KeyStore, subject: object) -> None:
    with pytest.raises(PersonalDataError, match="subject must be a non-empty string"):
        keys.key(subject, create=True)  # type: ignore[arg-type]


def test_the_kms_store_keeps_only_the_wrapped_key_and_a_fresh_process_reads_it(aws) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(**keys_table_definition("Keys"))
    kms = boto3.client("kms", region_name="us-east-1")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    made = KmsKeyStore(kms, dynamodb, "Keys", key_id).key("b", create=True)
    stored = dynamodb.get_item(TableName="Keys", Key={"subject": {"S": "b"}})["Item"]["blob"]["B"]
    assert made is not None and made not in stored
    assert KmsKeyStore(kms, dynamodb, "Keys", key_id).key("b") == made
    with pytest.raises(PersonalDataError, match="KMS key id"):
        KmsKeyStore(kms, dynamodb, "Keys", "")


def test_another_process_forgets_once_its_cached_key_expires(aws) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(**keys_table_definition("Keys"))
    now = [0.0]
    writer = LocalTableKeyStore(dynamodb, "Keys", cache_seconds=60, clock=lambda: now[0])
    other = LocalTableKeyStore(dynamodb, "Keys", cache_seconds=60, clock=lambda: now[0])
    assert writer.key("b", create=True) == other.key("b")
    writer.destroy("b")
    assert writer.key("b") is None and other.key("b") is not None
    now[0] = 61.0
    assert other.key("b") is None


# -- sealing and revealing --------------------------------------------------------------------------------

def test_a_sealed_value_reveals_and_reads_forgotten_once_its_key_is_gone() -> None:
    sealer = Sealer(InMemoryKeyStore())
    token = sealer.seal("b-1", NAME, "LoanCreated.borrower_name")
    assert is_sealed(token) and NAME not in token
    assert sealer.seal("b-1", NAME, "LoanCreated.borrower_name") != token  # a fresh nonce each time
    assert sealer.reveal(token, "LoanCreated.borrower_name") == NAME
    assert sealer.reveal("written before it was personal", "LoanCreated.borrower_name") == (
        "written before it was personal")
    assert sealer.forget("b-1") is True
    revealed = sealer.reveal(token, "LoanCreated.borrower_name")
    assert revealed is FORGOTTEN and revealed == "<forgotten>"
    assert count_readable(sealer, {"row": [token, {"x": json.dumps({"n": token})}]}) == (2, 0)


def test_a_damaged_or_moved_sealed_value_is_an_error_naming_where() -> None:
    sealer = Sealer(InMemoryKeyStore())
    token = sealer.seal("b-1", NAME, "LoanCreated.borrower_name")
    damaged = token[:-6] + ("AAAA" if not token.endswith("AAAA==") else "BBBB") + "=="
    with pytest.raises(PersonalDataError, match=r"LoanCreated.borrower_name: .*'b-1' is damaged"):
        sealer.reveal(damaged, "LoanCreated.borrower_name")
    with pytest.raises(PersonalDataError, match="LoanRenamed.name"):
        sealer.reveal(token, "LoanRenamed.name")  # sealed for another field: refused, not revealed
    with pytest.raises(PersonalDataError, match="is malformed"):
        sealer.reveal("pii1:%%%.x", "LoanCreated.borrower_name")
    with pytest.raises(PersonalDataError, match="personal and must be a string, not int"):
        sealer.seal("b-1", 42, "LoanCreated.borrower_name")  # type: ignore[arg-type]


# -- the Loan's borrower name -----------------------------------------------------------------------------

def sealing_repository(keys: KeyStore | None = None) -> tuple[Repository, InMemoryEventStore, Sealer]:
    store = InMemoryEventStore()
    repository = Repository(store)
    repository.sealer = Sealer(keys or InMemoryKeyStore())
    return repository, store, repository.sealer


def opened(repository: Repository, repayments: list[Decimal], borrower: str | None = "b-1",
           name: str | None = NAME) -> Loan:
    loan = Loan(repository=repository)
    created = {"type": "LoanCreated", "requested_amount": Decimal("1000.00"), "interest": Decimal("0.05")}
    if name is not None:
        created["borrower_name"] = name
    if borrower is not None:
        created["borrower_id"] = borrower
    loan.commit(created)
    loan.commit({"type": "LoanApproved"})
    loan.commit({"type": "LoanDisbursed"})
    for amount in repayments:
        loan.commit({"type": "LoanPaid", "amount": amount})
    return loan


def stored_text(store: InMemoryEventStore, loan_id: str) -> str:
    return "".join(record.data for record in store.read(loan_id))


def test_the_borrower_name_is_sealed_before_it_is_stored_and_folded() -> None:
    repository, store, sealer = sealing_repository()
    loan = opened(repository, [Decimal("10.00")])
    assert NAME not in stored_text(store, loan.id)
    assert is_sealed(loan.borrower_name) and NAME not in loan.borrower_name
    replayed = Loan(loan.id, repository=repository).hydrate()
    assert replayed.state() == loan.state()
    assert reveal_fields(sealer, Loan.personal, loan.state())["borrower_name"] == NAME


def test_without_a_borrower_id_the_subject_is_the_loan() -> None:
    repository, _, sealer = sealing_repository()
    loan = opened(repository, [], borrower=None)
    sealer.forget(loan.id)
    assert reveal_fields(sealer, Loan.personal, loan.state())["borrower_name"] is FORGOTTEN


def test_a_loan_without_a_name_is_valid_and_needs_no_key_store() -> None:
    loan = opened(Repository(InMemoryEventStore()), [Decimal("1.00")], name=None)
    assert loan.status == "PAID" and "borrower_name" not in loan.state()


def test_a_personal_value_with_no_key_store_is_refused_not_stored() -> None:
    store = InMemoryEventStore()
    with pytest.raises(IllegalEventError, match="LoanCreated.borrower_name is personal .* no key store") as caught:
        opened(Repository(store), [])
    assert caught.value.field == "borrower_name"
    assert store.estimate() == 0


@pytest.mark.parametrize("borrower", ["", 5])
def test_a_bad_borrower_id_is_refused_by_name(borrower: object) -> None:
    repository, store, _ = sealing_repository()
    with pytest.raises(IllegalEventError, match="LoanCreated.borrower_id names whose personal data"):
        opened(repository, [], borrower=borrower)  # type: ignore[arg-type]
    assert store.estimate() == 0


@settings(max_examples=40, deadline=None)
@given(
    repayments=st.lists(st.integers(min_value=1, max_value=2000).map(lambda c: Decimal(c) / 100), max_size=20),
    name=st.text(min_size=1, max_size=30),
    borrowers=st.integers(min_value=1, max_value=3),
)
def test_forgetting_leaves_no_readable_value_and_every_other_fold_unchanged(
    repayments: list[Decimal], name: str, borrowers: int
) -> None:
    """Property: after `forget`, 0 readable personal values of that subject; balances, statuses, versions and
    every summary field but the name are what they were; other subjects still read."""
    repository, store, sealer = sealing_repository()
    loans = [opened(repository, repayments, borrower=f"b-{index}", name=name) for index in range(borrowers)]

    def summary(loan_id: str) -> dict[str, object]:
        row = None
        for event in repository.events(loan_id):
            row = fold_summary(row, event)
        return dict(row or {})

    def folds() -> list[tuple[object, ...]]:
        out = []
        for loan in loans:
            fresh = Loan(loan.id, repository=repository).hydrate()
            row = summary(loan.id)
            row.pop("borrower_name")
            out.append((fresh.version, fresh.status, fresh.balance, fresh.requested_amount, row))
        return out

    before = folds()
    assert sealer.forget("b-0") is True
    assert folds() == before
    records = [record for loan in loans for record in store.read(loan.id)]
    assert count_readable(sealer, [r.data for r in records if r.data.count("b-0")]) == (1, 0)
    states = [reveal_fields(sealer, Loan.personal, Loan(loan.id, repository=repository).hydrate().state())
              for loan in loans]
    assert states[0]["borrower_name"] is FORGOTTEN
    assert all(state["borrower_name"] == name for state in states[1:])
    assert reveal_fields(sealer, Loan.personal, summary(loans[0].id))["borrower_name"] is FORGOTTEN


# -- aws-es forget, on moto: events, snapshots (DynamoDB and S3), query tables, the failure queue ----------------

@pytest.fixture
def configured(aws, monkeypatch) -> Callable[..., App]:
    monkeypatch.setenv("PROJECTION_CONTROL_TTL", "0")  # no cached live generation: a rebuild need not wait for it

    def configure(**values: str) -> App:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        app = App.from_env()
        app.bind()
        return app

    return configure


@pytest.mark.parametrize(("snapshots", "wrapped"), [("dynamodb", False), ("s3", True)],
                         ids=["dynamodb-snapshots-local-keys", "s3-snapshots-kms"])
def test_forget_leaves_no_readable_name_anywhere(configured, capsys, snapshots: str, wrapped: bool) -> None:
    from handlers import commands
    from tests.api_support import LambdaContext, rest_event

    if wrapped:
        key_id = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["KeyId"]
        configured(PERSONAL_KMS_KEY=key_id)
    app = configured(SNAPSHOT_STORE=snapshots, SNAPSHOT_EVERY="3", SNAPSHOT_BUCKET="snaps", ARCHIVE_BUCKET="cold")
    assert main(["init"], app=app) == 0
    forgotten = opened(app.repository(Loan), [Decimal("5.00")] * 4, borrower="b-forget")
    kept = opened(app.repository(Loan), [Decimal("7.00")], borrower="b-keep", name="Grace Hopper")
    keyed = rest_event("POST", "/loans", json.dumps({"requested_amount": 50, "interest": 0, "borrower_name": NAME,
                                                     "borrower_id": "b-forget"}))
    keyed["headers"]["Idempotency-Key"] = "open-once"  # the reply is kept in the idempotency table
    assert commands.handler_for(app)(keyed, LambdaContext())["statusCode"] == 201
    assert main(["rebuild", "loan-summary"], app=app) == 0
    assert main(["archive", "Loan", forgotten.id, "--margin", "1"], app=app) == 0  # LoanCreated moves to S3
    created = next(iter(app.event_store(Loan).read(forgotten.id)))
    item = {"id": {"S": forgotten.id}, "number": {"N": "1"}, "type": {"S": created.type}, "data": {"S": created.data}}
    app.on_failure_queue()([{"dynamodb": {"NewImage": item}}], "a handler failed")
    app.parking().park("loan-summary", forgotten.id, [created], "a fold failed")
    capsys.readouterr()

    def shown(*words: str) -> dict:
        assert main([*words, "--json"], app=App.from_env()) == 0
        return dict(json.loads(capsys.readouterr().out))

    hydrated, row, portfolio = shown("hydrate", "Loan", forgotten.id), shown("query", "loan", forgotten.id), \
        shown("query", "portfolio")
    assert hydrated["state"]["borrower_name"] == row["borrower_name"] == NAME
    dumps = raw_dumps(app)
    assert NAME not in dumps and "Grace Hopper" not in dumps
    assert dumps.count("pii1:") >= 7  # events, snapshot, row, archive, queued record, parked event, kept reply

    assert main(["forget", "b-forget", "--scan", "--json"], app=app) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["key_destroyed"] is True
    places = report["places"]
    assert all(counts["readable"] == 0 for counts in places.values())
    sealed_in = {place.split(" ")[0] for place, counts in places.items() if counts["sealed"]}
    assert sealed_in >= {"events+snapshots", "archive", "query", "queue", "parking", "idempotency"}
    if snapshots == "s3":
        assert places["s3://snaps"]["sealed"] >= 1
    assert raw_dumps(app) == dumps  # nothing was rewritten

    after = shown("hydrate", "Loan", forgotten.id)
    assert after["state"]["borrower_name"] == "<forgotten>"
    assert {**after["state"], "borrower_name": NAME} == hydrated["state"]  # balance, status, ... as before
    assert after["version"] == hydrated["version"]
    assert shown("query", "loan", forgotten.id) == {**row, "borrower_name": "<forgotten>"}
    assert shown("query", "portfolio") == portfolio  # the counters
    assert shown("hydrate", "Loan", kept.id)["state"]["borrower_name"] == "Grace Hopper"

    assert main(["forget", "b-forget"], app=app) == 0
    assert "it had no data key" in capsys.readouterr().out


def raw_dumps(app: App) -> str:
    from handlers.cli_forget import places

    return "\n".join(orjson.dumps(list(values), default=str).decode() for _, values in places(app))


def test_forget_refuses_an_empty_subject(configured, capsys) -> None:
    app = configured()
    with pytest.raises(SystemExit) as exited:
        main(["forget", ""], app=app)
    assert exited.value.code == 2
    assert "subject must be a non-empty string" in capsys.readouterr().err


# -- every reader opens the name: the plaintext before a forget, <forgotten> after, never the token --------------

def test_every_reader_shows_the_name_then_forgotten_never_the_token(configured, capsys) -> None:
    from handlers import commands, queries
    from tests.api_support import LambdaContext, rest_event

    app = configured(SNAPSHOT_EVERY="3")
    assert main(["init"], app=app) == 0
    apis = {"commands": commands.handler_for(app), "queries": queries.handler_for(app)}

    def call(api: str, method: str, path: str, body: dict | None = None, key: str | None = None,
             **query: str) -> str:
        event = rest_event(method, path, json.dumps(body) if body else None, query=query or None)
        if key is not None:
            event["headers"]["Idempotency-Key"] = key
        response = apis[api](event, LambdaContext())
        assert response["statusCode"] in (200, 201), (method, path, response)
        return str(response["body"])

    opening = {"type": "LoanCreated", "requested_amount": 1000, "interest": 0, "borrower_name": NAME,
               "borrower_id": "b-read"}
    loan_id = json.loads(call("commands", "POST", "/loans", opening, key="open-1"))["id"]
    for event in ({"type": "LoanApproved"}, {"type": "LoanDisbursed"}, {"type": "LoanPaid", "amount": 10}):
        call("commands", "POST", f"/loans/{loan_id}/events", event)
    assert main(["rebuild", "loan-summary"], app=app) == 0  # the query tables, as the projector leaves them
    capsys.readouterr()

    def cli(*words: str) -> str:
        assert main(list(words), app=app) == 0
        return capsys.readouterr().out

    def readers() -> dict[str, str]:
        status = json.loads(call("commands", "GET", f"/loans/{loan_id}"))["status"]
        return {
            "POST /loans, replayed by its key": call("commands", "POST", "/loans", opening, key="open-1"),
            "GET /loans/{id}": call("commands", "GET", f"/loans/{loan_id}"),
            "GET /loans/{id}?as_of": call("commands", "GET", f"/loans/{loan_id}", as_of="2100-01-01T00:00:00Z"),
            "GET /loans/{id}/summary": call("queries", "GET", f"/loans/{loan_id}/summary"),
            "GET /loans?status": call("queries", "GET", "/loans", status=status),
            "GET /dashboard/loans/{id}": call("queries", "GET", f"/dashboard/loans/{loan_id}"),
            "aws-es query": cli("query", "loan", loan_id, "--json"),
            "aws-es hydrate": cli("hydrate", "Loan", loan_id, "--json"),
            "aws-es hydrate --version": cli("hydrate", "Loan", loan_id, "--version", "2"),
        }

    stored = raw_dumps(app)
    assert NAME not in stored and "pii1:" in stored
    for reader, text in readers().items():
        assert NAME in text and "pii1:" not in text and "forgotten" not in text, reader
    cold = App.from_env()  # the dashboard's lists show no name, so a cold process reads no key for them
    asked: list[str] = []
    cold.dynamodb.meta.events.register("before-parameter-build.dynamodb.GetItem",
                                       lambda params, **_: asked.append(params["TableName"]))
    page = queries.handler_for(cold)(rest_event("GET", "/dashboard"), LambdaContext())
    assert page["statusCode"] == 200 and "pii1:" not in page["body"] and loan_id in page["body"]
    assert "PersonalKeys" not in asked and asked

    assert main(["forget", "b-read"], app=app) == 0
    capsys.readouterr()
    for reader, text in readers().items():
        assert NAME not in text and "pii1:" not in text, reader
        assert "<forgotten>" in text or "&lt;forgotten&gt;" in text, reader
    assert "pii1:" not in call("queries", "GET", "/dashboard")
    assert raw_dumps(app) == stored  # nothing was rewritten: every place still holds the same sealed token
