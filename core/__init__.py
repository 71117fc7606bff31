"""Event-sourced aggregates on DynamoDB: the core the rest of the service builds on."""

from core.aggregate import MAX_ID_BYTES, Aggregate, Resource, check_id
from core.codec import decode, encode
from core.dynamodb import DynamoDBEventStore
from core.errors import (
    CodecError,
    ConcurrencyError,
    ConfigurationError,
    EventSourcingError,
    EventTooLargeError,
    IllegalEventError,
    IllegalEventNumberError,
    InvalidIdError,
    StoredEventError,
    StoreError,
    StoreUnavailableError,
    UnencodablePayloadError,
    UnknownEventTypeError,
    VersionGapError,
)
from core.event_types import requires
from core.events import Event, RecordedEvent
from core.repository import Repository
from core.retry import execute
from core.store import EventStore, InMemoryEventStore

__all__ = [
    "MAX_ID_BYTES",
    "Aggregate",
    "CodecError",
    "ConcurrencyError",
    "ConfigurationError",
    "DynamoDBEventStore",
    "Event",
    "EventSourcingError",
    "EventStore",
    "EventTooLargeError",
    "IllegalEventError",
    "IllegalEventNumberError",
    "InMemoryEventStore",
    "InvalidIdError",
    "RecordedEvent",
    "Repository",
    "Resource",
    "StoreError",
    "StoreUnavailableError",
    "StoredEventError",
    "UnencodablePayloadError",
    "UnknownEventTypeError",
    "VersionGapError",
    "check_id",
    "decode",
    "encode",
    "execute",
    "requires",
]
