"""Count what a boto3 client sends and receives: requests and response bytes, exactly."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.client import BaseClient

#: Any boto3 client: `attach` hands back the very client it was given, typed as it was.
Client = TypeVar("Client", bound=BaseClient)


@dataclass
class RequestMeter:
    """Attach to clients with `attach(client)`; `requests` and `bytes_received` only ever grow.

    With `thread` set (`RequestMeter.for_this_thread()`), only calls made from that thread count, so a
    measurement is not mixed with a background worker (the demo's stream runner) sharing the client.
    """

    requests: int = 0
    bytes_received: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)
    thread: int | None = None

    @classmethod
    def for_this_thread(cls) -> RequestMeter:
        return cls(thread=threading.get_ident())

    def attach(self, client: Client) -> Client:
        client.meta.events.register("after-call", self._after_call)
        return client

    def _after_call(self, http_response: Any = None, model: Any = None, **_: Any) -> None:
        if self.thread is not None and threading.get_ident() != self.thread:
            return
        self.requests += 1
        if model is not None:
            self.by_operation[model.name] = self.by_operation.get(model.name, 0) + 1
        if http_response is None:
            return
        if model is not None and model.has_streaming_output:
            # Reading `content` would consume a streamed body (S3 GetObject) before its caller reads it.
            self.bytes_received += int(http_response.headers.get("content-length") or 0)
        else:
            self.bytes_received += len(http_response.content or b"")

    def snapshot(self) -> tuple[int, int]:
        return self.requests, self.bytes_received
