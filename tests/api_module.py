"""A module with routes of its own for both APIs (named in AWS_ES_MODULES by tests/unit/test_api_routes.py)."""

from __future__ import annotations

from typing import Any

from core import Aggregate, EventSourcingError
from handlers.api_errors import map_errors, reply


class Ping(Aggregate):
    table = "Pings"

    def on_pinged(self, event: Any) -> None:
        """Pings change nothing: the aggregate is here so the module declares one."""


class NoSuchPingError(EventSourcingError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no ping {name!r}")
        self.field = "name"


AGGREGATES = (Ping,)


def command_routes(resolver: Any, app: Any) -> None:
    map_errors(resolver, 404, NoSuchPingError)

    @resolver.get("/pings/<name>")
    def ping(name: str) -> Any:
        if name != "known":
            raise NoSuchPingError(name)
        return reply(200, {"name": name, "app": type(app).__name__})


def query_routes(resolver: Any, app: Any) -> None:
    @resolver.get("/pings")
    def pings() -> Any:
        return reply(200, {"pings": ["known"]})
