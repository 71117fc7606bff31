"""One API resolver per composition root: an API handler's routes are bound to the root they were given, so a
new root (after `handlers.root.reset()`, as tests and the local stack do) gets a resolver of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from handlers.root import root


class Resolvers:
    """Builds the resolver with `build(root)` on first use, and again whenever `root()` is another object."""

    def __init__(self, build: Callable[[Any], APIGatewayRestResolver]) -> None:
        self._build = build
        self._root: Any = None
        self._app: APIGatewayRestResolver | None = None

    def current(self) -> APIGatewayRestResolver:
        current = root()
        if self._app is None or current is not self._root:
            self._root, self._app = current, self._build(current)
        return self._app
