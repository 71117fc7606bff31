"""Rebuild a projection from the event log (not the stream), blue/green, resumably.

A rebuild writes a fresh generation. It reads the log through the event store's segmented scan
(`EventStore.scan`: each aggregate wholly in one segment, its events ascending) and writes through the
projection store (`ProjectionStore`), so it runs on every backend. Each segment is folded in chunks of about
`checkpoint_every` events, cut between aggregates: a chunk's rows are written, its counter totals as one item
per group (`<group>#r<k>of<n>`, then `...c<j>` for chunk j; overwritten on a retry, never added twice), and the
position after its last event is recorded in the control store; a worker run again resumes after it. A
finished segment is marked done, so an interrupted rebuild resumes with the segments left. An aggregate whose
events cannot be folded is reported (`UnfoldableEventError`, `GapError`) and the others are finished: the
rest of its segment is written as one chunk (recorded, so the next run rewrites it whole: `write_segment`),
the segment is not marked done and the generation is not switched live.
tests/unit/test_rebuild_backends.py runs all of it on the in-memory stores and on DynamoDB.
At the end the counts are checked, the generation is switched live, and once every cached reader has seen
the switch (`ControlStore.await_readers`), any row the live projector advanced in the old generation meanwhile
is caught up from the log.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from core.events import RecordedEvent
from core.store import EventStore
from projections.definition import Projection, Row, counter_totals, nonzero, project_records
from projections.errors import GapError, ProjectionError, UnfoldableEventError
from projections.items import version_of
from projections.projector import Projector
from projections.store import ProjectionStore, Totals
from projections.tables import ControlStore, SegmentPosition, Tables, tables_for

#: Events folded between two checkpoints inside a segment (a chunk ends at the next aggregate boundary).
CHECKPOINT_EVERY = 10_000


@dataclass
class RebuildProgress:
    """Shared by every segment worker; `total` is the log's approximate event count."""

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


@dataclass
class SegmentFold:
    """The rows of one segment's aggregates as their events arrive (events taken in number order); and, for
    each aggregate that could not be folded (an event it cannot fold, a gap in its numbers), why not."""

    projection: Projection
    progress: RebuildProgress | None = None
    rows: dict[str, Row] = field(default_factory=dict)
    failed: dict[str, ProjectionError] = field(default_factory=dict)
    #: the event counters of the events folded
    tally: Totals = field(default_factory=dict)
    waiting: dict[str, dict[int, RecordedEvent]] = field(default_factory=dict)

    def add(self, aggregate_id: str, record: RecordedEvent) -> None:
        if self.progress:
            known = aggregate_id in self.waiting or aggregate_id in self.failed
            self.progress.add(1, 0 if known else 1)
        if aggregate_id in self.failed:
            return
        buffer = self.waiting.setdefault(aggregate_id, {})
        buffer[record.number] = record
        row = self.rows.get(aggregate_id)
        try:
            while version_of(row) + 1 in buffer:
                row = project_records(self.projection, aggregate_id, row, [buffer.pop(version_of(row) + 1)], self.tally)
        except UnfoldableEventError as exc:
            self.failed[aggregate_id] = exc
            self.rows.pop(aggregate_id, None)
            return
        if row is not None:
            self.rows[aggregate_id] = row

    def close(self) -> dict[str, ProjectionError]:
        """The scan is over: an aggregate still waiting for an event has a gap in its numbers."""
        for aggregate_id, buffer in self.waiting.items():
            if buffer and aggregate_id not in self.failed:
                missing = version_of(self.rows.pop(aggregate_id, None)) + 1
                self.failed[aggregate_id] = GapError(
                    f"{self.projection.name} cannot fold {aggregate_id!r}: the event log has no event {missing} "
                    f"(it holds {sorted(buffer)[:5]} after it)")
        self.waiting.clear()
        return self.failed


def project_segment(events: EventStore, projection: Projection, segment: int = 0, of: int = 1,
                 progress: RebuildProgress | None = None, tally: Totals | None = None,
                 ) -> tuple[dict[str, Row], dict[str, ProjectionError]]:
    """Every aggregate of one scan segment folded into its row; and why each one that could not be, was not.
    With `tally`, the event counters of the events folded are added into it."""
    folding = SegmentFold(projection, progress, tally=tally if tally is not None else {})
    for aggregate_id, record in events.scan(segment, of):
        folding.add(aggregate_id, record)
    return folding.rows, folding.close()


@dataclass
class SegmentResult:
    """What writing one segment did: events and aggregates written (over every chunk, earlier runs'
    included), and why each aggregate that could not be folded was not."""

    events: int
    aggregates: int
    failures: dict[str, ProjectionError]
    #: the worker stopped after a checkpoint (its time nearly up) and the rest of the segment is left to a rerun
    stopped: bool = False


def write_segment(projection: Projection, events: EventStore, rows: ProjectionStore, tables: Tables,
                  segment: int = 0, of: int = 1, *, progress: RebuildProgress | None = None,
                  resume: SegmentPosition | None = None,
                  checkpoint: Callable[[SegmentPosition], None] | None = None,
                  every: int = CHECKPOINT_EVERY, stop: Callable[[], bool] | None = None) -> SegmentResult:
    """Fold segment `segment` of `of` into `tables`, after `resume` when given, in chunks of about `every`
    events cut between aggregates; each chunk written in full (rows, then its counter totals) is passed to
    `checkpoint`. Once an aggregate has failed, the chunk grows to the end of the segment and `checkpoint`
    is given the last position before it with `rest_in_one`, so the next run rewrites that chunk whole under
    the same part name (smaller chunks would leave its totals counted twice). With `stop`, asked after each
    checkpoint, the fold ends there when it answers true (`stopped`): a run resumed from that checkpoint goes on."""
    if every < 1:
        raise ProjectionError(f"checkpoint_every must be at least 1, not {every!r}")
    mark = resume or SegmentPosition(None, -1, 0, 0)
    chunk, written_events, written_aggregates = mark.chunk + 1, mark.events, mark.aggregates
    limit = every if not mark.rest_in_one else None
    folding = SegmentFold(projection, progress)
    flushed: set[str] = set()
    current: tuple[str, int] | None = None  # the last event read: (aggregate id, number)
    pending = 0

    def flush(closing: bool) -> None:
        nonlocal chunk, written_events, written_aggregates, pending, mark
        failed = folding.close()
        if failed and not closing:
            return
        part = f"r{segment}of{of}" + (f"c{chunk}" if chunk else "")
        rows.put_rows(tables, folding.rows)
        rows.put_totals(tables, part, counter_totals(projection, folding.rows.values()), nonzero(folding.tally))
        written_events += sum(version_of(row) for row in folding.rows.values())
        written_aggregates += len(folding.rows)
        flushed.update(folding.rows)
        if failed:
            mark = dataclasses.replace(mark, rest_in_one=True)
        elif not closing:
            mark = SegmentPosition(current, chunk, written_events, written_aggregates)
        if checkpoint and (failed or not closing):
            checkpoint(mark)
        chunk, pending = chunk + 1, 0
        folding.rows, folding.tally = {}, {}

    # Events the checkpoint's own aggregate gained after it are left to the catch-up, as any appended meanwhile.
    skip = mark.after[0] if mark.after else None
    for aggregate_id, record in events.scan(segment, of, mark.after):
        if aggregate_id == skip:
            continue
        if current is not None and aggregate_id != current[0]:
            if aggregate_id in flushed or aggregate_id in folding.rows or aggregate_id in folding.failed:
                raise ProjectionError(f"the event store's scan of segment {segment} of {of} gave aggregate "
                                      f"{aggregate_id!r} again after others: a segment's aggregates must come one "
                                      "after another")
            if limit is not None and pending >= limit and not folding.failed:
                flush(closing=False)
                if stop is not None and checkpoint is not None and stop():
                    return SegmentResult(written_events, written_aggregates, {}, stopped=True)
        folding.add(aggregate_id, record)
        current, pending = (aggregate_id, record.number), pending + 1
    flush(closing=True)
    return SegmentResult(written_events, written_aggregates, folding.failed)


@dataclass
class Rebuilt:
    """What `rebuild_into` wrote: events and aggregates, and why each aggregate not folded was not."""

    events: int = 0
    aggregates: int = 0
    failures: dict[str, str] = field(default_factory=dict)


def rebuild_into(projection: Projection, events: EventStore, rows: ProjectionStore, tables: Tables,
                 segments: int = 1) -> Rebuilt:
    """Fold the whole log into `tables` (created if missing), segment by segment, as a rebuild writes a
    generation; no control store, no checkpoint, no switch."""
    rows.create_generation(tables)
    rebuilt = Rebuilt()
    for segment in range(segments):
        result = write_segment(projection, events, rows, tables, segment, segments)
        rebuilt.events += result.events
        rebuilt.aggregates += result.aggregates
        rebuilt.failures.update((key, str(error)) for key, error in result.failures.items())
    return rebuilt


class Rebuild:
    """One rebuild of `projection` into a fresh generation, or its resumption: the log read from `events`,
    the generation written to `rows`, its progress kept in `control`."""

    def __init__(self, projection: Projection, events: EventStore, rows: ProjectionStore, control: ControlStore,
                 segments: int = 8, workers: int = 4, on_progress: Callable[[RebuildProgress], None] | None = None,
                 checkpoint_every: int = CHECKPOINT_EVERY, stop: Callable[[], bool] | None = None,
                 count_rows: bool = True, catch_up: bool = True) -> None:
        if segments < 1 or workers < 1 or checkpoint_every < 1:
            raise ProjectionError(f"a rebuild needs at least 1 segment, worker and event per checkpoint, not "
                                  f"segments={segments!r}, workers={workers!r}, checkpoint_every={checkpoint_every!r}")
        self.projection = projection
        self.events = events
        #: where the generation's rows and counters are written (projections/store.py)
        self.rows = rows
        self.control = control
        self.segments = segments
        self.workers = workers
        self.checkpoint_every = checkpoint_every
        self.on_progress = on_progress
        #: asked after each checkpoint: true ends the segment there, unmarked, to be resumed by a later run
        self.stop = stop
        #: the finish counts the new generation's rows against the segments' marks (one pass over every row)
        self.count_rows = count_rows
        #: the finish catches up from the previous generation itself (else the caller does, in parts:
        #: `catch_up_rows`, then `ControlStore.caught_up`)
        self.catch_up = catch_up
        self.progress = RebuildProgress(callback=on_progress)
        self.failures: dict[str, str] = {}
        self._lock = threading.Lock()

    def begin(self) -> tuple[int, bool]:
        """(the generation being built, its tables created; or the live one and True when a rebuild stopped
        after its switch, so only its catch-up is left)."""
        state = self.control.state(self.projection.name, fresh=True)
        if state["previous"] is not None and state["building"] is None:
            return int(state["live"]), True
        generation = self.control.begin(self.projection.name, self.segments)
        self.rows.create_generation(tables_for(self.projection, generation))
        return generation, False

    def run(self, only: int | None = None) -> RebuildReport:
        if only is not None and not 0 <= only < self.segments:
            raise ProjectionError(f"segment {only} is not in 0..{self.segments - 1}")
        generation, catch_up_only = self.begin()
        if catch_up_only:
            if not self.catch_up:
                return RebuildReport(generation, [], list(range(self.segments)), 0, 0, switched=True)
            return self._resume_catch_up(generation)
        tables = tables_for(self.projection, generation)
        self.progress.total = self.events.estimate() or 0
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
        """Fold one segment and write its rows, checkpointing as it goes; mark it done only if every
        aggregate in it was folded."""
        name, generation, of = self.projection.name, tables.generation, self.segments

        def checkpoint(position: SegmentPosition) -> None:
            self.control.record_segment_position(name, generation, segment, of, position)

        result = write_segment(self.projection, self.events, self.rows, tables, segment, of,
                               progress=self.progress, resume=self.control.segment_position(name, generation,
                                                                                            segment, of),
                               checkpoint=checkpoint, every=self.checkpoint_every, stop=self.stop)
        if result.stopped:
            return
        if result.failures:
            with self._lock:
                self.failures.update((aggregate_id, str(error)) for aggregate_id, error in result.failures.items())
            return
        self.control.mark_segment(name, generation, segment, of, result.events, result.aggregates)
        if self.on_progress:
            self.on_progress(self.progress)

    def _finish(self, tables: Tables, report: RebuildReport) -> None:
        done = [self.control.segment_done(self.projection.name, tables.generation, k, self.segments)
                for k in range(self.segments)]
        if any(counts is None for counts in done):
            raise ProjectionError("rebuild is incomplete: some segments have not finished; run it again to resume")
        expected = sum(counts["aggregates"] for counts in done if counts)
        rows = sum(1 for _ in self.rows.rows(tables)) if self.count_rows else expected
        if rows < expected:
            raise ProjectionError(f"generation {tables.generation} holds {rows} rows, expected {expected}")
        report.events = sum(counts["events"] for counts in done if counts)
        report.aggregates = expected
        live = self.control.state(self.projection.name, fresh=True)["live"]
        self.control.switch(self.projection.name, tables.generation, live)
        report.switched = True
        self.control.await_readers()
        if not self.catch_up:
            return
        report.caught_up = self._catch_up(tables_for(self.projection, live), tables)
        self.control.caught_up(self.projection.name, tables.generation)

    def _resume_catch_up(self, generation: int) -> RebuildReport:
        """A rebuild stopped after its switch: finish catching up from the previous generation."""
        tables = tables_for(self.projection, generation)
        report = RebuildReport(generation, [], list(range(self.segments)), 0, 0, switched=True)
        previous = self.control.state(self.projection.name, fresh=True)["previous"]
        if previous is not None:  # else another run finished the catch-up meanwhile
            report.caught_up = self._catch_up(tables_for(self.projection, int(previous)), tables)
            self.control.caught_up(self.projection.name, generation)
        return report

    def catch_up_rows(self, old_rows: Iterable[tuple[str, Row]], new: Tables, batch: int = 100) -> int:
        """Catch up, in `new`, each of `old_rows` (a part of the previous generation) that the live projector
        advanced past its row in `new`; the rows caught up."""
        projector = Projector(self.projection, None, self.events, lambda: new, rows=self.rows)
        caught_up = 0
        pending: list[tuple[str, Row]] = []

        def check() -> int:
            newer, unavailable = self.rows.read_rows(new, [key for key, _ in pending])
            if unavailable:
                raise ProjectionError(f"cannot read {len(unavailable)} rows of {new.rows} to catch them up: "
                                      f"{next(iter(unavailable.values()))}")
            behind = [(key, row) for key, row in pending if version_of(row) > version_of(newer.get(key))]
            for key, row in behind:
                projector.catch_up(new, key, version_of(row))
            pending.clear()
            return len(behind)

        for key, row in old_rows:
            pending.append((key, row))
            if len(pending) >= batch:
                caught_up += check()
        return caught_up + (check() if pending else 0)

    def _catch_up(self, old: Tables, new: Tables) -> int:
        """Rows the live projector advanced in the old generation while this rebuild ran."""
        newer = {key: version_of(row) for key, row in self.rows.rows(new)}
        projector = Projector(self.projection, None, self.events, lambda: new, rows=self.rows)
        caught_up = 0
        for key, row in self.rows.rows(old):
            if version_of(row) > newer.get(key, 0):
                projector.catch_up(new, key, version_of(row))
                caught_up += 1
        return caught_up
