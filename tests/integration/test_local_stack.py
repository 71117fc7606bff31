"""The embedded local stack binds its port itself: stacks started at once never race, a taken port is refused."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from core.errors import ConfigurationError
from handlers.local import LocalStack


@pytest.fixture(autouse=True)
def _keep_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`start()` points this process's clients at the stack: give the environment back afterwards."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")


def test_stacks_started_together_each_get_a_port_of_their_own_and_answer() -> None:
    stacks = [LocalStack().start() for _ in range(3)]
    try:
        assert len({stack.port for stack in stacks}) == 3 and all(stack.port > 0 for stack in stacks)
        for stack in stacks:
            request = urllib.request.Request(f"{stack.endpoint}/moto-api/data.json")
            with urllib.request.urlopen(request, timeout=30) as response:
                assert isinstance(json.loads(response.read()), dict)
    finally:
        for stack in stacks:
            stack.stop()


def test_a_taken_port_is_a_configuration_error_naming_it_not_a_wait() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigurationError, match=f"cannot listen on 127.0.0.1:{port}: Address already in use"):
            LocalStack(port).start()


def test_a_stopped_stack_frees_its_port() -> None:
    stack = LocalStack().start()
    port = stack.port
    stack.stop()
    again = LocalStack(port).start()
    again.stop()
    assert again.port == port
