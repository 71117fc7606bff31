"""The snapshot envelope: an aggregate's folded state at one version, with what it takes to trust it.

Fields (DESIGN.md): aggregate type, id, version (the number of the last event it includes), schema
fingerprint, state (codec-encoded JSON, so Decimals and datetimes survive exactly), checksum, created.
The stored form is versioned with care: readers of old snapshots depend on it, so only ever add fields.

A snapshot is used only when its fingerprint matches the aggregate class today and its checksum holds;
the fingerprint is derived from the class's code, so changing how an aggregate folds its events
invalidates old snapshots without anyone remembering to.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
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
                                   version=snapshot.version) from exc
    saved = aggregate._capture()
    try:
        aggregate.restore(state)
        aggregate.version = snapshot.version
    except Exception as exc:
        aggregate._restore(saved)
        raise SnapshotCorruptError(f"snapshot state at version {snapshot.version} cannot be restored: {exc}",
                                   version=snapshot.version) from exc
