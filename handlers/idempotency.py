"""Idempotent commands: the `Idempotency-Key` header, powertools' idempotency records, and the keyed commit.

A request with the header runs at most once per (caller, key) within `EXPIRES_AFTER` seconds. Powertools keeps
the reply of a finished request; the keyed commit writes a marker item `key -> (request hash, aggregate id,
reply)` in the same transaction as the events, so a retry is answered with the first reply even when every
reply was lost and powertools' record is missing or still in progress (the function died after the commit).
Both live in the idempotency table (`IDEMPOTENCY_TABLE`), whose TTL attribute is `expiration`; every read and
write goes through the App's DynamoDB client.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from core import (
    Aggregate,
    ConcurrencyError,
    Event,
    EventSourcingError,
    IllegalEventError,
    IllegalEventNumberError,
)
from core.dynamodb import DynamoDBEventStore
from core.errors import AlreadyCommittedError, ConfigurationError, KeyReusedError, error_code
from core.store import KeyMarker
from handlers.api_errors import RETRY_AFTER, reply, unavailable
from handlers.settings import Settings

if TYPE_CHECKING:
    from handlers.app import App

HEADER = "Idempotency-Key"
#: The longest key accepted, in characters.
MAX_KEY_LENGTH = 128
#: How long a key is remembered (powertools' records and the markers share the table's TTL attribute).
EXPIRES_AFTER = 24 * 60 * 60
#: The caller of a request API Gateway did not authenticate (local runs).
ANONYMOUS = "anonymous"
#: The namespace of the loan ids a keyed open derives from (caller, key).
ID_NAMESPACE = uuid.UUID("5d0f3c2e-7b7e-4e55-9d1c-1d7a0f6a4a11")

#: The aggregate type a command route commits to (a `Loan`, say): its renderer takes that type.
A = TypeVar("A", bound=Aggregate)
Run = Callable[["CommandKey[A] | None"], tuple[A, Event]]
Render = Callable[[A, Event], dict[str, Any]]


class InvalidKeyError(EventSourcingError):
    """The `Idempotency-Key` header is empty, too long or holds control characters (a 400)."""

    field = HEADER


def table_name(settings: Settings) -> str:
    """The idempotency table: `Idempotency`, or `IDEMPOTENCY_TABLE` (see `handlers.settings`)."""
    return settings.table_name("Idempotency")


def table_definition(settings: Settings) -> dict[str, Any]:
    """CreateTable arguments for the idempotency table; `TimeToLiveSpecification` is applied after creation."""
    return {
        "TableName": table_name(settings),
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
    }


def check_key(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidKeyError(f"the {HEADER} header is empty: send 1 to {MAX_KEY_LENGTH} printable characters")
    if len(value) > MAX_KEY_LENGTH:
        raise InvalidKeyError(f"the {HEADER} header has {len(value)} characters; at most {MAX_KEY_LENGTH}")
    if any(ord(char) < 32 or 127 <= ord(char) < 160 for char in value):
        raise InvalidKeyError(f"the {HEADER} header holds a control character: {value!r}")
    return value


def header(event: Mapping[str, Any]) -> str | None:
    """The header's value, whatever its case (API Gateway passes header names as the client sent them)."""
    headers = event.get("headers") or {}
    return next((value for name, value in headers.items() if name.lower() == HEADER.lower()), None)


@dataclass(frozen=True)
class CommandKey(Generic[A]):
    """One keyed request: who sent it, the key, and the hash of what it asked (method, path, body)."""

    caller: str
    key: str
    request_hash: str
    status: int
    render: Render[A]
    table: str
    #: The DynamoDB client the idempotency table is read with (the App's).
    client: Any = dataclasses.field(repr=False, compare=False, default=None)

    @classmethod
    def of(cls, event: Mapping[str, Any], key: str, render: Render[A], status: int, table: str,
           client: Any) -> CommandKey[A]:
        context = event.get("requestContext")
        caller = caller_of(context if isinstance(context, Mapping) else {}) or ANONYMOUS
        asked = [event.get("httpMethod"), event.get("path"), event.get("body"), event.get("isBase64Encoded") is True]
        digest = hashlib.sha256(json.dumps(asked, separators=(",", ":")).encode()).hexdigest()
        return cls(caller, key, digest, status, render, table, client)

    @property
    def aggregate_id(self) -> str:
        """The id a keyed create uses, the same on every retry of the request."""
        return str(uuid.uuid5(ID_NAMESPACE, json.dumps([self.caller, self.key])))

    @property
    def item_key(self) -> str:
        return "command#" + hashlib.sha256(json.dumps([self.caller, self.key]).encode()).hexdigest()

    def answer(self, aggregate: A, event: Event) -> dict[str, Any]:
        return {"status": self.status, "body": self.render(aggregate, event)}

    def marker(self, aggregate: A, events: list[Event]) -> KeyMarker:
        """The marker to commit with `events`, whose reply is this request's, from the folded aggregate."""
        return KeyMarker(self.table, self.item_key, self.request_hash, aggregate.id,
                         json.dumps(self.answer(aggregate, events[-1])), int(time.time()) + EXPIRES_AFTER)

    def check_stored(self) -> None:
        """Raise `AlreadyCommittedError`/`KeyReusedError` if a marker for this key was committed."""
        stored = DynamoDBEventStore(self.table, self.client).find_marker(self.table, self.item_key)
        KeyMarker(self.table, self.key, self.request_hash, aggregate_id="", reply="", expires_at=0).check(stored)


def command(resolver: APIGatewayRestResolver, app: App, run: Run[A], render: Render[A],
            status: int = 201, shown: Callable[[dict[str, Any]], Any] = dict) -> Response:
    """Run a command route, once per key when the request has one: `run(key)` commits (passing
    `key.marker` to `commit`), `render(aggregate, event)` is the reply body. The keys live in `app`'s
    idempotency table, with the body as rendered; `shown(body)` is what the caller gets (personal fields opened),
    so a stored reply keeps them sealed."""
    value = header(resolver.current_event)
    render = with_token(render)
    if value is None:
        aggregate, event = run(None)
        body = render(aggregate, event)
        return reply(status, shown(body), token_header(body))
    key = CommandKey.of(resolver.current_event, check_key(value), render, status, table_name(app.settings),
                        app.dynamodb)
    answer = once(resolver, key, run)
    return reply(answer["status"], shown(answer["body"]), token_header(answer["body"]))


#: The reply header carrying a command's consistency token: `<aggregate id, percent-encoded>@<version>`.
TOKEN_HEADER = "X-Consistency-Token"


def with_token(render: Render[A]) -> Render[A]:
    """`render` with the consistency token in the body: `consistency: {id, version}`, the aggregate's id and the
    version this command's commit made (its last event's number), which the queries accept as `min_version`.
    Kept in the idempotency marker with the rest of the reply, so a retried request gets the same token."""

    def rendered(aggregate: A, event: Event) -> dict[str, Any]:
        return {**render(aggregate, event), "consistency": {"id": aggregate.id, "version": event.number}}

    return rendered


def token_header(body: Any) -> dict[str, str] | None:
    token = body.get("consistency") if isinstance(body, dict) else None
    if not isinstance(token, dict) or "id" not in token or "version" not in token:
        return None  # a reply stored before tokens existed
    return {TOKEN_HEADER: f"{quote(str(token['id']), safe='')}@{token['version']}"}


def once(resolver: APIGatewayRestResolver, key: CommandKey[A], run: Run[A]) -> dict[str, Any]:
    """Powertools' idempotent run of the command; its record's key is (caller, key), its payload the hash."""
    settings = IdempotencyConfig(event_key_jmespath="[caller, key]", payload_validation_jmespath="request_hash",
                                 raise_on_no_idempotency_key=True, expires_after_seconds=EXPIRES_AFTER)
    context = resolver.lambda_context
    if callable(getattr(context, "get_remaining_time_in_millis", None)):
        settings.register_lambda_context(context)  # a record left in progress by a dead function then expires
    layer = DynamoDBPersistenceLayer(table_name=key.table, boto3_client=key.client)

    @idempotent_function(data_keyword_argument="request", persistence_store=layer, config=settings)
    def keyed_command(request: dict[str, str]) -> dict[str, Any]:
        return committed(key, run)

    return keyed_command(request={"caller": key.caller, "key": key.key, "request_hash": key.request_hash})


def committed(key: CommandKey[A], run: Run[A]) -> dict[str, Any]:
    """The command's answer, or the first attempt's when its commit landed already (the marker says so)."""
    try:
        aggregate, event = run(key)
    except AlreadyCommittedError as exc:
        return dict(json.loads(exc.reply))
    except (IllegalEventError, IllegalEventNumberError, ConcurrencyError):
        # Decided on a state that may hold this request's own events: a stored marker answers instead.
        try:
            key.check_stored()
        except AlreadyCommittedError as exc:
            return dict(json.loads(exc.reply))
        raise
    return key.answer(aggregate, event)


def add_error_handlers(resolver: APIGatewayRestResolver, table: str) -> None:
    """400 for a malformed key, 422 for a key reused with another request, 409 while the first is running,
    503 when powertools' records cannot be reached for now (anything else about them is a fault of ours)."""

    @resolver.exception_handler(InvalidKeyError)
    def bad_key(exc: InvalidKeyError) -> Response:
        return reply(400, {"error": str(exc), "field": HEADER})

    @resolver.exception_handler([KeyReusedError, IdempotencyValidationError])
    def reused(exc: Exception) -> Response:
        value = header(resolver.current_event)
        return reply(422, {"error": f"{HEADER} {value!r} was already used for a different request (method, path "
                                    "or body): send a new key for a new request", "field": HEADER})

    @resolver.exception_handler(IdempotencyAlreadyInProgressError)
    def in_progress(exc: IdempotencyAlreadyInProgressError) -> Response:
        value = header(resolver.current_event)
        return reply(409, {"error": f"a request with {HEADER} {value!r} is still in progress: retry shortly"},
                     {"Retry-After": str(RETRY_AFTER)})

    @resolver.exception_handler(IdempotencyPersistenceLayerError)
    def records_unavailable(exc: IdempotencyPersistenceLayerError) -> Response:
        cause = exc.__cause__
        if isinstance(cause, Exception) and error_code(cause) == "ResourceNotFoundException":
            raise ConfigurationError(f"the idempotency table {table!r} does not exist: run `aws-es init`, "
                                     "or set IDEMPOTENCY_TABLE to the deployed one") from exc
        if cause is None or not unavailable(cause):
            raise exc
        return reply(503, {"error": "the store is unavailable for now: try again shortly"},
                     {"Retry-After": str(RETRY_AFTER)})


def caller_of(context: Mapping[str, Any]) -> str | None:
    """The authenticated caller API Gateway names in a request context: an authorizer's `sub` claim or
    principal, or IAM's user ARN (None when the API does not authenticate, as locally)."""
    authorizer = context.get("authorizer")
    authorizer = authorizer if isinstance(authorizer, Mapping) else {}
    claims = authorizer.get("claims")
    identity = context.get("identity")
    candidates = [
        claims.get("sub") if isinstance(claims, Mapping) else None,
        authorizer.get("principalId"),
        *((identity.get("userArn"), identity.get("caller")) if isinstance(identity, Mapping) else ()),
    ]
    return next((value for value in candidates if isinstance(value, str) and value), None)
