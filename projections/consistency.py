"""Read your own writes: a row read once it has reached a version, waiting a bounded time for the projector.

A command's reply carries its consistency token: the aggregate's id and the version its commit made. A reader
that gives that version (`min_version`) is answered from the projection only once the row's `version` is at
least it; before that the row is re-read with a growing pause (20 ms doubling to 250 ms) until `wait` seconds
have passed, and then `RowBehindError` says so, with the version the row holds: a row older than the reader's
own write is never passed off as current.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from projections.definition import Row
from projections.errors import ProjectionError
from projections.items import version_of

#: The API's default bound on the wait for a row to reach a version (`QUERY_CONSISTENCY_WAIT`).
DEFAULT_WAIT = 2.0
FIRST_PAUSE = 0.02
LONGEST_PAUSE = 0.25


class RowBehindError(ProjectionError):
    """The row had not reached `wanted` after `waited` seconds; it holds `version` (0: no row yet)."""

    def __init__(self, key: str, wanted: int, version: int, waited: float) -> None:
        super().__init__(f"the projection's row {key!r} is at version {version}, behind the version {wanted} asked "
                         f"for (min_version), after waiting {waited:.2f} s: the projector has not reached it yet; "
                         f"ask again shortly")
        self.key = key
        self.wanted = wanted
        self.version = version
        self.waited = waited
        self.field = "min_version"


@dataclass(frozen=True)
class Patience:
    """How long to wait, and the clock and sleep to wait with (injected in tests)."""

    wait: float = DEFAULT_WAIT
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def parse_min_version(text: str | None) -> int | None:
    """A `min_version` as a query string or option gives it: a whole number from 1, or None when absent."""
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 12 or int(text) < 1:
        shown = text if len(text) <= 20 else f"{text[:20]}... ({len(text):,} characters)"
        raise InvalidVersionError(f"min_version must be a whole number from 1 (the version a command's reply "
                                  f"gave), not {shown!r}")
    return int(text)


class InvalidVersionError(ProjectionError):
    field = "min_version"


def read_at_least(read: Callable[[], Row | None], key: str, min_version: int | None,
                  patience: Patience | None = None) -> Row | None:
    """`read()`'s row once its version is at least `min_version` (at once when None); `RowBehindError` when it
    has not got there within `patience.wait` seconds. A row absent at the end is behind too (version 0)."""
    row = read()
    if min_version is None or version_of(row) >= min_version:
        return row
    patience = patience or Patience()
    start = patience.clock()
    pause = FIRST_PAUSE
    while True:
        left = patience.wait - (patience.clock() - start)
        if left <= 0:
            raise RowBehindError(key, min_version, version_of(row), patience.clock() - start)
        patience.sleep(min(pause, left))
        pause = min(pause * 2, LONGEST_PAUSE)
        row = read()
        if version_of(row) >= min_version:
            return row
