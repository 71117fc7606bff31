"""Personal fields and forgetting a person (crypto-shredding).

An aggregate declares which payload fields are personal, per event type, and which field names the person
(the subject) they belong to:

    class Loan(Aggregate):
        personal = {"LoanCreated": ("borrower_name",)}
        personal_subject = "borrower_id"   # absent from an event: the subject is the aggregate's id

Before an event is stored, each personal value is replaced by a sealed token: the value encrypted with
AES-256-GCM under a data key of its own subject, bound to the subject, the event type and the field. The
token is an ordinary string, so events, snapshots, query rows, archive objects and the failure queue all
carry the ciphertext and never the value. Folds that read no personal field (balances, statuses, counters)
see the same events as before; a reader that shows a personal value calls `Sealer.reveal`, which gives the
plaintext, or `FORGOTTEN` once the subject's key is destroyed (`forget`): nothing is rewritten.

Keys live behind one contract, `KeyStore`: `InMemoryKeyStore` (tests, the embedded stack) and
`core.kms_keys.KmsKeyStore` (AWS: envelope encryption, a KMS data key per subject kept encrypted in a table).
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from core import codec
from core.errors import EventSourcingError
from core.events import RecordedEvent

#: Every sealed value starts with this; the rest is `<subject, base64url>.<nonce + ciphertext, base64url>`.
PREFIX = "pii1:"
#: The length of a data key, in bytes (AES-256).
KEY_BYTES = 32
_NONCE_BYTES = 12

#: The declarations: event type -> its personal fields.
Declarations = Mapping[str, Sequence[str]]


class PersonalDataError(EventSourcingError):
    """A personal field cannot be sealed or a sealed value is damaged; the message names which."""


class Forgotten(str):
    """What a reader gets for a personal value whose subject was forgotten: a string that says so."""

    __slots__ = ()

    def __new__(cls) -> Forgotten:
        return super().__new__(cls, "<forgotten>")


#: The one `Forgotten` value readers compare against (`value is FORGOTTEN` or `isinstance(value, Forgotten)`).
FORGOTTEN = Forgotten()


class KeyStore(Protocol):
    """Data keys per subject. `key(subject, create=False)` is the subject's data key (a new one when `create`
    and it has none), or None when it has none (never had one, or was forgotten). `destroy(subject)` removes the
    key for good and says whether there was one; a destroyed subject gets a fresh key if it is sealed again."""

    def key(self, subject: str, create: bool = False) -> bytes | None: ...

    def destroy(self, subject: str) -> bool: ...


class InMemoryKeyStore:
    """Keys in a dict: the key store of tests and of the embedded stack."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def key(self, subject: str, create: bool = False) -> bytes | None:
        check_subject(subject)
        with self._lock:
            found = self._keys.get(subject)
            if found is None and create:
                found = self._keys[subject] = os.urandom(KEY_BYTES)
            return found

    def destroy(self, subject: str) -> bool:
        check_subject(subject)
        with self._lock:
            return self._keys.pop(subject, None) is not None


def check_subject(subject: object) -> str:
    """The subject if usable (a non-empty string of at most 1,024 characters), else `PersonalDataError`."""
    if not isinstance(subject, str) or not subject or len(subject) > 1024:
        raise PersonalDataError(f"a subject must be a non-empty string of at most 1,024 characters, not {subject!r}")
    return subject


def is_sealed(value: object) -> bool:
    """True when `value` is a sealed token (it may still be unreadable: forgotten or damaged)."""
    return isinstance(value, str) and value.startswith(PREFIX)


def subject_of(token: str) -> str:
    """The subject a sealed token belongs to; `PersonalDataError` when the token is malformed."""
    try:
        head = token[len(PREFIX):].split(".", 1)[0]
        subject = base64.b64decode(head.encode(), altchars=b"-_", validate=True).decode()
        if not subject:
            raise ValueError("it names no subject")
        return subject
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise PersonalDataError(f"sealed value {token[:40]!r} is malformed: {exc}") from exc


class Sealer:
    """Seals and reveals personal values with the keys of a `KeyStore`."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    def seal(self, subject: str, value: str, context: str) -> str:
        """`value` encrypted under `subject`'s key (made on first need), bound to `context` (type and field)."""
        if not isinstance(value, str):
            raise PersonalDataError(f"{context} is personal and must be a string, not {type(value).__name__}")
        key = self.keys.key(check_subject(subject), create=True)
        assert key is not None  # create=True always gives one
        nonce = os.urandom(_NONCE_BYTES)
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # loaded here: a handler may never seal

        sealed = AESGCM(key).encrypt(nonce, value.encode("utf-8"), _aad(subject, context))
        return (PREFIX + base64.urlsafe_b64encode(subject.encode()).decode() + "."
                + base64.urlsafe_b64encode(nonce + sealed).decode())

    def reveal(self, value: Any, context: str) -> Any:
        """The plaintext of a sealed value, `FORGOTTEN` when its subject's key is gone, and any other value as
        it is (an event written before the field was declared personal). A damaged token (or one sealed for
        another context) raises `PersonalDataError` naming the context."""
        if not is_sealed(value):
            return value
        subject = subject_of(value)
        key = self.keys.key(subject)
        if key is None:
            return FORGOTTEN
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            blob = base64.urlsafe_b64decode(value.split(".", 1)[1].encode())
            plain = AESGCM(key).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _aad(subject, context))
        except (IndexError, ValueError, binascii.Error, InvalidTag) as exc:
            raise PersonalDataError(f"{context}: the sealed value of subject {subject!r} is damaged") from exc
        return plain.decode("utf-8")

    def readable(self, value: Any) -> bool:
        """True when `value` is a sealed token whose subject's key still exists (so it can be read)."""
        return is_sealed(value) and self.keys.key(subject_of(value)) is not None

    def forget(self, subject: str) -> bool:
        """Destroy `subject`'s key: every value sealed for it becomes `FORGOTTEN`. True when there was a key."""
        return self.keys.destroy(check_subject(subject))

    # -- payloads and records --------------------------------------------------------------------------------

    def seal_payload(self, event_type: str, data: Mapping[str, Any], fields: Sequence[str], subject: str
                     ) -> dict[str, Any]:
        """The payload with each of `fields` it holds sealed (a value sealed already is kept as it is)."""
        out = dict(data)
        for name in fields:
            value = out.get(name)
            if value is not None and not is_sealed(value):
                out[name] = self.seal(subject, value, f"{event_type}.{name}")
        return out

    def reveal_payload(self, event_type: str, data: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
        """The payload with each of `fields` revealed (plaintext, or `FORGOTTEN`)."""
        out = dict(data)
        for name in fields:
            if name in out:
                out[name] = self.reveal(out[name], f"{event_type}.{name}")
        return out

    def seal_record(self, aggregate_id: str, record: RecordedEvent, personal: Declarations,
                    subject_field: str | None) -> RecordedEvent:
        """A stored event with its personal fields sealed: what is written in place of `record`."""
        fields = personal.get(record.type)
        if not fields:
            return record
        data = codec.decode(record.data)
        if not any(data.get(name) is not None and not is_sealed(data.get(name)) for name in fields):
            return record
        subject = data.get(subject_field) if subject_field else None
        if subject is None:
            subject = aggregate_id
        if not isinstance(subject, str) or not subject:
            raise PersonalDataError(f"{record.type}.{subject_field} names the subject of personal fields and must "
                                    f"be a non-empty string, not {subject!r}")
        return record._replace(data=codec.encode(self.seal_payload(record.type, data, fields, subject)))


def reveal_fields(sealer: Sealer, personal: Declarations, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` (a state, a query row, an event's payload) with each field named personal for some event type
    revealed: plaintext, or `FORGOTTEN`. The one place readers open personal values: a token is tried under each
    type declaring its field's name (it was sealed for one of them); a damaged token raises `PersonalDataError`."""
    contexts: dict[str, list[str]] = {}
    for event_type, fields in personal.items():
        for name in fields:
            contexts.setdefault(name, []).append(f"{event_type}.{name}")
    return {name: _reveal_any(sealer, value, contexts[name]) if name in contexts and is_sealed(value) else value
            for name, value in values.items()}


def _reveal_any(sealer: Sealer, value: str, contexts: Sequence[str]) -> Any:
    for context in contexts[:-1]:
        try:
            return sealer.reveal(value, context)
        except PersonalDataError:
            continue  # sealed for another type's field of the same name
    return sealer.reveal(value, contexts[-1])


def _aad(subject: str, context: str) -> bytes:
    return f"{subject}\x00{context}".encode()


def sealed_values(value: Any) -> Iterator[str]:
    """Every sealed token anywhere inside `value` (strings, mappings, lists, and JSON text holding them)."""
    if isinstance(value, str):
        if value.startswith(PREFIX):
            yield value
        elif PREFIX in value:  # JSON text (an encoded payload, a failure-queue message, an archive line)
            for part in value.split('"')[1:]:
                if part.startswith(PREFIX):
                    yield part.rstrip("\\")  # JSON inside JSON (a queued stream record) escapes the quote
    elif isinstance(value, bytes):
        yield from sealed_values(value.decode("utf-8", "replace"))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from sealed_values(item)
    elif isinstance(value, Iterable):  # lists, and the lazy pages of a scan
        for item in value:
            yield from sealed_values(item)


def count_readable(sealer: Sealer, values: Any) -> tuple[int, int]:
    """(sealed tokens found, of which readable) anywhere inside `values`: what `aws-es forget` reports."""
    found = readable = 0
    for token in sealed_values(values):
        found += 1
        readable += sealer.readable(token)
    return found, readable
