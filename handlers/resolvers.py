"""One API resolver per App: an API handler's routes are bound to the App they were built with, so each App (a
Lambda process's, or one a test built) gets a resolver of its own, built on its first request."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

if TYPE_CHECKING:
    from handlers.app import App


class Resolvers:
    """Builds the resolver of an App with `build(app)` on its first request, and keeps it while the App lives."""

    def __init__(self, build: Callable[[App], APIGatewayRestResolver]) -> None:
        self._build = build
        self._built: weakref.WeakKeyDictionary[App, APIGatewayRestResolver] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def of(self, app: App) -> APIGatewayRestResolver:
        with self._lock:
            resolver = self._built.get(app)
            if resolver is None:
                resolver = self._built[app] = self._build(app)
            return resolver
