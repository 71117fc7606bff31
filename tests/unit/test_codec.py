"""The codec keeps money exact, times in UTC ISO-8601 and text intact; it refuses what it cannot keep."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest

from core import CodecError, decode, encode


def test_decimals_come_back_as_the_same_decimals():
    payload = {"amount": Decimal("1000.00"), "rate": Decimal("0.0500"), "tiny": Decimal("-1E-28")}
    back = decode(encode(payload))
    assert back == payload
    assert [str(value) for value in back.values()] == ["1000.00", "0.0500", "-1E-28"]


def test_stored_form_is_one_json_object_with_no_float():
    text = encode({"amount": Decimal("0.1"), "name": "Zoë ✓"})
    assert orjson.loads(text) == {"amount": {"$d": "0.1"}, "name": "Zoë ✓"}
    assert "Zoë ✓" in text  # non-ASCII kept as is, not escaped


def test_datetimes_are_stored_as_utc_iso8601():
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 3, 1, 12, 30, tzinfo=paris)
    text = encode({"at": moment})
    assert orjson.loads(text) == {"at": {"$t": "2026-03-01T11:30:00.000000+00:00"}}
    assert decode(text)["at"] == moment


def test_a_user_mapping_shaped_like_a_tag_is_not_mistaken_for_one():
    payload = {"weird": {"$d": "not a decimal"}, "nested": [{"$t": 1}], "ok": {"$d": "1", "x": 2}}
    assert decode(encode(payload)) == payload


def test_big_integers_survive():
    payload = {"big": 2**80, "neg": -(2**70), "small": 7}
    assert decode(encode(payload)) == payload


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"amount": 10.5}, r"data.amount is a float \(10.5\): use Decimal"),
        ({"a": {"b": [1, 2.0]}}, r"data.a.b\[1\] is a float"),
        ({"at": datetime(2026, 1, 1)}, "data.at is a naive datetime"),
        ({"amount": Decimal("NaN")}, "data.amount is NaN: amounts must be finite"),
        ({"amount": Decimal("Infinity")}, "must be finite"),
        ({"m": {1: "x"}}, "data.m has a key of type int"),
        ({"s": {1, 2}}, "data.s has unsupported type set"),
    ],
)
def test_what_cannot_be_kept_exactly_is_refused_by_name(payload, message):
    with pytest.raises(CodecError, match=message):
        encode(payload)


def test_payload_must_be_a_mapping():
    with pytest.raises(CodecError, match="payload must be a mapping, not list"):
        encode([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object, not list"),
        ('{"amount": {"$d": "ten"}}', "malformed \\$d value 'ten'"),
        ('{"at": {"$t": "yesterday"}}', "malformed \\$t value"),
        ('{"n": {"$i": [1]}}', "malformed \\$i value"),
        ('{"$d": "10.00"}', "must be a JSON object, not a tagged Decimal"),
        ('{"$t": "2026-01-31T12:00:00.000000+00:00"}', "must be a JSON object, not a tagged datetime"),
    ],
)
def test_damaged_stored_payloads_are_named(stored, message):
    with pytest.raises(CodecError, match=message):
        decode(stored)
