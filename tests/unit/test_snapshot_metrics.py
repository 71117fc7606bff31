"""Snapshot hits, skips (by reason) and writes reach CloudWatch from the commands handler, and `aws-es hydrate`."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from handlers.app import App
from handlers.cli import main
from snapshots import DynamoDBSnapshotStore, take
from tests.snapshot_support import loan_events, make_backend, replayed
from tests.unit.test_commands_api import call


def emf(out: str) -> dict[str, float]:
    """The metric values of the EMF documents powertools printed (one JSON object a line)."""
    values: dict[str, float] = {}
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                values[metric["Name"]] = sum(document[metric["Name"]]) if isinstance(
                    document[metric["Name"]], list) else document[metric["Name"]]
    return values


@pytest.fixture
def stale_loan(events_table):
    """A loan of 13 events whose stored snapshot at 13 was written by older code (another fingerprint)."""
    backend = make_backend("dynamodb")
    events = loan_events(10)
    backend.write_events("stale-1", events)
    snapshot = replace(take(replayed("stale-1", events)), fingerprint="0" * 32)
    DynamoDBSnapshotStore("Loans", client=backend.dynamodb).put(replace(snapshot,
                                                                        checksum=snapshot.computed_checksum()))
    return "stale-1"


def test_the_commands_handler_publishes_a_stale_snapshot_skip(stale_loan, capsys):
    from handlers import commands

    def cold_start() -> App:
        return App.from_env({"SNAPSHOT_EVERY": "5"})

    commands.metrics.clear_metrics()
    capsys.readouterr()
    status, body = call(cold_start(), "GET", f"/loans/{stale_loan}")
    assert status == 200 and body["version"] == 13
    values = emf(capsys.readouterr().out)
    assert values["SnapshotSkippedStale"] == 1 and values["SnapshotSkipped"] == 1
    assert values["SnapshotHit"] == 0 and values["SnapshotWritten"] == 0

    # a cold start: the next command hydrates (skips again), commits event 14, writes a snapshot
    status, body = call(cold_start(), "POST", f"/loans/{stale_loan}/events", raw='{"type": "LoanPaid", "amount": 1.00}')
    assert status == 201
    values = emf(capsys.readouterr().out)
    assert (values["SnapshotSkippedStale"], values["SnapshotWritten"], values["SnapshotWriteFailed"]) == (1, 1, 0)

    assert call(cold_start(), "GET", f"/loans/{stale_loan}")[0] == 200
    values = emf(capsys.readouterr().out)
    assert (values["SnapshotHit"], values["SnapshotSkipped"]) == (1, 0)


def test_hydrate_shows_the_snapshot_metrics(stale_loan, capsys):
    capsys.readouterr()
    assert main(["hydrate", stale_loan, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["snapshot_metrics"] == {"SnapshotSkippedStale": 1, "SnapshotSkipped": 1}
    assert main(["hydrate", stale_loan]) == 0
    assert "snapshot metrics: SnapshotSkippedStale 1, SnapshotSkipped 1" in capsys.readouterr().out
    assert main(["snapshot", stale_loan]) == 0
    capsys.readouterr()
    assert main(["hydrate", stale_loan]) == 0
    assert "snapshot metrics: SnapshotHit 1\n" in capsys.readouterr().out
