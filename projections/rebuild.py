"""Rebuild a projection from the events table (not the stream), blue/green, resumably; and verify one.

A rebuild writes a fresh generation: each parallel-scan segment is folded in memory (a segment holds whole
aggregates, since segments split on the partition key), its rows are written with BatchWriteItem and its
counter totals as one item per group (`<group>#r<k>of<n>`, overwritten on a retry, never added twice); the
segment is then checkpointed in the control table, so an interrupted rebuild resumes with the segments left.
An aggregate whose events cannot be folded is reported (`UnfoldableEventError`, `GapError`) and the others
are finished; its segment is not checkpointed and the generation is not switched live.
At the end the counts are verified, the generation is switched live, and once every cached reader has seen
the switch, any row the live projector advanced in the old generation meanwhile is caught up from the log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from core.dynamodb import from_item as event_from_item
from core.dynamodb import is_event_item
from core.events import RecordedEvent
from projections.definition import Projection, Row, counter_totals, nonzero, project_records
from projections.dynamodb_store import DynamoDBProjectionStore
from projections.errors import GapError, ProjectionError, UnfoldableEventError
from projections.items import version_of
from projections.projector import Projector
from projections.query import scan
from projections.store import ProjectionStore, Totals
from projections.tables import Control, Tables, generation_definitions, tables_for


@dataclass
class RebuildProgress:
    """Shared by every segment worker; `total` is the table's approximate item count."""

    total: int = 0
    events: int = 0
    aggregates: int = 0
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    callback: Callable[[RebuildProgress], None] | None = None
    every: float = 0.25
    shown: float = 0.0

    def add(self, events: int, aggregates: int = 0) -> None:
        with self.lock:
            self.events += events
            self.aggregates += aggregates
            now = time.monotonic()
            due = self.callback is not None and now - self.shown >= self.every
            if due:
                self.shown = now
        if due and self.callback:
            self.callback(self)

    def rate(self) -> float:
        return self.events / max(time.monotonic() - self.started, 1e-9)

    def eta(self) -> float | None:
        rate = self.rate()
        return max(0.0, (self.total - self.events) / rate) if rate and self.total else None


@dataclass
class RebuildReport:
    generation: int
    segments_run: list[int]
    segments_skipped: list[int]
    events: int
    aggregates: int
    switched: bool = False
    caught_up: int = 0
    #: aggregate id -> why its events could not be folded (the generation is then not switched live)
    failures: dict[str, str] = field(default_factory=dict)


def project_segment(client: Any, events_table: str, projection: Projection, segment: int, of: int,
                 progress: RebuildProgress | None = None, tally: Totals | None = None,
                 ) -> tuple[dict[str, Row], dict[str, ProjectionError]]:
    """Every aggregate of one scan segment folded into its row, events taken in number order; and, for
    each aggregate that could not be folded (an event it cannot fold, a gap in its numbers), why not.
    With `tally`, the event counters of the events folded are added into it."""
    rows: dict[str, Row] = {}
    waiting: dict[str, dict[int, RecordedEvent]] = {}
    failed: dict[str, ProjectionError] = {}
    for item in scan(client, events_table, segment, of):
        if not is_event_item(item):
            continue
        aggregate_id, record = item["id"]["S"], event_from_item(item)
        if progress:
            progress.add(1, 0 if aggregate_id in waiting or aggregate_id in failed else 1)
        if aggregate_id in failed:
            continue
        buffer = waiting.setdefault(aggregate_id, {})
        buffer[record.number] = record
        row = rows.get(aggregate_id)
        try:
            while version_of(row) + 1 in buffer:
                row = project_records(projection, aggregate_id, row, [buffer.pop(version_of(row) + 1)], tally)
        except UnfoldableEventError as exc:
            failed[aggregate_id] = exc
            rows.pop(aggregate_id, None)
            continue
        if row is not None:
            rows[aggregate_id] = row
    for aggregate_id, buffer in waiting.items():
        if buffer and aggregate_id not in failed:
            missing = version_of(rows.pop(aggregate_id, None)) + 1
            failed[aggregate_id] = GapError(f"{projection.name} cannot fold {aggregate_id!r}: events table "
                                            f"{events_table!r} has no event {missing} (it holds {sorted(buffer)[:5]} "
                                            "after it)")
    return rows, failed


class Rebuild:
    """One rebuild of `projection` into a fresh generation, or its resumption."""

    def __init__(self, projection: Projection, client: Any, events_table: str, control: Control,
                 projector: Callable[[Tables], Projector], ensure: Callable[[list[dict[str, Any]]], object],
                 segments: int = 8, workers: int = 4, on_progress: Callable[[RebuildProgress], None] | None = None,
                 rows: ProjectionStore | None = None) -> None:
        self.projection = projection
        self.client = client
        #: where the generation's rows and counters are written (projections/store.py)
        self.rows: ProjectionStore = rows or DynamoDBProjectionStore(projection, client)
        self.events_table = events_table
        self.control = control
        self.projector = projector
        self.ensure = ensure
        self.segments = segments
        self.workers = workers
        self.on_progress = on_progress
        self.progress = RebuildProgress(callback=on_progress)
        self.failures: dict[str, str] = {}
        self._lock = threading.Lock()

    def run(self, only: int | None = None) -> RebuildReport:
        if only is not None and not 0 <= only < self.segments:
            raise ProjectionError(f"segment {only} is not in 0..{self.segments - 1}")
        pending = self.control.state(self.projection.name, fresh=True)
        if pending["previous"] is not None and pending["building"] is None:
            return self._resume_catch_up(pending["live"], pending["previous"])
        generation = self.control.begin(self.projection.name, self.segments)
        tables = tables_for(self.projection, generation)
        self.ensure(generation_definitions(self.projection, generation))
        self.progress.total = self._approximate_events()
        wanted = [only] if only is not None else list(range(self.segments))
        todo = [k for k in wanted if self.control.segment_done(self.projection.name, generation, k,
                                                               self.segments) is None]
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(todo) or 1))) as pool:
            list(pool.map(lambda k: self._segment(tables, k), todo))
        report = RebuildReport(generation, todo, [k for k in wanted if k not in todo],
                               self.progress.events, self.progress.aggregates, failures=dict(self.failures))
        if only is None and not report.failures:
            self._finish(tables, report)
        return report

    def _segment(self, tables: Tables, segment: int) -> None:
        """Fold one segment and write its rows; checkpoint it only if every aggregate in it was folded."""
        tally: Totals = {}
        rows, failed = project_segment(self.client, self.events_table, self.projection, segment, self.segments,
                                    self.progress, tally)
        self.rows.put_rows(tables, rows)
        self.rows.put_totals(tables, f"r{segment}of{self.segments}", counter_totals(self.projection, rows.values()),
                             nonzero(tally))
        if failed:
            with self._lock:
                self.failures.update((aggregate_id, str(error)) for aggregate_id, error in failed.items())
            return
        events = sum(version_of(row) for row in rows.values())
        self.control.mark_segment(self.projection.name, tables.generation, segment, self.segments, events, len(rows))
        if self.on_progress:
            self.on_progress(self.progress)

    def _finish(self, tables: Tables, report: RebuildReport) -> None:
        done = [self.control.segment_done(self.projection.name, tables.generation, k, self.segments)
                for k in range(self.segments)]
        if any(counts is None for counts in done):
            raise ProjectionError("rebuild is incomplete: some segments have not finished; run it again to resume")
        expected = sum(counts["aggregates"] for counts in done if counts)
        rows = dict(self.rows.rows(tables))
        if len(rows) < expected:
            raise ProjectionError(f"generation {tables.generation} holds {len(rows)} rows, expected {expected}")
        report.events = sum(counts["events"] for counts in done if counts)
        report.aggregates = expected
        live = self.control.state(self.projection.name, fresh=True)["live"]
        self.control.switch(self.projection.name, tables.generation, live)
        report.switched = True
        # Caches expire within one ttl; a batch begun just before that finishes within another (ttl > batch time).
        time.sleep(2 * self.control.ttl)
        report.caught_up = self._catch_up(tables_for(self.projection, live), tables)
        self.control.caught_up(self.projection.name, tables.generation)

    def _resume_catch_up(self, generation: int, previous: int) -> RebuildReport:
        """A rebuild stopped after its switch: finish catching up from the previous generation."""
        tables = tables_for(self.projection, generation)
        report = RebuildReport(generation, [], list(range(self.segments)), 0, 0, switched=True)
        report.caught_up = self._catch_up(tables_for(self.projection, previous), tables)
        self.control.caught_up(self.projection.name, generation)
        return report

    def _catch_up(self, old: Tables, new: Tables) -> int:
        """Rows the live projector advanced in the old generation while this rebuild ran."""
        newer = dict(self.rows.rows(new))
        projector = self.projector(new)
        caught_up = 0
        for key, row in self.rows.rows(old):
            if version_of(row) > version_of(newer.get(key)):
                projector.catch_up(new, key, version_of(row))
                caught_up += 1
        return caught_up

    def _approximate_events(self) -> int:
        return int(self.client.describe_table(TableName=self.events_table)["Table"].get("ItemCount", 0))
