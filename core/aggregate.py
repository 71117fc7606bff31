"""The aggregate base: state folded from events, with the original library's surface.

`events()`, `hydrate(events=None)`, `apply(events)` and `commit(event)`. The handler for an event of type
`LoanCreated` is the method `on_loan_created(self, event)`. Handlers do no I/O and read no clock: the time
comes in as `event.created`.
"""

from __future__ import annotations

import copy
import difflib
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, overload

from core.errors import IllegalEventError, IllegalEventNumberError, InvalidIdError, UnknownEventTypeError
from core.event_types import MISSING, canonical_type, check_fields, handler_name, spelling_key
from core.events import Event, to_record, utc_now

if TYPE_CHECKING:
    from core.repository import Repository
    from core.store import EventStore

EventInput = Event | Mapping[str, Any]

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

    Subclasses set `table` (the events table's default name) and define `on_<event_type>` handlers.
    """

    #: The events table's default name, set by a subclass (`table = "Loans"`; unset, the class name plus "s");
    #: an instance holds the name it uses, so it is an instance attribute with a class default.
    table: str = ""
    #: Bump to invalidate stored snapshots by hand; they are also invalidated when a handler's code changes.
    snapshot_version: ClassVar[int] = 0
    #: Builds the repository `Aggregate(id)` uses when none is injected: `factory(cls, table)`. A domain
    #: package sets it (loans wires snapshots this way), since core knows nothing of snapshot storage.
    repository_factory: ClassVar[Callable[[type[Aggregate], str], Repository] | None] = None
    _dispatch: ClassVar[dict[str, tuple[Callable[..., Any], tuple[tuple[str, Any], ...]]]]
    #: True once `hydrate(events)` or `apply` advanced the version without the store; cleared when events are
    #: read from the store or a commit lands. The next append then asks the store to prove it holds event
    #: `version` first, so no gap is ever written (see `core.repository.Repository.append`).
    _ahead_of_store: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._dispatch = {}

    def __init__(
        self,
        id: str | None = None,  # noqa: A002 - the original library's name
        table: str | None = None,
        *,
        store: EventStore | None = None,
        repository: Repository | None = None,
    ) -> None:
        super().__init__(id)
        self.table = table or self.default_table()
        self.version = 0
        if repository is None and store is not None:
            from core.repository import Repository

            repository = Repository(store)
        self._repository = repository

    @classmethod
    def default_table(cls) -> str:
        from core.config import table_name

        return table_name(cls.__dict__.get("table") or cls.table or f"{cls.__name__}s")

    @property
    def repository(self) -> Repository:
        if self._repository is None:
            factory = type(self).repository_factory
            if factory is not None:
                self._repository = factory(type(self), self.table)
            else:
                from core.repository import default_repository

                self._repository = default_repository(self.table)
        return self._repository

    # -- reading -----------------------------------------------------------------------------------------

    def events(self) -> Iterator[Event]:
        """Stream this aggregate's stored events, oldest first, page by page."""
        return self.repository.events(self.id)

    def hydrate(self, events: Iterable[EventInput] | None = None) -> Aggregate:
        """Bring the state up to date: from the store, or from the given events without any I/O.

        Given events numbered at or below the current version are skipped; the rest must follow on.
        """
        if events is None:
            self.repository.hydrate(self)
            return self
        for value in events:
            event = Event.from_input(value)
            if event.number is not None and event.number <= self.version:
                continue
            self._apply_one(event)
            self._ahead_of_store = True
        return self

    def apply(self, events: EventInput | Iterable[EventInput]) -> Aggregate:
        """Fold one event or a list of them into the state (no I/O). Numbers must follow the version."""
        for value in _as_list(events):
            self._apply_one(Event.from_input(value))
            self._ahead_of_store = True
        return self

    def _apply_one(self, event: Event) -> None:
        number = event.number
        if number is None:
            number = self.version + 1
        elif number != self.version + 1:
            raise IllegalEventNumberError(self.version, number)
        entry = self._dispatch.get(event.type)  # the hot path of every replay: one dict lookup when known
        handler, needs = entry if entry is not None else self._handler(event.type)
        if needs:
            data = event.data
            for name, kind in needs:
                if type(data.get(name, MISSING)) is not kind:  # the usual case is one exact type check
                    check_fields(event, needs)
                    break
        handler(self, event)
        self.version = number

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
            cls._refuse(event_type, name)
        entry = (handler, tuple(getattr(handler, "__requires__", {}).items()))
        cls._dispatch[event_type] = entry
        return entry

    @classmethod
    def _refuse(cls, event_type: str, name: str) -> NoReturn:
        """`UnknownEventTypeError` naming the canonical type when only case or separators differ
        (`loan_paid`, `LOAN-PAID`), else the closest handler."""
        handlers = sorted(attr for attr in dir(cls) if attr.startswith("on_") and callable(getattr(cls, attr)))
        types = {spelling_key(canonical_type(attr)): canonical_type(attr) for attr in handlers}
        canonical = types.get(spelling_key(event_type))
        if canonical is not None:
            raise UnknownEventTypeError(cls.__name__, event_type, handler_name(canonical), None, canonical=canonical)
        close = difflib.get_close_matches(name, handlers, n=1)
        closest = f"{canonical_type(close[0])} ({close[0]})" if close else None
        raise UnknownEventTypeError(cls.__name__, event_type, name, closest)

    # -- writing -----------------------------------------------------------------------------------------

    @overload
    def commit(self, event: EventInput) -> Event: ...
    @overload
    def commit(self, event: list[EventInput] | tuple[EventInput, ...]) -> list[Event]: ...

    def commit(self, event: EventInput | list[EventInput] | tuple[EventInput, ...]) -> Event | list[Event]:
        """Append one event (or a list, atomically) and fold it in; returns what was stored.

        Fills `number` (version + 1) and `created` (UTC now) when missing. If a handler refuses an event or the
        write fails, nothing is written and the aggregate is exactly as it was. A conflict raises
        `ConcurrencyError`; `core.retry.execute` re-hydrates and tries again.
        """
        single = not isinstance(event, (list, tuple))
        events = self._prepare(list(event) if isinstance(event, (list, tuple)) else [event])
        expected = self.version
        saved = self._capture()
        try:
            for item in events:
                self._apply_one(item)
            records = [to_record(item) for item in events]
            self.repository.append(self, expected, records)
        except BaseException:
            self._restore(saved)
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

    def _capture(self) -> dict[str, Any]:
        return {key: copy.deepcopy(value) for key, value in vars(self).items() if not key.startswith("_")}

    def _restore(self, saved: dict[str, Any]) -> None:
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


def _as_list(events: EventInput | Iterable[EventInput]) -> Iterable[EventInput]:
    if isinstance(events, (Event, Mapping)):
        return [events]
    return events
