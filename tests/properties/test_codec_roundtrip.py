"""Property: any payload the codec accepts comes back equal, with the same types (Decimal stays Decimal)."""

from __future__ import annotations

from datetime import UTC

from hypothesis import given
from hypothesis import strategies as st

from core import decode, encode

keys = st.text(max_size=8)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.datetimes(timezones=st.just(UTC))
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)
payloads = st.dictionaries(keys | st.sampled_from(["$d", "$t", "$i", "$m"]), values, max_size=6)


def same(a, b) -> bool:
    """Equal and of the same type all the way down (so 1 == Decimal(1) does not pass)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b and str(a) == str(b)


@given(payloads)
def test_every_payload_round_trips_exactly(payload):
    assert same(decode(encode(payload)), payload)


@given(payloads)
def test_encoding_is_deterministic(payload):
    assert encode(payload) == encode(decode(encode(payload)))
