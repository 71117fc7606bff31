"""The projection store contract, and the in-memory store that honours it (tests, and the contract's model).

A projection store keeps, per generation (`Tables`), one row per aggregate with its `version`, the row
counters (what each row contributes, per group) and the event counters (what each event contributes, per
group such as a day). Its one write moves a row and both kinds of counters together, all or nothing, and
only if the row is still at the version it was read at (`StaleRowError` otherwise): that guard is what makes
every counter move exactly once however often the stream redelivers. Rebuilds write rows and per-segment
counter totals without the guard (`put_rows`, `put_totals`: overwritten on a retry, never added twice), into
a generation whose tables `create_generation` made.
Event counters are read by group key, never by scanning. tests/unit/test_projection_store_contract.py runs
the contract against this store and the DynamoDB one (projections/dynamodb_store.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

from projections.definition import Row, add_counts
from projections.errors import ProjectionError, RowsUnavailableError, StaleRowError
from projections.items import version_of
from projections.tables import Tables

#: Counter amounts: group -> counter name -> amount.
Totals = dict[str, dict[str, Decimal]]
#: Counter moves as the projector computes them (deltas or totals).
Moves = Mapping[str, Mapping[str, Decimal | int]]


class ProjectionStore(Protocol):
    def read_rows(self, tables: Tables, ids: Sequence[str]) -> tuple[dict[str, Row], dict[str, RowsUnavailableError]]:
        """Rows by aggregate id, strongly consistent; and why each row that could not be read was not."""
        ...

    def read_row(self, tables: Tables, aggregate_id: str) -> Row | None: ...

    def write(self, tables: Tables, aggregate_id: str, old: Row | None, new: Row, counters: Moves,
              event_counters: Moves) -> None:
        """Row and counter deltas at once, if the row is still `old` (by version); `StaleRowError` if not."""
        ...

    def rows(self, tables: Tables) -> Iterator[tuple[str, Row]]: ...

    def counters(self, tables: Tables) -> Totals:
        """Row counters per group, summed over the group's items."""
        ...

    def event_counters(self, tables: Tables, groups: Sequence[str]) -> Totals:
        """Event counters of the groups named (read by key); a group nothing counted is absent."""
        ...

    def all_event_counters(self, tables: Tables) -> Totals:
        """Every event counter group (a full read, for `rebuild --verify`)."""
        ...

    def create_generation(self, tables: Tables) -> None:
        """Create the tables `tables` names (a rebuild's fresh generation); those that exist are kept."""
        ...

    def put_rows(self, tables: Tables, rows: Mapping[str, Row]) -> None: ...

    def put_totals(self, tables: Tables, part: str, counters: Moves, event_counters: Moves) -> None:
        """One rebuild segment's counter totals under `part`, replacing what that part held."""
        ...


def _missing(table: str | None) -> ProjectionError:
    return ProjectionError(f"projection table {table!r} does not exist: run `aws-es init` first")


class InMemoryProjectionStore:
    """The contract in memory: the same guards as DynamoDB (stale version refused, counters moved once)."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def create(self, definitions: Sequence[Mapping[str, Any]]) -> None:
        """Create the tables `projections.tables.generation_definitions` describes (existing ones kept)."""
        with self._lock:
            for definition in definitions:
                self.tables.setdefault(definition["TableName"], {})

    def create_generation(self, tables: Tables) -> None:
        with self._lock:
            for name in (tables.rows, tables.counters, tables.event_counters):
                if name is not None:
                    self.tables.setdefault(name, {})

    def _table(self, name: str | None) -> dict[str, Any]:
        if name is None or name not in self.tables:
            raise _missing(name)
        return self.tables[name]

    def read_rows(self, tables: Tables, ids: Sequence[str]) -> tuple[dict[str, Row], dict[str, RowsUnavailableError]]:
        with self._lock:
            held = self._table(tables.rows)
            return {i: dict(held[i]) for i in ids if i in held}, {}

    def read_row(self, tables: Tables, aggregate_id: str) -> Row | None:
        return self.read_rows(tables, [aggregate_id])[0].get(aggregate_id)

    def write(self, tables: Tables, aggregate_id: str, old: Row | None, new: Row, counters: Moves,
              event_counters: Moves) -> None:
        with self._lock:
            rows = self._table(tables.rows)
            current = rows.get(aggregate_id)
            if (current is None) != (old is None) or version_of(current) != version_of(old):
                raise StaleRowError(f"row {aggregate_id!r} in {tables.rows} is no longer at version "
                                    f"{version_of(old)}")
            counted = [(self._table(tables.counters), counters)] if counters else []
            if event_counters:
                counted.append((self._table(tables.event_counters), event_counters))
            rows[aggregate_id] = dict(new)
            for table, moves in counted:
                for group, values in moves.items():
                    add_counts(table.setdefault(group, {}), {"live": values})

    def rows(self, tables: Tables) -> Iterator[tuple[str, Row]]:
        with self._lock:
            held = list(self._table(tables.rows).items())
        return iter([(key, dict(row)) for key, row in held])

    def counters(self, tables: Tables) -> Totals:
        return self._sum(tables.counters, None) if tables.counters else {}

    def event_counters(self, tables: Tables, groups: Sequence[str]) -> Totals:
        return self._sum(tables.event_counters, groups) if tables.event_counters else {}

    def all_event_counters(self, tables: Tables) -> Totals:
        return self._sum(tables.event_counters, None) if tables.event_counters else {}

    def _sum(self, name: str | None, groups: Sequence[str] | None) -> Totals:
        totals: Totals = {}
        with self._lock:
            table = self._table(name)
            for group in table if groups is None else [g for g in groups if g in table]:
                for values in table[group].values():
                    add_counts(totals, {group: values})
        return totals

    def put_rows(self, tables: Tables, rows: Mapping[str, Row]) -> None:
        with self._lock:
            self._table(tables.rows).update((key, dict(row)) for key, row in rows.items())

    def put_totals(self, tables: Tables, part: str, counters: Moves, event_counters: Moves) -> None:
        with self._lock:
            for name, moves in ((tables.counters, counters), (tables.event_counters, event_counters)):
                if name is None:
                    continue
                table = self._table(name)
                for group, values in moves.items():
                    table.setdefault(group, {})[part] = {name: Decimal(amount) for name, amount in values.items()}
