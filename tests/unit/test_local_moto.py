"""handlers.local_moto: transactions roll back only what they wrote, a table's Query reads one partition, memory
stays bounded, and unpatch() gives moto back as shipped. Racing writers over HTTP: tests/integration/
test_local_atomicity.py."""

from __future__ import annotations

import random
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table

from handlers import local_moto
from handlers.local_moto import RecentIterators


@pytest.fixture
def client(aws) -> Iterator[object]:
    local_moto.patch()
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                              {"AttributeName": "n", "AttributeType": "N"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    yield dynamodb


def put(key: str, number: int, **attributes: str) -> dict:
    return {"Put": {"TableName": "t", "Item": {"id": {"S": key}, "n": {"N": str(number)},
                                               **{k: {"S": v} for k, v in attributes.items()}},
                    "ConditionExpression": "attribute_not_exists(n)"}}


def stream_records(dynamodb) -> list[dict]:
    streams = boto3.client("dynamodbstreams", region_name="us-east-1",
                           config=Config(account_id_endpoint_mode="disabled"))
    arn = dynamodb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]


def table() -> Table:
    return dynamodb_backends["123456789012"]["us-east-1"].tables["t"]


def test_a_cancelled_transaction_undoes_exactly_its_writes_and_leaves_the_stream_and_table_as_they_were(client):
    client.put_item(TableName="t", Item={"id": {"S": "a"}, "n": {"N": "1"}, "v": {"S": "first"}})
    client.put_item(TableName="t", Item={"id": {"S": "c"}, "n": {"N": "1"}, "v": {"S": "kept"}})
    before, records = table(), len(stream_records(client))
    update = {"Update": {"TableName": "t", "Key": {"id": {"S": "c"}, "n": {"N": "1"}},
                         "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"S": "changed"}}}}
    with pytest.raises(ClientError) as raised:
        client.transact_write_items(TransactItems=[put("b", 1, v="new"), update, put("a", 1, v="second")])
    reasons = [reason["Code"] for reason in raised.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    items = {(item["id"]["S"], item["v"]["S"]) for item in client.scan(TableName="t")["Items"]}
    assert items == {("a", "first"), ("c", "kept")}
    assert len(stream_records(client)) == records and table() is before  # no phantom record, the same table


def test_a_committed_transaction_writes_every_item_and_its_stream_records(client):
    client.transact_write_items(TransactItems=[put("a", 1), put("a", 2), put("b", 1)])
    assert len(client.scan(TableName="t")["Items"]) == 3 and len(stream_records(client)) == 3


def test_a_transaction_never_copies_a_table(client, monkeypatch):
    def refuse(self, memo):
        raise AssertionError("a table was copied")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    client.transact_write_items(TransactItems=[put("a", 1)])
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=[put("b", 1), put("a", 1)])
    assert [item["id"]["S"] for item in client.scan(TableName="t")["Items"]] == ["a"]


def test_a_transaction_naming_one_item_twice_is_refused_and_undone(client):
    with pytest.raises(ClientError, match="ValidationException"):
        client.transact_write_items(TransactItems=[put("a", 1), put("b", 1), put("a", 1)])
    assert client.scan(TableName="t")["Items"] == []


def test_a_table_query_answers_as_moto_as_shipped_does(client):
    shuffled = random.Random(7)
    for key in ("x", "y", "z"):
        for number in shuffled.sample(range(1, 60), 40):
            client.put_item(TableName="t", Item={"id": {"S": key}, "n": {"N": str(number)}, "p": {"S": "." * 50}})
    queries = [
        {"KeyConditionExpression": "id = :k", "ExpressionAttributeValues": {":k": {"S": "y"}}},
        {"KeyConditionExpression": "id = :k AND n > :n", "Limit": 7, "ScanIndexForward": False,
         "ExpressionAttributeValues": {":k": {"S": "x"}, ":n": {"N": "20"}}},
        {"KeyConditionExpression": "id = :k", "ExpressionAttributeValues": {":k": {"S": "missing"}}},
    ]

    def answers() -> list[list[dict]]:
        results = []
        for query in queries:
            pages, start = [], None
            while True:
                page = client.query(TableName="t", **query, **({"ExclusiveStartKey": start} if start else {}))
                pages.append(page["Items"])
                start = page.get("LastEvaluatedKey")
                if start is None or len(pages) > 20:
                    break
            results.append(pages)
        return results

    patched = answers()
    local_moto.unpatch()
    try:
        shipped = answers()
    finally:
        local_moto.patch()
    assert patched == shipped and len(patched[0][0]) == 40


def test_models_are_not_kept_after_use(client):
    before = len(Item.instances_tracked)
    for number in range(1, 30):
        client.put_item(TableName="t", Item={"id": {"S": "a"}, "n": {"N": str(number)}})
        client.query(TableName="t", KeyConditionExpression="id = :k", ExpressionAttributeValues={":k": {"S": "a"}})
    assert len(Item.instances_tracked) == before


def test_shard_iterators_expire_after_15_minutes_and_at_most_so_many_are_kept():
    now = [0.0]
    iterators = RecentIterators(kept=3, seconds=900, clock=lambda: now[0])
    for name in "abcd":
        iterators[name] = name
    assert sorted(iterators) == ["b", "c", "d"]
    now[0] = 899.0
    iterators["e"] = "e"
    assert sorted(iterators) == ["c", "d", "e"]
    now[0] = 1000.0
    iterators["f"] = "f"
    assert sorted(iterators) == ["e", "f"]


def test_patch_is_idempotent_and_unpatch_gives_moto_back():
    local_moto.patch()
    patched = DynamoDBBackend.transact_write_items
    local_moto.patch()
    assert DynamoDBBackend.transact_write_items is patched and local_moto.patched()
    local_moto.unpatch()
    try:
        assert DynamoDBBackend.transact_write_items is not patched and not local_moto.patched()
    finally:
        local_moto.patch()
