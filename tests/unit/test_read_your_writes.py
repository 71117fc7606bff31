"""Read your own writes: every command reply carries its consistency token; the queries API and `aws-es query`
answer from the projection once the row reached it, wait a bounded time otherwise, then say the row is behind."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.store import InMemoryEventStore
from handlers import commands, queries
from handlers.app import App
from handlers.cli import main
from handlers.tables import ensure_tables
from loans import Loan
from loans.projections import loan_summary
from projections.consistency import Patience, RowBehindError, parse_min_version, read_at_least
from projections.items import version_of
from projections.projector import Projector, StreamEvent
from projections.store import InMemoryProjectionStore
from projections.tables import table_definitions, tables_for
from tests.api_support import LambdaContext, rest_event
from tests.projection_support import history

PROJECTION = loan_summary()


class FakeTime:
    """A clock that moves only when slept on; each sleep also runs `during` (a projector delivering)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.during: Any = lambda: None
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.during()


# -- the wait itself -------------------------------------------------------------------------------------------

def test_a_row_at_or_past_the_version_is_answered_at_once_without_waiting() -> None:
    time = FakeTime()
    patience = Patience(2.0, time.clock, time.sleep)
    assert read_at_least(lambda: {"version": 3}, "L1", 3, patience) == {"version": 3}
    assert read_at_least(lambda: {"version": 5}, "L1", 3, patience) == {"version": 5}
    assert read_at_least(lambda: None, "L1", None, patience) is None
    assert time.sleeps == []


def test_a_row_behind_is_reread_with_a_growing_pause_then_refused_naming_its_version() -> None:
    time = FakeTime()
    reads = []
    with pytest.raises(RowBehindError) as caught:
        read_at_least(lambda: reads.append(1) or {"version": 2}, "L1", 3, Patience(2.0, time.clock, time.sleep))
    assert (caught.value.version, caught.value.wanted, caught.value.field) == (2, 3, "min_version")
    assert "at version 2, behind the version 3" in str(caught.value)
    assert sum(time.sleeps) == pytest.approx(2.0) and time.sleeps[:4] == [0.02, 0.04, 0.08, 0.16]
    assert max(time.sleeps) <= 0.25 and len(reads) == len(time.sleeps) + 1


def test_a_missing_row_is_behind_at_version_0_and_a_zero_wait_refuses_at_once() -> None:
    time = FakeTime()
    with pytest.raises(RowBehindError) as caught:
        read_at_least(lambda: None, "L1", 1, Patience(0.0, time.clock, time.sleep))
    assert caught.value.version == 0 and time.sleeps == []


@pytest.mark.parametrize("bad", ["0", "-1", "1.5", "x", "", "²", "9" * 13, " 3"])
def test_a_bad_min_version_is_refused_naming_it(bad: str) -> None:
    with pytest.raises(Exception, match="min_version must be a whole number from 1") as caught:
        parse_min_version(bad)
    assert getattr(caught.value, "field", None) == "min_version"


# -- the property: never a stale read when the token is given ---------------------------------------------------

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), histories=st.lists(
    st.builds(history, st.integers(1, 5_000), st.sampled_from(["0.00", "0.05"]),
              st.sampled_from(["rejected", "approved", "repaying", "settled", "collections"]),
              st.lists(st.integers(1, 2_000), max_size=4)), min_size=1, max_size=4))
def test_with_the_token_no_read_is_stale_under_shuffled_duplicated_and_delayed_delivery(
        data: Any, histories: list[list[dict[str, Any]]]) -> None:
    events = InMemoryEventStore()
    rows = InMemoryProjectionStore()
    tables = tables_for(PROJECTION, 0)
    rows.create(table_definitions(PROJECTION, tables))
    projector = Projector(PROJECTION, None, events, lambda: tables, rows=rows)
    tokens: list[tuple[str, int]] = []
    stream: list[StreamEvent] = []
    for index, steps in enumerate(histories):
        loan = Loan(f"loan-{index}", store=events)
        for step in steps:
            loan.commit(step)
            tokens.append((loan.id, loan.version))  # the token of this command's reply
        stream += [StreamEvent(loan.id, record, f"{loan.id}-{record.number}") for record in events.read(loan.id)]
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1)))
    stream += [rng.choice(stream) for _ in range(data.draw(st.integers(0, 5)))]
    rng.shuffle(stream)  # another order across and within aggregates, with duplicates
    batches = [stream[i:i + 3] for i in range(0, len(stream), 3)]
    time = FakeTime()
    # the projector delivers a batch every `pace` sleeps: slower than the wait for some tokens, faster for others
    pace = data.draw(st.integers(1, 30))
    sleeps = {"count": 0}

    def deliver() -> None:
        sleeps["count"] += 1
        if batches and sleeps["count"] % pace == 0:
            projector.apply(batches.pop(0))

    time.during = deliver
    stale = answered = behind = 0
    for aggregate_id, version in data.draw(st.permutations(tokens)):
        try:
            row = read_at_least(lambda a=aggregate_id: rows.read_row(tables, a), aggregate_id, version,
                                Patience(data.draw(st.sampled_from([0.0, 0.1, 2.0])), time.clock, time.sleep))
        except RowBehindError as exc:
            behind += 1
            assert exc.version < version == exc.wanted
            continue
        answered += 1
        stale += version_of(row) < version
    assert stale == 0 and answered + behind == len(tokens)
    while batches:
        projector.apply(batches.pop(0))
    for aggregate_id, version in tokens:  # once delivered, every token is answered at once
        assert version_of(read_at_least(lambda a=aggregate_id: rows.read_row(tables, a), aggregate_id, version,
                                        Patience(0.0, time.clock, time.sleep))) >= version


# -- through the APIs and the command line (moto) ---------------------------------------------------------------

@pytest.fixture
def stack(app: App, aws: None) -> Any:
    ensure_tables(app)
    return app.dynamodb


def call(handler: Any, event: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    response = handler(event, LambdaContext())
    headers = {**(response.get("headers") or {}), **{k: v[0] for k, v in
                                                      (response.get("multiValueHeaders") or {}).items()}}
    return response["statusCode"], headers, json.loads(response["body"])


def test_every_command_reply_carries_its_token_in_a_header_and_the_body(app: App, stack: Any) -> None:
    post = commands.handler_for(app)
    status, headers, body = call(post, rest_event("POST", "/loans", '{"requested_amount": 100.00, "interest": 0.1}'))
    assert status == 201 and body["consistency"] == {"id": body["id"], "version": 1}
    assert headers["X-Consistency-Token"] == f"{body['id']}@1"
    keyed = rest_event("POST", f"/loans/{body['id']}/events", '{"type": "LoanApproved"}')
    keyed["headers"]["Idempotency-Key"] = "approve-once"
    first = call(post, keyed)
    again = call(post, keyed)  # a retried request gets the same token, from the stored reply
    assert first[2]["consistency"] == {"id": body["id"], "version": 2} == again[2]["consistency"]
    assert first[1]["X-Consistency-Token"] == again[1]["X-Consistency-Token"] == f"{body['id']}@2"


def test_the_queries_api_answers_once_the_row_reached_the_token_and_409_while_it_is_behind(
        app: App, stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUERY_CONSISTENCY_WAIT", "0.3")
    waiting = App.from_env()
    get = queries.handler_for(waiting)
    post = commands.handler_for(waiting)
    _, _, opened = call(post, rest_event("POST", "/loans", '{"requested_amount": 100.00, "interest": 0.1}'))
    loan = opened["id"]
    assert main(["project", "--once"], waiting) == 0
    _, _, approved = call(post, rest_event("POST", f"/loans/{loan}/events", '{"type": "LoanApproved"}'))
    version = approved["consistency"]["version"]
    status, headers, body = call(get, rest_event("GET", f"/loans/{loan}/summary", query={"min_version": str(version)}))
    assert status == 409 and headers["X-Row-Version"] == "1" and headers["Retry-After"] == "1"
    assert (body["version"], body["min_version"], body["field"]) == (1, 2, "min_version") and "status" not in body
    assert body["waited_seconds"] >= 0.3
    status, _, stale = call(get, rest_event("GET", f"/loans/{loan}/summary"))  # without the token: as it is
    assert status == 200 and stale["version"] == 1
    assert main(["project", "--once"], waiting) == 0
    status, headers, body = call(get, rest_event("GET", f"/loans/{loan}/summary", query={"min_version": "2"}))
    assert status == 200 and body["version"] == 2 and body["status"] == "APPROVED" and headers["X-Row-Version"] == "2"
    status, _, body = call(get, rest_event("GET", f"/loans/{loan}/summary", query={"min_version": "two"}))
    assert status == 400 and body["field"] == "min_version"


def test_query_min_version_on_the_command_line(app: App, stack: Any, capsys: Any) -> None:
    loan = Loan()
    loan.commit({"type": "LoanCreated", "requested_amount": __import__("decimal").Decimal("100.00"),
                 "interest": __import__("decimal").Decimal("0.10")})
    assert main(["query", "loan", loan.id, "--min-version", "1", "--wait", "0.2"], app) == 1
    assert "behind the version 1" in capsys.readouterr().err
    assert main(["project", "--once"], app) == 0
    capsys.readouterr()
    assert main(["query", "loan", loan.id, "--min-version", "1", "--json"], app) == 0
    assert json.loads(capsys.readouterr().out)["version"] == 1
    with pytest.raises(SystemExit):
        main(["query", "loan", loan.id, "--min-version", "0"], app)
    assert "min_version must be a whole number from 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["query", "portfolio", "--min-version", "3"], app)
