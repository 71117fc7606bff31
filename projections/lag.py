"""Commit-to-visible lag, and whether a projection is idle, behind or stuck.

Lag is measured per event folded: the time from the event's `created` (its commit) to the moment the
projector's write of its row returned (`BatchCounts.visible`). Each batch publishes p50, p99 and max per
projection (`LagFigures`).

Whether work is waiting is known without scanning the log. After every batch the projector records, per
projection, one control item (`Progress`): the newest `created` it was delivered (`seen`), the newest it made
visible (`projected`), when (`written`), and, when the batch left events unprojected, the `created` of the
oldest of them (`behind_since`). What has not been delivered yet is read from the stream itself
(`StreamRunner.pending`: one GetRecords per shard after the runner's recorded position; on AWS, the event
source mapping's IteratorAge). `assess` combines the two:

- idle: nothing waits (everything delivered was projected, the stream holds nothing after the position);
- behind: something waits, for less than `stuck_after` seconds;
- stuck: something has waited longer than `stuck_after` seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

#: Seconds an event may wait unprojected before its projection counts as stuck (`PROJECTION_STUCK_SECONDS`).
STUCK_AFTER = 60.0
#: Seconds without a heartbeat after which a local stream runner counts as stalled.
STALLED_AFTER = 15.0


def created_seconds(created: str) -> float | None:
    """An event's `created` (ISO 8601 with a zone) as epoch seconds, or None when it is not one."""
    try:
        moment = datetime.fromisoformat(created)
    except (TypeError, ValueError):
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


@dataclass(frozen=True)
class LagFigures:
    """Commit-to-visible lag of the events of one batch, in seconds (nearest-rank percentiles)."""

    count: int
    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, lags: Sequence[float]) -> LagFigures | None:
        if not lags:
            return None
        ordered = sorted(lags)
        return cls(len(ordered), _rank(ordered, 0.50), _rank(ordered, 0.99), ordered[-1])

    def metrics(self) -> dict[str, float]:
        return {"CommitToVisibleP50Seconds": self.p50, "CommitToVisibleP99Seconds": self.p99,
                "CommitToVisibleMaxSeconds": self.max}


def _rank(ordered: Sequence[float], fraction: float) -> float:
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass(frozen=True)
class Progress:
    """What one projection's latest batch saw and made visible (epoch seconds; None: nothing yet)."""

    seen: float | None = None
    projected: float | None = None
    written: float | None = None
    behind_since: float | None = None
    figures: LagFigures | None = None

    @classmethod
    def of_batch(cls, delivered: Iterable[str], unprojected: Iterable[str], newest_projected: float | None,
                 written: float, figures: LagFigures | None) -> Progress:
        """From the `created` of the events delivered and of those left unprojected."""
        seen = [moment for created in delivered if (moment := created_seconds(created)) is not None]
        left = [moment for created in unprojected if (moment := created_seconds(created)) is not None]
        return cls(max(seen, default=None), newest_projected, written if newest_projected is not None else None,
                   min(left, default=None), figures)

    def after(self, previous: Progress | None) -> Progress:
        """This batch's progress over the one recorded: newest times kept, `behind_since` from this batch."""
        if previous is None:
            return self
        return Progress(_newest(self.seen, previous.seen), _newest(self.projected, previous.projected),
                        _newest(self.written, previous.written), self.behind_since,
                        self.figures or previous.figures)

    def item(self) -> dict[str, int | str]:
        """As a control item's attributes (milliseconds)."""
        values: dict[str, int | str] = {}
        for name in ("seen", "projected", "written", "behind_since"):
            moment = getattr(self, name)
            if moment is not None:
                values[name] = round(moment * 1000)
        if self.figures is not None:
            values.update(count=self.figures.count, p50=round(self.figures.p50 * 1000),
                          p99=round(self.figures.p99 * 1000), max=round(self.figures.max * 1000))
        return values

    @classmethod
    def from_item(cls, item: Mapping[str, int | str] | None) -> Progress | None:
        if not item:
            return None

        def seconds(name: str) -> float | None:
            value = item.get(name)
            return int(value) / 1000 if value is not None else None

        figures = None
        if "p99" in item:
            figures = LagFigures(int(item.get("count", 0)), int(item["p50"]) / 1000, int(item["p99"]) / 1000,
                                 int(item["max"]) / 1000)
        return cls(seconds("seen"), seconds("projected"), seconds("written"), seconds("behind_since"), figures)


def _newest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass(frozen=True)
class Health:
    """One projection's state for `aws-es project --status` and the dashboard."""

    state: str  # "idle", "behind", "stuck" or "never projected"
    waiting_seconds: float | None
    last_projected_seconds: float | None
    figures: LagFigures | None
    reason: str

    def view(self) -> dict[str, object]:
        figures = self.figures
        return {"state": self.state, "reason": self.reason, "waiting_seconds": self.waiting_seconds,
                "last_projected_seconds": self.last_projected_seconds,
                "lag": None if figures is None else {"p50": figures.p50, "p99": figures.p99, "max": figures.max,
                                                     "events": figures.count}}


def assess(progress: Progress | None, pending_since: float | None, now: float,
           stuck_after: float = STUCK_AFTER) -> Health:
    """Idle, behind or stuck, from the recorded progress and the `created` of the oldest undelivered event."""
    figures = progress.figures if progress else None
    last = now - progress.written if progress and progress.written is not None else None
    waits = [(now - since, why) for since, why in (
        (progress.behind_since if progress else None, "the last batch left events unprojected"),
        (pending_since, "the stream holds events not yet delivered")) if since is not None]
    if waits:
        waiting, why = max(waits)
        waiting = max(0.0, waiting)
        state = "stuck" if waiting > stuck_after else "behind"
        return Health(state, waiting, last, figures, f"{why}; the oldest has waited {waiting:,.1f} s"
                      + (f" (over {stuck_after:g} s)" if state == "stuck" else ""))
    if progress is None or progress.seen is None:
        return Health("never projected", None, last, figures, "no event delivered yet, none waiting")
    return Health("idle", 0.0, last, figures, "nothing to do: every event delivered is projected and the "
                  "stream holds nothing newer")


@dataclass(frozen=True)
class Heartbeat:
    """A local stream runner's last sign of life (epoch seconds) and what it was doing."""

    at: float
    state: str  # "running" or "backing off"
    error: str = ""

    def item(self) -> dict[str, int | str]:
        values: dict[str, int | str] = {"at": round(self.at * 1000), "state": self.state}
        if self.error:
            values["error"] = self.error[:500]
        return values

    @classmethod
    def from_item(cls, item: Mapping[str, int | str] | None) -> Heartbeat | None:
        if not item or "at" not in item:
            return None
        return cls(int(item["at"]) / 1000, str(item.get("state", "running")), str(item.get("error", "")))

    def view(self, now: float, stalled_after: float = STALLED_AFTER) -> dict[str, object]:
        age = max(0.0, now - self.at)
        state = "stalled or stopped" if age > stalled_after else self.state
        return {"state": state, "age_seconds": age, "error": self.error or None}


class ProgressSource(Protocol):
    """Where progress and heartbeats are recorded (`projections.tables.Control`)."""

    def progress(self, name: str) -> Progress | None: ...

    def heartbeat(self, events_table: str) -> Heartbeat | None: ...


def projection_health(control: ProgressSource, projection: str, events_table: str, now: float,
                      pending_since: float | None = None, stuck_after: float = STUCK_AFTER,
                      stalled_after: float = STALLED_AFTER) -> dict[str, object]:
    """A projection's health as plain data: its state and why, its last batch's lag figures, how long ago it
    last made a row visible, and the local runner's heartbeat (None where no local runner ran, as on AWS)."""
    view = assess(control.progress(projection), pending_since, now, stuck_after).view()
    beat = control.heartbeat(events_table)
    view["runner"] = beat.view(now, stalled_after) if beat else None
    return view
