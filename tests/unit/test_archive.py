"""Archiving to S3: the event store contract over archive + table, archive + table == the full history whatever
step an archive is stopped at (hypothesis), a damaged object named, and bad requests refused."""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Callable, Sequence

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.archive import (
    ArchiveDamagedError,
    ArchiveError,
    ArchivingEventStore,
    S3Archive,
    archivable_through,
    archive,
    read_marker,
)
from core.dynamodb import DynamoDBEventStore, events_table_definition
from core.events import RecordedEvent
from core.store import KeyMarker
from testkit import EventStoreContract


def stores() -> tuple[DynamoDBEventStore, S3Archive]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**events_table_definition("Loans"))
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="cold")
    return DynamoDBEventStore("Loans", client=client), S3Archive(s3, "cold")


class EagerlyArchived(ArchivingEventStore):
    """After every append, everything but the newest event moves to the archive: the contract then reads archive
    and table together on every test."""

    def append(self, aggregate_id: str, expected_version: int, events: Sequence[RecordedEvent], *,
               version_from_store: bool = False, marker: KeyMarker | None = None) -> None:
        super().append(aggregate_id, expected_version, events, version_from_store=version_from_store, marker=marker)
        newest = expected_version + len(events)
        if newest > 1:
            archive(self.events, self.archive, aggregate_id, newest - 1)


@pytest.mark.usefixtures("aws")
class TestArchivingEventStore(EventStoreContract):
    def create_store(self) -> ArchivingEventStore:
        return EagerlyArchived(*stores())


def record(number: int) -> RecordedEvent:
    return RecordedEvent(number, "Happened", f"2026-01-01T00:00:{number % 60:02d}.000000+00:00",
                         f'{{"n": {number}}}')


def history(table: DynamoDBEventStore, aggregate_id: str, size: int) -> list[RecordedEvent]:
    events = [record(n) for n in range(1, size + 1)]
    for start in range(0, size, 100):
        table.append(aggregate_id, start, events[start:start + 100])
    return events


class Stop(Exception):
    pass


STEPS = ("reading", "verified", "marked", "deleting", "deleted")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(min_value=2, max_value=30), cuts=st.lists(st.integers(min_value=1, max_value=29),
       min_size=1, max_size=3), stop=st.sampled_from((None, *STEPS)))
def test_archive_and_table_are_the_full_history_whatever_step_an_archive_stops_at(
        shared_aws: Callable[[], contextlib.AbstractContextManager[None]], size: int, cuts: list[int],
        stop: str | None) -> None:
    """Property: after any sequence of archives, each possibly stopped after any step, read, read_backwards
    and scan give exactly the full history; running the archive again finishes the move."""
    with shared_aws():
        table, cold = stores()
        full = history(table, "a", size)
        other = history(table, "b", 3)
        combined = ArchivingEventStore(table, cold)
        for cut in sorted({min(cut, size - 1) for cut in cuts}):

            def step(name: str, cut: int = cut) -> None:
                if name == stop:
                    raise Stop(f"stopped after {name} archiving through {cut}")

            with contextlib.suppress(Stop):
                archive(table, cold, "a", cut, step=step)
            assert list(combined.read("a")) == full
            assert list(combined.read_backwards("a")) == full[::-1]
            assert [r for i, r in combined.scan() if i == "a"] == full
            assert [r for i, r in combined.scan() if i == "b"] == other
            assert list(combined.read("a", cut - 1)) == full[cut - 1:]
            assert list(combined.read_backwards("a", cut + 1)) == full[:cut][::-1]
            archive(table, cold, "a", cut)  # again: completes whatever was stopped
            assert list(combined.read("a")) == full
            assert [r.number for r in table.read("a")] == list(range(cut + 1, size + 1))


def test_a_scan_resumes_inside_the_archived_part(aws) -> None:
    table, cold = stores()
    full = history(table, "a", 10)
    archive(table, cold, "a", 6)
    combined = ArchivingEventStore(table, cold)
    assert [r for _, r in combined.scan(start_after=("a", 3))] == full[3:]
    assert [r for _, r in combined.scan(start_after=("a", 8))] == full[8:]


def test_events_leave_the_table_only_once_the_object_is_verified_and_marked(aws) -> None:
    table, cold = stores()
    history(table, "a", 20)
    done = archive(table, cold, "a", 15)
    assert (done.moved, done.key) == (15, "archive/Loans/a/000000000001-000000000015.jsonl.gz") and done.bytes > 0
    marker = read_marker(table, "a")
    assert marker is not None and marker.through == 15 and [r.key for r in marker.ranges] == [done.key]
    again = archive(table, cold, "a", 18)
    assert again.key == "archive/Loans/a/000000000016-000000000018.jsonl.gz"
    assert [r.number for r in table.read("a")] == [19, 20]
    assert archive(table, cold, "a", 10).moved == 0


def test_a_damaged_object_is_detected_and_named(aws) -> None:
    table, cold = stores()
    history(table, "a", 5)
    key = archive(table, cold, "a", 4).key
    assert key is not None
    text = gzip.decompress(cold.s3.get_object(Bucket="cold", Key=key)["Body"].read())
    cold.s3.put_object(Bucket="cold", Key=key, Body=gzip.compress(text.replace(b"Happened", b"Happenex", 1)))
    with pytest.raises(ArchiveDamagedError, match=f"archive object {key} is damaged: its SHA-256") as caught:
        list(ArchivingEventStore(table, cold).read("a"))
    assert caught.value.key == key
    cold.s3.put_object(Bucket="cold", Key=key, Body=b"not gzip")
    with pytest.raises(ArchiveDamagedError, match="not gzip"):
        list(ArchivingEventStore(table, cold).scan())


@pytest.mark.parametrize("through", [-1, True, "3"])
def test_a_bad_range_is_refused_by_name(aws, through: object) -> None:
    table, cold = stores()
    with pytest.raises(ArchiveError, match="through="):
        archive(table, cold, "a", through)  # type: ignore[arg-type]


def test_events_the_table_does_not_hold_are_refused(aws) -> None:
    table, cold = stores()
    history(table, "a", 3)
    with pytest.raises(ArchiveError, match=r"does not hold events 1..5"):
        archive(table, cold, "a", 5)
    assert [r.number for r in table.read("a")] == [1, 2, 3]


@pytest.mark.parametrize(("snapshot", "margin", "through"), [(None, 10, 0), (100, 10, 90), (5, 10, 0), (7, 1, 6)])
def test_the_archivable_part_is_below_the_snapshot_minus_the_margin(snapshot, margin, through) -> None:
    assert archivable_through(snapshot, margin) == through


@pytest.mark.parametrize("margin", [0, -3, True])
def test_a_margin_below_one_is_refused(margin: object) -> None:
    with pytest.raises(ArchiveError, match="margin="):
        archivable_through(10, margin)  # type: ignore[arg-type]


# -- aws-es archive, on moto: every reader goes on reading the whole history ---------------------------------------

@pytest.fixture
def archiving_app(aws, monkeypatch):
    from handlers.app import App
    from handlers.cli import main

    # no cached live generation: a rebuild need not wait for it
    for name, value in {"ARCHIVE_BUCKET": "cold", "SNAPSHOT_EVERY": "1000", "PROJECTION_CONTROL_TTL": "0"}.items():
        monkeypatch.setenv(name, value)
    app = App.from_env()
    app.bind()
    assert main(["init"], app=app) == 0
    return app


def test_the_archive_command_moves_cold_events_and_every_reader_reads_them(archiving_app, capsys) -> None:
    import json

    from handlers.app import App
    from handlers.cli import main
    from loans import Loan
    from loans.demo import run_long_loan

    app = archiving_app
    loans = [run_long_loan(repayments=40), run_long_loan(repayments=30)]
    fresh = [Loan(loan.id).hydrate().state() for loan in loans]
    assert main(["snapshot", "--all", "Loan"], app=app) == 0
    capsys.readouterr()
    assert main(["archive", "Loan", "--all", "--margin", "5", "--json"], app=app) == 0
    reports = {r["id"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert [reports[loan.id]["moved"] for loan in loans] == [loan.version - 5 for loan in loans]
    table = DynamoDBEventStore("Loans", client=app.dynamodb)
    assert [len(list(table.read(loan.id))) for loan in loans] == [5, 5]

    again = App.from_env()  # a fresh process: no warm cache
    with again.bound():
        assert [Loan(loan.id).hydrate().state() for loan in loans] == fresh
        assert [[e.number for e in Loan(loan.id).events()] for loan in loans] == [
            list(range(1, loan.version + 1)) for loan in loans]
    assert main(["rebuild", "loan-summary"], app=again) == 0
    assert f"generation 1: {loans[0].version + loans[1].version} events, 2 aggregates" in capsys.readouterr().out
    assert main(["rebuild", "loan-summary", "--verify"], app=again) == 0  # the rows against the whole log
    assert main(["archive", "Loan", loans[0].id], app=again) == 0
    assert "0 events moved in 0 objects" in capsys.readouterr().out


def test_the_archive_command_refuses_bad_requests_by_name(archiving_app, capsys, monkeypatch) -> None:
    from handlers.app import App
    from handlers.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["archive", "Loan", "--all", "--margin", "0"], app=archiving_app)
    assert exited.value.code == 2 and "--margin 0 must be 1 or more" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["archive", "Loan"], app=archiving_app)
    assert "or give --all" in capsys.readouterr().err
    monkeypatch.delenv("ARCHIVE_BUCKET")
    assert main(["archive", "Loan", "--all"], app=App.from_env()) == 1
    assert "archiving is off: set ARCHIVE_BUCKET" in capsys.readouterr().err


def test_an_archived_line_keeps_the_events_schema_version_and_refuses_a_bad_one() -> None:
    from core.archive import ArchiveDamagedError, decode, encode
    from core.events import RecordedEvent

    records = [RecordedEvent(1, "LoanPaid", "2026-01-01T00:00:00.000000+00:00", "{}"),
               RecordedEvent(2, "LoanPaid", "2026-01-01T00:00:01.000000+00:00", "{}", None, 2)]
    assert decode(encode(records), "k") == records
    assert encode(records[:1]).count(b",") == 4  # a version-1 line stays as it was: five fields
    for bad in (b'[3, "LoanPaid", "t", "{}", null, 1]\n', b'[3, "LoanPaid", "t", "{}", null, 2, 3]\n',
                b'[3, "LoanPaid", "t", "{}", null, "2"]\n'):
        with pytest.raises(ArchiveDamagedError, match="object k is damaged: a line is not an archived event"):
            decode(bad, "k")


def test_the_estimate_counts_archived_events_so_a_rebuilds_progress_does(aws) -> None:
    table, cold = stores()
    history(table, "a", 30)
    history(table, "b", 12)
    combined = ArchivingEventStore(table, cold)
    assert combined.estimate() == table.estimate() == 42
    archive(table, cold, "a", 20)
    archive(table, cold, "b", 5)
    archive(table, cold, "a", 25)  # a second range of the same aggregate
    assert table.estimate() == 42 - 25 - 5 + 2  # the table keeps the two archive markers
    assert combined.estimate() == table.estimate() + 25 + 5
    assert cold.count("Other") == 0
