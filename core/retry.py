"""Run a command against an aggregate, re-hydrating and trying again when another writer got there first."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from core.aggregate import Aggregate
from core.errors import ConcurrencyError, IllegalEventError

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")


def execute(aggregate: A, command: Callable[[A], T], attempts: int = 5) -> T:
    """Hydrate, run `command(aggregate)` (which commits), and on `ConcurrencyError` catch up and retry.

    `commit` leaves the aggregate as it was on a conflict, so catching up reads only the events after it.
    The command must decide from the aggregate's state, since it may run more than once. A repository that
    caches aggregates may restore a fresh one without reading; the conditional append catches a stale cache,
    and a refusal decided on cached state is decided again after catching up.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    restore_cached = getattr(aggregate.repository, "restore_cached", None)
    for attempt in range(1, attempts + 1):
        cached = attempt == 1 and aggregate.version == 0 and restore_cached is not None and restore_cached(aggregate)
        if not cached:
            aggregate.hydrate()
        try:
            return command(aggregate)
        except ConcurrencyError:
            if attempt == attempts:
                raise
        except IllegalEventError:
            # A refusal decided on cached state may be stale (another process moved the aggregate on):
            # catch up, and decide again only if there was something to catch up on.
            if not cached or aggregate.repository.hydrate(aggregate).events_read == 0:
                raise
            return execute(aggregate, command, attempts)  # now hydrated, so no cache: this recursion ends
    raise AssertionError("unreachable")  # pragma: no cover
