"""The read side: projection declarations, the idempotent projector, the stream runner, and rebuilds.

Generic machinery only: it builds on `core`, never on the loan domain or the entry points above it.
"""

from projections.definition import Projection
from projections.errors import (
    ForeignRecordError,
    GapError,
    MalformedRecordError,
    ProjectionError,
    RowsUnavailableError,
    UnfoldableEventError,
    UnknownProjectionError,
)
from projections.projector import BatchCounts, Projector, StreamEvent

__all__ = [
    "BatchCounts",
    "ForeignRecordError",
    "GapError",
    "MalformedRecordError",
    "Projection",
    "ProjectionError",
    "Projector",
    "RowsUnavailableError",
    "StreamEvent",
    "UnfoldableEventError",
    "UnknownProjectionError",
]
