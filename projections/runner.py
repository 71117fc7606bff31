"""The stream runner: plays Lambda's event source mapping against DynamoDB Streams (moto locally).

It discovers shards, reads batches (`batch_size` records or whatever arrived within `window` seconds),
hands the handler Lambda-shaped events, and on failure retries from the lowest failed sequence number,
bisecting a failing batch, up to `max_retries` times; then it sends the failed records to the on-failure
destination and moves on. Every poll takes a fresh AFTER_SEQUENCE_NUMBER iterator (docs/local-aws.md, "A
fresh iterator on every poll").
Its position in each shard is recorded after every delivered batch (in the control table, see
`projections.tables.Control.position`), so a runner in another process resumes from it. A runner that
cannot reach its stream or stores backs off and resumes (`run`), and records a heartbeat in the control
table (`Control.record_heartbeat`) so a dead or stalled runner shows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from projections.errors import MalformedRecordError
from projections.lag import Heartbeat, created_seconds
from projections.records import lambda_record, parse_record, stream_table

logger = logging.getLogger(__name__)
#: What a runner backs off from rather than dying: the stream or a store it writes cannot be reached.
UNREACHABLE = (BotoCoreError, ClientError, OSError)
#: The longest a runner waits between attempts while its stream is unreachable (seconds).
MAX_BACKOFF = 5.0

#: handler(event, context) -> {"batchItemFailures": [{"itemIdentifier": sequence}, ...]}
Handler = Callable[[dict[str, Any], Any], Any]
#: on_failure(records, reason) receives the records given up on.
OnFailure = Callable[[list[dict[str, Any]], str], None]
#: heartbeats(events_table, beat) records the sign of life of the runner of that table's stream.
Beat = Callable[[str, Heartbeat], None]


class Positions(Protocol):
    """Where a runner records the last sequence number it delivered from each shard of a stream."""

    def position(self, stream_arn: str, shard_id: str) -> str | None: ...

    def record_position(self, stream_arn: str, shard_id: str, sequence: str) -> None: ...


class MemoryPositions:
    """Positions kept in this process only (a runner forgets them when it exits)."""

    def __init__(self) -> None:
        self._positions: dict[tuple[str, str], str] = {}

    def position(self, stream_arn: str, shard_id: str) -> str | None:
        return self._positions.get((stream_arn, shard_id))

    def record_position(self, stream_arn: str, shard_id: str, sequence: str) -> None:
        self._positions[(stream_arn, shard_id)] = sequence


@dataclass(frozen=True)
class RunnerSettings:
    batch_size: int = 100
    window: float = 0.5
    max_retries: int = 2
    bisect: bool = True
    poll_interval: float = 0.1
    start: str = "TRIM_HORIZON"


@dataclass(frozen=True)
class LocalContext:
    """What powertools' Logger reads from a Lambda context."""

    function_name: str = "projector"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:projector"
    aws_request_id: str = "local"


class StreamRunner:
    """Feeds one table's stream to a handler, as Lambda would."""

    def __init__(self, streams: Any, stream_arn: str, handler: Handler, on_failure: OnFailure,
                 settings: RunnerSettings | None = None, region: str = "us-east-1",
                 positions: Positions | None = None, heartbeats: Beat | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.streams = streams
        self.stream_arn = stream_arn
        self.handler = handler
        self.on_failure = on_failure
        self.settings = settings or RunnerSettings()
        self.region = region
        self.store = positions or MemoryPositions()
        self.positions: dict[str, str | None] = {}
        self.invocations = 0
        self.delivered = 0
        self.given_up = 0
        self.idle = threading.Event()
        #: records this runner's sign of life (`Control.record_heartbeat`), at most once a second
        self.heartbeats = heartbeats
        self.clock = clock
        self._last_beat = 0.0

    def shards(self) -> list[str]:
        """Shard ids, parents before children, so each item's records stay in order."""
        shards: list[dict[str, Any]] = []
        request: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self.streams.describe_stream(**request)["StreamDescription"]
            shards.extend(description.get("Shards", ()))
            if not description.get("LastEvaluatedShardId"):
                break
            request["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
        known = {shard["ShardId"] for shard in shards}
        return sorted(known, key=lambda shard_id: _depth(shard_id, shards, known))

    def run_once(self) -> int:
        """One pass over every shard; returns the number of records delivered."""
        delivered = 0
        for shard_id in self.shards():
            batch = self._collect(shard_id)
            if batch:
                self._deliver(shard_id, batch)
                delivered += len(batch)
        if delivered == 0:
            self.idle.set()
        else:
            self.idle.clear()
        return delivered

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set. When the stream or the stores cannot be reached (the local stack stopped,
        a table deleted), back off (doubling up to `MAX_BACKOFF` seconds) and resume from the recorded
        positions once they answer; one log line says it went away, one that it is back."""
        away: float | None = None
        delay = self.settings.poll_interval
        while not stop.is_set():
            try:
                count = self.run_once()
            except UNREACHABLE as exc:
                if away is None:
                    away = time.monotonic()
                    logger.warning("projector: stream %s unreachable (%s: %s); backing off and retrying",
                                   self.stream_arn, type(exc).__name__, _first_line(exc))
                self.beat("backing off", f"{type(exc).__name__}: {_first_line(exc)}")
                delay = min(MAX_BACKOFF, max(delay * 2, self.settings.poll_interval, 0.1))
                stop.wait(delay)
                continue
            if away is not None:
                logger.warning("projector: stream %s reachable again after %.1f s; resumed from the recorded "
                               "positions", self.stream_arn, time.monotonic() - away)
                away, delay = None, self.settings.poll_interval
            self.beat("running")
            if count == 0:
                stop.wait(self.settings.poll_interval)

    def beat(self, state: str, error: str = "") -> None:
        """Record a heartbeat (at most once a second while running); a failure to record it is not fatal."""
        now = self.clock()
        if self.heartbeats is None or (state == "running" and now - self._last_beat < 1.0):
            return
        try:
            self.heartbeats(stream_table(self.stream_arn) or self.stream_arn, Heartbeat(now, state, error))
            self._last_beat = now
        except UNREACHABLE:
            self._last_beat = 0.0

    def pending(self) -> float | None:
        """The `created` (epoch seconds) of the oldest event the stream holds after the recorded position of
        each shard, or None when no shard holds one: one GetRecords per shard, nothing delivered."""
        oldest: float | None = None
        for shard_id in self.shards():
            after = self.positions.get(shard_id) or self.store.position(self.stream_arn, shard_id)
            for record in self._poll(shard_id, after, 100):
                try:
                    item = parse_record(record)
                except MalformedRecordError:
                    continue
                created = created_seconds(item.event.created) if item is not None else None
                if created is not None:
                    oldest = created if oldest is None else min(oldest, created)
                    break
        return oldest

    def drain(self, max_passes: int = 10_000) -> int:
        """Deliver until a pass finds nothing new (tests and `aws-es project --once`)."""
        total = 0
        for _ in range(max_passes):
            count = self.run_once()
            total += count
            if count == 0:
                return total
        return total

    def _poll(self, shard_id: str, after: str | None, limit: int) -> list[dict[str, Any]]:
        request: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard_id}
        if after:
            request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        else:
            request["ShardIteratorType"] = self.settings.start
        iterator = self.streams.get_shard_iterator(**request).get("ShardIterator")
        if not iterator:
            return []
        records = self.streams.get_records(ShardIterator=iterator, Limit=limit).get("Records", [])
        return [lambda_record(record, self.stream_arn, self.region) for record in records]

    def _collect(self, shard_id: str) -> list[dict[str, Any]]:
        """Up to `batch_size` records, waiting at most `window` seconds for a batch to fill."""
        size = self.settings.batch_size
        if shard_id not in self.positions:
            self.positions[shard_id] = self.store.position(self.stream_arn, shard_id)
        batch = self._poll(shard_id, self.positions[shard_id], size)
        deadline = time.monotonic() + self.settings.window
        while batch and len(batch) < size and time.monotonic() < deadline:
            time.sleep(min(self.settings.poll_interval, max(0.0, deadline - time.monotonic())))
            batch += self._poll(shard_id, _sequence(batch[-1]), size - len(batch))
        return batch

    def _deliver(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        pending: list[tuple[list[dict[str, Any]], int]] = [(records, 0)]
        while pending:
            batch, attempts = pending.pop(0)
            failed_at = self._invoke(batch)
            if failed_at is None:
                self._advance(shard_id, batch)
                continue
            self._advance(shard_id, batch[:failed_at])
            batch = batch[failed_at:]
            if self.settings.bisect and len(batch) > 1:
                half = len(batch) // 2
                pending[0:0] = [(batch[:half], 0), (batch[half:], 0)]
            elif attempts < self.settings.max_retries:
                pending.insert(0, (batch, attempts + 1))
            else:
                self.on_failure(batch, f"failed {attempts + 1} times on shard {shard_id}")
                self.given_up += len(batch)
                self._advance(shard_id, batch)

    def _invoke(self, batch: list[dict[str, Any]]) -> int | None:
        """Index of the lowest failed record, or None when the whole batch succeeded."""
        self.invocations += 1
        try:
            response = self.handler({"Records": batch}, LocalContext())
        except Exception:  # a function error fails the whole batch, as on Lambda
            return 0
        failures = {item.get("itemIdentifier") for item in (response or {}).get("batchItemFailures", ())}
        if not failures:
            return None
        indexes = [i for i, record in enumerate(batch) if _sequence(record) in failures]
        return min(indexes) if indexes else 0

    def _advance(self, shard_id: str, batch: list[dict[str, Any]]) -> None:
        if batch:
            sequence = self.positions[shard_id] = _sequence(batch[-1])
            self.store.record_position(self.stream_arn, shard_id, sequence)
            self.delivered += len(batch)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:200]


def _sequence(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def _depth(shard_id: str, shards: list[dict[str, Any]], known: set[str]) -> int:
    parents = {shard["ShardId"]: shard.get("ParentShardId") for shard in shards}
    depth, parent = 0, parents.get(shard_id)
    while parent in known and depth < len(known):
        depth, parent = depth + 1, parents.get(parent)
    return depth
