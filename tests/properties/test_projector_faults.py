"""Invariant 4: whatever the stream does, the query tables equal a fold of the log applied once.

The stream here duplicates batches, redelivers them, reorders events across items (each event is its own
item, so a stream orders nothing across them), drops batches and replays them later, and crashes the
projector between two of its writes, then redelivers the batch.
"""

from __future__ import annotations

import contextlib
from typing import Any

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.projection_support import actual, commit_history, create_tables, expected, history, log_events, projector


class Crash(Exception):
    """The process died between two writes."""


def crash_after(client: Any, writes: int) -> Any:
    """Make the client die before its `writes + 1`-th write request; returns the unhook function."""
    seen = {"writes": 0}

    def before_call(model: Any = None, **_: Any) -> None:
        if model.name in ("TransactWriteItems", "PutItem"):
            if seen["writes"] >= writes:
                raise Crash
            seen["writes"] += 1

    client.meta.events.register("before-call.dynamodb", before_call)
    return lambda: client.meta.events.unregister("before-call.dynamodb", before_call)


loan_histories = st.lists(
    st.builds(history, st.integers(1, 5_000), st.sampled_from(["0.00", "0.05", "0.125"]),
              st.sampled_from(["rejected", "approved", "repaying", "settled", "collections"]),
              st.lists(st.integers(1, 2_000), max_size=6)),
    min_size=1, max_size=4,
)
faults = st.sampled_from(["ok", "ok", "duplicate", "drop", "crash"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories=loan_histories, data=st.data())
def test_query_tables_equal_a_fold_of_the_log_whatever_the_stream_does(shared_aws: Any, histories: list,
                                                                       data: Any) -> None:
    with shared_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        tables = create_tables(client)
        loans = [commit_history(client, steps) for steps in histories]
        events = data.draw(st.permutations(log_events(client, [loan.id for loan in loans])), label="order")
        size = data.draw(st.integers(1, 8), label="batch size")
        batches = [events[i:i + size] for i in range(0, len(events), size)]
        dropped = []
        for batch in batches:
            fault = data.draw(faults, label="fault")
            if fault == "drop":
                dropped.append(batch)
                continue
            if fault == "crash":
                unhook = crash_after(client, data.draw(st.integers(0, 3), label="writes before the crash"))
                with contextlib.suppress(Crash):
                    projector(client).apply(batch)
                unhook()
            projector(client).apply(batch)
            if fault == "duplicate":
                projector(client).apply(batch)
        for batch in dropped:
            projector(client).apply(batch)
        assert actual(client, tables) == expected(client)


@settings(max_examples=10, deadline=None)
@given(histories=loan_histories, lost=st.integers(0, 5))
def test_a_batch_lost_for_good_is_filled_from_the_log_by_the_next_event(shared_aws: Any, histories: list,
                                                                        lost: int) -> None:
    """Records past the stream's 24 hours never arrive; the next event of the aggregate fills the gap."""
    with shared_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        tables = create_tables(client)
        loans = [commit_history(client, steps) for steps in histories]
        events = log_events(client, [loan.id for loan in loans])
        last = {event.aggregate_id: event for event in events}
        outcome = projector(client).apply([e for e in events if e not in last.values() and e.event.number > lost]
                                          + list(last.values()))
        assert not outcome.failed
        assert actual(client, tables) == expected(client)
