"""One API resolver per App: an API handler's routes are bound to the App they were built with, so each App (a
Lambda process's, or one a test built) gets a resolver of its own, built on its first request and kept by it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

if TYPE_CHECKING:
    from handlers.app import App


class Resolvers:
    """Builds the resolver of an App with `build(app)` on its first request; the App keeps it."""

    def __init__(self, build: Callable[[App], APIGatewayRestResolver]) -> None:
        self._build = build

    def of(self, app: App) -> APIGatewayRestResolver:
        return app.built(self, lambda: self._build(app))
