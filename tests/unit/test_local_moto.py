"""handlers.local_moto: transactions roll back only what they wrote, a Query (of a table or an index) answers as
moto as shipped does, replies of items are the same JSON, memory stays bounded, and unpatch() gives moto back as
shipped. Racing writers over HTTP: tests/integration/
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

    shipped, patched = shipped_and_patched(answers)
    assert patched == shipped and len(patched[0][0]) == 40


def shipped_and_patched(answers) -> tuple[object, object]:
    patched = answers()
    local_moto.unpatch()
    try:
        shipped = answers()
    finally:
        local_moto.patch()
    return shipped, patched


def test_an_index_query_answers_as_moto_as_shipped_does_before_and_after_writes(client):
    shuffled, items = random.Random(11), []
    for number in shuffled.sample(range(300), 120):
        items.append({"id": {"S": f"i{number:03d}"}, "p": {"S": f"p{number % 3}"}, "u": {"S": f"{number % 17:02d}"}})
        if number % 29 == 0:
            del items[-1]["u"]  # not in the index

    def fresh_table() -> None:
        if "g" in client.list_tables()["TableNames"]:
            client.delete_table(TableName="g")
        client.create_table(
            TableName="g", BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("id", "p", "u")],
            GlobalSecondaryIndexes=[{"IndexName": "by-p", "Projection": {"ProjectionType": "ALL"}, "KeySchema": [
                {"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "u", "KeyType": "RANGE"}]}])
        for item in items:
            client.put_item(TableName="g", Item=item)

    queries = [
        {"KeyConditionExpression": "p = :p", "ExpressionAttributeValues": {":p": {"S": "p1"}}, "Limit": 9},
        {"KeyConditionExpression": "p = :p AND u > :u", "ScanIndexForward": False, "Limit": 4,
         "ExpressionAttributeValues": {":p": {"S": "p2"}, ":u": {"S": "05"}}},
        {"KeyConditionExpression": "p = :p", "ExpressionAttributeValues": {":p": {"S": "none"}}},
        {"KeyConditionExpression": "p = :p", "Limit": 3, "ScanIndexForward": False, "FilterExpression": "id <> :i",
         "ExpressionAttributeValues": {":p": {"S": "p0"}, ":i": {"S": "i297"}}},
        {"KeyConditionExpression": "p = :p", "ExpressionAttributeValues": {":p": {"S": "p2"}}, "Limit": 500},
    ]

    def answers() -> list[list[list[dict]]]:
        fresh_table()
        results = []
        for moment in range(2):
            if moment:  # a write between two reads: the next read sees it
                client.put_item(TableName="g", Item={"id": {"S": "i000"}, "p": {"S": "p1"}, "u": {"S": "99"}})
                client.delete_item(TableName="g", Key={"id": {"S": "i004"}})
            for query in queries:
                pages, start = [], None
                while len(pages) < 40:
                    page = client.query(TableName="g", IndexName="by-p", **query,
                                        **({"ExclusiveStartKey": start} if start else {}))
                    pages.append(page["Items"])
                    if (start := page.get("LastEvaluatedKey")) is None:
                        break
                results.append(pages)
        return results

    shipped, patched = shipped_and_patched(answers)
    assert patched == shipped
    first, moved = sum(map(len, patched[0])), sum(map(len, patched[len(queries)]))
    assert first > 30 and moved == first + 1 - ("i004" in {i["id"]["S"] for p in patched[0] for i in p})


def test_replies_of_items_are_the_json_moto_s_serialiser_writes(client):
    client.put_item(TableName="t", Item={
        "id": {"S": "a"}, "n": {"N": "1"}, "s": {"S": "é \" x"}, "f": {"BOOL": True}, "z": {"NULL": True},
        "l": {"L": [{"S": "x"}, {"N": "2.50"}, {"M": {"k": {"SS": ["b", "a"]}}}]}, "ns": {"NS": ["1", "2"]}})
    client.put_item(TableName="t", Item={"id": {"S": "a"}, "n": {"N": "2"}, "b": {"B": b"\x00\xff"}})
    calls = [
        ("query", {"TableName": "t", "KeyConditionExpression": "id = :k", "Limit": 1,
                   "ExpressionAttributeValues": {":k": {"S": "a"}}, "ReturnConsumedCapacity": "TOTAL"}),
        ("query", {"TableName": "t", "KeyConditionExpression": "id = :k", "ExpressionAttributeValues": {
            ":k": {"S": "a"}}}),
        ("get_item", {"TableName": "t", "Key": {"id": {"S": "a"}, "n": {"N": "1"}}}),
        ("get_item", {"TableName": "t", "Key": {"id": {"S": "missing"}, "n": {"N": "1"}}}),
        ("batch_get_item", {"RequestItems": {"t": {"Keys": [{"id": {"S": "a"}, "n": {"N": "1"}}]}}}),
        ("scan", {"TableName": "t", "Select": "COUNT"}),
    ]

    def answers() -> list[dict]:
        replies = [getattr(client, name)(**request) for name, request in calls]
        for reply in replies:
            reply.pop("ResponseMetadata")
        return replies

    shipped, patched = shipped_and_patched(answers)
    assert patched == shipped
    assert patched[1]["Items"][1]["b"] == {"B": b"\x00\xff"} and "Item" not in patched[3]


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
