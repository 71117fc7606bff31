"""Run a command against an aggregate, re-hydrating and trying again when another writer got there first."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from core.aggregate import Aggregate
from core.errors import ConcurrencyError

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")


def execute(aggregate: A, command: Callable[[A], T], attempts: int = 5) -> T:
    """Hydrate, run `command(aggregate)` (which commits), and on `ConcurrencyError` catch up and retry.

    `commit` leaves the aggregate as it was on a conflict, so catching up reads only the events after it.
    The command must decide from the aggregate's state, since it may run more than once. A repository that
    caches aggregates may restore a fresh one without reading; the conditional append catches a stale cache.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    restore_cached = getattr(aggregate.repository, "restore_cached", None)
    for attempt in range(1, attempts + 1):
        if attempt > 1 or aggregate.version > 0 or restore_cached is None or not restore_cached(aggregate):
            aggregate.hydrate()
        try:
            return command(aggregate)
        except ConcurrencyError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
