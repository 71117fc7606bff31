"""The embedded local stack: moto's server on 127.0.0.1, which boto3 reaches over real HTTP, with moto patched
(`handlers.local_moto`) so that racing writers, transactions and memory behave as DynamoDB's do."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ConfigurationError
from handlers.settings import Settings

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

#: What another shell needs to reach the local stack (the endpoint is added when it starts).
LOCAL_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    """A loopback port free now (for a server started later, such as the local APIs)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    """moto's server on a loopback port, served from a thread, with `handlers.local_moto`'s patches. `start()`
    only starts it: an App reaches it through `settings(...)`, another shell through `environment()`; this
    process's environment is left as it is.

    The socket is bound in `start()` itself, before the thread serves it: with no port given the system picks a
    free one as it binds (two stacks started at once never race for a port), and a port already taken is a
    `ConfigurationError` at once, not a server thread that died while `start()` waits for it.
    """

    def __init__(self, port: int | None = None) -> None:
        #: 0 until `start()` when no port was given; then the port the server is bound to
        self.port = port or 0
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

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
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import make_server

            from handlers import local_moto
        except ImportError as exc:
            message = "the local stack needs moto's server: pip install 'aws-event-sourcing[local]'"
            raise ConfigurationError(message) from exc
        local_moto.patch()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.bind(("127.0.0.1", self.port))
            listening.listen(128)
        except OSError as exc:
            listening.close()
            raise ConfigurationError(f"the local stack cannot listen on 127.0.0.1:{self.port}: {exc.strerror}") from exc
        app = DomainDispatcherApplication(create_backend_app)
        with listening:  # werkzeug serves a duplicate of the bound socket (a failed bind of its own calls sys.exit)
            server = make_server("127.0.0.1", listening.getsockname()[1], app, threaded=True,
                                 request_handler=MotoRequestHandler, fd=listening.fileno())
        self._server, self.port = server, server.port
        self._thread = threading.Thread(target=server.serve_forever, name=f"moto-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (the serving loop notices within half a second) and close the socket."""
        if self._server is None:
            return
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server.server_close()
        self._server = self._thread = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

