"""The port through which an aggregate with nothing injected finds its events table and repository.

`Loan(id)` built with a `store=` or `repository=` uses what it was given and reads nothing here. Built with
neither, it asks the bound provider: `provider().table(Loan)` for its table and
`provider().repository(Loan, table)` for its repository (snapshots and the warm cache, as configured).

Which provider answers:

1. the one bound with `use(provider)` (or for a block, `with using(provider):`); an entry point binds the
   application object it built (`App.bind()`), so every aggregate of the process shares its clients;
2. otherwise the factory the installed distribution declares as the entry point `app` of group `aws_es`
   (see pyproject.toml), called once with no arguments, its result bound for the rest of the process: so
   `Loan(); loan.hydrate()` works in a plain Python session after `aws-es init`, configured by the environment;
3. otherwise `ConfigurationError`: inject a store or repository, or bind a provider.

The core names no layer above it: the factory is found through package metadata, never imported by name.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

from core.errors import ConfigurationError

if TYPE_CHECKING:
    from core.aggregate import Aggregate
    from core.repository import Repository

#: The entry point group and name of the default provider's factory.
ENTRY_POINT_GROUP = "aws_es"
ENTRY_POINT_NAME = "app"


class RepositoryProvider(Protocol):
    """What an aggregate with nothing injected asks for its table and its repository."""

    def table(self, cls: type[Aggregate]) -> str:
        """The events table of an aggregate class, as configured."""
        ...

    def repository(self, cls: type[Aggregate], table: str | None = None) -> Repository:
        """The repository of an aggregate class in `table` (default: `table(cls)`)."""
        ...


_lock = threading.RLock()
_bound: RepositoryProvider | None = None


def use(provider: RepositoryProvider | None) -> RepositoryProvider | None:
    """Bind `provider` (None unbinds) for every aggregate built from now on; returns the one bound before."""
    global _bound
    with _lock:
        previous, _bound = _bound, provider
        return previous


@contextmanager
def using(provider: RepositoryProvider) -> Iterator[RepositoryProvider]:
    """Bind `provider` for the block, then bind again whatever was bound before."""
    previous = use(provider)
    try:
        yield provider
    finally:
        use(previous)


def bound() -> RepositoryProvider | None:
    """The provider bound now, if any (never builds the default one)."""
    return _bound


def provider() -> RepositoryProvider:
    """The bound provider; with none bound, the entry point's default, built and bound once."""
    global _bound
    with _lock:
        if _bound is None:
            _bound = _default_provider()
        return _bound


def _default_provider() -> RepositoryProvider:
    found = [point for point in entry_points(group=ENTRY_POINT_GROUP) if point.name == ENTRY_POINT_NAME]
    if not found:
        raise ConfigurationError(
            "this aggregate has no store: inject one (store=... or repository=...) or bind an application "
            f"(core.provider.use(...)); no package declares the entry point {ENTRY_POINT_NAME!r} in group "
            f"{ENTRY_POINT_GROUP!r} that would build the default one")
    point = found[0]
    try:
        factory = point.load()
    except Exception as exc:
        raise ConfigurationError(f"the entry point {ENTRY_POINT_GROUP}:{ENTRY_POINT_NAME} ({point.value}) "
                                 f"cannot be loaded: {type(exc).__name__}: {exc}") from exc
    built: RepositoryProvider = factory()
    return built
