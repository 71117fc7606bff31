"""The dashboard's load time with N loans in the local stack: moto's server on 127.0.0.1 and the APIs served by
`handlers.http_local`, the loan read side filled with N summary rows (BatchWriteItem, the projector's item
format) and their portfolio counters, then each page fetched over HTTP several times.

Run: `python -m benchmarks.dashboard --loans 10000`. Wall times on moto measure moto too (its Query
sorts the whole table on every call: docs/local-aws.md); the DynamoDB requests per page are the portable figure.
"""

from __future__ import annotations

import argparse
import statistics
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from handlers import cli
from handlers.app import App
from handlers.http_local import ApiServer, default_handlers
from handlers.local import LocalStack
from handlers.settings import Settings
from handlers.tables import ensure_tables
from loans import Loan
from loans.loan import STATUSES
from loans.projections import status_shard
from projections.items import to_item


def seed(app: App, loans: int) -> None:
    """N summary rows spread over the statuses and the last 30 days, and counters that sum them."""
    client, (projection, tables) = app.dynamodb, app.live_tables("loan-summary")
    now, counters = datetime.now(UTC), {status: Counter() for status in STATUSES}
    items = []
    for number in range(loans):
        status = STATUSES[number % len(STATUSES)]
        updated = (now - timedelta(minutes=number * 4)).isoformat(timespec="microseconds")
        row = {"status": status, "requested_amount": Decimal("1000.00"), "interest": Decimal("0.05"),
               "balance": Decimal("1050.00") - number % 50, "total_paid": Decimal(number % 50), "payments": 1,
               "created": updated, "last_updated": updated, "last_paid": updated, "version": 4,
               "status_shard": status_shard(status, updated)}
        counters[status].update(loans=1, principal=row["requested_amount"], outstanding=row["balance"])
        items.append({"PutRequest": {"Item": to_item(projection.key, f"loan-{number:06d}", row)}})
    for start in range(0, len(items), 25):
        request = {tables.rows: items[start:start + 25]}
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
    for status, values in counters.items():
        client.put_item(TableName=tables.counters, Item={"id": {"S": f"{status}#0"},
                                                         **{k: {"N": str(v)} for k, v in values.items()}})


def timed(url: str, times: int) -> tuple[list[float], int]:
    seconds, size = [], 0
    for _ in range(times):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=120) as response:
            size = len(response.read())
        seconds.append(time.perf_counter() - started)
    return seconds, size


def run(quick: bool = False, loans: int = 10_000, times: int = 5) -> list[dict[str, Any]]:
    loans = 1_000 if quick else loans
    with LocalStack() as stack:
        app = App(stack.settings(Settings.from_env()))
        ensure_tables(app)
        seed(app, loans)
        loan = Loan(repository=app.repository(Loan))
        loan.commit([{"type": "LoanCreated", "requested_amount": Decimal("100.00"), "interest": Decimal("0.1")},
                     {"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
        cli.main(["project", "--once"], app)  # the one loan with events, through the projector
        requests: Counter[str] = Counter()
        app.dynamodb.meta.events.register("before-call.dynamodb.*", lambda model, **_: requests.update([model.name]))
        server = ApiServer(handlers=default_handlers(app)).start()
        rows = []
        for page in ("/dashboard", f"/dashboard/loans/{loan.id}", "/loans?status=ARREARS"):
            requests.clear()
            seconds, size = timed(server.url + page, times)
            rows.append({"loans": loans, "page": page, "median_ms": round(statistics.median(seconds) * 1000, 1),
                         "min_ms": round(min(seconds) * 1000, 1), "max_ms": round(max(seconds) * 1000, 1),
                         "dynamodb_requests": sum(requests.values()) // times, "bytes": size})
        server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loans", type=int, default=10_000)
    parser.add_argument("--times", type=int, default=5)
    args = parser.parse_args()
    for row in run(loans=args.loans, times=args.times):
        print("  ".join(f"{key}={value}" for key, value in row.items()))


if __name__ == "__main__":
    main()
