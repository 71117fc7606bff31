"""What one call did to the snapshot counters (`snapshots.repository.COUNTERS`), under metric names.

A Lambda entry point publishes the counts each invocation caused, and
`aws-es hydrate` prints them; the library itself only counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from snapshots.repository import COUNTERS

#: Counter name -> metric name. Skips have one metric per reason and `SnapshotSkipped`, their sum.
METRICS = {
    "hit": "SnapshotHit",
    "cache_hit": "SnapshotCacheHit",
    "skipped_stale": "SnapshotSkippedStale",
    "skipped_corrupt": "SnapshotSkippedCorrupt",
    "skipped_impossible": "SnapshotSkippedImpossible",
    "skipped_unavailable": "SnapshotSkippedUnavailable",
    "written": "SnapshotWritten",
    "write_failed": "SnapshotWriteFailed",
}


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Yields a Counter that holds, once the block ends (even by an exception), what the block added.

    The counters are process-wide: in a Lambda (one invocation at a time) the difference is exactly the
    invocation's; with threads sharing a process it includes theirs.
    """
    before = COUNTERS.copy()
    added: Counter[str] = Counter()
    try:
        yield added
    finally:
        added.update({name: COUNTERS[name] - before[name] for name in COUNTERS if COUNTERS[name] > before[name]})


def metric_values(counts: Counter[str]) -> dict[str, int]:
    """Every snapshot metric (zero when nothing happened, so alarms see data points) and the skip total."""
    values = {metric: counts[name] for name, metric in METRICS.items()}
    values["SnapshotSkipped"] = sum(counts[name] for name in METRICS if name.startswith("skipped_"))
    return values
