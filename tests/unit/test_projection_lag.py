"""Truthful lag: commit-to-visible lag per event folded, idle told from behind and stuck, the runner's heartbeat,
and a local runner that survives its stream going away."""

from __future__ import annotations

import json
import logging
import random
import re
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.codec import encode
from core.events import RecordedEvent
from core.store import InMemoryEventStore
from handlers.app import App
from handlers.cli import main
from handlers.projector import handler_for, runner
from handlers.tables import ensure_tables
from loans import Loan
from loans.dashboard import read_projection_lag
from loans.dashboard_sources import sources
from loans.demo import run_portfolio
from loans.projections import loan_summary
from projections.batch import BatchResult
from projections.lag import Heartbeat, LagFigures, Progress, assess, projection_health
from projections.projector import BatchCounts, Projector, StreamEvent
from projections.store import InMemoryProjectionStore
from projections.tables import InMemoryControl, table_definitions, tables_for

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PROJECTION = loan_summary()


def at(seconds: float) -> float:
    return (T0 + timedelta(seconds=seconds)).timestamp()


STEPS = [("LoanCreated", {"requested_amount": Decimal("1000.00"), "interest": Decimal("0.05")}),
         ("LoanApproved", {}), ("LoanDisbursed", {}), ("LoanPaid", {"amount": Decimal("10.00")}),
         ("LoanPaid", {"amount": Decimal("20.00")})]


def opened(number: int, seconds: float) -> RecordedEvent:
    """Event `number` (1..5) of a legal loan history, committed `seconds` after T0."""
    kind, data = STEPS[number - 1]
    return RecordedEvent(number, kind, (T0 + timedelta(seconds=seconds)).isoformat(), encode(data))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def memory_projector(clock: Clock) -> Projector:
    rows = InMemoryProjectionStore()
    tables = tables_for(PROJECTION, 0)
    rows.create(table_definitions(PROJECTION, tables))
    return Projector(PROJECTION, None, InMemoryEventStore(), lambda: tables, rows=rows, clock=clock)


def test_percentiles_are_nearest_rank_and_none_without_events() -> None:
    figures = LagFigures.of([float(n) for n in range(100, 0, -1)])
    assert figures == LagFigures(100, 50.0, 99.0, 100.0)
    assert LagFigures.of([2.5]) == LagFigures(1, 2.5, 2.5, 2.5)
    assert LagFigures.of([]) is None
    assert set(figures.metrics()) == {"CommitToVisibleP50Seconds", "CommitToVisibleP99Seconds",
                                      "CommitToVisibleMaxSeconds"}


def test_each_folded_event_is_measured_from_its_commit_to_its_rows_write_and_duplicates_are_not() -> None:
    clock = Clock(at(10))
    project = memory_projector(clock)
    outcome = project.apply([StreamEvent("L1", opened(1, 0), "1"), StreamEvent("L1", opened(2, 4), "2")])
    assert sorted(outcome.visible) == [6.0, 10.0] and outcome.newest_projected == at(4)
    again = project.apply([StreamEvent("L1", opened(2, 4), "2")])  # a redelivery is not measured twice
    assert again.visible == [] and again.duplicates == 1 and again.newest_projected is None


def test_idle_behind_stuck_and_never_projected_are_told_apart() -> None:
    caught_up = Progress(seen=at(0), projected=at(0), written=at(1))
    assert assess(caught_up, None, at(500)).state == "idle"  # old but nothing to do: not lag
    assert assess(caught_up, None, at(500)).last_projected_seconds == 499
    assert assess(None, None, at(5)).state == "never projected"
    assert assess(caught_up, at(490), at(500)).state == "behind"
    stuck = assess(caught_up, at(100), at(500), stuck_after=60)
    assert stuck.state == "stuck" and stuck.waiting_seconds == 400 and "not yet delivered" in stuck.reason
    failing = Progress(seen=at(3), projected=at(2), written=at(3), behind_since=at(3))
    assert assess(failing, None, at(100)).state == "stuck"
    assert "left events unprojected" in assess(failing, None, at(100)).reason


def test_progress_keeps_the_newest_times_and_this_batchs_backlog_through_the_control_items() -> None:
    control = InMemoryControl()
    figures = LagFigures(2, 0.5, 0.9, 0.9)
    control.record_progress("loan-summary", Progress(at(5), at(5), at(6), at(1), figures))
    control.record_progress("loan-summary", Progress(at(3), at(3), at(7), None, None))
    assert control.progress("loan-summary") == Progress(at(5), at(5), at(7), None, figures)
    assert control.progress("Other") is None
    control.record_heartbeat("Loans", Heartbeat(at(1), "backing off", "EndpointConnectionError: gone"))
    assert control.heartbeat("Loans") == Heartbeat(at(1), "backing off", "EndpointConnectionError: gone")
    health = projection_health(control, "loan-summary", "Loans", at(30))
    assert health["state"] == "idle" and health["runner"] == {
        "state": "stalled or stopped", "age_seconds": 29.0, "error": "EndpointConnectionError: gone"}


def test_a_batch_with_a_failing_aggregate_records_it_as_waiting() -> None:
    from projections.batch import project_batch

    class Record:
        def __init__(self, raw: dict[str, Any]) -> None:
            self.raw_event = raw
            self.event_id = raw["eventID"]

    clock = Clock(at(20))
    project = memory_projector(clock)
    good = [StreamEvent("L1", opened(1, 0), "1")]
    project.apply(good)
    # L2's first event delivered is its second: a gap the event store cannot fill, so L2's event is not projected
    images = [{"eventID": "x", "eventName": "INSERT", "dynamodb": {"SequenceNumber": "9", "NewImage": {
        "id": {"S": "L2"}, "number": {"N": "2"}, "type": {"S": "LoanApproved"},
        "created": {"S": (T0 + timedelta(seconds=12)).isoformat()}, "data": {"S": encode({})}}}}]
    result = project_batch([Record(raw) for raw in images], project, clock())
    progress = result.progress["loan-summary"]
    assert result.failed_records and progress.behind_since == at(12) and progress.projected is None
    assert assess(progress, None, at(100), stuck_after=60).state == "stuck"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lengths=st.lists(st.integers(1, 5), min_size=1, max_size=5), seed=st.integers(0, 2**32 - 1),
       duplicates=st.integers(0, 6), batch=st.integers(1, 7), delays=st.lists(st.floats(0, 30), min_size=1))
def test_under_shuffled_duplicated_delayed_delivery_every_event_is_measured_once_and_never_negative(
        lengths: list[int], seed: int, duplicates: int, batch: int, delays: list[float]) -> None:
    rng = random.Random(seed)
    events = [StreamEvent(f"L{i}", opened(n, 10 * n + i), f"{i}-{n}") for i, count in enumerate(lengths)
              for n in range(1, count + 1)]
    delivery = events + [rng.choice(events) for _ in range(duplicates)]
    rng.shuffle(delivery)
    clock = Clock(at(0))
    project = memory_projector(clock)
    project.store = InMemoryEventStore()
    for aggregate in {item.aggregate_id for item in events}:
        project.store.append(aggregate, 0, [item.event for item in events if item.aggregate_id == aggregate])
    measured: list[float] = []
    written: dict[tuple[str, int], float] = {}
    for start in range(0, len(delivery), batch):
        clock.now = max(clock.now, at(100)) + delays[start % len(delays)]
        outcome = project.apply(delivery[start:start + batch])
        measured += outcome.visible
        assert not outcome.failed
        for item in delivery[start:start + batch]:
            written.setdefault((item.aggregate_id, item.event.number), clock.now)
    assert len(measured) == len(events)  # each event once: duplicates and gap-filled redeliveries are not
    assert all(value >= 0 for value in measured)
    assert max(measured) <= clock.now - at(10)
    control = InMemoryControl()
    control.record_progress("loan-summary", Progress.of_batch([e.event.created for e in events], [],
                                                             max(at(10 * len(lengths) + 50), at(0)), clock.now,
                                                             LagFigures.of(measured)))
    assert assess(control.progress("loan-summary"), None, clock.now + 1000).state == "idle"


# -- on moto: the handler publishes and records, the runner survives, `project --status` ---------------------

@pytest.fixture
def stack(app: App, aws: None) -> Any:
    ensure_tables(app)
    return app.dynamodb


def test_the_handler_publishes_lag_per_projection_and_records_progress(app: App, stack: Any, capsys: Any,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    run_portfolio()
    runner(app).drain()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "CommitToVisibleP99Seconds" in line]
    assert {line["projection"] for line in lines} == {"loan-summary", "loan-risk"}
    assert all(line["service"] == "projector" for line in lines)
    assert all(0 <= line["CommitToVisibleP50Seconds"][0] <= line["CommitToVisibleP99Seconds"][0]
               <= line["CommitToVisibleMaxSeconds"][0] < 60 for line in lines)
    health = projection_health(app.control(), "loan-summary", app.table(Loan), datetime.now(UTC).timestamp())
    assert health["state"] == "idle" and health["lag"]["events"] > 0
    assert read_projection_lag(sources(app))["state"] == "idle"


def test_project_status_tells_idle_from_waiting_events(app: App, stack: Any, capsys: Any) -> None:
    assert main(["project", "--status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["loan-summary"]["state"] == "never projected"
    run_portfolio()
    assert main(["project", "--status", "--json"]) == 0  # committed, not delivered yet: behind, not stuck
    report = json.loads(capsys.readouterr().out)["loan-summary"]
    assert report["state"] == "behind" and "not yet delivered" in report["reason"]
    assert main(["project", "--status", "--stuck-after", "0.001", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["loan-summary"]["state"] == "stuck"
    assert main(["project", "--once"]) == 0
    capsys.readouterr()
    assert main(["project", "--status"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("loan-summary: idle: nothing to do") and "p99" in line and "heartbeat" not in line


@pytest.mark.parametrize("argv", [["--status", "--once"], ["--json"], ["--stuck-after", "5"]])
def test_project_refuses_options_that_go_with_status_alone(app: App, argv: list[str], capsys: Any) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["project", *argv])
    assert exited.value.code == 2 and "--status" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "soon", "1e9"])
def test_project_status_refuses_a_bad_stuck_after(app: App, bad: str, capsys: Any) -> None:
    with pytest.raises(SystemExit):
        main(["project", "--status", "--stuck-after", bad])
    assert "--stuck-after: must be seconds" in capsys.readouterr().err


def test_the_runner_backs_off_while_its_stream_is_unreachable_then_resumes_and_says_so(
        app: App, stack: Any, caplog: Any) -> None:
    run_portfolio()
    fed = runner(app)
    real, outage = fed.streams.describe_stream, {"calls": 0}

    def describe_stream(**request: Any) -> Any:
        if 1 <= outage["calls"] <= 3:
            outage["calls"] += 1
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
        outage["calls"] += 1
        return real(**request)

    fed.streams.describe_stream = describe_stream
    stop = threading.Event()
    beats: list[Heartbeat] = []
    record = fed.heartbeats

    def heartbeats(table: str, beat: Heartbeat) -> None:
        beats.append(beat)
        assert record is not None
        record(table, beat)
        if beat.state == "running" and outage["calls"] > 4:
            stop.set()

    fed.heartbeats = heartbeats
    with caplog.at_level(logging.WARNING, logger="projections.runner"):
        thread = threading.Thread(target=fed.run, args=(stop,))
        thread.start()
        thread.join(timeout=30)
    assert not thread.is_alive()
    messages = [record.getMessage() for record in caplog.records]
    assert len([m for m in messages if "unreachable" in m]) == 1  # one line when it goes, not one per retry
    assert len([m for m in messages if "reachable again" in m]) == 1
    assert [beat.state for beat in beats][:2] == ["running", "backing off"] and beats[-1].state == "running"
    assert "EndpointConnectionError" in beats[1].error
    assert app.control().heartbeat(app.table(Loan)).state == "running"
    health = projection_health(app.control(), "loan-summary", app.table(Loan), datetime.now(UTC).timestamp())
    assert health["runner"]["state"] == "running" and health["state"] == "idle"


def test_a_batch_result_without_events_records_nothing(app: App, stack: Any) -> None:
    from handlers.projector import publish_lag

    publish_lag(app, BatchResult(BatchCounts(), progress={"loan-summary": Progress()}), 0.0)
    assert app.control().progress("loan-summary") is None


def test_handler_for_records_no_progress_for_a_refused_batch(app: App, stack: Any) -> None:
    from projections.runner import LocalContext

    record = {"eventID": "1", "eventName": "INSERT", "eventSourceARN": "not an arn",
              "dynamodb": {"SequenceNumber": "1"}}
    assert handler_for(app)({"Records": [record]}, LocalContext())["batchItemFailures"]
    assert app.control().progress("loan-summary") is None


def test_the_dashboards_health_section_shows_the_state_the_lag_and_the_runner(app: App, stack: Any) -> None:
    from handlers import queries
    from tests.api_support import LambdaContext, rest_event

    run_portfolio()
    runner(app).drain()
    app.control().record_heartbeat(app.table(Loan), Heartbeat(datetime.now(UTC).timestamp() - 120, "running"))
    response = queries.handler_for(app)(rest_event("GET", "/dashboard"), LambdaContext())
    page = response["body"]
    assert response["statusCode"] == 200
    assert 'class="state state-idle">idle</span> nothing to do' in page and "p99" in page
    assert re.search(r"stalled or stopped, heartbeat 2 min [0-9]+ s ago", page)
