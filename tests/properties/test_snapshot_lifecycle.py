"""Stateful: random loan commands through the snapshotting repository (policy, cache, snapshots), with
cold starts, corrupted snapshots and fingerprint changes in between. After every step, hydrating from the
stores (snapshot + tail) and from the warm cache both equal a full replay of what was committed.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from core import execute
from core.events import Event
from loans import Loan
from snapshots import AggregateCache, SnapshotPolicy, SnapshottingRepository
from tests.moto_support import empty_moto
from tests.snapshot_support import make_backend, replayed

ID = "loan-1"
NEXT = {None: ["LoanCreated"], "CREATED": ["LoanApproved", "LoanRejected"], "APPROVED": ["LoanDisbursed"],
        "DISBURSED": ["LoanPaid", "LoanArrears"], "PAID": ["LoanPaid", "LoanPaid", "LoanArrears"],
        "ARREARS": ["LoanPaid", "LoanCollections"]}


class LoanLifecycle(RuleBasedStateMachine):
    kind = "memory"

    def __init__(self) -> None:
        super().__init__()
        if self.kind != "memory":
            empty_moto()  # the moto of `shared_aws`, which `test_lifecycle` starts
        self.backend = make_backend(self.kind)
        self.policy = SnapshotPolicy(every=4)
        self.cache = AggregateCache(8)
        self.repository = SnapshottingRepository(self.backend.events, self.backend.snapshots, self.policy, self.cache)
        self.history: list[Event] = []

    def teardown(self) -> None:
        Loan.snapshot_version = 0

    def _status(self) -> str | None:
        return replayed(ID, self.history).status if self.history else None

    @precondition(lambda self: NEXT.get(self._status()) is not None)
    @rule(choice=st.integers(0, 5), cents=st.integers(1, 50_000))
    def command(self, choice: int, cents: int) -> None:
        """One command as a Lambda runs it: a fresh Loan, `execute` (cache first, conditional append)."""
        def decide(loan: Loan) -> Event:
            options = NEXT[loan.status]
            kind = options[choice % len(options)]
            if loan.status in ("DISBURSED", "PAID") and loan.balance == 0:
                kind = "LoanSettled"
            data: dict[str, object] = {}
            if kind == "LoanCreated":
                data = {"requested_amount": Decimal(cents) / 100 + 100, "interest": Decimal("0.05")}
            elif kind == "LoanPaid":
                data = {"amount": min(Decimal(cents) / 100, loan.balance)}
            return loan.commit({"type": kind, **data})

        self.history.append(execute(Loan(ID, repository=self.repository), decide))

    @rule()
    def cold_start(self) -> None:
        self.cache.clear()

    @precondition(lambda self: len(self.history) > 0)
    @rule(how=st.sampled_from(["checksum", "truncated"]))
    def corrupt_latest_snapshot(self, how: str) -> None:
        snapshot = self.backend.snapshots.get("Loan", ID)
        if snapshot is not None:
            bad = replace(snapshot, state=snapshot.state[: len(snapshot.state) // 2]) if how == "truncated" \
                else replace(snapshot, checksum="0" * 32)
            self.backend.plant(bad)

    @rule()
    def change_the_fingerprint(self) -> None:
        Loan.snapshot_version += 1

    @invariant()
    def hydrate_equals_full_replay(self) -> None:
        expected = replayed(ID, self.history)
        cold = SnapshottingRepository(self.backend.events, self.backend.snapshots, self.policy)
        for repository in (cold, self.repository):
            loan = Loan(ID, repository=repository)
            repository.hydrate(loan)
            assert (loan.version, loan.state()) == (expected.version, expected.state())


class MemoryLifecycle(LoanLifecycle):
    kind = "memory"


class DynamoDBLifecycle(LoanLifecycle):
    kind = "dynamodb"


class S3Lifecycle(LoanLifecycle):
    kind = "s3"


@pytest.mark.parametrize("machine, examples", [(MemoryLifecycle, 60), (DynamoDBLifecycle, 10), (S3Lifecycle, 10)])
def test_lifecycle(machine: type[LoanLifecycle], examples: int, request: pytest.FixtureRequest) -> None:
    if machine.kind != "memory":
        request.getfixturevalue("shared_aws")
    run = settings(max_examples=examples, stateful_step_count=40, deadline=None)(machine).TestCase
    run("runTest").runTest()
