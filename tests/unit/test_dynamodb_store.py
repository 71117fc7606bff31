"""What only the DynamoDB store can get wrong: its item layout, paging, errors, and retried writes."""

from __future__ import annotations

from decimal import Decimal

import boto3
import orjson
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from core import ConcurrencyError, DynamoDBEventStore, StoreError
from core.events import RecordedEvent
from core.metering import RequestMeter
from loans import Loan


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
    from botocore.exceptions import ClientError

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


def test_a_retried_write_that_finds_someone_elses_event_is_a_conflict(dynamodb, events_table):
    store = DynamoDBEventStore(events_table, dynamodb)
    store.append("a", 0, [record(1, '{"who":"them"}')])
    with pytest.raises(ConcurrencyError):
        store.append("a", 0, [record(1, '{"who":"us"}')])


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
