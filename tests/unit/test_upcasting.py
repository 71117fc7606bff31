"""Upcasting: stored events of older schemas (and renamed types) read as today's on every read path, written at
today's version, refused by name when they cannot be brought forward."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from core import InMemoryEventStore, StoredEventError
from core.aggregate import Aggregate
from core.codec import encode
from core.dynamodb import DynamoDBEventStore, event_from_image, events_table_definition, to_item
from core.errors import MalformedItemError, UnknownSchemaVersionError, UpcastError
from core.events import RecordedEvent
from core.upcasting import Upcaster, Upcasting
from loans import Loan
from loans.loan import UNRECORDED, loan_paid_v1
from projections.definition import project_records
from snapshots import fingerprint
from tests.projection_support import PROJECTION

CREATED = "2026-01-01T00:00:00.000000+00:00"


def stored(number: int, event_type: str, version: int = 1, **data: Any) -> RecordedEvent:
    return RecordedEvent(number, event_type, CREATED, encode(data), None, version)


def opening() -> list[RecordedEvent]:
    return [stored(1, "LoanCreated", requested_amount=Decimal("100.00"), interest=Decimal("0.10")),
            stored(2, "LoanApproved"), stored(3, "LoanDisbursed")]


def log(*tail: RecordedEvent) -> InMemoryEventStore:
    store = InMemoryEventStore()
    store.append("l-1", 0, [*opening(), *tail])
    return store


class Tally(Aggregate):
    """Today: `ItemsCounted` v2 {count, unit}. Once: `ItemsAdded` {n} (v1), renamed, then v1 -> v2 gained a unit."""

    upcasting = Upcasting(versions={"ItemsCounted": 2}, upcasters=(
        Upcaster("ItemsAdded", 1, lambda data: {"count": data["n"]}, to_type="ItemsCounted"),
        Upcaster("ItemsCounted", 1, lambda data: {**data, "unit": "piece"}),
    ))

    def __init__(self, id: str | None = None, **kwargs: Any) -> None:  # noqa: A002
        super().__init__(id, **kwargs)
        self.counts: list[tuple[int, str]] = []

    def on_items_counted(self, event: Any) -> None:
        self.counts.append((event.count, event.unit))


# -- the stored form --------------------------------------------------------------------------------------


def test_the_schema_version_round_trips_through_every_store(event_store):
    event_store.append("a", 0, [stored(1, "Happened"), stored(2, "Happened", 3)])
    assert [record.version for record in event_store.read("a")] == [1, 3]
    assert [record.version for record in event_store.read_backwards("a")] == [3, 1]
    assert [record.version for _, record in event_store.scan()] == [1, 3]


def test_version_one_costs_no_attribute_and_a_later_one_a_small_number(dynamodb):
    dynamodb.create_table(**events_table_definition("Loans"))
    DynamoDBEventStore("Loans", client=dynamodb).append("a", 0, [stored(1, "Happened"), stored(2, "Happened", 2)])
    items = dynamodb.query(TableName="Loans", KeyConditionExpression="id = :id",
                           ExpressionAttributeValues={":id": {"S": "a"}})["Items"]
    assert ["v" in item for item in items] == [False, True]
    assert items[1]["v"] == {"N": "2"}


def test_a_stream_image_carries_its_version_and_a_bad_one_is_named():
    image = to_item("l-1", stored(4, "LoanPaid", 2, amount=Decimal("1.00")))
    assert event_from_image(image) == ("l-1", stored(4, "LoanPaid", 2, amount=Decimal("1.00")))
    assert event_from_image(to_item("l-1", stored(4, "LoanPaid")))[1].version == 1  # type: ignore[index]
    for bad in ({"N": "0"}, {"N": "1.5"}, {"S": "2"}, "2"):
        with pytest.raises(MalformedItemError, match="'v' .*schema version"):
            event_from_image({**image, "v": bad})


def test_a_commit_writes_each_type_at_todays_version():
    store = InMemoryEventStore()
    loan = Loan("l-1", store=store)
    loan.commit({"type": "LoanCreated", "requested_amount": Decimal("100.00"), "interest": Decimal("0.1")})
    loan.commit([{"type": "LoanApproved"}, {"type": "LoanDisbursed"},
                 {"type": "LoanPaid", "amount": Decimal("10.00"), "channel": "card"}])
    assert [(record.type, record.version) for record in store.read("l-1")] == [
        ("LoanCreated", 1), ("LoanApproved", 1), ("LoanDisbursed", 1), ("LoanPaid", 2)]


# -- the read paths -----------------------------------------------------------------------------------------


def test_hydrate_and_events_read_a_v1_repayment_as_v2():
    store = log(stored(4, "LoanPaid", amount=Decimal("10.00")),
                stored(5, "LoanPaid", 2, amount=Decimal("5.00"), channel="card"))
    loan = Loan("l-1", store=store).hydrate()
    assert (loan.version, loan.balance) == (5, Decimal("95.00"))
    assert [event.data.get("channel") for event in Loan("l-1", store=store).events()][3:] == [UNRECORDED, "card"]


def test_the_projection_folds_v1_and_v2_to_the_same_row():
    v1 = list(log(stored(4, "LoanPaid", amount=Decimal("10.00"))).read("l-1"))
    v2 = list(log(stored(4, "LoanPaid", 2, amount=Decimal("10.00"), channel=UNRECORDED)).read("l-1"))
    assert v1 != v2
    assert project_records(PROJECTION, "l-1", None, v1) == project_records(PROJECTION, "l-1", None, v2)


def test_a_renamed_type_and_its_old_shape_fold_as_todays():
    store = InMemoryEventStore()
    store.append("t", 0, [stored(1, "ItemsAdded", n=3), stored(2, "ItemsCounted", count=4),
                          stored(3, "ItemsCounted", 2, count=5, unit="box")])
    assert Tally("t", store=store).hydrate().counts == [(3, "piece"), (4, "piece"), (5, "box")]
    assert [event.type for event in Tally("t", store=store).events()] == ["ItemsCounted"] * 3


def test_the_fingerprint_covers_the_upcasters():
    def tally(change: Any) -> type[Aggregate]:
        return type("Tally", (Tally,), {"upcasting": Upcasting(versions={"ItemsCounted": 2}, upcasters=(
            Upcaster("ItemsAdded", 1, Tally.upcasting.steps[("ItemsAdded", 1)].change, to_type="ItemsCounted"),
            Upcaster("ItemsCounted", 1, change)))})

    def piece(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "unit": "piece"}

    def box(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "unit": "box"}

    assert fingerprint(tally(piece)) == fingerprint(tally(piece))
    assert fingerprint(tally(piece)) != fingerprint(tally(box))
    plain = type("Tally", (Tally,), {"upcasting": None})
    assert fingerprint(plain) != fingerprint(tally(piece))
    assert loan_paid_v1({"amount": 1}) == {"amount": 1, "channel": UNRECORDED}


# -- bad input ------------------------------------------------------------------------------------------


def upcast_with(change: Any) -> Upcasting:
    return Upcasting(versions={"LoanPaid": 2}, upcasters=(Upcaster("LoanPaid", 1, change),))


def boom(data: dict[str, Any]) -> dict[str, Any]:
    raise KeyError("amount_cents")


@pytest.mark.parametrize("change, reason", [
    (boom, "its upcaster boom raised KeyError: 'amount_cents'"),
    (lambda data: [data], "returned list, not a payload mapping"),
    (lambda data: {1: "x"}, "returned a payload with a int key 1"),
    (lambda data: {"amount": 1.5}, "returned a float for 'amount'"),
])
def test_an_upcaster_that_raises_or_returns_a_bad_shape_is_named(change, reason):
    upcasting = upcast_with(change)
    with pytest.raises(UpcastError) as caught:
        upcasting.decode(stored(4, "LoanPaid", amount=Decimal("1.00")))
    message = str(caught.value)
    assert "LoanPaid#4" in message and "schema version 1" in message and reason in message


def test_a_failed_upcast_in_a_hydrate_names_the_loan_and_the_event(monkeypatch):
    monkeypatch.setattr(Loan, "upcasting", upcast_with(boom))
    with pytest.raises(StoredEventError, match=r"l-1.*LoanPaid.*schema version 1.*upcaster boom raised"):
        Loan("l-1", store=log(stored(4, "LoanPaid", amount=Decimal("1.00")))).hydrate()


def test_a_version_newer_than_the_code_knows_is_refused_by_name():
    with pytest.raises(UnknownSchemaVersionError, match="LoanPaid#4 of type LoanPaid is at schema version 3, "
                                                        "newer than the 2 this code knows"):
        Loan.upcasting.decode(stored(4, "LoanPaid", 3, amount=Decimal("1.00")))  # type: ignore[union-attr]
    with pytest.raises(UnknownSchemaVersionError, match="LoanApproved#2 .*version 2, newer than the 1"):
        Loan.upcasting.decode(stored(2, "LoanApproved", 2))  # type: ignore[union-attr]
    with pytest.raises(UnknownSchemaVersionError):
        Tally.upcasting.decode(stored(1, "Other", 2))
    plain = type("Plain", (Tally,), {"upcasting": None})  # a class declaring no schema refuses it too
    store = InMemoryEventStore()
    store.append("p", 0, [stored(1, "ItemsCounted", 2, count=1, unit="box")])
    with pytest.raises(StoredEventError, match="ItemsCounted#1 .*schema version 2, newer than the 1"):
        plain("p", store=store).hydrate()


def test_a_missing_step_and_a_loop_are_named():
    gap = Upcasting(versions={"LoanPaid": 3}, upcasters=(Upcaster("LoanPaid", 2, dict),))
    with pytest.raises(UpcastError, match="no upcaster from LoanPaid v1 \\(today's is v3\\)"):
        gap.decode(stored(4, "LoanPaid", amount=Decimal("1.00")))
    loop = Upcasting(upcasters=(Upcaster("A", 1, dict, to_type="B"), Upcaster("B", 1, dict, to_type="A")))
    with pytest.raises(UpcastError, match="A#1 of type A at schema version 1 .*loop"):
        loop.decode(stored(1, "A"))


@pytest.mark.parametrize("versions, upcasters, message", [
    ({"LoanPaid": 0}, (), "versions\\['LoanPaid'\\] must be a schema version"),
    ({"LoanPaid": True}, (), "must be a schema version"),
    ({"LoanPaid": 2}, (Upcaster("LoanPaid", 1, dict), Upcaster("LoanPaid", 1, dict)), "two upcasters"),
    ({"LoanPaid": 2}, (Upcaster("LoanPaid", 2, dict),), "starts at or past today's version 2"),
    ({"LoanPaid": 2}, (Upcaster("LoanPaid", 1, dict, to_version=1),), "must move to a later version"),
    ({}, (Upcaster("LoanPaid", 1, dict),), "past today's version 1: declare it in `versions`"),
    ({}, (Upcaster("LoanPaid", 1, "dict"),), "not callable"),  # type: ignore[arg-type]
])
def test_a_bad_declaration_is_refused_when_the_class_is_built(versions, upcasters, message):
    with pytest.raises((ValueError, TypeError), match=message):
        Upcasting(versions=versions, upcasters=upcasters)


def test_the_dashboard_shows_a_stored_repayment_in_todays_shape():
    from loans.dashboard import _event_view

    view = _event_view(stored(4, "LoanPaid", amount=Decimal("10.00")), dict)
    assert (view["type"], view["data"]) == ("LoanPaid", '{"amount": "10.00", "channel": "unrecorded"}')


# -- end to end on moto: the stream projector, rebuild and verify -----------------------------------------------


@pytest.fixture
def live(_isolated_env: None, monkeypatch: pytest.MonkeyPatch, aws: None) -> Any:
    from handlers.app import App
    from handlers.tables import ensure_tables

    monkeypatch.setenv("PROJECTION_CONTROL_TTL", "0")
    with App.from_env().bound() as built:
        ensure_tables(built)
        yield built


def cents_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 that stored repayments in whole cents, so nothing but the upcaster can fold them."""
    return {"amount": (Decimal(data.pop("amount_cents")) / 100).quantize(Decimal("0.01")), "channel": UNRECORDED}


def test_v1_repayments_in_the_table_flow_through_the_projector_rebuild_and_verify(live, capsys, monkeypatch):
    from handlers.cli import main
    from handlers.projector import runner
    from projections.query import scan_rows
    from projections.tables import tables_for

    monkeypatch.setattr(Loan, "upcasting", upcast_with(cents_v1))
    client = live.dynamodb
    loan = Loan()
    loan.commit([{"type": "LoanCreated", "requested_amount": Decimal("100.00"), "interest": Decimal("0.10")},
                 {"type": "LoanApproved"}, {"type": "LoanDisbursed"},
                 {"type": "LoanPaid", "amount": Decimal("10.00"), "channel": "card"}])
    for number, amount in ((5, "20.00"), (6, "30.00")):  # as code before v2 wrote them: no `v`, no channel
        client.put_item(TableName="Loans", Item=to_item(loan.id, stored(number, "LoanPaid",
                                                                        amount_cents=int(Decimal(amount) * 100))))
    runner(live).drain()
    row = scan_rows(client, PROJECTION, tables_for(PROJECTION, 0))[loan.id]
    assert (row["balance"], row["version"]) == (Decimal("50.00"), 6)
    assert main(["rebuild", "loan-summary"]) == 0
    assert scan_rows(client, PROJECTION, tables_for(PROJECTION, 1))[loan.id] == row
    assert main(["rebuild", "loan-summary", "--verify"]) == 0
    assert main(["snapshot", "Loan", loan.id]) == 0
    assert "1 written" in capsys.readouterr().out
    assert Loan(loan.id).hydrate().balance == Decimal("50.00")
    assert [event.data for event in Loan(loan.id).events()][4:] == [
        {"amount": Decimal("20.00"), "channel": UNRECORDED}, {"amount": Decimal("30.00"), "channel": UNRECORDED}]
