"""A user's module, as a newcomer would write it outside this repository (tests/integration/test_user_module.py
writes it to a temporary folder), and the scripts the test runs in fresh processes against moto's server."""

from __future__ import annotations

MODULE = '''
from decimal import Decimal

from core import Aggregate, IllegalEventError, requires
from handlers.api_errors import reply
from projections.definition import Projection
from projections.query import read_row


class Basket(Aggregate):
    table = "Baskets"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.items = 0
        self.total = Decimal("0.00")

    @requires(price=Decimal)
    def on_item_added(self, event):
        if event.price <= 0:
            raise IllegalEventError("a price must be positive", field="price")
        self.items += 1
        self.total += event.price


def fold(row, event):
    row = dict(row or {"items": 0, "total": Decimal("0.00")})
    row.update(items=row["items"] + 1, total=row["total"] + event.data["price"])
    return row


def compare(row, basket):
    return [f"{name}: the row says {row.get(name)}, the basket says {value}"
            for name, value in (("items", basket.items), ("total", basket.total)) if row.get(name) != value]


def query_routes(resolver, app):
    @resolver.get("/baskets/<basket_id>")
    def basket(basket_id):
        row = read_row(app.dynamodb, *app.live_tables("basket-totals"), basket_id)
        if row is None:
            return reply(404, {"error": f"no basket {basket_id!r}"})
        return reply(200, {"id": basket_id, "items": int(row["items"]), "total": str(row["total"])})


AGGREGATES = (Basket,)
PROJECTIONS = (Projection(name="basket-totals", table="BasketTotals", event_types=frozenset({"ItemAdded"}),
                          fold=fold, strict=True, aggregate=Basket, compare=compare),)
'''

#: argv[1]: basket id; argv[2:]: prices. Commits one ItemAdded per price, one commit each.
COMMIT = '''
import sys
from decimal import Decimal
from shop import Basket
basket = Basket(sys.argv[1])
basket.hydrate()
for price in sys.argv[2:]:
    basket.commit({"type": "ItemAdded", "price": Decimal(price)})
print(basket.version, basket.total)
'''

#: Reads every new event on the Baskets stream, shapes the records as Lambda's event source mapping does (the
#: template's filter: INSERTs of items without `kind`), and gives them to the projector's Lambda handler.
PROJECT_WITH_LAMBDA = '''
import json
import boto3
from botocore.config import Config
from handlers.projector import lambda_handler
from projections.runner import LocalContext

arn = boto3.client("dynamodb").describe_table(TableName="Baskets")["Table"]["LatestStreamArn"]
streams = boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))
records = []
for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    for record in streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]:
        if record["eventName"] != "INSERT" or "kind" in record["dynamodb"]["NewImage"]:
            continue
        record["eventSourceARN"] = arn
        change = record["dynamodb"]
        change["ApproximateCreationDateTime"] = change["ApproximateCreationDateTime"].timestamp()
        records.append(record)
print(json.dumps({"records": len(records), "reply": lambda_handler({"Records": records}, LocalContext())}))
'''

#: argv[1]: path. Calls the queries API's Lambda handler with an API Gateway REST event.
QUERY_API = '''
import sys
from dataclasses import dataclass
from handlers.queries import lambda_handler

@dataclass
class Context:
    function_name: str = "queries"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:queries"
    aws_request_id: str = "req-1"

path = sys.argv[1]
event = {"httpMethod": "GET", "path": path, "resource": path, "headers": {}, "queryStringParameters": None,
         "body": None, "isBase64Encoded": False, "requestContext": {"requestId": "req-1", "stage": "test"}}
response = lambda_handler(event, Context())
print(response["statusCode"], response["body"])
'''
