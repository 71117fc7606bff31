"""What a stack deploys, worked out from the registry and the settings: the logical id of every table, the events
tables that feed projections, the API's routes. Every resource kind reads this, never the registry itself."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import ConfigurationError
from handlers.registry import Registry, Route
from handlers.settings import ProjectionSettings, Settings, variable_for
from projections.definition import Projection

#: The tables every stack has beside the registry's: the projections' control table and the commands'
#: idempotency table (their declared names; `<UPPER_SNAKE>_TABLE` tells the functions the deployed ones).
CONTROL = ProjectionSettings().control_table
IDEMPOTENCY = "Idempotency"
#: The API a stack deploys its routes behind (`aws-es template --api`): API Gateway's REST API (the default) or
#: its HTTP API.
API_TYPES = ("rest", "http")


def logical(name: str, suffix: str = "") -> str:
    """A CloudFormation logical id from a declared name: `loan-summary` -> `LoanSummary`, `Loans` -> `Loans`."""
    words = [word for word in re.split(r"[^A-Za-z0-9]+", name) if word]
    return "".join(word[0].upper() + word[1:] for word in words) + suffix


@dataclass(frozen=True)
class Table:
    """One table: its declared name, logical id (`<Name>Table`) and the variable naming it to the functions."""

    declared: str

    @property
    def id(self) -> str:
        return logical(self.declared, "Table")

    @property
    def variable(self) -> str:
        return variable_for(self.declared)


@dataclass(frozen=True)
class ProjectionTables:
    """A projection's tables: rows (with their indexes), counter shards, event counters; each has generations."""

    projection: Projection
    events: Table

    @property
    def rows(self) -> Table:
        return Table(self.projection.table)

    @property
    def counters(self) -> Table | None:
        return Table(self.projection.counters_table) if self.projection.counters_table else None

    @property
    def event_counters(self) -> Table | None:
        table = self.projection.event_counters_table
        return Table(table) if table else None

    @property
    def tables(self) -> list[Table]:
        return [table for table in (self.rows, self.counters, self.event_counters) if table is not None]


@dataclass(frozen=True)
class Stack:
    modules: tuple[str, ...]
    events: tuple[Table, ...]
    projections: tuple[ProjectionTables, ...]
    routes: tuple[Route, ...]
    snapshot_every: int
    counter_shards: int
    api_type: str = "rest"

    @property
    def name(self) -> str:
        """The first module's last name part: `loans` (the API is `<stack>-loans`, its logical id `LoansApi`)."""
        return self.modules[0].rsplit(".", 1)[-1].replace("_", "-").lower()

    @property
    def api(self) -> str:
        return logical(self.name, "Api")

    @property
    def control(self) -> Table:
        return Table(CONTROL)

    @property
    def idempotency(self) -> Table:
        return Table(IDEMPOTENCY)

    @property
    def projected(self) -> list[Table]:
        """The events tables that feed at least one projection: each gets a stream mapping."""
        feeding = {tables.events for tables in self.projections}
        return [table for table in self.events if table in feeding]

    @property
    def read_tables(self) -> list[Table]:
        """Every projection table (rows, counters, event counters), in registration order."""
        return [table for tables in self.projections for table in tables.tables]

    def routes_of(self, api: str) -> list[Route]:
        return [route for route in self.routes if route.api == api]


def stack(registry: Registry, settings: Settings, api_type: str = "rest") -> Stack:
    """The stack for the registry's modules behind the `api_type` API; a module whose routes are not all declared
    is refused by name."""
    if api_type not in API_TYPES:
        raise ConfigurationError(f"the API type {api_type!r} is not one the template deploys: choose "
                                 f"{' or '.join(API_TYPES)}")
    if registry.undeclared_routes:
        raise ConfigurationError(
            f"{', '.join(registry.undeclared_routes)} adds routes that the module's ROUTES does not declare: "
            "aws-es template deploys only declared routes; add ROUTES = {\"commands\": [(method, path, name)], "
            "\"queries\": [...]} beside them")
    if not registry.projections:
        raise ConfigurationError(f"no module in AWS_ES_MODULES ({', '.join(registry.modules)}) declares PROJECTIONS: "
                                 "the template's projector and rebuild need at least one")
    if not registry.routes:
        raise ConfigurationError(f"no module in AWS_ES_MODULES ({', '.join(registry.modules)}) declares ROUTES: "
                                 "the API needs at least one route")
    events = {cls: Table(cls.declared_table()) for cls in registry.aggregates}
    projections = []
    for declared in registry.projections:
        assert declared.aggregate is not None  # the registry refuses a projection of no aggregate
        projections.append(ProjectionTables(declared, events[declared.aggregate]))
    tables = tuple(dict.fromkeys(events.values()))
    names = [table.id for table in [*tables, *(t for p in projections for t in p.tables)]]
    names += [Table(CONTROL).id, Table(IDEMPOTENCY).id]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigurationError(f"two tables of AWS_ES_MODULES have the logical id {', '.join(twice)} in the "
                                 "template: rename one")
    return Stack(registry.modules, tables, tuple(projections), registry.routes,
                 settings.snapshots.every, settings.projections.shards, api_type)
