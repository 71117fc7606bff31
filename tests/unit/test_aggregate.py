"""The aggregate surface: events, hydrate, apply, commit, and the guarantees around a failed commit."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core import (
    MAX_ID_BYTES,
    Aggregate,
    CodecError,
    ConcurrencyError,
    Event,
    EventSourcingError,
    EventTooLargeError,
    IllegalEventError,
    IllegalEventNumberError,
    InMemoryEventStore,
    InvalidIdError,
    StoredEventError,
    UnknownEventTypeError,
    VersionGapError,
    check_id,
    execute,
    requires,
)
from core.events import RecordedEvent
from handlers.app import App
from loans import Loan

CREATED = {"type": "LoanCreated", "requested_amount": Decimal("1000.00"), "interest": Decimal("0.05")}


class NoReads(InMemoryEventStore):
    def read(self, aggregate_id, after=0):
        raise AssertionError("hydrate(events) must not read the store")


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore()


def disbursed(store) -> Loan:
    loan = Loan(store=store)
    loan.commit([CREATED, {"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
    return loan


def test_commit_fills_number_and_created_and_returns_the_stored_event(store):
    loan = Loan(store=store)
    before = datetime.now(UTC)
    event = loan.commit(CREATED)
    assert isinstance(event, Event)
    assert (event.number, event.type, event.requested_amount) == (1, "LoanCreated", Decimal("1000.00"))
    assert before <= event.created <= datetime.now(UTC)
    assert list(loan.events()) == [event]
    assert loan.version == 1 and loan.status == "CREATED" and loan.last_updated == event.created


def test_commit_accepts_an_event_and_keeps_its_created():
    store = InMemoryEventStore()
    at = datetime(2026, 1, 2, tzinfo=UTC)
    loan = Loan(store=store)
    event = loan.commit(Event("LoanCreated", {"requested_amount": Decimal(5), "interest": Decimal(0)}, created=at))
    assert event.created == at and event.number == 1


def test_explicit_number_must_be_version_plus_one(store):
    loan = Loan(store=store)
    loan.commit({**CREATED, "number": 1})
    with pytest.raises(IllegalEventNumberError) as caught:
        loan.commit({"type": "LoanApproved", "number": 5})
    assert (caught.value.version, caught.value.number) == (1, 5)
    assert "next event must be number 2" in str(caught.value)
    assert loan.version == 1 and len(list(store.read(loan.id))) == 1


def test_unknown_type_names_the_closest_handler_and_writes_nothing(store):
    loan = Loan(store=store)
    suggestion = r"on_loan_crated\(\).*'LoanCrated'.*LoanCreated \(on_loan_created\)"
    with pytest.raises(UnknownEventTypeError, match=suggestion):
        loan.commit({"type": "LoanCrated", "requested_amount": Decimal(1), "interest": Decimal(0)})
    assert isinstance(UnknownEventTypeError("A", "B", "on_b", None), IllegalEventError)
    assert loan.version == 0 and list(store.read(loan.id)) == []


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"type": "LoanCreated", "interest": Decimal("0.1")}, "LoanCreated is missing field 'requested_amount'"),
        ({**CREATED, "requested_amount": "1000"}, "field 'requested_amount' must be Decimal, not str"),
        ({**CREATED, "interest": 0.05}, "field 'interest' must be Decimal, not float"),
        ({**CREATED, "requested_amount": True}, "must be Decimal, not bool"),
        ({**CREATED, "requested_amount": Decimal("-1")}, "requested_amount must be a positive amount in whole"),
        ({**CREATED, "requested_amount": Decimal("0.001")}, "in whole cents, not 0.001"),
        ({"requested_amount": Decimal(1)}, "event has no 'type'"),
        ({"type": ""}, "event type must be a non-empty string"),
        ({**CREATED, "created": "last tuesday"}, "created is not ISO-8601"),
        ({**CREATED, "meta": "x"}, r"meta must be a mapping of JSON-encodable values, not str \('x'\)"),
        ({**CREATED, "meta": 7}, "meta must be a mapping of JSON-encodable values, not int"),
        ({**CREATED, "meta": 0}, "meta must be a mapping of JSON-encodable values, not int"),
        ({**CREATED, "meta": ["a", "b"]}, "meta must be a mapping of JSON-encodable values, not list"),
        ({**CREATED, "meta": []}, "meta must be a mapping of JSON-encodable values, not list"),
        ({**CREATED, "meta": True}, "meta must be a mapping of JSON-encodable values, not bool"),
        ({**CREATED, "meta": False}, "meta must be a mapping of JSON-encodable values, not bool"),
    ],
)
def test_malformed_payloads_are_refused_by_field_and_write_nothing(store, event, message):
    loan = Loan(store=store)
    with pytest.raises(IllegalEventError, match=message) as caught:
        loan.commit(event)
    if "meta" in message:
        assert caught.value.field == "meta"
    assert loan.version == 0 and loan.status is None and list(store.read(loan.id)) == []


@pytest.mark.parametrize(
    ("event", "message", "field"),
    [
        ({**CREATED, "note": 1.5}, r"LoanCreated: data.note is a float \(1.5\): use Decimal", "note"),
        ({**CREATED, "extra": {"rates": [Decimal(1), 0.5]}}, r"data.extra.rates\[1\] is a float", "extra"),
        ({**CREATED, "meta": {"score": 0.5}}, r"meta.score is a float", "meta"),
        ({**CREATED, "meta": {"at": datetime(2026, 1, 1)}}, r"meta.at is a naive datetime", "meta"),
    ],
)
def test_a_value_the_codec_cannot_keep_is_a_codec_error_naming_the_field(store, event, message, field):
    loan = Loan(store=store)
    with pytest.raises(CodecError, match=message) as caught:
        loan.commit(event)
    assert caught.value.field == field and caught.value.event_type == "LoanCreated"
    assert loan.version == 0 and loan.status is None and list(store.read(loan.id)) == []


def test_extra_payload_fields_are_kept(store):
    loan = Loan(store=store)
    loan.commit({**CREATED, "channel": "web", "tags": ["a"]})
    (stored,) = Loan(loan.id, store=store).events()
    assert stored.channel == "web" and stored.data["tags"] == ["a"]


def test_a_refused_event_leaves_the_aggregate_exactly_as_it_was(store):
    loan = disbursed(store)
    before = (loan.version, loan.state())
    with pytest.raises(IllegalEventError, match="above the balance 1050.00 of a loan in status DISBURSED"):
        loan.commit({"type": "LoanPaid", "amount": Decimal("2000")})
    assert (loan.version, loan.state()) == before
    assert len(list(store.read(loan.id))) == 3


def test_a_batch_is_refused_whole_when_one_event_is_illegal(store):
    loan = disbursed(store)
    before = (loan.version, loan.state())
    with pytest.raises(IllegalEventError, match="LoanSettled"):
        loan.commit([{"type": "LoanPaid", "amount": Decimal("10")}, {"type": "LoanSettled"}])
    assert (loan.version, loan.state()) == before and len(list(store.read(loan.id))) == 3


def test_a_handler_that_mutates_then_raises_leaves_nothing_behind(store):
    class Basket(Aggregate):
        table = "Baskets"

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.items = []

        @requires(item=str)
        def on_item_added(self, event):
            self.items.append(event.item)
            self.added_once = True
            if event.item == "bomb":
                raise IllegalEventError("no bombs")

    basket = Basket(store=store)
    basket.commit({"type": "ItemAdded", "item": "apple"})
    with pytest.raises(IllegalEventError, match="no bombs"):
        basket.commit({"type": "ItemAdded", "item": "bomb"})
    assert basket.items == ["apple"] and basket.version == 1
    fresh = Basket(store=store)
    with pytest.raises(IllegalEventError):
        fresh.commit({"type": "ItemAdded", "item": "bomb"})
    assert not hasattr(fresh, "added_once") and fresh.items == []


def test_a_failed_write_leaves_the_aggregate_unchanged(store):
    loan = disbursed(store)
    rival = Loan(loan.id, store=store).hydrate()
    rival.commit({"type": "LoanArrears"})
    before = (loan.version, loan.state())
    with pytest.raises(ConcurrencyError, match=f"'{loan.id}' is no longer at version 3"):
        loan.commit({"type": "LoanPaid", "amount": Decimal("10")})
    assert (loan.version, loan.state()) == before


def test_an_oversized_event_is_refused_before_anything_is_sent(store):
    loan = Loan(store=store)
    with pytest.raises(EventTooLargeError, match="over the 409,600-byte limit"):
        loan.commit({**CREATED, "attachment": "x" * 500_000})
    assert loan.version == 0 and list(store.read(loan.id)) == []


def test_hydrate_from_the_store_and_from_given_events_agree(store):
    loan = disbursed(store)
    loan.commit({"type": "LoanPaid", "amount": Decimal("50.00")})
    from_store = Loan(loan.id, store=store).hydrate()
    given = Loan(loan.id, store=NoReads()).hydrate(list(loan.events()))
    as_mappings = Loan(loan.id, store=NoReads()).hydrate(
        [{"type": e.type, "number": e.number, "created": e.created, **e.data} for e in loan.events()]
    )
    for other in (from_store, given, as_mappings):
        assert (other.version, other.state()) == (loan.version, loan.state())


def test_hydrate_with_events_skips_what_it_already_has(store):
    loan = disbursed(store)
    events = list(loan.events())
    partial = Loan(loan.id, store=NoReads()).hydrate(events[:2])
    partial.hydrate(events)  # 1 and 2 are skipped, 3 follows on
    assert partial.version == 3 and partial.status == "DISBURSED"
    with pytest.raises(IllegalEventNumberError):
        Loan(loan.id, store=NoReads()).hydrate(events[1:])


def test_apply_takes_one_event_or_a_list(store):
    loan = Loan(store=NoReads())
    loan.apply(CREATED)
    loan.apply([{"type": "LoanApproved"}, {"type": "LoanDisbursed", "number": 3}])
    assert loan.version == 3 and loan.balance == Decimal("1050.00")
    with pytest.raises(IllegalEventNumberError):
        loan.apply({"type": "LoanArrears", "number": 9})


def test_events_are_immutable_and_read_payload_as_attributes():
    event = Event("LoanPaid", {"amount": Decimal("1")}, number=4)
    assert event.amount == Decimal("1") and event.data["amount"] == Decimal("1")
    with pytest.raises(AttributeError, match="immutable"):
        event.amount = Decimal("2")
    with pytest.raises(TypeError):
        event.data["amount"] = Decimal("2")  # type: ignore[index]
    with pytest.raises(AttributeError, match="LoanPaid has no field 'missing'"):
        _ = event.missing


def test_a_user_defined_aggregate_works_like_loan(store):
    class Account(Aggregate):
        table = "Accounts"

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.balance = Decimal(0)

        @requires(amount=Decimal)
        def on_money_deposited(self, event):
            self.balance += event.amount

    assert Account().table == "Accounts" and Account(table="Other").table == "Other"
    account = Account("acc-1", store=store)
    account.commit([{"type": "MoneyDeposited", "amount": Decimal("2.50")}] * 3)
    again = Account("acc-1", store=store).hydrate()
    assert again.balance == Decimal("7.50") and again.version == 3
    with pytest.raises(UnknownEventTypeError, match="MoneyDeposited"):
        again.commit({"type": "MoneyDepositted", "amount": Decimal(1)})


def test_loan_takes_its_id_first_and_a_new_uuid_otherwise():
    assert Loan("loan-7").id == "loan-7" and Loan().table == "Loans"
    assert Loan().id != Loan().id
    with pytest.raises(ValueError, match="non-empty string"):
        Loan("")


@pytest.mark.parametrize(("value", "says"), [
    ("", "non-empty string"), (7, "non-empty string"), ("x" * 257, "257 bytes"), ("é" * 129, "258 bytes"),
    ("a\nb", "control character"), ("a\x7fb", "control character"), ("\ud800", "lone surrogate"),
])
def test_an_unusable_id_is_refused_by_name_before_any_request(value, says):
    with pytest.raises(InvalidIdError, match=says) as caught:
        Loan(value, store=InMemoryEventStore())
    assert caught.value.field == "id" and isinstance(caught.value, EventSourcingError)
    assert check_id("x" * MAX_ID_BYTES) == "x" * MAX_ID_BYTES


def test_table_name_comes_from_configuration():
    with App.from_env({"LOANS_TABLE": "Loans-dev"}).bound():
        assert Loan().table == "Loans-dev"
    assert Loan().table == "Loans"  # the test's own App again


def test_execute_retries_a_command_after_a_conflict(store):
    loan = disbursed(store)
    rival = Loan(loan.id, store=store).hydrate()
    attempts = []

    def pay(target: Loan):
        attempts.append(target.version)
        if len(attempts) == 1:  # someone else commits between our read and our write
            rival.commit({"type": "LoanPaid", "amount": Decimal("1.00")})
        return target.commit({"type": "LoanPaid", "amount": Decimal("10.00")})

    event = execute(loan, pay)
    assert attempts == [3, 4] and event.number == 5 and loan.balance == Decimal("1039.00")


def test_execute_gives_up_after_its_attempts(store):
    loan = disbursed(store)

    def always_conflicts(target: Loan):
        Loan(loan.id, store=store).hydrate().commit({"type": "LoanPaid", "amount": Decimal("1")})
        return target.commit({"type": "LoanPaid", "amount": Decimal("1")})

    with pytest.raises(ConcurrencyError):
        execute(loan, always_conflicts, attempts=3)
    with pytest.raises(ValueError, match="at least 1"):
        execute(loan, always_conflicts, attempts=0)


def test_a_corrupt_stored_event_is_named_on_hydrate(store):
    store.append("bad", 0, [RecordedEvent(1, "LoanCreated", "2026-01-01T00:00:00+00:00", "{oops")])
    with pytest.raises(StoredEventError, match="stored event LoanCreated#1 of 'bad' cannot be applied") as caught:
        Loan("bad", store=store).hydrate()
    assert (caught.value.aggregate_id, caught.value.number, caught.value.event_type) == ("bad", 1, "LoanCreated")
    assert "not valid JSON" in caught.value.reason
    assert not isinstance(caught.value, (IllegalEventError, CodecError))  # the log's fault, not the caller's


def test_a_stored_event_a_handler_refuses_is_a_stored_event_error(store):
    store.append("odd", 0, [RecordedEvent(1, "LoanApproved", "2026-01-01T00:00:00+00:00", "{}")])
    with pytest.raises(StoredEventError, match="LoanApproved#1 of 'odd'") as caught:
        Loan("odd", store=store).hydrate()
    assert caught.value.event_type == "LoanApproved"
    assert caught.value.reason == "LoanApproved is illegal for a loan in status None: it needs CREATED"


@pytest.mark.parametrize("spelling", ["loan_paid", "LOAN_PAID", "Loan_Paid", "loanPaid", "Loan-Paid", "LoanPaid "])
@pytest.mark.parametrize("path", ["commit", "apply", "hydrate"])
def test_an_event_type_is_accepted_in_its_one_canonical_spelling_only(store, spelling, path):
    loan = disbursed(store)
    before = (loan.version, loan.state())
    event = {"type": spelling, "amount": Decimal("10.00")}  # as LoanPaid it would change the balance
    with pytest.raises(UnknownEventTypeError, match=rf"'{spelling}'.*did you mean LoanPaid\?") as caught:
        if path == "commit":
            loan.commit(event)
        elif path == "apply":
            loan.apply(event)
        else:
            loan.hydrate([{**event, "number": 4}])
    assert (caught.value.canonical, caught.value.field) == ("LoanPaid", "type")
    assert (loan.version, loan.state()) == before and len(list(store.read(loan.id))) == 3
    assert spelling not in Loan._dispatch  # refusals are not kept: callers cannot grow the dispatch table
    loan.commit({"type": "LoanPaid", "amount": Decimal("10.00")})
    assert loan.balance == Decimal("1040.00")


def test_a_user_aggregate_s_canonical_type_is_the_one_its_handler_maps_back_to(store):
    class Probe(Aggregate):
        table = "Probes"

        def on_http_request_logged(self, event):
            self.logged = True

    with pytest.raises(UnknownEventTypeError, match="did you mean HttpRequestLogged"):
        Probe(store=store).commit({"type": "HTTPRequestLogged"})
    assert Probe(store=store).commit({"type": "HttpRequestLogged"}).number == 1


@pytest.mark.parametrize("advance", ["hydrate", "apply"])
def test_an_aggregate_advanced_without_the_store_cannot_commit_a_gap(event_store, advance):
    loan = Loan("gap", store=event_store)
    given = [{**CREATED, "number": 1}, {"type": "LoanApproved", "number": 2}]
    loan.hydrate(given) if advance == "hydrate" else loan.apply(given)
    before = (loan.version, loan.state())
    with pytest.raises(VersionGapError, match=r"'gap' at version 2 refused: the store holds no event #2") as caught:
        loan.commit({"type": "LoanDisbursed"})
    assert (caught.value.aggregate_id, caught.value.expected_version) == ("gap", 2)
    assert (loan.version, loan.state()) == before and list(event_store.read("gap")) == []
    with pytest.raises(VersionGapError):
        loan.commit([{"type": "LoanDisbursed"}, {"type": "LoanPaid", "amount": Decimal("1.00")}])
    assert list(event_store.read("gap")) == [] and Loan("gap", store=event_store).hydrate().version == 0


def test_events_given_to_hydrate_that_the_store_holds_commit_as_usual(event_store):
    writer = Loan("same", store=event_store)
    writer.commit([CREATED, {"type": "LoanApproved"}])
    reader = Loan("same", store=event_store).hydrate(list(writer.events()))
    reader.commit({"type": "LoanDisbursed"})  # the store holds event 2, so the proof passes
    caught_up = Loan("same", store=event_store).hydrate([writer.events().__next__()]).hydrate()
    caught_up.commit({"type": "LoanPaid", "amount": Decimal("5.00")})  # read past its given events: trusted
    assert [e.number for e in Loan("same", store=event_store).events()] == [1, 2, 3, 4]


def test_a_stored_event_under_a_foreign_spelling_fails_hydrate_loudly(event_store):
    writer = Loan("old", store=event_store)
    writer.commit([CREATED, {"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
    # As a writer before the one-spelling rule left it in the log.
    event_store.append("old", 3, [RecordedEvent(4, "loan_paid", "2026-01-01T00:00:00.000000+00:00",
                                                '{"amount":{"$d":"40.00"}}')])
    with pytest.raises(StoredEventError, match=r"stored event loan_paid#4 of 'old'.*did you mean LoanPaid\?") as caught:
        Loan("old", store=event_store).hydrate()
    assert (caught.value.aggregate_id, caught.value.number, caught.value.event_type) == ("old", 4, "loan_paid")


def test_a_version_that_did_not_come_from_the_store_never_reaches_the_warm_cache(event_store):
    from snapshots.cache import AggregateCache
    from snapshots.policy import SnapshotPolicy
    from snapshots.repository import SnapshottingRepository

    repo = SnapshottingRepository(event_store, None, SnapshotPolicy(enabled=False), AggregateCache())
    loan = Loan("g", repository=repo).hydrate([{**CREATED, "number": 1}, {"type": "LoanApproved", "number": 2}])
    loan.hydrate()  # the store holds nothing after version 2, and nothing before it either
    with pytest.raises(IllegalEventError, match="needs APPROVED"):  # decided on the store's state, not the cache's
        execute(Loan("g", repository=repo), lambda fresh: fresh.commit({"type": "LoanDisbursed"}))
    assert list(event_store.read("g")) == []
