"""Errors of the read side, all under the library's one root `EventSourcingError`."""

from __future__ import annotations

from core.errors import EventSourcingError


class ProjectionError(EventSourcingError):
    """Raised when a projection cannot be applied, read or rebuilt for a reason other than bad input."""


class MalformedRecordError(ProjectionError):
    """Raised when a stream record lacks a field it must have or holds one of the wrong shape.

    The projector reports that one record as failed; the rest of its batch is still applied.
    """


class UnknownProjectionError(ProjectionError):
    """Raised when a name (command line, configuration) names no declared projection."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown projection {name!r}: choose one of {', '.join(sorted(known))}")
        self.name = name


class GapError(ProjectionError):
    """Raised when the event store cannot supply the events between a row's version and a stream record."""


class WriteConflictError(ProjectionError):
    """Raised when a row kept changing under the projector for every one of its attempts."""
