"""`aws-es snapshot`, `aws-es hydrate --json` and `aws-es init` with snapshots, and their configuration."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from decimal import Decimal

import boto3
import pytest

from core import Aggregate, ConfigurationError
from handlers.app import App
from handlers.cli import main
from handlers.settings import Settings
from loans import Loan
from loans.demo import run_long_loan
from snapshots import DynamoDBSnapshotStore, S3SnapshotStore, SnapshottingRepository


@pytest.fixture
def configure(monkeypatch) -> Iterator[Callable[..., App]]:
    """Set variables for `main`, and bind an App they configure for the rest of the test's aggregates."""
    with contextlib.ExitStack() as bindings:

        def apply(**values: str) -> App:
            for name, value in values.items():
                monkeypatch.setenv(name, value)
            return bindings.enter_context(App.from_env().bound())

        yield apply


@pytest.fixture
def stack(aws, configure):
    """Tables (and the bucket, for S3) as `aws-es init` makes them, on in-process moto."""
    configure(SNAPSHOT_BUCKET="loan-snaps")
    assert main(["init"]) == 0


def hydrate_json(capsys, loan_id: str) -> dict:
    """As a fresh `aws-es` process does: no warm cache left from the commits in this test."""
    capsys.readouterr()
    assert main(["hydrate", loan_id, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("store", ["dynamodb", "s3"])
def test_backfill_then_hydrate_reads_the_snapshot(configure, stack, capsys, monkeypatch, store):
    configure(SNAPSHOT_STORE=store, SNAPSHOT_EVERY="1000")
    assert main(["init"]) == 0
    loan = run_long_loan(repayments=40)
    before = hydrate_json(capsys, loan.id)
    assert (before["snapshot_version"], before["tail_events"], before["snapshot_skipped"]) == (None, 45, None)

    assert main(["snapshot", loan.id]) == 0
    out, err = capsys.readouterr()
    assert "1 written, 0 already current" in out
    assert "1/1" in err and "/s" in err
    after = hydrate_json(capsys, loan.id)
    assert (after["snapshot_version"], after["tail_events"], after["state"]) == (45, 0, before["state"])
    assert after["requests"] == (1 if store == "dynamodb" else 2)

    assert main(["snapshot", "--all"]) == 0  # run again: nothing to do
    assert "0 written, 1 already current" in capsys.readouterr().out
    assert main(["hydrate", loan.id]) == 0
    assert "from the snapshot at version 45, then 0 events" in capsys.readouterr().out


def test_an_interrupted_backfill_carries_on_when_run_again():
    from snapshots.backfill import backfill
    from snapshots.policy import SnapshotPolicy
    from tests.snapshot_support import loan_events, make_backend

    backend = make_backend("memory")
    for name in ("a", "b", "c"):
        backend.write_events(name, loan_events(3))
    repository = SnapshottingRepository(backend.events, backend.snapshots, SnapshotPolicy())

    def interrupt(outcome):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill(Loan, ["a", "b", "c"], repository, interrupt)
    outcome = backfill(Loan, ["a", "b", "c"], repository)
    assert (outcome.written, outcome.current) == (2, 1)
    assert all(backend.snapshots.get("Loan", name).version == 6 for name in "abc")


def test_hydrate_json_says_why_a_snapshot_was_skipped(stack, capsys, monkeypatch):
    loan = run_long_loan(repayments=5)
    assert main(["snapshot", loan.id]) == 0
    monkeypatch.setattr(Loan, "snapshot_version", 9)
    report = hydrate_json(capsys, loan.id)
    assert report["snapshot_version"] is None
    assert report["snapshot_skipped"].startswith("stale:")
    assert report["version"] == 10


def test_snapshot_of_a_loan_that_is_not_there_is_one_line_and_exit_1(stack, capsys):
    assert main(["snapshot", "no-such-loan"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "aws-es snapshot: no loan 'no-such-loan' in table 'Loans'"


@pytest.mark.parametrize("argv, message", [
    (["snapshot"], "name the loan aggregates to snapshot (ID ...) or give --all"),
    (["snapshot", "--all", "x", "y"], "give loan ids or --all, not both"),
    (["snapshot", "Loan", "x", "--all"], "give loan ids or --all, not both"),
    (["snapshot", "Lone", "--all"], "unknown aggregate type 'Lone': choose one of Loan"),
    (["snapshot", "Laon", "some-id"], "unknown aggregate type 'Laon': choose one of Loan"),
])
def test_snapshot_misuse_is_one_line_and_a_usage_error(stack, capsys, argv, message):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"aws-es snapshot: {message}\n"


@pytest.mark.parametrize("name, value, message", [
    ("SNAPSHOT_STORE", "redis", "SNAPSHOT_STORE must be one of dynamodb, s3, off, not 'redis'"),
    ("SNAPSHOT_EVERY", "ten", "SNAPSHOT_EVERY must be a whole number, not 'ten'"),
    ("SNAPSHOT_EVERY", "0", "SNAPSHOT_EVERY must be at least 1, not 0"),
    ("SNAPSHOT_CACHE_SIZE", "-1", "SNAPSHOT_CACHE_SIZE must be at least 0, not -1"),
    ("SNAPSHOT_BUCKET", "Bad_Bucket", "SNAPSHOT_BUCKET 'Bad_Bucket' is not a valid bucket name"),
    ("SNAPSHOT_PREFIX", "/abs", "SNAPSHOT_PREFIX '/abs' must not start with '/'"),
])
def test_bad_configuration_names_the_variable(monkeypatch, capsys, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env()
    assert main(["hydrate", "any"]) == 1
    assert message in capsys.readouterr().err


def test_s3_without_a_bucket_is_refused(monkeypatch):
    monkeypatch.setenv("SNAPSHOT_STORE", "s3")
    with pytest.raises(ConfigurationError, match="SNAPSHOT_STORE=s3 needs SNAPSHOT_BUCKET"):
        Settings.from_env()


def test_snapshot_with_snapshots_off_is_refused(configure, stack, capsys, monkeypatch):
    configure(SNAPSHOT_STORE="off")
    assert main(["snapshot", "--all"]) == 1
    assert "snapshots are off" in capsys.readouterr().err


@pytest.mark.parametrize("store, kind", [("dynamodb", DynamoDBSnapshotStore), ("s3", S3SnapshotStore),
                                         ("off", type(None))])
def test_loan_default_repository_follows_configuration(configure, store, kind):
    configure(SNAPSHOT_STORE=store, SNAPSHOT_BUCKET="loan-snaps")
    repository = Loan("x").repository
    assert isinstance(repository, SnapshottingRepository)
    assert isinstance(repository.snapshots, kind)
    assert repository.policy.enabled is (store != "off")
    assert Loan("y").repository is repository  # one per class and table, for the App
    configure()
    assert Loan("x").repository is not repository  # another App has its own (and its own cache)


def test_an_aggregate_declared_anywhere_gets_snapshots_and_the_warm_cache_by_default(configure, monkeypatch):
    configure(SNAPSHOT_EVERY="7")

    class Thing(Aggregate):
        def on_happened(self, event):
            self.seen = True

    repository = Thing("t").repository
    assert isinstance(repository, SnapshottingRepository) and repository.policy.every == 7
    assert repository.store.table == "Things" and repository.cache is not None
    assert Thing("u").repository is repository  # one per class and table, for the process


def test_init_creates_the_bucket_once(aws, monkeypatch, capsys):
    monkeypatch.setenv("SNAPSHOT_STORE", "s3")
    monkeypatch.setenv("SNAPSHOT_BUCKET", "loan-snaps")
    assert main(["init"]) == 0
    assert "s3://loan-snaps: created" in capsys.readouterr().out
    assert main(["init"]) == 0
    assert "s3://loan-snaps: exists" in capsys.readouterr().out
    assert boto3.client("s3", region_name="us-east-1").head_bucket(Bucket="loan-snaps")


def test_commits_through_the_default_repository_write_snapshots(configure, stack, monkeypatch):
    configure(SNAPSHOT_EVERY="5")
    loan = Loan()
    loan.commit({"type": "LoanCreated", "requested_amount": Decimal("100.00"), "interest": Decimal("0")})
    for step in ("LoanApproved", "LoanDisbursed"):
        loan.commit({"type": step})
    for _ in range(3):
        loan.commit({"type": "LoanPaid", "amount": Decimal("1.00")})
    assert DynamoDBSnapshotStore("Loans").get("Loan", loan.id).version == 5


@pytest.mark.parametrize("store", ["dynamodb", "s3"])
@pytest.mark.parametrize("damage", ["stale", "corrupt"])
def test_backfill_replaces_an_unusable_snapshot_at_the_current_version(
        configure, stack, capsys, monkeypatch, store, damage):
    configure(SNAPSHOT_STORE=store, SNAPSHOT_EVERY="1000")
    assert main(["init"]) == 0
    loan, other = run_long_loan(repayments=6), run_long_loan(repayments=3)
    assert main(["snapshot", "--all"]) == 0
    if damage == "stale":
        monkeypatch.setattr(Loan, "snapshot_version", 7)  # as after a code change
    else:
        plant_corrupt(store, loan.id)
    assert hydrate_json(capsys, loan.id)["snapshot_skipped"].startswith(damage)

    assert main(["snapshot", loan.id]) == 0
    out = capsys.readouterr().out
    assert "snapshots: 1 written (1 replacing a stale or corrupt one), 0 already current, 0 failed" in out
    after = hydrate_json(capsys, loan.id)
    assert (after["snapshot_version"], after["snapshot_skipped"], after["tail_events"]) == (loan.version, None, 0)
    assert main(["snapshot", loan.id, other.id]) == 0  # the other loan's snapshot is stale too when damage=stale
    out = capsys.readouterr().out
    expected = "1 written (1 replacing a stale or corrupt one), 1 already current" if damage == "stale" \
        else "0 written, 2 already current"
    assert f"snapshots: {expected}, 0 failed, 0 not found, of 2 loan aggregates" in out


def plant_corrupt(store: str, loan_id: str) -> None:
    """A snapshot at the loan's version whose state no longer matches its checksum."""
    if store == "dynamodb":
        item = DynamoDBSnapshotStore("Loans").client.query(
            TableName="Loans", KeyConditionExpression="id = :id", FilterExpression="attribute_exists(kind)",
            ExpressionAttributeValues={":id": {"S": loan_id}})["Items"][0]
        item["state"]["S"] = item["state"]["S"].replace('"status":', '"status" :')
        DynamoDBSnapshotStore("Loans").client.put_item(TableName="Loans", Item=item)
        return
    s3 = boto3.client("s3", region_name="us-east-1")
    key = S3SnapshotStore("loan-snaps").key("Loan", loan_id)
    body = s3.get_object(Bucket="loan-snaps", Key=key)["Body"].read().replace(b'"version":', b'"version" :')
    document = json.loads(body)
    document["state"] = document["state"].replace('"status":', '"status" :')
    s3.put_object(Bucket="loan-snaps", Key=key, Body=json.dumps(document).encode(),
                  Metadata=s3.head_object(Bucket="loan-snaps", Key=key)["Metadata"])


def test_backfill_counts_a_replacement_that_lost_a_race_as_failed_not_current(monkeypatch):
    from dataclasses import replace

    from snapshots import InMemorySnapshotStore, take
    from snapshots.backfill import backfill
    from snapshots.policy import SnapshotPolicy
    from tests.snapshot_support import loan_events, make_backend, replayed

    def stale(created: str):
        snapshot = replace(take(replayed("a", loan_events(3))), fingerprint="f" * 32, created=created)
        return replace(snapshot, checksum=snapshot.computed_checksum())

    class Racing(InMemorySnapshotStore):
        """Another old-code process puts its own stale copy just before each write of ours lands."""

        def put(self, snapshot, replaces=None):
            self._snapshots[("Loan", "a")] = stale(f"2026-02-0{len(self.raced) + 1}T00:00:00+00:00")
            self.raced.append(snapshot.version)
            return super().put(snapshot, replaces)

    backend = make_backend("memory")
    backend.write_events("a", loan_events(3))
    store = Racing()
    store.raced = []
    store.put(stale("2026-01-01T00:00:00+00:00"))
    outcome = backfill(Loan, ["a"], SnapshottingRepository(backend.events, store, SnapshotPolicy()))
    assert (outcome.written, outcome.current, [name for name, _ in outcome.failed]) == (0, 0, ["a"])
    assert "not written (stale: snapshot at version 6" in outcome.failed[0][1]
    assert "changed meanwhile; run the backfill again" in outcome.failed[0][1]
