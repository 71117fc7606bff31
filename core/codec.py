"""The event codec: payloads to one orjson-encoded string and back, exactly.

Stored form (versioned with care: readers of old events depend on it, so only ever add tags):
- JSON object, UTF-8, non-ASCII text kept as is;
- `Decimal` -> `{"$d": "1000.00"}` (the exact digits, never a float);
- timezone-aware `datetime` -> `{"$t": "2026-01-31T12:00:00.000000+00:00"}` (UTC, ISO-8601);
- an int beyond 64 bits -> `{"$i": "123..."}`;
- a user mapping whose only key is one of those tags -> `{"$m": {...}}`, so it is never mistaken for a tag.
Floats are refused: no float ever touches an amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from core.errors import CodecError

_TAGS = frozenset(("$d", "$t", "$i", "$m"))
_INT64 = (-(2**63), 2**64 - 1)


def encode(payload: Mapping[str, Any], name: str = "data") -> str:
    """Encode a payload mapping to its stored JSON text; `name` heads the path in error messages.

    A refused value raises `CodecError` whose `field` is the top-level key holding it (`name` itself for
    anything but the payload, such as `meta`).
    """
    if not isinstance(payload, Mapping):
        what = "payload" if name == "data" else name
        raise CodecError(f"{what} must be a mapping, not {type(payload).__name__}", field=name)
    try:
        return orjson.dumps(_to_json(payload, name)).decode()
    except orjson.JSONEncodeError as exc:  # text UTF-8 cannot hold: a lone surrogate such as "\ud800"
        field = _field(payload, name)
        where = name if field == name else f"{name}.{field}"
        raise CodecError(f"{where} cannot be encoded: {exc}", field=field) from exc
    except CodecError as exc:
        exc.field = _field(payload, name)
        raise


def _field(payload: Mapping[str, Any], name: str) -> str:
    """The top-level key whose value cannot be encoded (the error path only), or `name` outside the payload."""
    if name == "data":
        for key, value in payload.items():
            try:
                orjson.dumps({key: _to_json(value, name)})
            except (CodecError, orjson.JSONEncodeError):
                return str(key)
    return name


def decode(text: str | bytes) -> dict[str, Any]:
    """Decode stored JSON text to a payload dict with Decimals and datetimes restored."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CodecError(f"stored payload is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise CodecError(f"stored payload must be a JSON object, not {type(value).__name__}")
    # Only payloads that hold a tag need the walk; most repayments hold one Decimal, so check cheaply first.
    if ('"$' in text) if isinstance(text, str) else (b'"$' in text):
        restored = _from_json_dict(value)
        if not isinstance(restored, dict):  # `encode` never writes a bare tag at the top: the text is foreign
            raise CodecError(f"stored payload must be a JSON object, not a tagged {type(restored).__name__}")
        return restored
    return value


def _to_json(value: Any, path: str) -> Any:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        return value if _INT64[0] <= value <= _INT64[1] else {"$i": str(value)}
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise CodecError(f"{path} is {value}: amounts must be finite decimals")
        return {"$d": str(value)}
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise CodecError(f"{path} is a naive datetime ({value.isoformat()}): give it a timezone")
        return {"$t": value.astimezone(UTC).isoformat(timespec="microseconds")}
    if isinstance(value, float):
        raise CodecError(f"{path} is a float ({value!r}): use Decimal, floats cannot hold money exactly")
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise CodecError(f"{path} has a key of type {type(key).__name__} ({key!r}): keys must be strings")
            out[key] = _to_json(item, f"{path}.{key}")
        return {"$m": out} if len(out) == 1 and next(iter(out)) in _TAGS else out
    if isinstance(value, (list, tuple)):
        return [_to_json(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, int):  # bool is handled above; this is an int subclass such as an IntEnum
        return _to_json(int(value), path)
    if isinstance(value, str):
        return str(value)
    raise CodecError(f"{path} has unsupported type {type(value).__name__}: use str, int, Decimal, bool, None, "
                     "an aware datetime, a list or a mapping")


def unstorable_text(value: Any, path: str = "") -> str | None:
    """The path (`note`, `items[2].name`) of the first string or key in `value` that UTF-8 cannot hold (a lone
    surrogate, such as JSON's `"\\ud800"` decodes to), or None: what a request body is checked for before
    anything is read or written, so such text is the caller's mistake, never a damaged log."""
    if isinstance(value, str):
        return path if _lone_surrogate(value) else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _lone_surrogate(key):
                return inner
            found = unstorable_text(item, inner)
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = unstorable_text(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _from_json_dict(value: dict[str, Any]) -> Any:
    """Restore tagged values in place (the dict is orjson's fresh result, no one else holds it)."""
    if len(value) == 1:
        for key in value:
            if key in _TAGS:
                return _untag(key, value[key])
    for key, item in value.items():  # replacing values, never keys: safe while iterating
        kind = type(item)
        if kind is dict:
            if len(item) == 1 and type(item.get("$d")) is str:  # an amount, the usual tag: no call deeper
                try:
                    value[key] = Decimal(item["$d"])
                    continue
                except ArithmeticError:
                    pass  # _untag names the malformed value
            value[key] = _from_json_dict(item)
        elif kind is list:
            value[key] = _from_json_list(item)
    return value


def _from_json_list(value: list[Any]) -> list[Any]:
    for index, item in enumerate(value):
        kind = type(item)
        if kind is dict:
            value[index] = _from_json_dict(item)
        elif kind is list:
            value[index] = _from_json_list(item)
    return value


def _untag(tag: str, inner: Any) -> Any:
    try:
        if tag == "$d":
            return Decimal(inner)
        if tag == "$t":
            return datetime.fromisoformat(inner)
        if tag == "$i":
            return int(inner)
        return {key: _from_json_dict(item) if type(item) is dict else
                _from_json_list(item) if type(item) is list else item for key, item in inner.items()}
    except (TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        raise CodecError(f"stored payload has a malformed {tag} value {inner!r}") from exc
