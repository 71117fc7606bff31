"""The projection store contract (projections/store.py) and the control's (projections/tables.py), as suites a
store of yours runs:

    class TestMyProjectionStore(ProjectionStoreContract):
        def create_store(self, projection: Projection) -> ProjectionStore:
            return MyProjectionStore(projection, ...)   # its tables are made by `create_generation`

Expected values are reckoned by hand from the writes each test makes, never read back from the code under
test's own arithmetic. The library runs both suites on its in-memory and DynamoDB stores
(tests/unit/test_projection_store_contract.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from projections.definition import Projection
from projections.errors import ProjectionError, StaleRowError
from projections.store import ProjectionStore
from projections.tables import Control, SegmentPosition, Tables, tables_for

#: The projection whose tables the suite writes: rows keyed by `account`, row counters and event counters.
ACCOUNTS = Projection(name="accounts", table="Accounts", event_types=frozenset({"Opened"}),
                      fold=lambda row, event: dict(row or {}), key="account", counters_name="by-owner",
                      counters_table="AccountTotals", event_counters_name="per-day", event_counters_table="AccountDays")
TABLES = tables_for(ACCOUNTS, 0)


def row(version: int, **fields: Any) -> dict[str, Any]:
    return {"version": version, **fields}


class ProjectionStoreContract:
    """Guarded writes that move a row and its counters once, reads by key, and a rebuild's unguarded parts."""

    def create_store(self, projection: Projection) -> ProjectionStore:
        """A fresh store for `projection`, with no tables yet (called once per test)."""
        raise NotImplementedError(f"{type(self).__name__} must define create_store()")

    @pytest.fixture
    def store(self) -> ProjectionStore:
        store = self.create_store(ACCOUNTS)
        store.create_generation(TABLES)
        return store

    def test_a_fresh_generation_is_created_once_then_written_and_read(self, store: ProjectionStore) -> None:
        fresh = tables_for(ACCOUNTS, 5)
        with pytest.raises(ProjectionError, match="'Accounts-g5' does not exist"):
            store.read_row(fresh, "a-1")
        store.create_generation(fresh)
        store.put_rows(fresh, {"a-1": row(3, owner="ann")})
        store.create_generation(fresh)  # again: what it holds is kept
        store.put_totals(fresh, "r0of1", {"ann": {"accounts": 1}}, {"d1": {"opened": 3}})
        assert dict(store.rows(fresh)) == {"a-1": row(3, owner="ann")}
        assert store.counters(fresh) == {"ann": {"accounts": Decimal(1)}}
        assert store.all_event_counters(fresh) == {"d1": {"opened": Decimal(3)}}
        assert store.read_row(TABLES, "a-1") is None, "generation 0 is another set of tables"

    def test_a_new_row_is_written_once_and_a_second_new_write_is_refused_moving_nothing(
            self, store: ProjectionStore) -> None:
        store.write(TABLES, "a-1", None, row(1, owner="ann"), {"ann": {"accounts": 1}}, {"2026-11-26": {"opened": 1}})
        with pytest.raises(StaleRowError, match="a-1"):
            store.write(TABLES, "a-1", None, row(1, owner="bob"), {"bob": {"accounts": 1}},
                        {"2026-11-26": {"opened": 1}})
        assert store.read_row(TABLES, "a-1") == row(1, owner="ann")
        assert store.counters(TABLES) == {"ann": {"accounts": Decimal(1)}}
        assert store.event_counters(TABLES, ["2026-11-26"]) == {"2026-11-26": {"opened": Decimal(1)}}

    def test_a_stale_version_is_refused_and_every_counter_moves_exactly_once(self, store: ProjectionStore) -> None:
        first = row(1, balance=Decimal("10.00"))
        store.write(TABLES, "a-1", None, first, {"ann": {"balance": Decimal("10.00")}},
                    {"d1": {"paid": Decimal("10.00")}})
        second = row(3, balance=Decimal("15.50"))
        store.write(TABLES, "a-1", first, second, {"ann": {"balance": Decimal("5.50")}},
                    {"d2": {"paid": Decimal("5.50")}})
        for _ in range(2):  # the same write redelivered: refused, nothing counted twice
            with pytest.raises(StaleRowError):
                store.write(TABLES, "a-1", first, second, {"ann": {"balance": Decimal("5.50")}},
                            {"d2": {"paid": Decimal("5.50")}})
        assert store.read_row(TABLES, "a-1") == second
        assert store.counters(TABLES) == {"ann": {"balance": Decimal("15.50")}}
        assert store.event_counters(TABLES, ["d1", "d2"]) == {"d1": {"paid": Decimal("10.00")},
                                                              "d2": {"paid": Decimal("5.50")}}

    def test_a_write_guarded_by_a_row_that_is_absent_is_refused(self, store: ProjectionStore) -> None:
        with pytest.raises(StaleRowError):
            store.write(TABLES, "ghost", row(4), row(5), {"x": {"n": 1}}, {})
        assert store.read_row(TABLES, "ghost") is None
        assert store.counters(TABLES) == {}

    def test_counters_add_up_over_aggregates_and_groups_are_read_by_key(self, store: ProjectionStore) -> None:
        days = ["2026-11-24", "2026-11-25", "2026-11-26"]
        for number in range(12):  # spread over several shards
            day = days[number % 3]
            store.write(TABLES, f"a-{number}", None, row(1), {"all": {"accounts": 1, "opened": Decimal("1.25")}},
                        {day: {"opened": 1, "amount": Decimal(number)}})
        assert store.counters(TABLES) == {"all": {"accounts": Decimal(12), "opened": Decimal("15.00")}}
        wanted = {day: {"opened": Decimal(4), "amount": Decimal(sum(n for n in range(12) if days[n % 3] == day))}
                  for day in days}
        assert store.event_counters(TABLES, days) == wanted
        assert store.event_counters(TABLES, ["2026-11-25", "2026-01-01"]) == {"2026-11-25": wanted["2026-11-25"]}
        assert store.all_event_counters(TABLES) == wanted
        assert store.read_rows(TABLES, ["a-3", "a-99", "a-7"]) == ({"a-3": row(1), "a-7": row(1)}, {})
        assert sorted(key for key, _ in store.rows(TABLES)) == sorted(f"a-{n}" for n in range(12))

    def test_a_rebuild_part_is_replaced_when_written_again_and_adds_to_live_moves(
            self, store: ProjectionStore) -> None:
        store.put_rows(TABLES, {"a-1": row(2, owner="ann"), "a-2": row(1, owner="bob")})
        for _ in range(2):  # a retried segment overwrites its own part
            store.put_totals(TABLES, "r0of2", {"ann": {"accounts": 1}}, {"d1": {"opened": 2}})
        store.put_totals(TABLES, "r1of2", {"bob": {"accounts": 1}}, {"d1": {"opened": 1}})
        store.write(TABLES, "a-2", row(1, owner="bob"), row(2, owner="bob"), {}, {"d1": {"opened": 1}})
        assert dict(store.rows(TABLES)) == {"a-1": row(2, owner="ann"), "a-2": row(2, owner="bob")}
        assert store.counters(TABLES) == {"ann": {"accounts": Decimal(1)}, "bob": {"accounts": Decimal(1)}}
        assert store.event_counters(TABLES, ["d1"]) == {"d1": {"opened": Decimal(4)}}

    def test_a_missing_table_is_named_with_what_to_run(self, store: ProjectionStore) -> None:
        gone = Tables("NoSuchRows", "NoSuchCounters", 7, "NoSuchDays")
        with pytest.raises(ProjectionError, match="'NoSuchRows' does not exist: run `aws-es init`"):
            store.read_row(gone, "a-1")
        with pytest.raises(ProjectionError, match="'NoSuchCounters' does not exist: run `aws-es init`"):
            store.counters(gone)
        with pytest.raises(ProjectionError, match="'NoSuchDays' does not exist: run `aws-es init`"):
            store.event_counters(gone, ["d1"])

    def test_a_write_whose_counter_table_is_missing_writes_nothing(self, store: ProjectionStore) -> None:
        store.create_generation(Tables("Accounts-g9", None, 9))  # the rows table alone
        rows_only = Tables("Accounts-g9", None, 9, "AccountDays-g9")
        with pytest.raises(ProjectionError):
            store.write(rows_only, "a-1", None, row(1), {}, {"d1": {"opened": 1}})
        assert store.read_row(rows_only, "a-1") is None
        with pytest.raises(ProjectionError, match="'Half' does not exist"):
            store.read_row(Tables("Half", None, 0, "HalfDays"), "a-1")


class ControlContract:
    """The control of generations and rebuild progress (projections/tables.py) over a store of its items."""

    def create_control(self) -> Control:
        """A fresh control over an empty table, with no cache (`ttl=0`)."""
        raise NotImplementedError(f"{type(self).__name__} must define create_control()")

    @pytest.fixture
    def control(self) -> Control:
        return self.create_control()

    def test_a_rebuild_begins_once_and_is_resumed_only_with_its_own_segment_count(self, control: Control) -> None:
        assert control.state("accounts") == {"live": 0, "building": None, "segments": None, "previous": None}
        assert control.begin("accounts", 4) == 1
        assert control.begin("accounts", 4) == 1
        with pytest.raises(ProjectionError, match="generation 1 is being rebuilt with --of 4; resume it with --of 4"):
            control.begin("accounts", 8)

    def test_only_the_generation_being_built_is_switched_live_and_caught_up(self, control: Control) -> None:
        control.begin("accounts", 2)
        with pytest.raises(ProjectionError, match="another rebuild changed its generations first"):
            control.switch("accounts", 5, 0)
        assert control.live("accounts") == 0
        control.switch("accounts", 1, 0)
        assert control.state("accounts", fresh=True) == {"live": 1, "building": None, "segments": None,
                                                         "previous": 0}
        with pytest.raises(ProjectionError, match="another rebuild changed its generations first"):
            control.caught_up("accounts", 2)
        control.caught_up("accounts", 1)
        assert control.state("accounts", fresh=True)["previous"] is None
        assert control.begin("accounts", 2) == 2

    def test_a_change_guarded_by_an_absent_attribute_happens_once(self, control: Control) -> None:
        assert control.items.change("accounts", {"building": 1}, (), ("building", None)) is True
        assert control.items.change("accounts", {"building": 2}, (), ("building", None)) is False
        assert control.items.get("accounts") == {"building": 1}

    def test_checkpoints_and_shard_positions_read_back(self, control: Control) -> None:
        assert control.segment_done("accounts", 1, 0, 2) is None
        control.mark_segment("accounts", 1, 0, 2, events=40, aggregates=7)
        assert control.segment_done("accounts", 1, 0, 2) == {"events": 40, "aggregates": 7}
        assert control.position("arn:stream", "shard-1") is None
        control.record_position("arn:stream", "shard-1", "000123")
        assert control.position("arn:stream", "shard-1") == "000123"

    def test_a_segment_position_reads_back_and_belongs_to_its_generation_and_count(self, control: Control) -> None:
        assert control.segment_position("accounts", 1, 2, 4) is None
        control.record_segment_position("accounts", 1, 2, 4, SegmentPosition(("a-7", 12), 3, 400, 31))
        control.record_segment_position("accounts", 1, 3, 4, SegmentPosition(None, -1, 0, 0, rest_in_one=True))
        assert control.segment_position("accounts", 1, 2, 4) == SegmentPosition(("a-7", 12), 3, 400, 31)
        assert control.segment_position("accounts", 1, 3, 4) == SegmentPosition(None, -1, 0, 0, rest_in_one=True)
        assert control.segment_position("accounts", 2, 2, 4) is None
        assert control.segment_position("accounts", 1, 2, 8) is None
        assert control.segment_done("accounts", 1, 2, 4) is None, "a position is not the segment's end"
