"""An aggregate id in a URL path: the one place ids are percent-encoded into a path segment and decoded out of
one. Every valid id (`check_id`) goes through, whatever it holds: `/`, `?`, `#`, `%`, quotes, backslashes,
spaces, emoji. A route's id parameter is the segment as the request spelled it (API Gateway's REST proxy event
keeps `path` percent-encoded, and so does the local server), so a route decodes it once, here."""

from __future__ import annotations

import re
from urllib.parse import quote

from core.aggregate import check_id
from core.errors import InvalidIdError

#: A segment as `path_segment` writes it, or as a client may send it: unreserved and sub-delimiter characters,
#: `:` and `@`, and percent-escapes.
_SEGMENT = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+")


def path_segment(aggregate_id: str) -> str:
    """`aggregate_id` as one path segment: every byte of its UTF-8 outside the unreserved set percent-encoded.
    An id `.` or `..` is written `~.` or `~..`: browsers resolve those segments, escaped or not, as the path's
    own (the WHATWG URL standard), so a leading `~` of any other id is escaped as `%7E` to keep this unique."""
    segment = quote(check_id(aggregate_id), safe="")
    if segment.startswith("~"):
        segment = "%7E" + segment[1:]
    return "~" + segment if segment in (".", "..") else segment


def id_from_segment(segment: str) -> str:
    """The id a path segment spells, decoded once; `InvalidIdError` (a 400 naming `id`) when the segment is not
    percent-encoded UTF-8 or the id it spells is not a valid one."""
    if segment in ("~.", "~.."):
        return segment[1:]
    if not _SEGMENT.fullmatch(segment):
        raise InvalidIdError("the id in the path is not percent-encoded: escape every character outside "
                             "A-Z a-z 0-9 - . _ ~ as %XX of its UTF-8 bytes", value=segment)
    raw = bytearray()
    for piece in re.split(r"(%[0-9A-Fa-f]{2})", segment):
        raw.extend(bytes([int(piece[1:], 16)]) if piece.startswith("%") else piece.encode("ascii"))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidIdError("the id in the path is not UTF-8 once its %XX escapes are decoded",
                             value=segment) from None
    return check_id(text)
