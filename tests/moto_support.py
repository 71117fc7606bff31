"""One in-process moto shared by a property's examples, emptied before each instead of started anew.

Starting `mock_aws` costs a reset of every moto service and a fresh boto3 session for each client made under
it; emptying the few services the tests use costs a dictionary each. See the `shared_aws` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

#: The services the tests reach in moto: `empty_moto()` empties these (streams live on DynamoDB's tables).
SERVICES = ("dynamodb", "s3", "sqs")


def empty_moto() -> None:
    """Every table (with its stream), bucket and queue of in-process moto gone, as in a moto just started."""
    from moto.backends import get_backend

    for service in SERVICES:
        for account in get_backend(service).values():
            account.reset()


@contextmanager
def emptied_moto() -> Iterator[None]:
    """`with emptied_moto():` in place of `with mock_aws():`, inside a `shared_aws` (the fixture yields this)."""
    empty_moto()
    yield
