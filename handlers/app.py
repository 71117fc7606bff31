"""The application: one `App` per process builds every client, store, repository and projector it serves.

An entry point builds it (`App.from_env()` in a Lambda handler's first invocation and in the command line's
`main`; `App(settings)` in a test or a script) and passes it down to the plain functions that need it; nothing
looks it up. Objects are built once per App, so the warm cache of aggregates and the control table's cached
generations live as long as it does.

An aggregate built with no store or repository asks the provider bound in `core.provider`: `app.bind()` makes
this App that provider (an entry point does so for its process; `with app.bound():` for a block). With none
bound, `core.provider` builds `App.from_env()` through the `aws_es`/`app` entry point pyproject.toml declares,
so `Loan(); loan.hydrate()` works in a plain session configured by the environment.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import orjson
from botocore.config import Config

from core import provider as aggregate_provider
from core.archive import ArchivingEventStore, S3Archive
from core.config import Service, default_client
from core.dynamodb import DynamoDBEventStore, events_table_definition
from core.errors import ConfigurationError
from core.kms_keys import KmsKeyStore, LocalTableKeyStore
from core.personal import KeyStore, Sealer
from handlers.registry import Registry, load
from handlers.settings import Settings
from projections.definition import Projection
from projections.dynamodb_store import DynamoDBProjectionStore
from projections.parking import PARKED_EVENTS_TABLE, DynamoDBParkingStore, parking_table_definition
from projections.projector import Projector
from projections.tables import Control, Tables, generation_definitions, keyed_table_definition, tables_for
from snapshots.cache import AggregateCache
from snapshots.policy import SnapshotPolicy
from snapshots.repository import SnapshottingRepository
from snapshots.settings import snapshot_store

if TYPE_CHECKING:
    from core.aggregate import Aggregate
    from projections.runner import StreamRunner
    from snapshots.store import SnapshotStore

Handler = Callable[[dict[str, Any], Any], Any]
T = TypeVar("T")


class App:
    """Builds and keeps the service's objects; every one takes its clients from here."""

    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        self.settings = settings
        self._registry = registry
        self._lock = threading.RLock()
        self._repositories: dict[tuple[type[Aggregate], str], SnapshottingRepository] = {}
        self._projectors: dict[str, list[Projector]] = {}
        self._built: dict[object, Any] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> App:
        """The App the environment configures (`os.environ` unless `environ` is given)."""
        return cls(Settings.from_env(environ))

    def with_settings(self, settings: Settings) -> App:
        """A new App on other settings (the local stack's endpoint, say), with the registry this one was given."""
        return App(settings, self._registry)

    def bind(self) -> None:
        """Make this App the provider of every aggregate built with no store or repository (`core.provider`)."""
        aggregate_provider.use(self)

    @contextmanager
    def bound(self) -> Iterator[App]:
        """This App as the aggregates' provider for the block, then whatever was bound before."""
        with aggregate_provider.using(self):
            yield self

    def built(self, key: object, build: Callable[[], T]) -> T:
        """`build()` once per App and key: what an entry point derives from this App (an API's resolver, say)
        lives as long as the App does, and no longer."""
        with self._lock:
            if key not in self._built:
                self._built[key] = build()
            return cast(T, self._built[key])

    @functools.cached_property
    def registry(self) -> Registry:
        """The modules of `AWS_ES_MODULES`, imported on first need: an aggregate with a store injected, or
        naming its table, never needs them."""
        return self._registry if self._registry is not None else load(self.settings.modules)

    # -- clients ----------------------------------------------------------------------------------------------
    def client(self, service: Service, extra: Config | None = None) -> Any:
        """A new client for `service` in the configured region, with the project's retry settings, at the
        configured endpoint (S3's own when one is set) and with the configured credentials, if any."""
        settings, options = self.settings, {}
        endpoint = (settings.s3_endpoint or settings.endpoint) if service == "s3" else settings.endpoint
        if endpoint:
            options["endpoint_url"] = endpoint
        if settings.credentials is not None:
            options["aws_access_key_id"], options["aws_secret_access_key"] = settings.credentials
        return default_client(service, extra, region=settings.region, **options)

    @functools.cached_property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @functools.cached_property
    def s3(self) -> Any:
        """Path-style addressing when an endpoint is configured (a local stack has no DNS)."""
        style: Literal["path", "auto"] = "path" if self.settings.s3_endpoint or self.settings.endpoint else "auto"
        return self.client("s3", Config(s3={"addressing_style": style}))

    @functools.cached_property
    def streams(self) -> Any:
        """Never account-id endpoints, which moto does not serve (docs/local-aws.md, "Streams client endpoints")."""
        return self.client("dynamodbstreams", Config(account_id_endpoint_mode="disabled"))

    @functools.cached_property
    def sqs(self) -> Any:
        return self.client("sqs")

    # -- write side -------------------------------------------------------------------------------------------
    def table(self, cls: type[Aggregate]) -> str:
        """The events table of an aggregate class: its declared name, or `<UPPER_SNAKE>_TABLE`."""
        return self.settings.table_name(cls.declared_table())

    def event_store(self, cls: type[Aggregate], table: str | None = None) -> DynamoDBEventStore:
        """The events table's store; with `ARCHIVE_BUCKET`, archive + table read as one (same contract)."""
        return self.archived(DynamoDBEventStore(table or self.table(cls), self.dynamodb))

    def archived(self, store: DynamoDBEventStore) -> DynamoDBEventStore:
        """`store` reading its archive too when archiving is configured (`core.archive`)."""
        if not self.settings.archive_bucket:
            return store
        return cast(DynamoDBEventStore, ArchivingEventStore(store, self.cold_archive))

    @functools.cached_property
    def cold_archive(self) -> S3Archive:
        """The archive of cold events (`ARCHIVE_BUCKET`, `ARCHIVE_PREFIX`)."""
        if not self.settings.archive_bucket:
            raise ConfigurationError("archiving is off: set ARCHIVE_BUCKET to the bucket cold events move to")
        return S3Archive(self.s3, self.settings.archive_bucket, self.settings.archive_prefix)

    def snapshot_store(self, table: str) -> SnapshotStore | None:
        """The configured snapshot store of an events table (`SNAPSHOT_*`) on this App's clients; None when off."""
        return snapshot_store(table, self.settings.snapshots, self.dynamodb, self.s3)

    def repository(self, cls: type[Aggregate], table: str | None = None) -> SnapshottingRepository:
        """Snapshots and the warm cache for every aggregate, as `SNAPSHOT_*` configure them; one per table."""
        name = table or self.table(cls)
        with self._lock:
            if (cls, name) not in self._repositories:
                current = self.settings.snapshots
                repository = SnapshottingRepository(
                    self.event_store(cls, name),
                    self.snapshot_store(name),
                    SnapshotPolicy(every=current.every, enabled=current.store != "off"),
                    AggregateCache(current.cache_size),
                )
                if cls.personal:
                    repository.sealer = self.sealer
                self._repositories[cls, name] = repository
            return self._repositories[cls, name]

    @functools.cached_property
    def kms(self) -> Any:
        return self.client("kms")

    @functools.cached_property
    def key_store(self) -> KeyStore:
        """The personal data keys: KMS-wrapped in the key table with `PERSONAL_KMS_KEY`, else the local store."""
        from handlers.tables import KEYS_TABLE

        table = self.settings.table_name(KEYS_TABLE)
        if self.settings.personal_kms_key:
            return KmsKeyStore(self.kms, self.dynamodb, table, self.settings.personal_kms_key)
        return LocalTableKeyStore(self.dynamodb, table)

    @functools.cached_property
    def sealer(self) -> Sealer:
        """Seals and reveals personal fields (`core.personal`) with this App's key store."""
        return Sealer(self.key_store)

    # -- read side --------------------------------------------------------------------------------------------
    def projection(self, name: str) -> Projection:
        """A registered projection by name, counters name or alias, with its configured table names."""
        return self.resolved(self.registry.projection(name))

    def resolved(self, declared: Projection) -> Projection:
        """`declared` with every table name it holds overridden as configured (`<UPPER_SNAKE>_TABLE`)."""
        names = {item.name: getattr(declared, item.name) for item in dataclasses.fields(declared)
                 if item.name.endswith("table") and isinstance(getattr(declared, item.name), str)}
        # Which fields hold table names is only known at run time, so the keyword arguments are typed loosely.
        replaced: dict[str, Any] = {key: self.settings.table_name(value) for key, value in names.items()}
        return dataclasses.replace(declared, **replaced)

    def projections(self) -> list[Projection]:
        return [self.resolved(declared) for declared in self.registry.projections]

    def events_of(self, projection: Projection) -> DynamoDBEventStore:
        """The event store of the aggregate a projection folds: what rebuild and verify read."""
        return self.archived(DynamoDBEventStore(self.events_table_of(projection), self.dynamodb))

    def projection_store(self, projection: Projection) -> DynamoDBProjectionStore:
        """Where a projection's rows, counters and event counters live."""
        return DynamoDBProjectionStore(projection, self.dynamodb, self.settings.projections.shards)

    def events_table_of(self, projection: Projection) -> str:
        if projection.aggregate is None:
            raise ConfigurationError(f"projection {projection.name!r} names no aggregate")
        return self.table(projection.aggregate)

    def events_tables(self) -> list[str]:
        """The events table of every registered aggregate, in registration order."""
        return list(dict.fromkeys(self.table(cls) for cls in self.registry.aggregates))

    def projections_for(self, events_table: str) -> list[Projection]:
        return [declared for declared in self.projections() if self.events_table_of(declared) == events_table]

    @functools.cached_property
    def _control(self) -> Control:
        current = self.settings.projections
        return Control(current.control_table, self.dynamodb, ttl=current.control_ttl)

    def control(self) -> Control:
        return self._control

    def live_tables(self, projection: Projection | str) -> tuple[Projection, Tables]:
        """A projection and the tables of its live generation, for readers."""
        declared = self.projection(projection) if isinstance(projection, str) else projection
        return declared, tables_for(declared, self.control().live(declared.name))

    def projector_for(self, declared: Projection, tables: Callable[[], Tables] | None = None) -> Projector:
        """A projector of one projection; by default writing its live generation (the control table decides)."""
        gate = self.control()
        live = tables or (lambda: tables_for(declared, gate.live(declared.name)))
        store = self.archived(DynamoDBEventStore(self.events_table_of(declared), self.dynamodb))  # gap fills
        return Projector(declared, self.dynamodb, store, live, shards=self.settings.projections.shards,
                         parking=self.parking())

    def projector(self, events_table: str) -> list[Projector]:
        """The live projectors of every projection fed by `events_table` (empty when none is registered)."""
        with self._lock:
            if events_table not in self._projectors:
                self._projectors[events_table] = [self.projector_for(declared)
                                                  for declared in self.projections_for(events_table)]
            return self._projectors[events_table]

    def parking_table(self) -> str:
        """The table where unfoldable events wait for a redrive (`PARKED_EVENTS_TABLE` overrides the name)."""
        return self.settings.table_name(PARKED_EVENTS_TABLE)

    def parking(self) -> DynamoDBParkingStore:
        """The parking store every projector of this App parks in and `aws-es parked`/`redrive` read."""
        return DynamoDBParkingStore(self.parking_table(), self.dynamodb)

    # -- local stream runner ----------------------------------------------------------------------------------
    def stream_arn(self, events_table: str) -> str:
        table = self.dynamodb.describe_table(TableName=events_table)["Table"]
        if "LatestStreamArn" not in table:
            raise ConfigurationError(f"events table {events_table!r} has no stream: enable NEW_IMAGE streams")
        return str(table["LatestStreamArn"])

    def on_failure_queue(self) -> Callable[[list[dict[str, Any]], str], None]:
        """A callable that sends each given-up record to the on-failure SQS queue (created if missing)."""
        sqs = self.sqs
        url = sqs.create_queue(QueueName=self.settings.projections.on_failure_queue)["QueueUrl"]

        def send(records: list[dict[str, Any]], reason: str) -> None:
            for record in records:
                sqs.send_message(QueueUrl=url, MessageBody=orjson.dumps({"reason": reason, "record": record}).decode())

        return send

    def runner(self, handler: Handler, events_table: str | None = None) -> StreamRunner:
        """The local stream runner of one events table (default: the default aggregate's) feeding `handler`
        (the projector's: `handlers.projector.runner(app)` passes it), resuming from the positions the last
        runner recorded in the control table."""
        from projections.runner import StreamRunner

        table = events_table or self.table(self.registry.default_aggregate)
        return StreamRunner(self.streams, self.stream_arn(table), handler, self.on_failure_queue(),
                            self.settings.projections.runner, self.settings.region or "us-east-1",
                            positions=self.control(), heartbeats=self.control().record_heartbeat)

    def runners(self, handler: Handler) -> list[StreamRunner]:
        """One stream runner per registered events table that feeds a projection, each feeding `handler`."""
        return [self.runner(handler, table) for table in self.events_tables() if self.projections_for(table)]

    # -- tables -----------------------------------------------------------------------------------------------
    def table_definitions(self) -> list[dict[str, Any]]:
        """CreateTable arguments of every table the registry needs: events, projections (live generation 0)
        the control table and the parking table."""
        definitions = [events_table_definition(table) for table in self.events_tables()]
        for declared in self.projections():
            definitions += generation_definitions(declared, 0)
        definitions.append(keyed_table_definition(self.settings.projections.control_table, key="name"))
        definitions.append(parking_table_definition(self.parking_table()))
        return definitions


class ProcessApp:
    """The App of one Lambda entry point's process: `App.from_env()`, built on the first invocation and kept,
    and bound as the aggregates' provider unless one is bound already."""

    def __init__(self, build: Callable[[], App] = App.from_env) -> None:
        self._build = build
        self._app: App | None = None
        self._lock = threading.Lock()

    def __call__(self) -> App:
        with self._lock:
            if self._app is None:
                self._app = self._build()
                if aggregate_provider.bound() is None:
                    self._app.bind()
            return self._app
