"""One root error and its specific, message-rich subclasses.

The names follow the original Node library (`IllegalEventError`, `IllegalEventNumberError`) so that code
ported from it reads the same.
"""

from __future__ import annotations


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore `ClientError` (`ConditionalCheckFailedException`, `404`, ...)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class EventSourcingError(Exception):
    """Root of every error this library raises on purpose."""


class IllegalEventError(EventSourcingError):
    """Raised when a handler refuses an event: an illegal transition or a malformed payload.

    Nothing is written and the aggregate is unchanged when this is raised from `commit`.
    """

    def __init__(self, message: str, *, event_type: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.event_type = event_type
        self.field = field


class UnknownEventTypeError(IllegalEventError):
    """Raised when an aggregate has no handler for an event type, or the type is not spelled the one way its
    handler maps back to (`loan_paid` for `LoanPaid`); names the closest handler, or the canonical type."""

    def __init__(
        self, aggregate: str, event_type: str, handler: str, closest: str | None, *, canonical: str | None = None
    ) -> None:
        if canonical is not None:
            message = (f"{aggregate} has no event type {event_type!r}: an event type has one spelling, the one its "
                       f"handler {handler}() maps back to; did you mean {canonical}?")
        else:
            hint = f"; did you mean {closest}?" if closest else ""
            message = f"{aggregate} has no handler {handler}() for event type {event_type!r}{hint}"
        super().__init__(message, event_type=event_type, field="type")
        self.handler = handler
        self.closest = canonical or closest
        self.canonical = canonical


class InvalidIdError(EventSourcingError, ValueError):
    """Raised when an aggregate id is not a usable key: not a string, empty, too long for the stores
    (`MAX_ID_BYTES` of UTF-8), or holding control characters. Checked before any request is sent."""

    def __init__(self, message: str, *, value: object = None) -> None:
        super().__init__(message)
        self.field = "id"
        self.value = value


class IllegalEventNumberError(EventSourcingError):
    """Raised when an event carries an explicit `number` other than the aggregate's version + 1."""

    def __init__(self, version: int, number: object) -> None:
        super().__init__(
            f"event number {number!r} is illegal at version {version}: the next event must be number {version + 1}"
        )
        self.version = version
        self.number = number


class ConcurrencyError(EventSourcingError):
    """Raised when another writer appended to the aggregate first (optimistic concurrency)."""

    def __init__(self, aggregate_id: str, expected_version: int, detail: str = "") -> None:
        tail = f" ({detail})" if detail else ""
        super().__init__(
            f"aggregate {aggregate_id!r} is no longer at version {expected_version}: "
            f"another writer appended first{tail}; hydrate and try again"
        )
        self.aggregate_id = aggregate_id
        self.expected_version = expected_version


class EventTooLargeError(EventSourcingError):
    """Raised before anything is sent when an event would exceed DynamoDB's 400 KB item limit."""

    def __init__(self, event_type: str, size: int, limit: int) -> None:
        super().__init__(
            f"event {event_type!r} encodes to {size:,} bytes as a DynamoDB item, over the {limit:,}-byte limit; "
            "store large documents elsewhere (for example S3) and put a reference in the event"
        )
        self.event_type = event_type
        self.size = size
        self.limit = limit


class CodecError(EventSourcingError):
    """Raised when a payload cannot be encoded (a float, an unsupported type) or stored bytes cannot be decoded.

    `field` names the payload field (or `meta`) that holds the value, when there is one.
    """

    def __init__(self, message: str, *, event_type: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.event_type = event_type
        self.field = field


class UnencodablePayloadError(IllegalEventError, CodecError):
    """Raised when an event about to be stored holds a value its stored form cannot take (a float, a lone
    surrogate in a string, an unsupported type): the caller's input, refused before anything is written.

    An `IllegalEventError` first (an API answers 422 naming `field`), and a `CodecError` too, for callers that
    catch the codec's refusals.
    """


class StoredEventError(EventSourcingError):
    """Raised when an event already in the log cannot be decoded or applied: the store's fault (or the code's),
    never the caller's. Names the aggregate, the event's number and type, and the reason."""

    def __init__(self, aggregate_id: str, number: int, event_type: str, reason: str) -> None:
        super().__init__(f"stored event {event_type}#{number} of {aggregate_id!r} cannot be applied: {reason}")
        self.aggregate_id = aggregate_id
        self.number = number
        self.event_type = event_type
        self.reason = reason


class InvalidReadError(EventSourcingError, ValueError):
    """Raised before anything is read when a read's argument is out of range (a scan's `segment` or `of`, a
    resume position `start_after`, a `before`); `argument` names it."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument


class MalformedItemError(EventSourcingError, ValueError):
    """Raised when a stored item, or a stream record's image of one, lacks what an event needs: the message
    names the attribute and what was wrong with it."""


class StoreError(EventSourcingError):
    """Raised when a store cannot be reached or refuses a request for a reason other than a conflict."""


class VersionGapError(StoreError):
    """Raised when an append at `expected_version` would leave a gap: the store does not hold event
    `expected_version` (the aggregate's version was advanced by `hydrate(events)` or `apply`, not by the
    store). Nothing is written. `stored_version` is the store's version when the store knows it cheaply."""

    def __init__(self, aggregate_id: str, expected_version: int, stored_version: int | None = None) -> None:
        held = f" (it is at version {stored_version})" if stored_version is not None else ""
        super().__init__(
            f"append to {aggregate_id!r} at version {expected_version} refused: the store holds no event "
            f"#{expected_version}{held}, so event #{expected_version + 1} would leave a gap; the aggregate's "
            "version did not come from the store (hydrate(events) or apply): hydrate it from the store first"
        )
        self.aggregate_id = aggregate_id
        self.expected_version = expected_version
        self.stored_version = stored_version


class StoreUnavailableError(StoreError):
    """Raised when a store cannot be reached or keeps refusing for now (throttling, 5xx, a reset connection)
    after the client's own retries: nothing was half-written, and the same request may be sent again later.
    `cause` keeps the underlying AWS error."""

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class ConfigurationError(EventSourcingError):
    """Raised when configuration (environment variables, CLI options) is missing or invalid."""


class AlreadyCommittedError(EventSourcingError):
    """Raised by a keyed append whose key the store already holds for the same request: the first attempt
    committed (its reply may have been lost), so nothing is written and `reply` is what that attempt answered."""

    def __init__(self, key: str, reply: str) -> None:
        super().__init__(f"idempotency key {key!r} already committed this request; nothing was written again")
        self.key = key
        self.reply = reply


class KeyReusedError(EventSourcingError):
    """Raised when an idempotency key already stands for a different request (another method, path or body)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} already stands for a different request: use a new key")
        self.key = key


class UpcastError(EventSourcingError):
    """Raised when a stored event cannot be brought to today's schema: an upcaster raised or returned
    something that is not a payload, a step is missing, or the steps loop; names the event, type and version."""

    def __init__(self, event: str, event_type: str, version: int, reason: str) -> None:
        super().__init__(f"stored event {event} of type {event_type} at schema version {version} cannot be "
                         f"upcast: {reason}")
        self.event = event
        self.event_type = event_type
        self.version = version


class UnknownSchemaVersionError(UpcastError):
    """Raised when a stored event's schema version is newer than the code reading it knows: written by newer
    code, it is refused rather than folded by handlers that would misread it."""

    def __init__(self, event: str, event_type: str, version: int, known: int) -> None:
        EventSourcingError.__init__(
            self, f"stored event {event} of type {event_type} is at schema version {version}, newer than the "
                  f"{known} this code knows: deploy the code that wrote it")
        self.event = event
        self.event_type = event_type
        self.version = version
        self.known = known
