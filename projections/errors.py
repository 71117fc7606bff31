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


class UnfoldableEventError(ProjectionError):
    """Raised when a projection meets a stored event it cannot fold: an event type it does not know (a
    `strict` projection), a payload that does not decode, or a fold that fails on it. Names the aggregate,
    the event's number and type, and the reason, so the event can be found in the log."""

    def __init__(self, projection: str, aggregate_id: str, number: int, event_type: str, reason: str) -> None:
        super().__init__(f"{projection} cannot fold event {event_type}#{number} of {aggregate_id!r}: {reason}")
        self.projection = projection
        self.aggregate_id = aggregate_id
        self.number = number
        self.event_type = event_type
        self.reason = reason


class ForeignRecordError(MalformedRecordError):
    """Raised when a stream record comes from a stream other than the events table's (its `eventSourceARN`
    names another table): it is reported as failed and never folded."""


class RowsUnavailableError(ProjectionError):
    """Raised when a projection's rows cannot be read for now (throttling, 5xx, keys left unprocessed after
    every attempt): the aggregates' records are reported as failed and redelivered later. `cause` keeps the
    underlying error, if any; `keys` the aggregate ids whose rows were not read."""

    def __init__(self, message: str, *, keys: tuple[str, ...] = (), cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.keys = keys
        self.cause = cause


class StaleRowError(ProjectionError):
    """Raised by a projection store's write when the row is no longer at the version it was read at: another
    writer moved it first. Nothing is written; the projector re-reads the row and folds again."""
