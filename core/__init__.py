"""Event-sourced aggregates on DynamoDB: the core the rest of the service builds on."""

from core.aggregate import Aggregate, Resource, requires
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
    StoreError,
    StoreUnavailableError,
    UnknownEventTypeError,
)
from core.events import Event, RecordedEvent
from core.repository import Repository
from core.retry import execute
from core.store import EventStore, InMemoryEventStore

__all__ = [
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
    "RecordedEvent",
    "Repository",
    "Resource",
    "StoreError",
    "StoreUnavailableError",
    "UnknownEventTypeError",
    "decode",
    "encode",
    "execute",
    "requires",
]
