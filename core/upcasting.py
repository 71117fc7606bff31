"""Upcasting: stored events of an older payload schema, or of a renamed type, read as today's events.

An aggregate declares its event types' schema versions and the steps from each older one:

    class Loan(Aggregate):
        upcasting = Upcasting(versions={"LoanPaid": 2}, upcasters=(Upcaster("LoanPaid", 1, add_channel),))

A commit stores each event with its type's version today (absent, version 1, is not stored); every read of
the log that decodes events for that class (hydrate, `events()`, the projector, rebuild, verify, snapshot
backfill) runs `Upcasting.decode`, which applies the steps one at a time until the event is today's. Events
of types with no versions and no upcasters take the plain decoder, at the cost of one set lookup.

An upcaster is a pure function of the payload it is given (replays and snapshots already depend on that): a
payload of a few immutable values is decoded and upcast once per distinct stored text and kept, read-only, for
every later event that stored the same text (`Upcasting.payloads`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import UnknownSchemaVersionError, UpcastError
from core.events import Event, RecordedEvent, cacheable, from_record, stored_event

#: Payloads kept per `Upcasting`, at most (the table is emptied when full: a long log repeats few payloads).
PAYLOADS_MAX = 1024

#: What an upcaster does: an older payload (a fresh dict it may change) in, the next version's payload out.
Change = Callable[[dict[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class Upcaster:
    """One step: events stored as `type` at schema `version` become `to_type` (default: the same type) at
    `to_version` (default: `version + 1` for the same type, 1 for a renamed one), their payload `change`d."""

    type: str
    version: int
    change: Change
    to_type: str | None = None
    to_version: int | None = None

    def target(self) -> tuple[str, int]:
        """The type and version an event has after this step."""
        to_type = self.to_type or self.type
        if self.to_version is not None:
            return to_type, self.to_version
        return to_type, self.version + 1 if to_type == self.type else 1


class Upcasting:
    """An aggregate's event schema: today's version of each type (absent: 1) and the upcasters from older ones.

    Declaration mistakes are refused when the class is built, not when an old event is first read: a version
    below 1, two steps from one (type, version), a step that does not move forward or lands past today.
    """

    def __init__(self, versions: Mapping[str, int] | None = None, upcasters: Iterable[Upcaster] = ()) -> None:
        self.versions: dict[str, int] = {}
        for event_type, version in sorted((versions or {}).items()):
            _check_version(f"versions[{event_type!r}]", version)
            self.versions[event_type] = version
        self.steps: dict[tuple[str, int], Upcaster] = {}
        for step in upcasters:
            self._add(step)
        #: Types whose stored events may need a step: anything else at version 1 takes the plain decoder.
        self._attention = frozenset(event_type for event_type, version in self.versions.items() if version > 1) \
            | frozenset(event_type for event_type, _ in self.steps)
        #: Today's type and read-only payload by stored (type, schema version, payload text), for payloads
        #: `core.events.cacheable` admits: what `decode` looks up before it decodes anything.
        self.payloads: dict[tuple[str, int, str], tuple[str, Mapping[str, Any]]] = {}

    def _add(self, step: Upcaster) -> None:
        if not isinstance(step, Upcaster):
            raise TypeError(f"upcasters must be Upcaster objects, not {type(step).__name__}")
        _check_version(f"the upcaster of {step.type}", step.version)
        if not callable(step.change):
            raise TypeError(f"the upcaster of {step.type} v{step.version} has a `change` that is not callable")
        key = (step.type, step.version)
        if key in self.steps:
            raise ValueError(f"two upcasters from {step.type} v{step.version}: keep one")
        to_type, to_version = step.target()
        _check_version(f"the upcaster of {step.type} v{step.version}'s target", to_version)
        if to_type == step.type and to_version <= step.version:
            raise ValueError(f"the upcaster of {step.type} v{step.version} must move to a later version, "
                             f"not v{to_version}")
        if step.type in self.versions and step.version >= self.versions[step.type] and to_type == step.type:
            raise ValueError(f"the upcaster of {step.type} v{step.version} starts at or past today's "
                             f"version {self.versions[step.type]}")
        if to_version > self.version_of(to_type):
            raise ValueError(f"the upcaster of {step.type} v{step.version} lands at {to_type} v{to_version}, past "
                             f"today's version {self.version_of(to_type)}: declare it in `versions`")
        self.steps[key] = step

    def version_of(self, event_type: str) -> int:
        """Today's schema version of `event_type`: what a commit stores with it."""
        return self.versions.get(event_type, 1)

    def decode(self, record: RecordedEvent) -> Event:
        """The stored event as today's `Event`: decoded, then upcast step by step when it needs it."""
        found = self.payloads.get((record.type, record.version, record.data))
        if found is None:
            return self._decode(record)
        return stored_event(record, *found)

    def _decode(self, record: RecordedEvent) -> Event:
        event = self._decode_uncached(record)
        if cacheable(record.data, event.data):
            if len(self.payloads) >= PAYLOADS_MAX:
                self.payloads.clear()
            self.payloads[(record.type, record.version, record.data)] = (event.type, event.data)
        return event

    def _decode_uncached(self, record: RecordedEvent) -> Event:
        event_type, version = record.type, record.version
        if version == 1 and event_type not in self._attention:
            return from_record(record)
        if version == self.versions.get(event_type, 1) and (event_type, version) not in self.steps:
            return from_record(record)  # already today's
        return self._upcast(record, from_record(record))

    def _upcast(self, record: RecordedEvent, event: Event) -> Event:
        label = f"{record.type}#{record.number}"
        event_type, version = record.type, record.version
        data: dict[str, Any] = dict(event.data)
        for _ in range(len(self.steps) + 1):
            step = self.steps.get((event_type, version))
            if step is None:
                known = self.version_of(event_type)
                if version > known:
                    raise UnknownSchemaVersionError(label, event_type, version, known)
                if version < known:
                    raise UpcastError(label, event_type, version, f"no upcaster from {event_type} v{version} "
                                      f"(today's is v{known})")
                if event_type == record.type and version == record.version:
                    return event
                return Event(event_type, data, event.number, event.created, event.meta)
            data = _run(step, data, label)
            event_type, version = step.target()
        raise UpcastError(label, record.type, record.version, "its upcasters go round in a loop")

    def describe(self) -> tuple[Any, ...]:
        """What the snapshot fingerprint hashes: the versions and each step's declaration (its code separately)."""
        return (tuple(self.versions.items()),
                tuple((key, step.target()) for key, step in sorted(self.steps.items())))


def _run(step: Upcaster, data: dict[str, Any], label: str) -> dict[str, Any]:
    name = getattr(step.change, "__qualname__", type(step.change).__name__)
    try:
        out = step.change(data)
    except Exception as exc:  # the upcaster's bug, named with the event it was given
        raise UpcastError(label, step.type, step.version,
                          f"its upcaster {name} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(out, Mapping):
        raise UpcastError(label, step.type, step.version,
                          f"its upcaster {name} returned {type(out).__name__}, not a payload mapping")
    for key, value in out.items():
        if not isinstance(key, str):
            raise UpcastError(label, step.type, step.version,
                              f"its upcaster {name} returned a payload with a {type(key).__name__} key {key!r}")
        if isinstance(value, float):
            raise UpcastError(label, step.type, step.version, f"its upcaster {name} returned a float for {key!r}: "
                              "use Decimal, floats cannot hold money exactly")
    return dict(out)


def _check_version(what: str, version: object) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{what} must be a schema version (a whole number from 1), not {version!r}")


#: The schema of a class that declares none: every type at version 1, so a later stored version is refused.
PLAIN = Upcasting()


def stored_decoder(upcasting: Upcasting | None) -> Callable[[RecordedEvent], Event]:
    """The decoder of stored events for a class with `upcasting` (None: every type at version 1)."""
    return (upcasting or PLAIN).decode
