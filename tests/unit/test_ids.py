"""core.ids: every valid id survives a path segment, and a bad segment is a clear 400 naming `id`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import InvalidIdError, check_id
from core.ids import id_from_segment, path_segment

#: One id per character class the README allows in an id, and their mixes (what the dashboard and the APIs are
#: tested with, here and in the HTTP and browser tests).
ID_CLASSES = {
    "quote": 'a"b', "slash": "a/b", "question": "a?b=1", "hash": "a#b", "backslash": "a\\b", "backtick": "a`b",
    "emoji": "loan-\U0001F4B8", "spaces": " a  b ", "percent": "100%", "escaped": "a%2Fb", "plus": "a+b",
    "dots": "..", "dot": ".", "tilde-dots": "~..", "tilde": "~a", "mixed": "\"/?#\\` \U0001F4B8%25&<>",
}
valid_ids = st.text(min_size=1, max_size=60).filter(
    lambda text: not any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in text))


@given(valid_ids)
def test_every_valid_id_is_one_segment_that_decodes_to_itself(loan_id):
    segment = path_segment(check_id(loan_id))
    assert "/" not in segment and "?" not in segment and "#" not in segment
    assert segment.lower().replace("%2e", ".") not in (".", "..")
    assert id_from_segment(segment) == loan_id


@pytest.mark.parametrize("loan_id", ID_CLASSES.values(), ids=ID_CLASSES.keys())
def test_each_id_class_round_trips(loan_id):
    assert id_from_segment(path_segment(loan_id)) == loan_id


def test_a_segment_is_decoded_once():
    assert id_from_segment("a%252Fb") == "a%2Fb" and id_from_segment("a%2Fb") == "a/b"
    assert id_from_segment("caf%C3%A9") == "café" and id_from_segment("A-z_0.9~") == "A-z_0.9~"
    assert (path_segment("."), path_segment(".."), path_segment("~..")) == ("~.", "~..", "%7E..")


@pytest.mark.parametrize(("segment", "says"), [
    ("a%2", "not percent-encoded"), ("a%zz", "not percent-encoded"), ("a b", "not percent-encoded"),
    ("caf\u00e9", "not percent-encoded"), ("%FF%FE", "not UTF-8"), ("%C3", "not UTF-8"),
    ("a%00b", "control character"), ("%ED%A0%80", "not UTF-8"), ("", "not percent-encoded"),
    ("x" * 257, "at most 256"),
])
def test_a_bad_segment_is_refused_naming_the_id(segment, says):
    with pytest.raises(InvalidIdError, match=says) as raised:
        id_from_segment(segment)
    assert raised.value.field == "id"
