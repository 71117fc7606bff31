"""Property: keyed commands sent any number of times, in any order, with any of their
replies lost, take effect once each, and every retry is answered with its first reply; a key sent again with
another request is refused and writes nothing. A plain model (a dict of key -> first reply) predicts each answer.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import Aggregate, InMemoryEventStore, execute
from core.errors import AlreadyCommittedError, KeyReusedError
from core.store import KeyMarker


class Tally(Aggregate):
    table = "Tallies"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.total = 0

    def on_added(self, event) -> None:
        self.total += event.data["n"]


def send(store: InMemoryEventStore, key: str, n: int) -> str:
    """One attempt of the keyed command 'add n' (request hash: n); its reply, or the first attempt's."""
    def marker(tally: Aggregate, events: list) -> KeyMarker:
        reply = json.dumps({"version": tally.version, "total": tally.total})
        return KeyMarker("Keys", key, str(n), tally.id, reply, 2_000_000_000)

    def add(tally: Tally) -> str:
        tally.commit({"type": "Added", "n": n}, marker=marker)
        return json.dumps({"version": tally.version, "total": tally.total})

    try:
        return execute(Tally("t", store=store), add)
    except AlreadyCommittedError as exc:
        return exc.reply


requests = st.lists(st.tuples(st.sampled_from("abcde"), st.integers(1, 3)), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(requests)
def test_each_key_takes_effect_once_and_retries_get_the_first_reply(sent: list[tuple[str, int]]) -> None:
    store = InMemoryEventStore()
    first: dict[str, tuple[int, str]] = {}
    total = 0
    for key, n in sent:
        if key in first and first[key][0] != n:
            with pytest.raises(KeyReusedError):
                send(store, key, n)
            continue
        reply = send(store, key, n)
        if key in first:
            assert reply == first[key][1]
        else:
            total += n
            assert json.loads(reply) == {"version": len(first) + 1, "total": total}
            first[key] = (n, reply)
    assert [event.number for event in store.read("t")] == list(range(1, len(first) + 1))
    assert sum(json.loads(event.data)["n"] for event in store.read("t")) == total
