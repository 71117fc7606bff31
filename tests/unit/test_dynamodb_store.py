"""What only the DynamoDB store can get wrong: its item layout, paging, errors, and retried writes."""

from __future__ import annotations

from decimal import Decimal

import boto3
import orjson
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from core import DynamoDBEventStore, StoreError, StoreUnavailableError, VersionGapError
from core.dynamodb import events_table_definition
from core.events import RecordedEvent
from core.metering import RequestMeter
from loans import Loan
from snapshots.dynamodb import DynamoDBSnapshotStore
from snapshots.envelope import Snapshot
from snapshots.store import Stored


def record(number: int, data: str = "{}") -> RecordedEvent:
    return RecordedEvent(number, "Happened", "2026-01-01T00:00:00.000000+00:00", data)


def test_items_follow_the_documented_layout(dynamodb, events_table):
    loan = Loan("loan-1", store=DynamoDBEventStore(events_table, dynamodb))
    loan.commit({"type": "LoanCreated", "requested_amount": Decimal("10.00"), "interest": Decimal("0"),
                 "meta": {"actor": "ana"}})
    (item,) = dynamodb.query(TableName=events_table, KeyConditionExpression="id = :id",
                             ExpressionAttributeValues={":id": {"S": "loan-1"}})["Items"]
    assert set(item) == {"id", "number", "type", "created", "data", "meta"}
    assert item["number"] == {"N": "1"} and item["type"] == {"S": "LoanCreated"}
    assert orjson.loads(item["data"]["S"]) == {"requested_amount": {"$d": "10.00"}, "interest": {"$d": "0"}}
    assert item["created"]["S"].endswith("+00:00")
    assert orjson.loads(item["meta"]["S"]) == {"actor": "ana"}


def test_the_stream_is_new_image(dynamodb, events_table):
    spec = dynamodb.describe_table(TableName=events_table)["Table"]["StreamSpecification"]
    assert spec == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


def test_reads_follow_pages_with_consistent_reads(dynamodb, events_table):
    meter = RequestMeter()
    meter.attach(dynamodb)
    calls = []
    dynamodb.meta.events.register("provide-client-params.dynamodb.Query", lambda params, **_: calls.append(params))
    store = DynamoDBEventStore(events_table, dynamodb)
    big = orjson.dumps({"blob": "x" * 100_000}).decode()
    for number in range(1, 26):  # 25 x 100 KB: more than one 1 MB page
        store.append("a", number - 1, [record(number, big)])
    before = meter.requests
    assert [r.number for r in store.read("a")] == list(range(1, 26))
    assert meter.requests - before >= 3
    assert all(call["ConsistentRead"] is True for call in calls)
    assert "ExclusiveStartKey" in calls[-1]


def test_a_missing_table_says_to_run_init(dynamodb):
    store = DynamoDBEventStore("Nope", dynamodb)
    with pytest.raises(StoreError, match="'Nope' does not exist: run `aws-es init`"):
        list(store.read("a"))
    with pytest.raises(StoreError, match="does not exist"):
        store.append("a", 0, [record(1)])


def test_other_aws_errors_go_up_untouched(dynamodb, events_table):
    store = DynamoDBEventStore(events_table, dynamodb)
    with pytest.raises(ClientError):
        list(store.read(""))  # an empty key value is a ValidationException


def lost_reply_client(dynamodb_client, operation: str):
    """A client whose first `operation` lands on the table but whose reply is lost (a 500), so botocore retries."""
    client = boto3.client("dynamodb", region_name="us-east-1", config=Config(retries={"mode": "standard"}))
    lost = []

    def before_send(request, event_name, **_):
        if not event_name.endswith(f".{operation}") or lost:
            return None
        lost.append(True)
        params = orjson.loads(request.body)
        if operation == "PutItem":
            dynamodb_client.put_item(TableName=params["TableName"], Item=params["Item"])
        else:
            dynamodb_client.transact_write_items(TransactItems=[
                {"Put": {"TableName": p["Put"]["TableName"], "Item": p["Put"]["Item"]}} for p in params["TransactItems"]
            ])
        return AWSResponse(request.url, 500, {}, _Raw(b'{"__type":"InternalServerError","message":"lost"}'))

    client.meta.events.register("before-send.dynamodb", before_send)
    client.lost = lost
    return client


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_):
        yield self._body

    def read(self, *_):
        return self._body


@pytest.mark.parametrize("batch", [1, 3])
def test_a_write_whose_reply_was_lost_is_not_a_conflict(dynamodb, events_table, monkeypatch, batch):
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    operation = "PutItem" if batch == 1 else "TransactWriteItems"
    client = lost_reply_client(dynamodb, operation)
    DynamoDBEventStore(events_table, client).append("a", 0, [record(n) for n in range(1, batch + 1)])
    assert client.lost == [True]
    assert [r.number for r in DynamoDBEventStore(events_table, dynamodb).read("a")] == list(range(1, batch + 1))


def test_a_thread_meter_counts_only_its_own_thread(dynamodb, events_table):
    import threading

    meter = RequestMeter.for_this_thread()
    meter.attach(dynamodb)
    store = DynamoDBEventStore(events_table, dynamodb)
    worker = threading.Thread(target=lambda: [list(store.read("a")) for _ in range(5)])
    worker.start()
    worker.join()
    list(store.read("a"))
    assert meter.requests == 1 and meter.by_operation == {"Query": 1}


CREATED = {"type": "LoanCreated", "requested_amount": Decimal("100.00"), "interest": Decimal("0.05")}


def test_a_normal_hydrate_and_commit_is_one_query_and_one_write(dynamodb, events_table):
    Loan("l", store=DynamoDBEventStore(events_table, dynamodb)).commit([CREATED, {"type": "LoanApproved"}])
    meter = RequestMeter()
    meter.attach(dynamodb)
    loan = Loan("l", store=DynamoDBEventStore(events_table, dynamodb)).hydrate()
    loan.commit({"type": "LoanDisbursed"})
    assert meter.by_operation == {"Query": 1, "PutItem": 1}
    loan.commit([{"type": "LoanPaid", "amount": Decimal("1.00")}, {"type": "LoanPaid", "amount": Decimal("2.00")}])
    assert meter.by_operation == {"Query": 1, "PutItem": 1, "TransactWriteItems": 1}
    Loan("new", store=DynamoDBEventStore(events_table, dynamodb)).commit(CREATED)  # version 0: nothing to prove
    assert meter.by_operation == {"Query": 1, "PutItem": 2, "TransactWriteItems": 1}


def test_a_gap_is_refused_after_one_read_and_nothing_is_written(dynamodb, events_table):
    meter = RequestMeter()
    meter.attach(dynamodb)
    loan = Loan("l", store=DynamoDBEventStore(events_table, dynamodb))
    loan.hydrate([{**CREATED, "number": 1}, {"type": "LoanApproved", "number": 2}])  # no I/O
    assert meter.requests == 0
    with pytest.raises(VersionGapError, match=r"'l' at version 2 refused: the store holds no event #2"):
        loan.commit({"type": "LoanDisbursed"})
    assert meter.by_operation == {"GetItem": 1} and loan.version == 2
    items = dynamodb.query(TableName=events_table, KeyConditionExpression="id = :id",
                           ExpressionAttributeValues={":id": {"S": "l"}}, ConsistentRead=True)["Items"]
    assert items == []
    assert list(Loan("l", store=DynamoDBEventStore(events_table, dynamodb)).events()) == []


def test_events_given_to_hydrate_that_the_store_holds_cost_one_proof_then_nothing(dynamodb, events_table):
    writer = Loan("l", store=DynamoDBEventStore(events_table, dynamodb))
    writer.commit([CREATED, {"type": "LoanApproved"}])
    meter = RequestMeter()
    meter.attach(dynamodb)
    loan = Loan("l", store=DynamoDBEventStore(events_table, dynamodb)).hydrate(list(writer.events()))
    meter.by_operation.clear()
    loan.commit({"type": "LoanDisbursed"})
    loan.commit({"type": "LoanPaid", "amount": Decimal("1.00")})  # its version now came from a commit
    assert meter.by_operation == {"GetItem": 1, "PutItem": 2}
    assert [e.number for e in writer.events()] == [1, 2, 3, 4]


# -- store faults: throttling, 5xx and lost connections, after the client's own retries ---------------------
# Over moto's HTTP server: in-process moto answers in a `before-send` handler of its own, which would still
# carry out a write whose reply a fault replaces; over HTTP a faulted request never leaves the client.

@pytest.fixture
def served(server_env, no_backoff):
    """A healthy client of moto's server, with the events table created."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**events_table_definition("Loans"))
    return client


def faulty_client(fault, operations=("Query", "PutItem", "TransactWriteItems", "GetItem")):
    """A fresh client (its own retry quota) whose every request for `operations` meets `fault`: an AWSResponse
    (status, body) or an exception class raised at send time, as a reset connection is."""
    client = boto3.client("dynamodb", region_name="us-east-1", config=Config(retries={"mode": "standard"}))
    sent = []

    def before_send(request, event_name, **_):
        if event_name.rsplit(".", 1)[-1] not in operations:
            return None
        sent.append(event_name)
        if isinstance(fault, type):
            raise fault(endpoint_url=request.url, error="reset by peer", request=request)
        status, code = fault
        return AWSResponse(request.url, status, {}, _Raw(orjson.dumps({"__type": code, "message": "no"})))

    client.meta.events.register("before-send.dynamodb", before_send)
    client.sent = sent
    return client


FAULTS = [
    (400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"),
    (400, "ThrottlingException"),
    (400, "RequestLimitExceeded"),
    (500, "InternalServerError"),
    (503, "ServiceUnavailable"),
    ConnectionClosedError,
    ReadTimeoutError,
]


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: getattr(fault, "__name__", None) or fault[1][-30:])
def test_store_faults_are_store_unavailable_errors_and_nothing_is_half_written(served, fault):
    events_table = "Loans"
    Loan("l", store=DynamoDBEventStore(events_table, served)).commit(CREATED)
    reads = faulty_client(fault, ("Query",))
    with pytest.raises(StoreUnavailableError, match=r"store unavailable: DynamoDB table 'Loans'") as caught:
        Loan("l", store=DynamoDBEventStore(events_table, reads)).hydrate()
    assert len(reads.sent) > 1  # the client's own retries ran first
    cause = caught.value.cause
    assert caught.value.__cause__ is cause and str(cause) in str(caught.value)
    assert isinstance(cause, ClientError if isinstance(fault, tuple) else fault)

    loan = Loan("l", store=DynamoDBEventStore(events_table, faulty_client(fault, ("PutItem", "TransactWriteItems"))))
    loan.hydrate()  # reads pass; writes meet the fault
    before = (loan.version, loan.state())
    with pytest.raises(StoreUnavailableError):
        loan.commit({"type": "LoanApproved"})
    with pytest.raises(StoreUnavailableError):
        loan.commit([{"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
    assert (loan.version, loan.state()) == before
    assert [e.type for e in Loan("l", store=DynamoDBEventStore(events_table, served)).events()] == ["LoanCreated"]


def test_a_throttled_gap_proof_is_unavailable_too(served):
    DynamoDBEventStore("Loans", served).append("a", 0, [record(1)])
    store = DynamoDBEventStore("Loans", faulty_client((400, "ThrottlingException"), ("GetItem",)))
    with pytest.raises(StoreUnavailableError, match="ThrottlingException"):
        store.append("a", 1, [record(2)])
    assert [r.number for r in DynamoDBEventStore("Loans", served).read("a")] == [1]


def test_a_throttled_transaction_item_is_unavailable(served):
    reason = {"Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity"}
    body = {"__type": "TransactionCanceledException", "message": "cancelled", "CancellationReasons": [reason] * 2}
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.meta.events.register("before-send.dynamodb.TransactWriteItems", lambda request, **_: AWSResponse(
        request.url, 400, {}, _Raw(orjson.dumps(body))))
    with pytest.raises(StoreUnavailableError, match="ThrottlingError"):
        DynamoDBEventStore("Loans", client).append("a", 0, [record(1), record(2)])
    assert list(DynamoDBEventStore("Loans", served).read("a")) == []


def test_an_unreachable_endpoint_is_unavailable_and_says_what_to_check(no_backoff):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}",
                          config=Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=1))
    store = DynamoDBEventStore("Loans", client)
    says = r"127\.0\.0\.1.*is it running\? \(AWS_ENDPOINT_URL\)"
    snapshots = DynamoDBSnapshotStore("Loans", client)
    snapshot = Snapshot("Loan", "a", 1, "f", "{}", "2026-01-01T00:00:00+00:00", "c")
    attempts = (lambda: list(store.read("a")), lambda: store.append("a", 0, [record(1)]),
                lambda: snapshots.put(snapshot), lambda: snapshots.delete("a", Stored(1, "c")))
    for attempt in attempts:
        with pytest.raises(StoreUnavailableError, match=says) as caught:
            attempt()
        assert isinstance(caught.value.cause, EndpointConnectionError)
