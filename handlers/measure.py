"""What loading an aggregate costs: events read, requests, bytes and milliseconds, and the snapshot used."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from core.aggregate import Aggregate
from core.metering import RequestMeter
from core.repository import Until


def measure_hydrate(make: Callable[[str], Aggregate], aggregate_id: str,
                    meter: RequestMeter, until: Until | None = None) -> tuple[Aggregate, dict[str, Any]]:
    """Hydrate `make(aggregate_id)` from nothing (up to `until`, when given) and say what it cost."""
    before = meter.snapshot()
    started = time.perf_counter()
    aggregate = make(aggregate_id)
    loaded = aggregate.repository.hydrate(aggregate) if until is None else aggregate.repository.hydrate_until(
        aggregate, until)
    elapsed = (time.perf_counter() - started) * 1000
    requests, received = (now - then for now, then in zip(meter.snapshot(), before, strict=True))
    return aggregate, {"events_read": loaded.events_read, "requests": requests, "bytes": received,
                       "ms": round(elapsed, 1),
                       # The events folded after the snapshot (all of them when none was used), and why not.
                       "snapshot_version": loaded.snapshot_version, "tail_events": loaded.events_read,
                       "snapshot_skipped": loaded.snapshot_skipped}
