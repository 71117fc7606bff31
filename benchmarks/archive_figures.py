"""The README's archiving figures: one 5,000-event loan on in-process moto, before and after `aws-es archive`.

Run: .venv/bin/python -m benchmarks.archive_figures (EVENTS=500 for a quicker run; 5,000 by default). Table bytes
are DynamoDB's item size (attribute names and values, `core.store.record_size`); costs use us-east-1 list prices
(DynamoDB Standard $0.25 per GB-month, S3 Standard $0.023 per GB-month).
"""

from __future__ import annotations

import os

from moto import mock_aws

DYNAMODB_GB_MONTH, S3_GB_MONTH = 0.25, 0.023


def main() -> None:
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                        "ARCHIVE_BUCKET": "cold", "SNAPSHOT_EVERY": "100000"}.items():
        os.environ[name] = value
    with mock_aws():
        from core.dynamodb import DynamoDBEventStore
        from core.metering import RequestMeter
        from core.store import record_size
        from handlers.app import App
        from handlers.cli import main as cli
        from loans import Loan
        from loans.demo import run_long_loan

        app = App.from_env()
        app.bind()
        cli(["init"], app=app)
        loan = run_long_loan(repayments=int(os.environ.get("EVENTS", "5000")) - 4)  # one PutItem each: moto copies
        # every table a transaction touches, so batches of 100 are far slower here (not on AWS)
        table = DynamoDBEventStore("Loans", client=app.dynamodb)

        def table_bytes() -> int:
            return sum(record_size(loan.id, record) for record in table.read(loan.id))

        def replay() -> tuple[int, int]:
            meter = RequestMeter()
            fresh = App.from_env()
            meter.attach(fresh.dynamodb)
            meter.attach(fresh.s3)
            events = sum(1 for _ in fresh.event_store(Loan).read(loan.id))
            assert events == loan.version
            return meter.requests, meter.bytes_received

        before_bytes, before_replay = table_bytes(), replay()
        cli(["snapshot", "Loan", loan.id], app=app)
        meter = RequestMeter()
        meter.attach(app.dynamodb)
        meter.attach(app.s3)
        cli(["archive", "Loan", loan.id, "--margin", "100"], app=app)
        archive_requests = meter.requests
        after_bytes, after_replay = table_bytes(), replay()
        objects = app.s3.list_objects_v2(Bucket="cold")["Contents"]
        s3_bytes = sum(item["Size"] for item in objects)
        gb = 1024 ** 3
        print(f"events: {loan.version:,}; table bytes before {before_bytes:,}, after {after_bytes:,}; "
              f"archive object(s) {len(objects)}, {s3_bytes:,} bytes")
        print(f"storage per month: before ${before_bytes / gb * DYNAMODB_GB_MONTH:.7f}, after "
              f"${after_bytes / gb * DYNAMODB_GB_MONTH + s3_bytes / gb * S3_GB_MONTH:.7f}")
        print(f"archiving it: {archive_requests} requests; full replay before {before_replay[0]} requests "
              f"({before_replay[1]:,} bytes), after {after_replay[0]} requests ({after_replay[1]:,} bytes)")


if __name__ == "__main__":
    main()
