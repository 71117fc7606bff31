"""The aggregate base: state folded from events, with the original library's surface.

`events()`, `hydrate(events=None)`, `apply(events)` and `commit(event)`. The handler for an event of type
`LoanCreated` is the method `on_loan_created(self, event)`. Handlers do no I/O and read no clock: the time
comes in as `event.created`.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, overload

from core import codec
from core.errors import (
    CodecError,
    EventSourcingError,
    IllegalEventError,
    IllegalEventNumberError,
    InvalidIdError,
    InvalidReadError,
    StoredEventError,
)
from core.event_types import canonical_type, check_fields, handler_name, unknown_type
from core.events import Event, EventDraft, RecordedEvent, stored_event, to_record, utc_now
from core.provider import provider
from core.upcasting import PLAIN, Upcasting, stored_decoder

if TYPE_CHECKING:
    from core.repository import Repository
    from core.store import EventStore, KeyMarker

    #: Builds an idempotency marker from the aggregate after it folded the events, before they are written.
    MarkerFactory = Callable[["Aggregate", list[Event]], KeyMarker]

EventInput = Event | Mapping[str, Any]

#: A stored payload as a fold needs it: today's type, the read-only payload, the handler whose required fields
#: it was found to hold, and the schema version it was stored at.
Fold = tuple[str, Mapping[str, Any], Callable[..., Any], int]
#: What a class's fold has learnt: stored type -> stored payload text -> its `Fold`.
Folds = dict[str, dict[str, Fold]]

#: Attributes every aggregate has that are not part of its folded state.
FRAMEWORK_ATTRIBUTES = frozenset(("id", "table", "version"))


#: The longest aggregate id, in UTF-8 bytes: far below DynamoDB's 2,048-byte partition key, and short enough
#: that an S3 snapshot key (prefix, type, percent-encoded id) stays under S3's 1,024 bytes.
MAX_ID_BYTES = 256


def check_id(value: object) -> str:
    """The id if it is a usable aggregate key, else `InvalidIdError` saying why (before any request)."""
    if not isinstance(value, str) or not value:
        raise InvalidIdError(f"id must be a non-empty string, not {value!r}", value=value)
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_ID_BYTES:
        raise InvalidIdError(f"id is {size:,} bytes of UTF-8; an id may have at most {MAX_ID_BYTES}", value=value)
    if any(ord(char) < 32 or ord(char) == 127 or 0xD800 <= ord(char) <= 0xDFFF for char in value):
        raise InvalidIdError(f"id {value!r} holds a control character or a lone surrogate", value=value)
    return value


class Resource:
    """Anything with an id, as in the original library: a new uuid4 when none is given."""

    def __init__(self, id: str | None = None) -> None:  # noqa: A002 - the original library's name
        self.id = str(uuid.uuid4()) if id is None else check_id(id)


class Aggregate(Resource):
    """Base class of event-sourced aggregates.

    Subclasses set `table` (the events table's default name) and define `on_<event_type>` handlers. Built with
    a `store` or `repository`, an aggregate uses it and its table is `table` or the declared one; built with
    neither, it asks the provider bound in `core.provider` for both.
    """

    #: The events table's default name, set by a subclass (`table = "Loans"`; unset, the class name plus "s");
    #: an instance holds the name it uses, so it is an instance attribute with a class default.
    table: str = ""
    #: Bump to invalidate stored snapshots by hand; they are also invalidated when a handler's code changes.
    snapshot_version: ClassVar[int] = 0
    #: The event types' schema versions and the upcasters from older ones (`core.upcasting`); None: all at 1.
    upcasting: ClassVar[Upcasting | None] = None
    #: Personal payload fields per event type (`{"LoanCreated": ("borrower_name",)}`): sealed under the key of
    #: their subject before they are stored (see `core.personal`); `personal_subject` is the payload field that
    #: names the subject, the aggregate's id when unset or absent from an event.
    personal: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    personal_subject: ClassVar[str | None] = None
    _dispatch: ClassVar[dict[str, tuple[Callable[..., Any], tuple[tuple[str, Any], ...]]]]
    #: True once `hydrate(events)` or `apply` advanced the version without the store; cleared when events are
    #: read from the store or a commit lands. The next append then asks the store to prove it holds event
    #: `version` first, so no gap is ever written (see `core.repository.Repository.append`).
    _ahead_of_store: bool = False

    #: What `apply_records` learnt of stored payloads, for the `upcasting` it learnt it under (see there).
    _folds: ClassVar[tuple[Upcasting | None, Folds]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._dispatch = {}
        cls._folds = (None, {})

    def __init__(
        self,
        id: str | None = None,  # noqa: A002 - the original library's name
        table: str | None = None,
        *,
        store: EventStore | None = None,
        repository: Repository | None = None,
    ) -> None:
        super().__init__(id)
        injected = store is not None or repository is not None
        self.table = table or (self.declared_table() if injected else self.default_table())
        self.version = 0
        if repository is None and store is not None:
            from core.repository import Repository

            repository = Repository(store)
        self._repository = repository

    @classmethod
    def declared_table(cls) -> str:
        """The events table's name as the code declares it: `table`, or the class name plus `s`."""
        return cls.__dict__.get("table") or cls.table or f"{cls.__name__}s"

    @classmethod
    def default_table(cls) -> str:
        """The configured events table (`<UPPER_SNAKE>_TABLE` overrides the declared one), as the bound
        provider says (see `core.provider`)."""
        return provider().table(cls)

    @property
    def repository(self) -> Repository:
        """The injected repository, or the bound provider's for this class and table (snapshots and the warm
        cache as configured; see `core.provider`), asked on first need, never at import time."""
        if self._repository is None:
            self._repository = provider().repository(type(self), self.table)
        return self._repository

    # -- reading -----------------------------------------------------------------------------------------

    def events(self) -> Iterator[Event]:
        """Stream this aggregate's stored events, oldest first, page by page."""
        return self.repository.events(self.id, decode=stored_decoder(self.upcasting))

    def hydrate(self, events: Iterable[EventInput] | None = None, *, until_version: int | None = None,
                as_of: datetime | None = None) -> Aggregate:
        """Bring the state up to date: from the store, or from the given events without any I/O.

        Given events numbered at or below the current version are skipped; the rest must follow on. With
        `until_version` and/or `as_of` (an aware datetime), the state as it was then: the store is read only up
        to that point (from a snapshot at or below it when one is valid, never from a cached newer state).
        """
        if until_version is not None or as_of is not None:
            from core.repository import Until

            until = Until(until_version, as_of)
            if events is not None:
                raise InvalidReadError("events", "hydrate reads given events or the store up to a point, not both")
            if until.version is not None and self.version > until.version:
                raise InvalidReadError("until_version", f"{type(self).__name__} {self.id!r} is at version "
                                       f"{self.version}, past {until.version}: build a fresh one to read the past")
            if as_of is not None and self.version:
                raise InvalidReadError("as_of", f"{type(self).__name__} {self.id!r} is at version {self.version}: "
                                                "build a fresh one to read it as of a date")
            self.repository.hydrate_until(self, until)
            return self
        if events is None:
            self.repository.hydrate(self)
            return self
        self._apply_inputs(events, skip_applied=True)
        return self

    def apply(self, events: EventInput | Iterable[EventInput]) -> Aggregate:
        """Fold one event or a list of them into the state (no I/O). Numbers must follow the version."""
        self._apply_inputs(_as_list(events), skip_applied=False)
        return self

    def _apply_inputs(self, events: Iterable[EventInput], skip_applied: bool) -> None:
        """Fold caller-given events; the version they reach is not the store's (see `version_from_store`)."""
        before = self.version
        try:
            apply_events(self, events, Event.from_input, skip_applied=skip_applied)
        finally:
            if self.version != before:
                self._ahead_of_store = True

    def _apply_one(self, event: Event) -> None:
        """The per-event step of every fold; a subclass may override it (calling `super()._apply_one`)."""
        _apply_loop(self, (event,), _given, False, False, None)

    @classmethod
    def _handler(cls, event_type: str) -> tuple[Callable[..., Any], tuple[tuple[str, Any], ...]]:
        """The handler and its required fields, decided once per type and kept in `_dispatch`.

        Only a canonical type is kept: the one its handler's name maps back to exactly (`LoanPaid` for
        `on_loan_paid`), so `loan_paid` or `LOAN_PAID` never reach the log, where readers match exactly.
        Refusals are not kept, so arbitrary types sent by callers cannot grow the table.
        """
        try:
            return cls._dispatch[event_type]
        except KeyError:
            pass
        name = handler_name(event_type)
        handler = getattr(cls, name, None)
        if not callable(handler) or canonical_type(name) != event_type:
            handlers = sorted(attr for attr in dir(cls) if attr.startswith("on_") and callable(getattr(cls, attr)))
            raise unknown_type(cls.__name__, event_type, handlers)
        entry = (handler, tuple(getattr(handler, "__requires__", {}).items()))
        cls._dispatch[event_type] = entry
        return entry

    # -- writing -----------------------------------------------------------------------------------------

    @overload
    def commit(self, event: EventInput, *, marker: MarkerFactory | None = None) -> Event: ...
    @overload
    def commit(
        self, event: list[EventInput] | tuple[EventInput, ...], *, marker: MarkerFactory | None = None
    ) -> list[Event]: ...

    def commit(
        self, event: EventInput | list[EventInput] | tuple[EventInput, ...], *, marker: MarkerFactory | None = None
    ) -> Event | list[Event]:
        """Append one event (or a list, atomically) and fold it in; returns what was stored.

        Fills `number` (version + 1) and `created` (UTC now) when missing. If a handler refuses an event or the
        write fails, nothing is written and the aggregate is exactly as it was. A conflict raises
        `ConcurrencyError`; `core.retry.execute` re-hydrates and tries again. `marker(self, events)`, called
        once the events are folded in, gives an idempotency key to write atomically with them (see core.store).
        """
        single = not isinstance(event, (list, tuple))
        events = self._prepare(list(event) if isinstance(event, (list, tuple)) else [event])
        if self.personal:
            events = self._sealed(events)
        expected = self.version
        saved = self.checkpoint()
        try:
            apply_events(self, events, _given)
            upcasting = self.upcasting
            records = [to_record(item, upcasting.version_of(item.type)) if upcasting else to_record(item)
                       for item in events]
            if marker is None:
                self.repository.append(self, expected, records)
            else:
                self.repository.append(self, expected, records, marker(self, events))
        except BaseException:
            self.roll_back(saved)
            raise
        self._ahead_of_store = False
        self.repository.committed(self, events)
        return events[0] if single else events

    def _prepare(self, values: list[EventInput]) -> list[Event]:
        if not values:
            raise IllegalEventError("commit needs at least one event")
        now = utc_now()
        prepared = []
        for offset, value in enumerate(values, start=1):
            event = Event.from_input(value)
            number = self.version + offset
            if event.number is not None and event.number != number:
                raise IllegalEventNumberError(number - 1, event.number)
            if event.number is None or event.created is None:
                event = event.replace(number=number, created=event.created or now)
            prepared.append(event)
        return prepared

    def _sealed(self, events: list[Event]) -> list[Event]:
        """The events with their personal fields sealed by the repository's sealer, before anything folds or
        stores them; a personal value with no sealer to seal it is refused, never stored as it is."""
        sealer = getattr(self.repository, "sealer", None)
        out = []
        for event in events:
            fields = self.personal.get(event.type, ())
            present = [name for name in fields if event.data.get(name) is not None]
            if not present:
                out.append(event)
                continue
            if sealer is None:
                raise IllegalEventError(
                    f"{event.type}.{present[0]} is personal and this {type(self).__name__}'s repository has no key "
                    "store to seal it with", event_type=event.type, field=present[0])
            subject = event.data.get(self.personal_subject) if self.personal_subject else None
            if subject is None:
                subject = self.id
            if not isinstance(subject, str) or not subject:
                raise IllegalEventError(
                    f"{event.type}.{self.personal_subject} names whose personal data this is and must be a "
                    f"non-empty string, not {subject!r}", event_type=event.type, field=str(self.personal_subject))
            out.append(event.replace(data=sealer.seal_payload(event.type, event.data, fields, subject)))
        return out

    def checkpoint(self) -> dict[str, Any]:
        """A deep copy of every public attribute (state, id, table, version), for `roll_back`.

        Whatever may fail half-way through changing the aggregate (a commit, restoring a snapshot, folding a
        tail on it) takes one first, so a failure leaves the aggregate exactly as it was.
        """
        return {key: copy.deepcopy(value) for key, value in vars(self).items() if not key.startswith("_")}

    def roll_back(self, saved: dict[str, Any]) -> None:
        """Put back what `checkpoint` copied, dropping public attributes set since."""
        for key in [key for key in vars(self) if not key.startswith("_") and key not in saved]:
            delattr(self, key)
        vars(self).update(saved)

    # -- state ---------------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The folded state: every public attribute but `id`, `table` and `version`."""
        return {
            key: value
            for key, value in vars(self).items()
            if not key.startswith("_") and key not in FRAMEWORK_ATTRIBUTES
        }

    def snapshot(self) -> dict[str, Any]:
        """The state a snapshot keeps; override (with `restore`) when `state()` is not the whole story."""
        return self.state()

    def restore(self, state: Mapping[str, Any]) -> None:
        """Set the state a snapshot kept (the inverse of `snapshot`); `version` is set by the caller."""
        refused = [key for key in state if key.startswith("_") or key in FRAMEWORK_ATTRIBUTES]
        if refused:
            raise ValueError(f"a snapshot state may not set {', '.join(sorted(refused))}")
        vars(self).update(state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, version={self.version})"


def version_from_store(aggregate: Aggregate) -> bool:
    """True when the aggregate's version came from its store (or is 0), not from `hydrate(events)`/`apply`.

    A cache of aggregates keeps only states for which this holds, so a state restored from it is one too.
    """
    return not aggregate._ahead_of_store


def apply_events(
    aggregate: Aggregate,
    values: Iterable[Any],
    decode: Callable[[Any], Event],
    *,
    skip_applied: bool = False,
    stored: bool = False,
) -> int:
    """Apply events one at a time (constant memory); the one loop behind `hydrate`, `apply`, `commit` and
    `core.repository.apply_stored`. Returns how far the version moved: one for each event applied.

    `decode` makes each value an `Event` (`Event.from_input` for a caller's, `core.events.from_record` for the
    store's). With `skip_applied`, numbered events at or below the version are passed over (`hydrate`'s
    contract). With `stored`, the values are the store's records: a failure to decode or apply one raises
    `StoredEventError` naming it, and the version reached is the store's. A subclass's own `_apply_one` is
    honoured: it is called for each event instead of the inlined step.
    """
    cls = type(aggregate)
    step = aggregate._apply_one if cls._apply_one is not Aggregate._apply_one else None
    applied = _apply_loop(aggregate, values, decode, skip_applied, stored, step)
    if stored and applied:
        aggregate._ahead_of_store = False  # the store holds the event of the version reached
    return applied


def _apply_loop(
    aggregate: Aggregate,
    values: Iterable[Any],
    decode: Callable[[Any], Event],
    skip_applied: bool,
    stored: bool,
    step: Callable[[Event], None] | None,
) -> int:
    """The loop itself: the number, the handler (one dict lookup when known), its required fields (one exact
    type check each in the usual case), then the handler; the version moves only once the handler returns."""
    cls = type(aggregate)
    dispatch, find = cls._dispatch, cls._handler
    start = version = aggregate.version
    for value in values:
        try:
            event = decode(value)
            number = event.number
            if number is None:
                number = version + 1
            elif number != version + 1:
                if skip_applied and number <= version:
                    continue
                if step is None:
                    raise IllegalEventNumberError(version, number)
            if step is not None:  # the subclass's own step checks the number itself
                step(event)
                version = aggregate.version
                continue
            try:
                handler, needs = dispatch[event.type]  # one lookup once the type is known
            except KeyError:
                handler, needs = find(event.type)
            if needs:
                data = event.data
                for name, kind in needs:
                    if name not in data or type(data[name]) is not kind:
                        check_fields(event, needs)
                        break
            handler(aggregate, event)
        except Exception as exc:  # a stored event: whatever the reason (damaged bytes, a refusal, a bug), name it
            if stored:
                raise _stored_event_error(aggregate, value, exc) from exc
            raise
        aggregate.version = version = number
    return version - start


def apply_records(aggregate: Aggregate, records: Iterable[RecordedEvent]) -> int:
    """Decode and apply stored events one at a time: `apply_events(..., stored=True)` with the decoding
    inlined, since every replay runs it. Returns how far the version moved.

    A payload seen before is not decoded again: the class keeps, by stored type and text (and schema version), what
    its fold needs (today's type, the read-only payload once upcast, the handler whose required fields it
    holds) for every payload `core.events.cacheable` admits, learnt from the one decoder every reader uses
    (`Upcasting.decode`), and learnt again if `upcasting` is replaced. Each event is still numbered, timed and
    handled on its own: its number must follow on, and a failure raises `StoredEventError` naming it. A
    subclass's own `_apply_one` takes `apply_events`' general path.
    """
    cls = type(aggregate)
    upcasting = cls.upcasting or PLAIN
    if cls._apply_one is not Aggregate._apply_one:
        return apply_events(aggregate, records, upcasting.decode, stored=True)
    learnt_for, folds = cls._folds
    if learnt_for is not upcasting:
        folds = {}
        cls._folds = (upcasting, folds)
    start = version = aggregate.version
    for record in records:
        try:
            number, stored_type, created, text, meta, schema = record
            if number != version + 1:
                raise IllegalEventNumberError(version, number)
            by_text = folds.get(stored_type)
            found = None if by_text is None else by_text.get(text)
            if found is None or found[3] != schema:  # not seen before: decoded whole, as every reader decodes
                event, handler = _learn(cls, upcasting, folds, record)
            else:
                event_type, data, handler, _ = found
                draft = EventDraft()
                draft.type = event_type
                draft.data = data
                draft.number = number
                try:
                    draft.created = _parse_time(created)
                    draft.meta = MappingProxyType(codec.decode(meta)) if meta else None
                except (CodecError, ValueError, TypeError):
                    stored_event(record, event_type, data)  # raises with the decoder's own words
                    raise
                draft.__class__ = Event  # type: ignore[assignment]  # the same slots: now an immutable Event
                event = draft  # type: ignore[assignment]
            handler(aggregate, event)
        except Exception as exc:  # whatever the reason (damaged bytes, a refusal, a bug), name the stored event
            raise _stored_event_error(aggregate, record, exc) from exc
        aggregate.version = version = number
    if version != start:
        aggregate._ahead_of_store = False  # the store holds the event of the version reached
    return version - start


#: Payloads a class's fold keeps at most per stored type (emptied when full: a long log repeats few payloads).
FOLDS_MAX = 1024


def _learn(cls: type[Aggregate], upcasting: Upcasting, folds: Folds,
           record: RecordedEvent) -> tuple[Event, Callable[..., Any]]:
    """Decode (and upcast) a stored event whose payload was not seen before, find its handler and check the
    fields it requires; keep what the fold needs when the decoder kept the payload (it is then shared,
    read-only, by every event storing it)."""
    event = upcasting.decode(record)
    handler, needs = cls._handler(event.type)
    if needs:
        check_fields(event, needs)
    if (record.type, record.version, record.data) in upcasting.payloads:
        by_text = folds.setdefault(record.type, {})
        if len(by_text) >= FOLDS_MAX:
            by_text.clear()
        by_text[record.data] = (event.type, event.data, handler, record.version)
    return event, handler


def _stored_event_error(aggregate: Aggregate, record: Any, exc: Exception) -> StoredEventError:
    """The log's fault (or the code's), never the caller's: a stored event that cannot be folded."""
    reason = str(exc) if isinstance(exc, EventSourcingError) else f"{type(exc).__name__}: {exc}"
    return StoredEventError(aggregate.id, record.number, record.type, reason)


_parse_time = datetime.fromisoformat


def _given(event: Event) -> Event:
    return event


def _as_list(events: EventInput | Iterable[EventInput]) -> Iterable[EventInput]:
    if isinstance(events, (Event, Mapping)):
        return [events]
    return events
