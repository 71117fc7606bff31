"""Helpers shared by the snapshot tests: loan histories, the three snapshot backends, planting damage."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from core import Aggregate
from core.dynamodb import DynamoDBEventStore, events_table_definition, to_item
from core.events import Event, to_record
from core.store import InMemoryEventStore
from loans import Loan
from snapshots.dynamodb import DynamoDBSnapshotStore
from snapshots.dynamodb import to_item as snapshot_item
from snapshots.envelope import Snapshot
from snapshots.s3 import S3SnapshotStore
from snapshots.store import InMemorySnapshotStore

BACKENDS = ("memory", "dynamodb", "s3")
START = datetime(2026, 1, 1, tzinfo=UTC)
BUCKET = "loan-snapshots"


def loan_events(repayments: int, amount: str = "10.00") -> list[Event]:
    """A disbursed loan with `repayments` repayments, numbered and timestamped."""
    total = Decimal(amount) * repayments + Decimal("100.00")
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("LoanCreated", {"requested_amount": total, "interest": Decimal("0.05")}),
        ("LoanApproved", {}),
        ("LoanDisbursed", {}),
    ]
    kinds += [("LoanPaid", {"amount": Decimal(amount)})] * repayments
    return [Event(kind, data, number, START + timedelta(minutes=number))
            for number, (kind, data) in enumerate(kinds, start=1)]


def replayed(aggregate_id: str, events: Sequence[Event]) -> Loan:
    """The full replay of a history, with no I/O: what every hydrate must equal."""
    return Loan(aggregate_id, store=InMemoryEventStore()).apply(list(events))


class Backend:
    """An event store and a snapshot store of one kind, with a way to plant any stored snapshot."""

    def __init__(self, kind: str, dynamodb: Any = None, s3: Any = None) -> None:
        self.kind = kind
        self.dynamodb = dynamodb
        self.s3 = s3
        if kind == "memory":
            self.events: Any = InMemoryEventStore()
            self.snapshots: Any = InMemorySnapshotStore()
            return
        if not _table_exists(dynamodb, "Loans"):
            dynamodb.create_table(**events_table_definition("Loans"))
        self.events = DynamoDBEventStore("Loans", client=dynamodb)
        if kind == "dynamodb":
            self.snapshots = DynamoDBSnapshotStore("Loans", client=dynamodb)
        else:
            if BUCKET not in [bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])]:
                s3.create_bucket(Bucket=BUCKET)
            self.snapshots = S3SnapshotStore(BUCKET, "snapshots/", client=s3)

    def write_events(self, aggregate_id: str, events: Sequence[Event]) -> None:
        """Setup, not the code under test: batch writes on moto (transactions there copy the table)."""
        records = [to_record(event) for event in events]
        if self.kind == "memory":
            for start in range(0, len(records), 100):
                self.events.append(aggregate_id, start, records[start:start + 100])
            return
        for start in range(0, len(records), 25):
            requests = [{"PutRequest": {"Item": to_item(aggregate_id, record)}} for record in records[start:start + 25]]
            self.dynamodb.batch_write_item(RequestItems={"Loans": requests})

    def plant(self, snapshot: Snapshot) -> None:
        """Store a snapshot as is, unconditionally (damaged ones included)."""
        if self.kind == "memory":
            self.snapshots._snapshots[(snapshot.aggregate_type, snapshot.aggregate_id)] = snapshot
        elif self.kind == "dynamodb":
            self.dynamodb.put_item(TableName="Loans", Item=snapshot_item(snapshot))
        else:
            self.plant_bytes(snapshot.aggregate_id, snapshot.to_document(), snapshot.version)

    def plant_bytes(self, aggregate_id: str, body: bytes, version: int | None = None) -> None:
        """S3 only: any bytes as the stored object (with its version in the metadata, as a writer puts it)."""
        metadata = {} if version is None else {"Metadata": {"version": str(version)}}
        self.s3.put_object(Bucket=BUCKET, Key=self.snapshots.key("Loan", aggregate_id), Body=body, **metadata)


def damaged(snapshot: Snapshot, how: str) -> Snapshot:
    if how == "checksum":
        return replace(snapshot, state=snapshot.state.replace('"status":', '"status" :'))
    if how == "truncated":
        return replace(snapshot, state=snapshot.state[: len(snapshot.state) // 2])
    raise ValueError(how)


def _table_exists(client: Any, name: str) -> bool:
    return name in client.list_tables()["TableNames"]


def make_backend(kind: str) -> Backend:
    """A backend on the active `mock_aws` (the in-memory one needs none)."""
    import boto3

    if kind == "memory":
        return Backend(kind)
    return Backend(kind, boto3.client("dynamodb", region_name="us-east-1"), boto3.client("s3", region_name="us-east-1"))


class Grade(enum.Enum):
    """An enum a handler names: its members join the fingerprint by name and value."""

    PRIME = "prime"
    SUB = "sub"


#: Constants of every kind a handler may name through a global: each must hash the same in every process.
LEGAL = {"OPEN", "LATE", "GRACE", "FROZEN", "REVIEW"}
CLOSED = frozenset({"PAID", "WRITTEN_OFF", "SOLD", "MERGED", "CANCELLED"})
FEES = {"late": Decimal("25.00"), "grace": Decimal("0.00"), "review": Decimal("5.50"), "sold": Decimal("1")}
TABLES = ({"a", "b", "c"}, frozenset({"x", "y", "z"}), {"k": {"n1", "n2", "n3"}}, (Grade.PRIME, Decimal("0.01")))
RATE = Decimal("0.0125")


class Ledger(Aggregate):
    """A test aggregate whose handlers name sets, frozensets, dicts, tuples of them, an enum and a Decimal,
    in their constants (`x in {...}` compiles to a frozenset) and through global names, with a lambda and
    comprehensions nested in them."""

    table = "Ledgers"
    LIMITS = {"daily": Decimal("100"), "monthly": {"soft", "hard", "none"}}

    def on_entry_made(self, event: Event) -> None:
        kind = event.data["kind"]
        if kind in {"fee", "charge", "levy", "toll", "duty", "tax"} and kind not in CLOSED:
            self.total = getattr(self, "total", Decimal(0)) + FEES.get(kind, RATE)
        self.flags = sorted(flag for flag in LEGAL if flag in TABLES[0] or flag.lower() in {"open", "late"})
        self.grade = Grade.PRIME if kind in TABLES[1] else Grade.SUB
        self.limits = {name: str(limit) for name, limit in self.LIMITS.items()}
        self.pick = (lambda values: max(values, key=lambda v: (v in CLOSED, v)))(list(LEGAL))
