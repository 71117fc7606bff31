"""Rebuild and verify over the store contracts, run on every backend: in memory (event store, projection
store, control) and DynamoDB on moto.

The live projector here is the `Projector` fed every event of the log, writing the live generation; what a
rebuild must produce is the log folded once (`tests.projection_support.expected`), and `verify` compares the
rows with each loan's own state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from core.codec import encode
from core.dynamodb import DynamoDBEventStore
from core.errors import EventSourcingError
from core.events import RecordedEvent
from core.store import EventStore, InMemoryEventStore
from loans import Loan
from projections.definition import Projection, nonzero
from projections.dynamodb_store import DynamoDBProjectionStore
from projections.errors import ProjectionError
from projections.projector import Projector, StreamEvent
from projections.rebuild import Rebuild, rebuild_into
from projections.store import InMemoryProjectionStore, ProjectionStore
from projections.tables import Control, ControlStore, InMemoryControl, Tables, tables_for
from projections.verify import verify
from tests.projection_support import PROJECTION, create_tables, expected, history

HISTORIES = [
    history(1000, "0.10", "settled", [300, 200]),
    history(500, "0.05", "repaying", [100]),
    history(250, "0.00", "rejected", []),
    history(4000, "0.10", "collections", [50]),
    history(800, "0.05", "approved", []),
    history(1200, "0.00", "repaying", [10, 20, 30]),
    history(90, "0.10", "settled", []),
]


@dataclass
class Backend:
    events: EventStore
    rows: ProjectionStore
    control: ControlStore

    def commit(self, steps: list[dict[str, Any]], loan: Loan | None = None) -> Loan:
        loan = loan or Loan(store=self.events)
        for step in steps:
            loan.commit(step)
        return loan

    def live(self) -> Tables:
        return tables_for(PROJECTION, self.control.live(PROJECTION.name))

    def project(self, loans: list[Loan], tables: Tables | None = None, projection: Projection = PROJECTION) -> None:
        """The live projector: every event of these loans, delivered to the generation given (default: live)."""
        fixed = tables or self.live()
        records = [StreamEvent(loan.id, record, f"{loan.id}-{record.number}")
                   for loan in loans for record in self.events.read(loan.id)]
        outcome = Projector(projection, None, self.events, lambda: fixed, rows=self.rows).apply(records)
        assert not outcome.failed, outcome.errors

    def rebuild(self, segments: int = 4, **options: Any) -> Rebuild:
        return Rebuild(PROJECTION, self.events, self.rows, self.control, segments=segments, **options)

    def actual(self, tables: Tables | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        tables = tables or self.live()
        return dict(self.rows.rows(tables)), nonzero(self.rows.counters(tables))

    def verify(self, projection: Projection = PROJECTION, tables: Tables | None = None) -> list[str]:
        return verify(projection, self.events, self.rows, tables or self.live()).differences


@pytest.fixture(params=["memory", "dynamodb"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "memory":
        rows = InMemoryProjectionStore()
        rows.create_generation(tables_for(PROJECTION, 0))
        yield Backend(InMemoryEventStore(), rows, InMemoryControl())
        return
    client = request.getfixturevalue("dynamodb")
    create_tables(client)
    yield Backend(DynamoDBEventStore("Loans", client), DynamoDBProjectionStore(PROJECTION, client, shards=4),
                  Control("ProjectionControl", client, ttl=0))


@pytest.fixture
def loans(backend: Backend) -> list[Loan]:
    """The histories committed and projected live into generation 0."""
    committed = [backend.commit(steps) for steps in HISTORIES]
    backend.project(committed)
    return committed


def test_a_rebuild_equals_the_live_projection_becomes_live_and_verifies(backend: Backend, loans: list[Loan]) -> None:
    before = backend.actual()
    report = backend.rebuild().run()
    assert (report.switched, report.generation, report.aggregates) == (True, 1, len(loans))
    assert report.events == sum(loan.version for loan in loans)
    assert backend.live().generation == 1
    assert backend.actual() == before == expected(backend.events)
    assert backend.verify() == []


def test_rebuild_into_writes_the_log_folded_once_into_the_tables_given(backend: Backend, loans: list[Loan]) -> None:
    tables = tables_for(PROJECTION, 7)
    rebuilt = rebuild_into(PROJECTION, backend.events, backend.rows, tables, segments=3)
    assert (rebuilt.aggregates, rebuilt.failures) == (len(loans), {})
    assert backend.actual(tables) == expected(backend.events)
    assert backend.verify(tables=tables) == []
    assert backend.live().generation == 0


def test_an_interrupted_rebuild_resumes_with_the_segments_left(backend: Backend, loans: list[Loan],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    original = Rebuild._segment

    def dies_on_segment_2(self: Rebuild, tables: Any, segment: int) -> None:
        if segment == 2:
            raise KeyboardInterrupt
        original(self, tables, segment)

    monkeypatch.setattr(Rebuild, "_segment", dies_on_segment_2)
    with pytest.raises(KeyboardInterrupt):
        backend.rebuild(workers=1).run()
    monkeypatch.setattr(Rebuild, "_segment", original)
    assert backend.rebuild().run(3).segments_skipped == [3]
    report = backend.rebuild().run()
    assert (report.segments_run, report.segments_skipped, report.switched) == ([2], [0, 1, 3], True)
    assert backend.actual() == expected(backend.events)


def test_a_worker_stopped_inside_a_segment_resumes_after_its_last_checkpoint(backend: Backend, loans: list[Loan],
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """One segment, a checkpoint every 5 events: the run dies writing its third chunk; the next run reads only
    what follows the second, and no counter is counted twice."""
    chunks: list[int] = []
    put_rows = type(backend.rows).put_rows

    def dies_on_third_chunk(self: Any, tables: Tables, rows: Any) -> None:
        chunks.append(len(rows))
        if len(chunks) == 3:
            raise KeyboardInterrupt
        put_rows(self, tables, rows)

    monkeypatch.setattr(type(backend.rows), "put_rows", dies_on_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        backend.rebuild(segments=1, checkpoint_every=5).run()
    monkeypatch.setattr(type(backend.rows), "put_rows", put_rows)
    position = backend.control.segment_position(PROJECTION.name, 1, 0, 1)
    assert position is not None and position.chunk == 1
    assert position.aggregates == sum(chunks[:2]) and position.events >= 10
    again = backend.rebuild(segments=1, checkpoint_every=5)
    report = again.run()
    total = sum(loan.version for loan in loans)
    assert again.progress.events == total - position.events, "the second run reads only what follows the checkpoint"
    assert (report.switched, report.events, report.aggregates) == (True, total, len(loans))
    assert backend.actual() == expected(backend.events)
    assert backend.verify() == []


def test_events_the_checkpointed_loan_gains_after_a_stop_are_caught_up_not_read_as_a_gap(
        backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    repaying = [backend.commit(history(100 * n, "0.00", "repaying", [n])) for n in range(1, 7)]
    backend.project(repaying)
    put_rows, calls = type(backend.rows).put_rows, []

    def dies_on_second_chunk(self: Any, tables: Tables, rows: Any) -> None:
        calls.append(tables)
        if len(calls) == 2:
            raise KeyboardInterrupt
        put_rows(self, tables, rows)

    monkeypatch.setattr(type(backend.rows), "put_rows", dies_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        backend.rebuild(segments=1, checkpoint_every=4).run()
    monkeypatch.undo()
    position = backend.control.segment_position(PROJECTION.name, 1, 0, 1)
    assert position is not None
    (last,) = [loan for loan in repaying if loan.id == position.after[0]]
    backend.commit([{"type": "LoanPaid", "amount": Decimal("0.01")}], last)
    backend.project([last])
    report = backend.rebuild(segments=1, checkpoint_every=4).run()
    assert (report.switched, report.caught_up, report.failures) == (True, 1, {})
    assert backend.actual() == expected(backend.events)
    assert backend.verify() == []


def test_a_segment_that_failed_after_a_checkpoint_is_rewritten_whole_once_fixed(backend: Backend,
                                                                              loans: list[Loan]) -> None:
    """The failing run writes everything after its last checkpoint as one chunk; the fixed run rewrites it in
    smaller ones under the same part names: nothing is counted twice."""
    correct = PROJECTION.fold
    order = list(dict.fromkeys(key for key, _ in backend.events.scan()))
    (fifth,) = [loan for loan in loans if loan.id == order[4]]

    def refuses_the_fifth(row: Any, event: Any) -> Any:
        if event.type == "LoanCreated" and event.data["requested_amount"] == fifth.requested_amount:
            raise ValueError("refused")
        return correct(row, event)

    broken = dataclasses.replace(PROJECTION, fold=refuses_the_fifth)
    failed = Rebuild(broken, backend.events, backend.rows, backend.control, segments=1, checkpoint_every=3).run()
    assert (failed.switched, list(failed.failures)) == (False, [fifth.id])
    position = backend.control.segment_position(PROJECTION.name, 1, 0, 1)
    assert position is not None and position.rest_in_one and position.chunk >= 0
    assert position.after is not None and position.after[0] in order[:4]
    report = backend.rebuild(segments=1, checkpoint_every=3).run()
    assert (report.switched, report.aggregates, report.failures) == (True, len(loans), {})
    assert backend.actual() == expected(backend.events)
    assert backend.verify() == []


def test_a_rebuild_while_the_live_projector_writes_catches_up_after_its_switch(backend: Backend,
                                                                              loans: list[Loan]) -> None:
    for segment in range(2):
        backend.rebuild(segments=2).run(segment)
    paying = [loan for loan in loans if loan.status == "PAID"]
    for loan in paying:  # the live projector (still on generation 0) folds more events meanwhile
        backend.commit([{"type": "LoanPaid", "amount": Decimal("1.00")}], loan)
    newcomer = backend.commit(HISTORIES[4])
    backend.project([*paying, newcomer])
    report = backend.rebuild(segments=2).run()
    assert (report.switched, report.caught_up) == (True, len(paying) + 1)
    assert backend.actual() == expected(backend.events)
    backend.commit([{"type": "LoanDisbursed"}], newcomer)  # after the switch the projector writes generation 1
    backend.project([newcomer])
    assert backend.actual() == expected(backend.events)
    assert backend.verify() == []


def test_a_rebuild_interrupted_during_its_catch_up_finishes_it_when_run_again(
        backend: Backend, loans: list[Loan], monkeypatch: pytest.MonkeyPatch) -> None:
    for segment in range(2):
        backend.rebuild(segments=2).run(segment)
    paying = next(loan for loan in loans if loan.status == "PAID")
    backend.commit([{"type": "LoanPaid", "amount": Decimal("0.01")}], paying)
    backend.project([paying])

    def dies(self: Rebuild, old: Any, new: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(Rebuild, "_catch_up", dies)
    with pytest.raises(KeyboardInterrupt):
        backend.rebuild(segments=2).run()
    monkeypatch.undo()
    assert backend.live().generation == 1
    assert backend.actual() != expected(backend.events)
    assert backend.rebuild(segments=2).run().caught_up == 1
    assert backend.actual() == expected(backend.events)
    assert backend.control.state(PROJECTION.name, fresh=True)["previous"] is None


def test_a_rebuild_resumed_with_another_segment_count_is_refused(backend: Backend, loans: list[Loan]) -> None:
    backend.rebuild(segments=4).run(0)
    with pytest.raises(ProjectionError, match="resume it with --of 4"):
        backend.rebuild(segments=8).run()


def test_verify_finds_a_planted_difference_and_the_counter_it_breaks(backend: Backend, loans: list[Loan]) -> None:
    loan = next(loan for loan in loans if loan.status == "PAID")
    tables = backend.live()
    row = dict(backend.rows.read_row(tables, loan.id) or {})
    backend.rows.put_rows(tables, {loan.id: {**row, "balance": Decimal("12.34")}})
    outstanding = sum(other.balance for other in loans if other.status == "PAID")
    found = backend.verify()
    # the row's book figures of its last event's day and month break too (`loans.projections.portfolio_share`)
    periods = [message for message in found if message.startswith(("portfolio day#", "portfolio month#"))]
    assert [message for message in found if message not in periods] == [
        f"Loan {loan.id}: balance: the row says 12.34, the loan says {loan.balance}",
        f"portfolio PAID.outstanding: the rows add up to {outstanding - loan.balance + Decimal('12.34')}, "
        f"Portfolio holds {outstanding}",
    ]
    assert len(periods) == 2 and all(".outstanding: the rows add up to " in message for message in periods)


def test_verify_names_a_loan_without_a_row_a_row_without_a_loan_and_a_day_off_the_log(
        backend: Backend, loans: list[Loan]) -> None:
    live = backend.live()
    rebuild_into(PROJECTION, backend.events, backend.rows, tables := tables_for(PROJECTION, 3))
    kept = {key: row for key, row in backend.rows.rows(tables) if key != loans[1].id}
    partial = tables_for(PROJECTION, 4)
    backend.rows.create_generation(partial)
    backend.rows.put_rows(partial, {**kept, "stray": {"version": 3}})
    differences = backend.verify(tables=partial)
    assert f"Loan {loans[1].id}: no row in {partial.rows}; the log holds version {loans[1].version}" in differences
    assert f"Loan stray: a row at version 3 in {partial.rows}, but no events in the log" in differences
    day = next(iter(backend.rows.all_event_counters(live)))
    collected = backend.rows.all_event_counters(live)[day].get("new_loans", Decimal(0))
    backend.rows.put_totals(live, "stray", {}, {day: {"new_loans": 5}})
    assert backend.verify() == [f"daily {day}.new_loans: the log adds up to {collected}, LoanDaily holds "
                                f"{collected + 5}"]


def test_verify_catches_a_bug_in_the_projections_fold(backend: Backend) -> None:
    """The rows and a fresh fold would agree on the bug; the loans' own state does not."""
    correct = PROJECTION.fold

    def forgets_repayments(row: Any, event: Any) -> Any:
        folded = correct(row, event)
        if event.type == "LoanPaid":
            folded["balance"] = row["balance"]
        return folded

    buggy = dataclasses.replace(PROJECTION, fold=forgets_repayments)
    committed = [backend.commit(steps) for steps in HISTORIES]
    backend.project(committed, projection=buggy)
    repaid = sorted(loan.id for loan in committed if any(e.type == "LoanPaid" for e in loan.events()))
    wrong = sorted({line.split()[1].rstrip(":") for line in backend.verify(buggy)
                    if ": balance: the row says " in line})
    assert repaid and wrong == repaid


def test_a_loan_that_cannot_be_folded_is_named_and_the_generation_is_not_switched(backend: Backend,
                                                                                 loans: list[Loan]) -> None:
    paying = next(loan for loan in loans if loan.status == "PAID")
    foreign = RecordedEvent(paying.version + 1, "loan_paid", "2026-11-26T12:00:00.000000+00:00",
                            encode({"amount": Decimal("10.00")}), None)
    backend.events.append(paying.id, paying.version, [foreign])
    report = backend.rebuild().run()
    assert not report.switched and list(report.failures) == [paying.id]
    assert "loan_paid" in report.failures[paying.id]
    assert backend.live().generation == 0
    assert any(line.startswith(f"Loan {paying.id}: the write side cannot load it") for line in backend.verify())


def test_the_wait_for_readers_is_twice_the_ttl_on_an_injected_clock() -> None:
    slept: list[float] = []
    InMemoryControl(ttl=2.5, sleep=slept.append).await_readers()
    InMemoryControl(ttl=0, sleep=slept.append).await_readers()
    assert slept == [5.0]
    with pytest.raises(ProjectionError, match="control ttl -1 must be from 0 to 3600 seconds"):
        InMemoryControl(ttl=-1)


@pytest.mark.parametrize(("options", "named"), [({"segments": 0}, "segments=0"), ({"workers": 0}, "workers=0"),
                                                ({"checkpoint_every": 0}, "checkpoint_every=0")])
def test_a_rebuild_with_nothing_to_run_on_is_refused_by_name(options: dict[str, int], named: str) -> None:
    arguments: dict[str, Any] = {"segments": 1, **options}
    with pytest.raises(ProjectionError, match=named):
        Rebuild(PROJECTION, InMemoryEventStore(), InMemoryProjectionStore(), InMemoryControl(), **arguments)


def test_the_scan_gives_each_event_once_by_segment_and_resumes_after_a_key(backend: Backend,
                                                                          loans: list[Loan]) -> None:
    whole = sorted((key, record.number) for key, record in backend.events.scan())
    assert whole == sorted((loan.id, n) for loan in loans for n in range(1, loan.version + 1))
    parts = [[(key, record.number) for key, record in backend.events.scan(k, 3)] for k in range(3)]
    assert sorted(pair for part in parts for pair in part) == whole
    for segment, part in enumerate(parts):
        owners = [key for key, _ in part]
        assert all(set(owners).isdisjoint(key for key, _ in other) for other in parts if other is not part)
        runs = [key for index, key in enumerate(owners) if index == 0 or owners[index - 1] != key]
        assert len(runs) == len(set(owners)), "each aggregate's events come one after another"
        assert all(number == 1 or part[index - 1] == (key, number - 1) for index, (key, number) in enumerate(part))
        if part:
            after = part[len(part) // 2]
            resumed = [(key, record.number) for key, record in backend.events.scan(segment, 3, after)]
            assert resumed == part[part.index(after) + 1:]
    with pytest.raises(EventSourcingError, match="segment` must be a whole number from 0 to 2"):
        list(backend.events.scan(3, 3))
