"""Composition root of the read side: projection tables, control table, projector and stream runner,
all named by configuration (environment variables read through `core.config.env`).

Objects are built once per client: `core.config.reset()` forgets the client, so the next call rebuilds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from botocore.config import Config

from core import config
from core.dynamodb import DynamoDBEventStore
from core.errors import ConfigurationError
from loans import Loan
from loans.projections import loan_summary
from projections.definition import Projection
from projections.projector import Projector
from projections.runner import OnFailure, RunnerSettings, StreamRunner
from projections.tables import Control, Tables, keyed_table_definition, tables_for

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient


@dataclass(frozen=True)
class Settings:
    control_table: str
    on_failure_queue: str
    shards: int
    control_ttl: float
    runner: RunnerSettings


def settings() -> Settings:
    return Settings(
        control_table=config.env("PROJECTION_CONTROL_TABLE", "ProjectionControl") or "ProjectionControl",
        on_failure_queue=config.env("ON_FAILURE_QUEUE", "aws-es-projector-failures") or "",
        shards=_number("PROJECTION_COUNTER_SHARDS", "8", int, 1, 1000),
        control_ttl=_number("PROJECTION_CONTROL_TTL", "5", float, 0, 3600),
        runner=RunnerSettings(
            batch_size=_number("PROJECTOR_BATCH_SIZE", "100", int, 1, 10_000),
            window=_number("PROJECTOR_BATCH_WINDOW", "0.5", float, 0, 300),
            max_retries=_number("PROJECTOR_MAX_RETRIES", "2", int, 0, 10_000),
            bisect=_flag("PROJECTOR_BISECT", "true"),
        ),
    )


def _number(name: str, default: str, kind: type, low: float, high: float) -> Any:
    text = config.env(name, default) or default
    try:
        value = kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ConfigurationError(f"{name}={text!r} must be {what}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name}={text!r} must be between {low} and {high}")
    return value


def _flag(name: str, default: str) -> bool:
    text = (config.env(name, default) or default).lower()
    if text not in ("true", "false", "1", "0"):
        raise ConfigurationError(f"{name}={text!r} must be true or false")
    return text in ("true", "1")


def projection() -> Projection:
    return loan_summary(config.env("LOAN_SUMMARY_TABLE", "LoanSummary") or "LoanSummary",
                        config.env("PORTFOLIO_TABLE", "Portfolio") or "Portfolio")


def events_table() -> str:
    """The events table whose stream feeds the projector; records from any other stream are refused."""
    return Loan.default_table()


def control_definition() -> dict[str, Any]:
    return keyed_table_definition(settings().control_table, key="name")


def control() -> Control:
    return _control(config.dynamodb_client())


@functools.lru_cache(maxsize=4)
def _control(client: DynamoDBClient) -> Control:
    current = settings()
    return Control(current.control_table, client, ttl=current.control_ttl)


def live_tables() -> tuple[Projection, Tables]:
    """The loan projection and the tables of its live generation, for readers."""
    declared = projection()
    return declared, tables_for(declared, control().live(declared.name))


def live_projector() -> Projector:
    """The projector for the live generation, consulting the control table (cached) on every batch."""
    return _projector(config.dynamodb_client())


@functools.lru_cache(maxsize=4)
def _projector(client: DynamoDBClient) -> Projector:
    declared, gate = projection(), _control(client)
    return Projector(declared, client, DynamoDBEventStore(events_table(), client),
                     lambda: tables_for(declared, gate.live(declared.name)), shards=settings().shards)


def streams_client() -> DynamoDBStreamsClient:
    """LOCAL-AWS trap 1: the streams client must not use account-id endpoints under moto."""
    disabled = Config(account_id_endpoint_mode="disabled")
    return config.build_client("dynamodbstreams", disabled)


def stream_arn() -> str:
    table = config.dynamodb_client().describe_table(TableName=events_table())["Table"]
    if "LatestStreamArn" not in table:
        raise ConfigurationError(f"events table {table['TableName']!r} has no stream: enable NEW_IMAGE streams")
    return table["LatestStreamArn"]


def on_failure_queue() -> OnFailure:
    """A callable that sends each given-up record to the on-failure SQS queue (created if missing)."""
    sqs = config.client("sqs")
    url = sqs.create_queue(QueueName=settings().on_failure_queue)["QueueUrl"]

    def send(records: list[dict[str, Any]], reason: str) -> None:
        for record in records:
            sqs.send_message(QueueUrl=url, MessageBody=orjson.dumps({"reason": reason, "record": record}).decode())

    return send


def runner(handler: Any = None) -> StreamRunner:
    """The local stream runner, resuming from the positions the last runner recorded in the control table."""
    if handler is None:
        from handlers.projector import lambda_handler as handler
    region = config.session().region_name or "us-east-1"
    return StreamRunner(streams_client(), stream_arn(), handler, on_failure_queue(), settings().runner, region,
                        positions=control())
