"""The snapshot envelope: an aggregate's folded state at one version, with what it takes to trust it.

Fields: aggregate type, id, version (the number of the last event it includes), schema
fingerprint, state (codec-encoded JSON, so Decimals and datetimes survive exactly), checksum, created.
The stored form is versioned with care: readers of old snapshots depend on it, so only ever add fields.

A snapshot is used only when its fingerprint matches the aggregate class today and its checksum holds;
the fingerprint is derived from the class's code, so changing how an aggregate folds its events
invalidates old snapshots without anyone remembering to.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import types
import typing
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from core import codec
from core.errors import CodecError
from core.events import utc_now
from snapshots.errors import SnapshotCorruptError, SnapshotError
from snapshots.fingerprint import fingerprint

if TYPE_CHECKING:
    from core.aggregate import Aggregate

FIELDS = ("aggregate_type", "aggregate_id", "version", "fingerprint", "state", "created", "checksum")


@dataclass(frozen=True)
class Snapshot:
    """One stored snapshot. `state` stays encoded until it is restored, so a store never interprets it."""

    aggregate_type: str
    aggregate_id: str
    version: int
    fingerprint: str
    state: str
    created: str
    checksum: str
    #: Where a store read it from: what names exactly that stored copy (the checksum as stored; S3: the
    #: ETag), so a writer can replace that one and no other. Not part of the envelope.
    token: str | None = field(default=None, compare=False, repr=False)

    def computed_checksum(self) -> str:
        return checksum(self.aggregate_type, self.aggregate_id, self.version, self.fingerprint, self.state,
                        self.created)

    def to_document(self) -> bytes:
        """The envelope as one JSON document (the S3 object's body)."""
        return orjson.dumps({name: getattr(self, name) for name in FIELDS})

    @classmethod
    def from_document(cls, body: bytes | str, where: str) -> Snapshot:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise SnapshotCorruptError(f"snapshot {where} is not valid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise SnapshotCorruptError(f"snapshot {where} must be a JSON object, not {type(document).__name__}")
        return cls.from_fields(document, where)

    @classmethod
    def from_fields(cls, fields: dict[str, Any], where: str) -> Snapshot:
        """Build from decoded fields, naming the first missing or mistyped one."""
        version = fields.get("version")
        known = version if isinstance(version, int) and not isinstance(version, bool) else None
        for name in FIELDS:
            kind = int if name == "version" else str
            value = fields.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                problem = "is missing" if value is None else f"must be {kind.__name__}, not {type(value).__name__}"
                raise SnapshotCorruptError(f"snapshot {where}: field {name!r} {problem}", version=known)
        return cls(**{name: fields[name] for name in FIELDS})


def checksum(aggregate_type: str, aggregate_id: str, version: int, fingerprint: str, state: str, created: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for part in (aggregate_type, aggregate_id, str(version), fingerprint, created, state):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def take(aggregate: Aggregate, created: datetime | None = None) -> Snapshot:
    """Snapshot the aggregate as it is now (its `snapshot()` hook gives the state)."""
    cls = type(aggregate)
    try:
        state = codec.encode(aggregate.snapshot())
    except CodecError as exc:
        raise SnapshotError(f"state of {cls.__name__} {aggregate.id!r} cannot be encoded: {exc}") from exc
    stamp = (created or utc_now()).isoformat(timespec="microseconds")
    mark = fingerprint(cls)
    return Snapshot(cls.__name__, aggregate.id, aggregate.version, mark, state, stamp,
                    checksum(cls.__name__, aggregate.id, aggregate.version, mark, state, stamp))


def problem(snapshot: Snapshot, aggregate: Aggregate) -> str | None:
    """Why this snapshot cannot be used for the aggregate, or None when it can."""
    cls = type(aggregate)
    if snapshot.aggregate_type != cls.__name__ or snapshot.aggregate_id != aggregate.id:
        return (f"corrupt: snapshot is of {snapshot.aggregate_type} {snapshot.aggregate_id!r}, "
                f"not {cls.__name__} {aggregate.id!r}")
    if snapshot.version < 1:
        return f"corrupt: snapshot version {snapshot.version} is below 1"
    if snapshot.computed_checksum() != snapshot.checksum:
        return f"corrupt: checksum of the snapshot at version {snapshot.version} does not match its content"
    current = fingerprint(cls)
    if snapshot.fingerprint != current:
        return (f"stale: snapshot at version {snapshot.version} has fingerprint {snapshot.fingerprint[:12]}, "
                f"{cls.__name__}'s handlers now give {current[:12]}")
    return None


def restore(aggregate: Aggregate, snapshot: Snapshot) -> None:
    """Put the snapshot's state into the aggregate; on any failure the aggregate is left as it was."""
    try:
        state = codec.decode(snapshot.state)
    except CodecError as exc:
        raise SnapshotCorruptError(f"snapshot state at version {snapshot.version} cannot be decoded: {exc}",
                                   version=snapshot.version, token=snapshot.token) from exc
    wrong = mistyped(type(aggregate), state) if isinstance(state, dict) else None
    if wrong is not None:
        raise SnapshotCorruptError(f"snapshot state at version {snapshot.version} cannot be restored: {wrong}",
                                   version=snapshot.version, token=snapshot.token)
    saved = aggregate.checkpoint()
    try:
        aggregate.restore(state)
        aggregate.version = snapshot.version
    except Exception as exc:
        aggregate.roll_back(saved)
        raise SnapshotCorruptError(f"snapshot state at version {snapshot.version} cannot be restored: {exc}",
                                   version=snapshot.version, token=snapshot.token) from exc


def mistyped(cls: type, state: dict[str, Any]) -> str | None:
    """The first field whose value is not of the type the class annotates it with, or None.

    A checksum proves the bytes are the ones written, not that the writer was right: a state with a
    balance stored as text would restore, then fail in the first handler that does arithmetic on it.
    Annotations that are not plain classes (or unions of them) are not checked.
    """
    hints = _hints(cls)
    for name, value in state.items():
        kinds = hints.get(name)
        if kinds and not any(_is(value, kind) for kind in kinds):
            names = " or ".join("None" if kind is type(None) else kind.__name__ for kind in kinds)
            return f"field {name!r} must be {names}, not {type(value).__name__} ({value!r})"
    return None


def _is(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool) or kind is object)


@functools.cache
def _hints(cls: type) -> dict[str, tuple[type, ...]]:
    """Each annotated attribute's allowed classes; unresolvable or generic annotations are left out."""
    hints: dict[str, tuple[type, ...]] = {}
    for klass in reversed(cls.__mro__):
        scope = vars(sys.modules.get(klass.__module__, typing))
        for name, hint in vars(klass).get("__annotations__", {}).items():
            try:  # what `typing.get_type_hints` does, one annotation at a time
                hint = eval(hint, dict(scope), dict(vars(klass))) if isinstance(hint, str) else hint
            except Exception:  # a name imported for type checking only: not checked
                hints.pop(name, None)
                continue
            options = typing.get_args(hint) if isinstance(hint, types.UnionType) or \
                typing.get_origin(hint) is typing.Union else (hint,)
            if all(isinstance(option, type) and not typing.get_args(option) for option in options):
                hints[name] = tuple(options)
            else:
                hints.pop(name, None)
    return hints
