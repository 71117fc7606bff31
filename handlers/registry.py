"""The registry: the aggregates and projections the modules named in `AWS_ES_MODULES` declare.

A module declares, as attributes, `AGGREGATES` (Aggregate subclasses), `PROJECTIONS` (Projection objects),
optionally `ALIASES` (short name -> projection name), `PAGES` (name -> path of a page its routes serve, printed
by `aws-es local`), `command_routes(resolver, app)` / `query_routes(resolver, app)` (powertools' resolver
to add routes to, and the `handlers.app.App` they serve), `ROUTES`, the method, path and name of each route
those add, which `aws-es template` deploys (`{"commands": [("POST", "/loans", "OpenLoan")], "queries": [...]}`;
paths in API Gateway's form, `/loans/{loan_id}`), `run_demo(app, repayments, meter[, loans])`, and `LISTS`
(projection name -> list name -> `read(app, search)`, the rows `aws-es query PROJECTION --list NAME` prints).

Every entry point (command line, Lambda handlers, local stack) loads the same registry, so a type
declared once is served everywhere. Anything wrong is one `ConfigurationError` naming the module: a module
whose import raises anything, a declaration of the wrong kind, or a name declared twice (naming both).
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.aggregate import Aggregate
from core.errors import ConfigurationError
from projections.definition import Projection
from projections.errors import UnknownProjectionError

Routes = Callable[[Any, Any], None]

#: The two APIs a module's routes join: `command_routes` adds to the first, `query_routes` to the second.
APIS = {"commands": "command_routes", "queries": "query_routes"}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_PATH = re.compile(r"^(/([A-Za-z0-9._~-]+|\{[A-Za-z_][A-Za-z0-9_]*\}))+$|^/$")
_ROUTE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]{0,63}$")


@dataclass(frozen=True)
class Route:
    """One route a module declares in `ROUTES`: which API serves it, its method and path, and its name (the
    event's name in the generated template, CamelCase)."""

    api: str
    method: str
    path: str
    name: str


class UnknownAggregateError(ConfigurationError):
    """Raised when a name (command line, configuration) names no registered aggregate type."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown aggregate type {name!r}: choose one of {', '.join(sorted(known))}")
        self.name = name


@dataclass(frozen=True)
class Registry:
    """What the loaded modules declare, checked: unique names, every reference resolvable."""

    modules: tuple[str, ...]
    aggregates: tuple[type[Aggregate], ...]
    projections: tuple[Projection, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)
    command_routes: tuple[Routes, ...] = ()
    query_routes: tuple[Routes, ...] = ()
    #: The modules' optional `run_demo(app, repayments, meter[, loans])`; `aws-es demo` runs the first.
    demos: tuple[Callable[..., None], ...] = ()
    #: Optional command-line views: projection name -> view(key, row), counters name -> view(counters),
    #: aggregate class name -> view(state).
    views: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    #: Pages the modules' routes serve (name -> path, e.g. `dashboard` -> `/dashboard`), for `aws-es local`.
    pages: Mapping[str, str] = field(default_factory=dict)
    #: The routes the modules declare in `ROUTES`, in declaration order.
    routes: tuple[Route, ...] = ()
    #: `module.command_routes` or `module.query_routes` for each such function whose routes `ROUTES` omits.
    undeclared_routes: tuple[str, ...] = ()
    #: Lists of rows a projection offers the command line: projection name -> list name -> read(app, search).
    lists: Mapping[str, Mapping[str, Callable[..., Any]]] = field(default_factory=dict)

    @property
    def demo(self) -> Callable[..., None]:
        if not self.demos:
            raise ConfigurationError(f"no module in AWS_ES_MODULES ({', '.join(self.modules)}) declares a demo")
        return self.demos[0]

    @property
    def default_aggregate(self) -> type[Aggregate]:
        """The first module's first aggregate: what the short command-line forms (`hydrate ID`) mean."""
        return self.aggregates[0]

    def aggregate(self, name: str) -> type[Aggregate]:
        """The aggregate class named `name` (its class name, case-insensitive)."""
        for cls in self.aggregates:
            if cls.__name__.lower() == name.lower():
                return cls
        raise UnknownAggregateError(name, [cls.__name__ for cls in self.aggregates])

    def misspelt_type(self, name: str) -> bool:
        """True when `name` is no registered type but is spelt nearly like one (`Polcy` for `Policy`)."""
        known = [cls.__name__.lower() for cls in self.aggregates]
        return name.lower() not in known and bool(difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.75))

    def projection(self, name: str) -> Projection:
        """The projection named `name`: its name, its counters' name, or an alias."""
        wanted = self.aliases.get(name, name)
        for declared in self.projections:
            if wanted in (declared.name, declared.counters_name, declared.event_counters_name):
                return declared
        raise UnknownProjectionError(name, self.projection_names())

    def projection_names(self) -> list[str]:
        """Every name `projection()` accepts."""
        names = [declared.name for declared in self.projections]
        names += [declared.counters_name for declared in self.projections if declared.counters_name]
        names += [declared.event_counters_name for declared in self.projections if declared.event_counters_name]
        return [*names, *self.aliases]

    def projections_of(self, cls: type[Aggregate]) -> tuple[Projection, ...]:
        return tuple(declared for declared in self.projections if declared.aggregate is cls)


def load(modules: Sequence[str]) -> Registry:
    """Import each module and collect what it declares; the first problem raises `ConfigurationError`."""
    if not modules:
        raise ConfigurationError("AWS_ES_MODULES names no module: give at least one importable module")
    aggregates: list[type[Aggregate]] = []
    projections: list[Projection] = []
    aliases: dict[str, str] = {}
    commands: list[Routes] = []
    queries: list[Routes] = []
    views: dict[str, Callable[..., Any]] = {}
    demos: list[Callable[..., None]] = []
    pages: dict[str, str] = {}
    routes: list[Route] = []
    undeclared: list[str] = []
    lists: dict[str, dict[str, Callable[..., Any]]] = {}
    claims = _Claims()
    for name in modules:
        module = _import(name)
        found = _aggregates(name, module), _projections(name, module)
        if not found[0] and not found[1]:
            raise ConfigurationError(f"module {name!r} (AWS_ES_MODULES) declares no AGGREGATES and no PROJECTIONS")
        claims.declare(name, found[0], found[1])
        aggregates += found[0]
        projections += found[1]
        aliases.update(claims.aliases(name, _aliases(name, module)))
        commands += _routes(name, module, "command_routes")
        queries += _routes(name, module, "query_routes")
        views.update(claims.keyed(name, "view", _views(name, module)))
        demos += _routes(name, module, "run_demo")
        pages.update(claims.keyed(name, "page", _pages(name, module)))
        for projection, readers in _lists(name, module).items():
            lists.setdefault(projection, {}).update(claims.keyed(name, f"list of {projection}", readers))
        declared = _declared_routes(name, module)
        routes += declared
        undeclared += [f"{name}.{function}" for api, function in APIS.items()
                       if getattr(module, function, None) is not None and not any(r.api == api for r in declared)]
    registry = Registry(tuple(modules), tuple(aggregates), tuple(projections), aliases, tuple(commands),
                        tuple(queries), tuple(demos), views, pages, tuple(routes), tuple(undeclared), lists)
    _check_references(registry)
    return registry


class _Claims:
    """Who declared each name, so a name declared twice (in one module or across two) is refused naming both.

    Each namespace holds one thing per name: aggregate types (case-insensitive, as the command line reads
    them); tables (events, rows, counters and event counters tables: a table holds one kind of item); the
    names `Registry.projection` accepts (projection, counters, event counters and alias names); views; pages.
    Table names are checked as declared: a `<NAME>_TABLE` override is the deployer's to keep distinct.
    """

    def __init__(self) -> None:
        self._owners: dict[tuple[str, str], str] = {}

    def declare(self, module: str, aggregates: list[type[Aggregate]], projections: list[Projection]) -> None:
        for cls in aggregates:
            self._claim("aggregate", cls.__name__.lower(), f"aggregate {cls.__name__}", module)
            self._claim("table", cls.table, f"the events table of {cls.__name__}", module)
        for declared in projections:
            self._claim("name", declared.name, f"projection {declared.name!r}", module)
            self._claim("table", declared.table, f"the rows table of projection {declared.name!r}", module)
            for kind in ("counters", "event_counters"):
                name, table = getattr(declared, f"{kind}_name"), getattr(declared, f"{kind}_table")
                what = f"the {kind.replace('_', ' ')} of projection {declared.name!r}"
                if name:
                    self._claim("name", name, what, module)
                if table:
                    self._claim("table", table, f"the table of {what}", module)

    def aliases(self, module: str, declared: Mapping[str, str]) -> dict[str, str]:
        for alias, target in declared.items():
            if alias != target:  # an alias naming its own projection adds no name
                self._claim("name", alias, f"an alias of {target!r}", module)
        return dict(declared)

    def keyed(self, module: str, kind: str, declared: Mapping[str, Any]) -> dict[str, Any]:
        """VIEWS and PAGES: the first module's entry would be silently replaced by the second's."""
        for name in declared:
            self._claim(kind, name, f"a {kind}", module)
        return dict(declared)

    def _claim(self, space: str, name: str, what: str, module: str) -> None:
        key = (space, name)
        where = f"{what} (module {module!r})"
        if key in self._owners:
            raise ConfigurationError(f"{space} {name!r} is registered twice: as {self._owners[key]} and as "
                                     f"{where}; rename one")
        self._owners[key] = where


def _import(name: str) -> Any:
    if not name or not all(part.isidentifier() for part in name.split(".")):
        raise ConfigurationError(f"AWS_ES_MODULES: {name!r} is not a module name (dotted Python identifiers)")
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # the module, or one it imports, is missing: the message names which
        raise ConfigurationError(f"module {name!r} (AWS_ES_MODULES) cannot be imported: {exc}") from exc
    except Exception as exc:  # its code fails as it runs (a NameError, a SyntaxError, a raise of its own)
        raise ConfigurationError(f"module {name!r} (AWS_ES_MODULES) cannot be imported: its code raised "
                                 f"{type(exc).__name__}: {exc}") from exc


def _aggregates(name: str, module: Any) -> list[type[Aggregate]]:
    declared = list(getattr(module, "AGGREGATES", ()) or ())
    for item in declared:
        if not (isinstance(item, type) and issubclass(item, Aggregate)):
            raise ConfigurationError(f"module {name!r}: AGGREGATES holds {item!r}, not an Aggregate subclass")
    return declared


def _projections(name: str, module: Any) -> list[Projection]:
    declared = list(getattr(module, "PROJECTIONS", ()) or ())
    for item in declared:
        if not isinstance(item, Projection):
            raise ConfigurationError(f"module {name!r}: PROJECTIONS holds {item!r}, not a Projection")
    return declared


def _aliases(name: str, module: Any) -> dict[str, str]:
    declared = getattr(module, "ALIASES", None) or {}
    if not isinstance(declared, Mapping) or not all(isinstance(item, str) for pair in declared.items()
                                                     for item in pair):
        raise ConfigurationError(f"module {name!r}: ALIASES must map short names to projection names")
    return dict(declared)


def _routes(name: str, module: Any, attribute: str) -> list[Routes]:
    routes = getattr(module, attribute, None)
    if routes is None:
        return []
    if not callable(routes):
        raise ConfigurationError(f"module {name!r}: {attribute} must be a function")
    return [routes]


def _pages(name: str, module: Any) -> dict[str, str]:
    declared = getattr(module, "PAGES", None) or {}
    pages = declared.items() if isinstance(declared, Mapping) else [(None, None)]
    if not all(isinstance(page, str) and isinstance(path, str) and path.startswith("/") for page, path in pages):
        raise ConfigurationError(f"module {name!r}: PAGES must map page names to paths starting with '/'")
    return dict(declared)


def _declared_routes(name: str, module: Any) -> list[Route]:
    declared = getattr(module, "ROUTES", None) or {}
    shape = (f"module {name!r}: ROUTES must map 'commands' and 'queries' to (method, path, name) tuples, e.g. "
             '{"queries": [("GET", "/policies/{policy_id}", "GetPolicy")]}')
    if not isinstance(declared, Mapping) or not set(declared) <= set(APIS):
        raise ConfigurationError(shape)
    routes = []
    for api, entries in declared.items():
        if entries and getattr(module, APIS[api], None) is None:
            raise ConfigurationError(f"module {name!r}: ROUTES declares {api} routes, but the module has no "
                                     f"{APIS[api]}(app, root) to add them")
        for entry in entries:
            if not (isinstance(entry, tuple | list) and len(entry) == 3
                    and all(isinstance(part, str) for part in entry)):
                raise ConfigurationError(f"{shape}; not {entry!r}")
            method, path, route = entry
            if method.upper() not in METHODS:
                raise ConfigurationError(f"module {name!r}: route {route!r} has method {method!r}: choose one of "
                                         f"{', '.join(METHODS)}")
            if not _PATH.match(path):
                raise ConfigurationError(f"module {name!r}: route {route!r} has path {path!r}: give segments after "
                                         "'/', parameters as {name}")
            if not _ROUTE_NAME.match(route):
                raise ConfigurationError(f"module {name!r}: route name {route!r} must be CamelCase letters and "
                                         "digits (at most 64), starting with a capital")
            routes.append(Route(api, method.upper(), path, route))
    return routes


def _lists(name: str, module: Any) -> dict[str, dict[str, Callable[..., Any]]]:
    declared = getattr(module, "LISTS", None) or {}
    if not isinstance(declared, Mapping) or not all(
            isinstance(projection, str) and isinstance(readers, Mapping)
            and all(isinstance(list_name, str) and callable(read) for list_name, read in readers.items())
            for projection, readers in declared.items()):
        raise ConfigurationError(f"module {name!r}: LISTS must map projection names to {{list name: read(app, "
                                 "search)}}")
    return {projection: dict(readers) for projection, readers in declared.items()}


def _views(name: str, module: Any) -> dict[str, Callable[..., Any]]:
    declared = getattr(module, "VIEWS", None) or {}
    if not isinstance(declared, Mapping) or not all(callable(view) for view in declared.values()):
        raise ConfigurationError(f"module {name!r}: VIEWS must map projection or counters names to functions")
    return dict(declared)


def _unique(kind: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigurationError(f"{kind} {name!r} is registered twice (AWS_ES_MODULES)")
        seen.add(name)


def _check_references(registry: Registry) -> None:
    """Projections of registered aggregates; aliases and views that name something registered."""
    names = registry.projection_names()
    targets = names[:len(names) - len(registry.aliases)]  # the projections' own names, without the aliases
    for declared in registry.projections:
        if declared.aggregate is None:
            raise ConfigurationError(f"projection {declared.name!r} names no aggregate: set Projection(aggregate=...), "
                                     "whose events table feeds it")
        if declared.aggregate not in registry.aggregates:
            raise ConfigurationError(f"projection {declared.name!r} folds {declared.aggregate.__name__}, which no "
                                     f"module in AWS_ES_MODULES ({', '.join(registry.modules)}) registers")
    for alias, target in registry.aliases.items():
        if target not in targets:
            raise ConfigurationError(f"alias {alias!r} names projection {target!r}, which is not registered: "
                                     f"choose one of {', '.join(sorted(targets))}")
    _unique("route name", [route.name for route in registry.routes])
    _unique("route", [f"{route.method} {route.path}" for route in registry.routes])
    classes = [cls.__name__ for cls in registry.aggregates]
    for projection in registry.lists:
        if projection not in [declared.name for declared in registry.projections]:
            raise ConfigurationError(f"LISTS names {projection!r}, which is no registered projection")
    for view in registry.views:
        if view not in names and view not in classes:
            raise ConfigurationError(f"VIEWS names {view!r}, which is no registered aggregate, projection or counters")
