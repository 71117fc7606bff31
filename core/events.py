"""Events: immutable facts with a number, a type, a creation time and a payload.

Event types are past tense (`LoanApproved`). Payload fields read as attributes (`event.amount`), as the
original library's handlers read them.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

from core import codec
from core.errors import CodecError, IllegalEventError, UnencodablePayloadError

#: Keys of a commit mapping that are not payload fields.
RESERVED = frozenset(("type", "number", "created", "meta"))


class Event:
    """One event. `data` is its payload; payload fields are also attributes."""

    __slots__ = ("created", "data", "meta", "number", "type")

    number: int | None
    type: str
    created: datetime | None
    data: Mapping[str, Any]
    meta: Mapping[str, Any] | None

    def __init__(
        self,
        type: str,  # noqa: A002 - the original library's field name
        data: Mapping[str, Any] | None = None,
        number: int | None = None,
        created: datetime | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(type, str) or not type:
            raise IllegalEventError(f"event type must be a non-empty string, not {type!r}")
        if number is not None and (not isinstance(number, int) or isinstance(number, bool)):
            raise IllegalEventError(f"event number must be an int, not {number!r}", event_type=type, field="number")
        if created is not None and not isinstance(created, datetime):
            raise IllegalEventError(
                f"event created must be a datetime, not {created!r}", event_type=type, field="created"
            )
        if data is not None and not isinstance(data, Mapping):
            raise IllegalEventError(f"{type} payload must be a mapping, not {data!r}", event_type=type, field="data")
        if meta is not None and not isinstance(meta, Mapping):
            raise IllegalEventError(
                f"{type} meta must be a mapping of JSON-encodable values, not {builtins.type(meta).__name__} "
                f"({meta!r})",
                event_type=type,
                field="meta",
            )
        _set = object.__setattr__
        _set(self, "type", type)
        _set(self, "data", MappingProxyType(dict(data or {})))
        _set(self, "number", number)
        _set(self, "created", created)
        _set(self, "meta", MappingProxyType(dict(meta)) if meta else None)

    @classmethod
    def from_input(cls, value: Event | Mapping[str, Any]) -> Event:
        """Accept an `Event` or a mapping with payload fields at the top level (the original's shape).

        A plain dict (how commands and seeds arrive) is checked on exact types first and built as an `EventDraft`;
        anything unusual there (a bool number, a meta that is not a dict, a subclass) takes the general path
        below, which accepts or refuses it exactly as `__init__` does and words every refusal.
        """
        if type(value) is dict and cls is Event:
            data = value.copy()  # the payload: copied once, wrapped once
            event_type = data.pop("type", None)
            number = data.pop("number", None)
            created = data.pop("created", None)
            meta = data.pop("meta", None)
            if type(created) is str:  # parsed only when given
                try:
                    created = _parse_time(created)
                except ValueError:
                    event_type = None  # the general path words the refusal
            if (type(event_type) is str and event_type and (number is None or type(number) is int)
                    and (created is None or type(created) is datetime) and (meta is None or type(meta) is dict)):
                draft = EventDraft()
                draft.type = event_type
                draft.data = MappingProxyType(data)
                draft.number = number
                draft.created = created
                draft.meta = MappingProxyType(meta.copy()) if meta else None
                draft.__class__ = cls  # type: ignore[assignment]  # the same slots: now an immutable Event
                return draft  # type: ignore[return-value]  # an Event once its class is set above
        if isinstance(value, Event):
            return value
        if not isinstance(value, Mapping):
            raise IllegalEventError(f"an event must be a mapping or an Event, not {type(value).__name__}")
        if "type" not in value:
            raise IllegalEventError(f"event has no 'type': {dict(value)!r}", field="type")
        created = value.get("created")
        if isinstance(created, str):
            try:
                created = datetime.fromisoformat(created)
            except ValueError as exc:
                raise IllegalEventError(f"event created is not ISO-8601: {created!r}", field="created") from exc
        return cls(
            type=value["type"],
            data={k: v for k, v in value.items() if k not in RESERVED},
            number=value.get("number"),
            created=created,
            meta=value.get("meta"),
        )

    def replace(self, **changes: Any) -> Event:
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(changes)
        return Event(**fields)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(f"{self.type} has no field {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("events are immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __hash__(self) -> int:
        return hash((self.type, self.number))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.data.items())
        return f"Event({self.type}#{self.number}{': ' if fields else ''}{fields})"

    def __reduce__(  # pickling and copy go through __init__, since __setattr__ refuses
        self,
    ) -> tuple[builtins.type[Event], tuple[str, dict[str, Any], int | None, datetime | None, dict[str, Any] | None]]:
        return (Event, (self.type, dict(self.data), self.number, self.created,
                        dict(self.meta) if self.meta else None))


class EventDraft:
    """An event being built: Event's slots, in Event's order, without its refusal to be written to. Once its
    slots are set it becomes an `Event` (the layouts are the same), which costs less than five slot writes
    past `Event.__setattr__`."""

    __slots__ = Event.__slots__
    type: str
    data: Mapping[str, Any]
    number: int | None
    created: datetime | None
    meta: Mapping[str, Any] | None


class RecordedEvent(NamedTuple):
    """An event as the store keeps it: numbers, strings and encoded JSON, nothing the store must interpret."""

    number: int
    type: str
    created: str
    data: str
    meta: str | None = None
    #: The payload's schema version as the writer knew it (`core.upcasting`); 1, the default, is never stored.
    version: int = 1


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_record(event: Event, version: int = 1) -> RecordedEvent:
    """Encode a numbered, timestamped event for the store, at payload schema `version` (its type's today)."""
    if event.number is None or event.created is None:
        raise IllegalEventError(f"{event.type} must have a number and created before it is stored")
    created = event.created
    if created.tzinfo is None:
        raise IllegalEventError(f"{event.type} created is a naive datetime: give it a timezone", field="created")
    try:
        data = codec.encode(event.data)
        meta = codec.encode(event.meta, "meta") if event.meta else None
    except CodecError as exc:  # named by field, as the README promises: a float is a CodecError
        raise UnencodablePayloadError(f"{event.type}: {exc}", event_type=event.type, field=exc.field) from exc
    return RecordedEvent(
        event.number,
        event.type,
        created.astimezone(UTC).isoformat(timespec="microseconds"),
        data,
        meta,
        version,
    )


#: Decoded payloads by their stored text, for payloads of immutable values only (shared safely behind a
#: read-only proxy): a long loan repeats the same instalment, so most repayments decode once. Bounded.
_PAYLOADS: dict[str, MappingProxyType[str, Any]] = {}
_PAYLOADS_MAX = 1024
_PAYLOAD_TEXT_MAX = 128
_IMMUTABLE = frozenset((str, int, bool, type(None), Decimal, datetime))
_parse_time = datetime.fromisoformat


def clear_payload_cache() -> None:
    """Forget the decoded payloads kept by their stored text (a benchmark's cold start)."""
    _PAYLOADS.clear()


def cacheable(text: str, data: Mapping[str, Any]) -> bool:
    """True when a payload may be decoded once and shared by every event that stored the same `text`: short
    text (the tables stay small) holding only immutable values (a shared read-only payload stays unchanged)."""
    return len(text) <= _PAYLOAD_TEXT_MAX and all(type(value) in _IMMUTABLE for value in data.values())


def _payload(text: str) -> MappingProxyType[str, Any]:
    data = _PAYLOADS.get(text)
    if data is None:
        decoded = codec.decode(text)
        data = MappingProxyType(decoded)
        if cacheable(text, decoded):
            if len(_PAYLOADS) >= _PAYLOADS_MAX:
                _PAYLOADS.clear()
            _PAYLOADS[text] = data
    return data


def from_record(record: RecordedEvent) -> Event:
    """Decode a stored event. Raises `CodecError` naming the event when its stored form is damaged.

    The hot path of every reader but the fold (`core.aggregate.apply_records` keeps its own table of payloads).
    """
    text = record[3]
    try:
        data = _PAYLOADS.get(text) or _payload(text)
    except (CodecError, ValueError, TypeError) as exc:
        raise CodecError(f"stored event {record.type}#{record.number} cannot be decoded: {exc}") from exc
    return stored_event(record, record.type, data)


def stored_event(record: RecordedEvent, event_type: str, data: Mapping[str, Any]) -> Event:
    """The stored event `record` as an `Event` of `event_type` with the payload `data`, already decoded (and
    upcast) from the record's; the record's time and meta are decoded here, as `from_record` does."""
    number, _, created, _, meta = record[:5]
    try:
        event = EventDraft()
        event.type = event_type
        event.data = data
        event.number = number
        event.created = _parse_time(created)
        event.meta = MappingProxyType(codec.decode(meta)) if meta else None
    except (CodecError, ValueError, TypeError) as exc:
        raise CodecError(f"stored event {record.type}#{number} cannot be decoded: {exc}") from exc
    event.__class__ = Event  # type: ignore[assignment]  # the same slots: now an immutable Event
    return event  # type: ignore[return-value]  # an Event once its class is set above
