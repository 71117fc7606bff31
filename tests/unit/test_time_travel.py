"""Time travel: `hydrate(until_version=N)` and `hydrate(as_of=...)` read only up to that point, from a snapshot at
or below it when one is valid, never from a warm cache past it; `aws-es hydrate --version | --as-of`;
`GET /loans/{id}?as_of=` on the commands API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from core import InMemoryEventStore
from core.dynamodb import DynamoDBEventStore, to_item
from core.errors import InvalidReadError
from core.events import Event, to_record
from core.metering import RequestMeter
from core.repository import Until
from core.store import record_size
from handlers import commands
from handlers.cli import main
from loans import Loan
from snapshots import AggregateCache, DynamoDBSnapshotStore, SnapshotPolicy, SnapshottingRepository, take
from tests.api_support import LambdaContext

START = datetime(2026, 1, 1, tzinfo=UTC)


def history(payments: int) -> list[Event]:
    """A loan opened, approved and disbursed, then `payments` repayments of 1.00: event n created on day n."""
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("LoanCreated", {"requested_amount": Decimal("100000.00"), "interest": Decimal("0.1")}),
        ("LoanApproved", {}), ("LoanDisbursed", {})]
    kinds += [("LoanPaid", {"amount": Decimal("1.00")})] * payments
    return [Event(kind, data, number, START + timedelta(days=number))
            for number, (kind, data) in enumerate(kinds, start=1)]


def records(events: list[Event]) -> list[Any]:
    return [to_record(event, Loan.upcasting.version_of(event.type)) for event in events]  # type: ignore[union-attr]


def write(store: Any, loan_id: str, events: list[Event]) -> None:
    stored = records(events)
    for start in range(0, len(stored), 100):
        store.append(loan_id, start, stored[start:start + 100])


def replayed(events: list[Event]) -> tuple[int, dict[str, Any]]:
    """The independent reckoning: the filtered log folded in memory."""
    loan = Loan("x").apply(events)
    return loan.version, loan.state()


def state(loan: Loan) -> tuple[int, dict[str, Any]]:
    return loan.version, loan.state()


@pytest.mark.parametrize("point", [1, 3, 4, 10, 12, 40])
def test_until_version_and_as_of_read_only_up_to_there(event_store, point):
    events = history(9)
    write(event_store, "l-1", events)
    want = replayed(events[:point])
    assert state(Loan("l-1", store=event_store).hydrate(until_version=point)) == want
    as_of = START + timedelta(days=point, hours=12)  # between event `point` and the next
    assert state(Loan("l-1", store=event_store).hydrate(as_of=as_of)) == want
    assert state(Loan("l-1", store=event_store).hydrate(until_version=point + 5, as_of=as_of)) == want
    assert Loan("l-1", store=event_store).hydrate(as_of=START).version == 0


def snapshotting(dynamodb: Any, cache: AggregateCache | None = None) -> SnapshottingRepository:
    return SnapshottingRepository(DynamoDBEventStore("Loans", client=dynamodb),
                                  DynamoDBSnapshotStore("Loans", client=dynamodb), SnapshotPolicy(every=10), cache)


def test_a_snapshot_at_or_below_the_point_is_used_one_past_it_is_not_nor_the_warm_cache(dynamodb, events_table):
    events = history(20)
    repository = snapshotting(dynamodb, AggregateCache())
    write(repository.store, "l-1", events)
    latest = Loan("l-1", repository=repository).hydrate()  # warm cache at 23
    assert latest.version == 23
    at_15 = Loan("x").apply(events[:15])
    at_15.id = "l-1"
    assert repository.snapshots.put(take(at_15, created=START + timedelta(days=15, hours=1)))  # type: ignore[union-attr]
    for point, snapshot in ((20, 15), (15, 15), (14, None), (2, None)):
        loan = Loan("l-1", repository=repository)
        loaded = repository.hydrate_until(loan, Until(point))
        assert (state(loan), loaded.snapshot_version) == (replayed(events[:point]), snapshot)
    # as of a date: the snapshot is used only when it was written by then (its time bounds its events')
    for as_of, snapshot in ((START + timedelta(days=18, hours=2), 15), (START + timedelta(days=15, hours=2), 15),
                            (START + timedelta(days=15, minutes=30), None)):
        loan = Loan("l-1", repository=repository)
        loaded = repository.hydrate_until(loan, Until(as_of=as_of))
        upto = [event for event in events if event.created is not None and event.created <= as_of]
        assert (state(loan), loaded.snapshot_version) == (replayed(upto), snapshot)
    assert Loan("l-1", repository=repository).hydrate().version == 23  # the cache still holds the latest


def test_a_5000_event_loan_is_read_at_any_point_in_at_most_3_requests(dynamodb, events_table):
    events = history(4_997)
    stored = records(events)
    items = [to_item("big", record) for record in stored]
    for start in range(0, len(items), 25):  # straight into the table: 5,000 events through moto's transactions
        dynamodb.batch_write_item(RequestItems={"Loans": [{"PutRequest": {"Item": item}} for item in
                                                          items[start:start + 25]]})
    repository = snapshotting(dynamodb)
    newest = Loan("x").apply(events[:4_990])
    newest.id = "big"
    assert repository.snapshots.put(take(newest, created=START + timedelta(days=4_990, hours=1)))  # type: ignore[union-attr]
    meter = RequestMeter()
    meter.attach(dynamodb)
    received: dict[Until, int] = {}
    for until in (Until(1), Until(10), Until(2_500), Until(4_989), Until(4_990), Until(4_995), Until(9_000),
                  Until(as_of=START + timedelta(days=1_000, hours=3)),
                  Until(as_of=START + timedelta(days=4_990, hours=1)), Until(as_of=START + timedelta(days=4_993))):
        requests, read = meter.snapshot()
        loan = Loan("big", repository=repository)
        repository.hydrate_until(loan, until)
        assert meter.snapshot()[0] - requests <= 3, until
        received[until] = meter.snapshot()[1] - read
        assert state(loan) == replayed([event for event, record in zip(events, stored, strict=True)
                                        if until.admits(record)])
    # below the snapshot the log is read up to the point and no further: what it costs grows with the point
    latest = received[Until(4_995)]  # the snapshot and the events after it
    per_event = sum(record_size("big", record) for record in stored[:2_500]) / 2_500
    for version in (1, 10, 2_500, 4_989):  # an item on the wire (JSON, typed values) is under 2.5 times its size,
        # and a reply's envelope (Count, ScannedCount) under 200 bytes
        assert received[Until(version)] <= latest + 200 + version * per_event * 2.5, version


@pytest.mark.parametrize("kwargs, argument, message", [
    ({"until_version": 0}, "until_version", "an event number from 1, not 0"),
    ({"until_version": True}, "until_version", "not True"),
    ({"until_version": "3"}, "until_version", "not '3'"),
    ({"as_of": datetime(2026, 1, 1)}, "as_of", "timezone-aware"),
    ({"as_of": "2026-01-01"}, "as_of", "timezone-aware"),
])
def test_a_bad_point_is_refused_naming_the_argument_before_any_read(kwargs, argument, message):
    store = InMemoryEventStore()
    with pytest.raises(InvalidReadError, match=message) as caught:
        Loan("l-1", store=store).hydrate(**kwargs)
    assert caught.value.argument == argument


def test_time_travel_starts_from_a_fresh_aggregate_and_reads_no_given_events():
    store = InMemoryEventStore()
    write(store, "l-1", history(3))
    loan = Loan("l-1", store=store).hydrate()
    with pytest.raises(InvalidReadError, match="at version 6, past 2: build a fresh one"):
        loan.hydrate(until_version=2)
    with pytest.raises(InvalidReadError, match="at version 6: build a fresh one"):
        loan.hydrate(as_of=START)
    with pytest.raises(InvalidReadError, match="not both"):
        Loan("l-1", store=store).hydrate(history(1), until_version=2)
    assert loan.version == 6


@pytest.mark.parametrize("text, message", [
    ("yesterday", "ISO-8601 date and time with its offset"),
    ("2026-13-01T00:00:00Z", "ISO-8601"),
    ("2026-03-31T12:00:00", "has no offset: add Z"),
    ("", "ISO-8601"),
])
def test_an_as_of_text_is_parsed_or_refused_by_the_name_given(text, message):
    with pytest.raises(InvalidReadError, match=message) as caught:
        Until.parse_as_of(text, "--as-of")
    assert caught.value.argument == "--as-of"
    assert Until.parse_as_of("2026-03-31T23:59:59Z") == datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC)


# -- the command line and the commands API -------------------------------------------------------------------


def test_aws_es_hydrate_at_a_version_or_a_date(dynamodb, events_table, capsys):
    write(DynamoDBEventStore("Loans", client=dynamodb), "l-1", history(5))
    assert main(["hydrate", "Loan", "l-1", "--version", "4", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["version"], report["events_read"], report["state"]["balance"]) == (4, 4, "109999.00")
    assert main(["hydrate", "Loan", "l-1", "--as-of", (START + timedelta(days=5, hours=1)).isoformat()]) == 0
    assert "Loan l-1 at version 5" in capsys.readouterr().out
    assert main(["hydrate", "Loan", "l-1", "--as-of", "last tuesday"]) != 0
    assert "--as-of must be an ISO-8601 date and time" in capsys.readouterr().err
    assert main(["hydrate", "Loan", "l-1", "--as-of", START.isoformat()]) != 0
    assert "no loan 'l-1' in table 'Loans' up to that point" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["hydrate", "Loan", "l-1", "--version", "2", "--as-of", START.isoformat()])


def get(app: Any, path: str, query: dict[str, str] | None) -> tuple[int, dict[str, Any]]:
    event = {"httpMethod": "GET", "path": path, "resource": path, "headers": {},
             "queryStringParameters": query, "requestContext": {"requestId": "req-1", "stage": "test"},
             "body": None, "isBase64Encoded": False}
    response = commands.handler_for(app)(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def test_get_a_loan_as_of_a_date_on_the_commands_api(app, dynamodb, events_table):
    write(DynamoDBEventStore("Loans", client=dynamodb), "l-1", history(5))
    status, body = get(app, "/loans/l-1", {"as_of": "2026-01-06T12:00:00Z"})
    assert (status, body["version"], body["balance"], body["as_of"]) == (200, 5, "109998.00", "2026-01-06T12:00:00Z")
    assert get(app, "/loans/l-1", None)[1]["balance"] == "109995.00"
    status, body = get(app, "/loans/l-1", {"as_of": "2026-01-06"})
    assert (status, body["field"]) == (400, "as_of") and "has no offset" in body["error"]
    status, body = get(app, "/loans/l-1", {"as_of": "soon"})
    assert (status, body["field"]) == (400, "as_of")
    assert get(app, "/loans/l-1", {"as_of": "2025-12-31T00:00:00Z"})[0] == 404
