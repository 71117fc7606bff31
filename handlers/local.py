"""The embedded local stack: moto's server on 127.0.0.1, which boto3 reaches over real HTTP, with moto patched
(`handlers.local_moto`) so that racing writers, transactions and memory behave as DynamoDB's do."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ConfigurationError
from handlers.settings import Settings

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

#: What another shell needs to reach the local stack (the endpoint is added when it starts).
LOCAL_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_configured(environ: Mapping[str, str] = os.environ) -> bool:
    """True when an endpoint or AWS credentials are configured, so the embedded stack is not wanted.

    Looks only at the environment and the shared files: asking boto3 would also probe the instance
    metadata service, which on a laptop costs a timeout.
    """
    if any(environ.get(name) for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_PROFILE")):
        return True
    files = (environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
             environ.get("AWS_CONFIG_FILE", "~/.aws/config"))
    return any(Path(name).expanduser().is_file() for name in files)


class LocalStack:
    """moto's ThreadedMotoServer on a free loopback port. `start()` only starts it: an App reaches it through
    `settings(...)`, another shell through `environment()`; this process's environment is left as it is."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._server: ThreadedMotoServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """The exports another shell needs to reach this stack."""
        return {**LOCAL_ENVIRONMENT, "AWS_ENDPOINT_URL": self.endpoint}

    def settings(self, base: Settings | None = None) -> Settings:
        """`base` (default: the defaults) pointed at this stack: its endpoint, the fake credentials, and
        us-east-1 unless a region is set."""
        base = base or Settings()
        return dataclasses.replace(base, endpoint=self.endpoint, s3_endpoint=None,
                                   region=base.region or LOCAL_ENVIRONMENT["AWS_DEFAULT_REGION"],
                                   credentials=(LOCAL_ENVIRONMENT["AWS_ACCESS_KEY_ID"],
                                                LOCAL_ENVIRONMENT["AWS_SECRET_ACCESS_KEY"]))

    def start(self) -> LocalStack:
        try:
            from moto.server import ThreadedMotoServer

            from handlers import local_moto
        except ImportError as exc:
            message = "the local stack needs moto's server: pip install 'aws-event-sourcing[local]'"
            raise ConfigurationError(message) from exc
        local_moto.patch()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

