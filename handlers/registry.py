"""The registry: the aggregates and projections the modules named in `AWS_ES_MODULES` declare.

A module declares, as attributes, `AGGREGATES` (Aggregate subclasses), `PROJECTIONS` (Projection objects),
optionally `ALIASES` (short name -> projection name), `PAGES` (name -> path of a page its routes serve, printed
by `aws-es local`), `command_routes(resolver, app)` / `query_routes(resolver, app)` (powertools' resolver
to add routes to, and the `handlers.app.App` they serve) and `run_demo(app, repayments, meter)`. Every entry
point (command line, Lambda handlers, local stack) loads the same registry, so a type declared once is served
everywhere. Anything wrong is one `ConfigurationError` naming the module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.aggregate import Aggregate
from core.errors import ConfigurationError
from projections.definition import Projection
from projections.errors import UnknownProjectionError

Routes = Callable[[Any, Any], None]


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
    #: The modules' optional `run_demo(app, repayments, meter)`; `aws-es demo` runs the first.
    demos: tuple[Callable[..., None], ...] = ()
    #: Optional command-line views: projection name -> view(key, row), counters name -> view(counters),
    #: aggregate class name -> view(state).
    views: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    #: Pages the modules' routes serve (name -> path, e.g. `dashboard` -> `/dashboard`), for `aws-es local`.
    pages: Mapping[str, str] = field(default_factory=dict)

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
    for name in modules:
        module = _import(name)
        found = _aggregates(name, module), _projections(name, module)
        if not found[0] and not found[1]:
            raise ConfigurationError(f"module {name!r} (AWS_ES_MODULES) declares no AGGREGATES and no PROJECTIONS")
        aggregates += found[0]
        projections += found[1]
        aliases.update(_aliases(name, module, aliases))
        commands += _routes(name, module, "command_routes")
        queries += _routes(name, module, "query_routes")
        views.update(_views(name, module))
        demos += _routes(name, module, "run_demo")
        pages.update(_pages(name, module))
    registry = Registry(tuple(modules), tuple(aggregates), tuple(projections), aliases, tuple(commands),
                        tuple(queries), tuple(demos), views, pages)
    _check(registry)
    return registry


def _import(name: str) -> Any:
    if not name or not all(part.isidentifier() for part in name.split(".")):
        raise ConfigurationError(f"AWS_ES_MODULES: {name!r} is not a module name (dotted Python identifiers)")
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigurationError(f"module {name!r} (AWS_ES_MODULES) cannot be imported: {exc}") from exc


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


def _aliases(name: str, module: Any, known: Mapping[str, str]) -> dict[str, str]:
    declared = getattr(module, "ALIASES", None) or {}
    if not isinstance(declared, Mapping):
        raise ConfigurationError(f"module {name!r}: ALIASES must map short names to projection names")
    for alias in declared:
        if alias in known:
            raise ConfigurationError(f"module {name!r}: alias {alias!r} is declared twice")
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


def _views(name: str, module: Any) -> dict[str, Callable[..., Any]]:
    declared = getattr(module, "VIEWS", None) or {}
    if not isinstance(declared, Mapping) or not all(callable(view) for view in declared.values()):
        raise ConfigurationError(f"module {name!r}: VIEWS must map projection or counters names to functions")
    return dict(declared)


def _check(registry: Registry) -> None:
    """Unique names, projections of registered aggregates, aliases that name a projection."""
    _unique("aggregate", [cls.__name__.lower() for cls in registry.aggregates])
    names = [declared.name for declared in registry.projections]
    names += [declared.counters_name for declared in registry.projections if declared.counters_name]
    _unique("projection", names)
    for declared in registry.projections:
        if declared.aggregate is None:
            raise ConfigurationError(f"projection {declared.name!r} names no aggregate: set Projection(aggregate=...), "
                                     "whose events table feeds it")
        if declared.aggregate not in registry.aggregates:
            raise ConfigurationError(f"projection {declared.name!r} folds {declared.aggregate.__name__}, which no "
                                     f"module in AWS_ES_MODULES ({', '.join(registry.modules)}) registers")
    for alias, target in registry.aliases.items():
        if target not in names:
            raise ConfigurationError(f"alias {alias!r} names projection {target!r}, which is not registered: "
                                     f"choose one of {', '.join(sorted(names))}")
        if alias in names and alias != target:
            raise ConfigurationError(f"alias {alias!r} hides the projection of that name")
    classes = [cls.__name__ for cls in registry.aggregates]
    for view in registry.views:
        if view not in names and view not in classes:
            raise ConfigurationError(f"VIEWS names {view!r}, which is no registered aggregate, projection or counters")


def _unique(kind: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigurationError(f"{kind} {name!r} is registered twice (AWS_ES_MODULES)")
        seen.add(name)
