"""The by-status index's merged read as a property: whatever the rows, their spread over the shards and the page
size, paging through every shard of a status lists each row exactly once, newest first, with at most one Query per
shard a page and none on a shard already read to its end. The Query here is a small model of DynamoDB's (key
condition on the partition, descending by sort key then table key, Limit, ExclusiveStartKey); the same read runs
on moto in tests/unit/test_queries_api.py."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.events import Event
from loans.projections import BY_STATUS, STATUS_SHARDS, fold_summary, loan_summary, status_partitions, status_shard
from projections.query import DONE, Position, query_partitions


class IndexModel:
    """Query on one GSI partition of (id, status_shard, last_updated) items."""

    def __init__(self, rows: dict[str, tuple[str, str]]) -> None:
        self.rows = rows  # id -> (status_shard, last_updated)
        self.queried: list[str] = []

    def query(self, **request: Any) -> dict[str, Any]:
        value = request["ExpressionAttributeValues"][":v"]["S"]
        self.queried.append(value)
        found = sorted(((updated, loan_id) for loan_id, (shard, updated) in self.rows.items() if shard == value),
                       reverse=True)
        start = request.get("ExclusiveStartKey")
        if start is not None:
            after = (start["last_updated"]["S"], start["id"]["S"])
            found = [entry for entry in found if entry < after]
        page = found[:request["Limit"]]
        items = [{"id": {"S": loan_id}, "status_shard": {"S": value}, "last_updated": {"S": updated}}
                 for updated, loan_id in page]
        reply: dict[str, Any] = {"Items": items}
        if len(page) == request["Limit"]:
            updated, loan_id = page[-1]
            reply["LastEvaluatedKey"] = {"id": {"S": loan_id}, "status_shard": {"S": value},
                                         "last_updated": {"S": updated}}
        return reply


rows = st.dictionaries(st.text("abcdef0123", min_size=1, max_size=6),
                       st.tuples(st.integers(0, STATUS_SHARDS - 1), st.sampled_from(["t1", "t2", "t3", "t4", "t5"])),
                       max_size=40)


@settings(max_examples=150, deadline=None)
@given(rows=rows, limit=st.integers(1, 12))
def test_paging_lists_every_row_once_newest_first_with_bounded_queries(
        rows: dict[str, tuple[int, str]], limit: int) -> None:
    model = IndexModel({loan_id: (f"PAID#{shard}", updated) for loan_id, (shard, updated) in rows.items()})
    projection = loan_summary()
    positions: list[Position] = [None] * STATUS_SHARDS
    listed: list[tuple[str, str]] = []
    for _ in range(100):
        model.queried.clear()
        done = {status_partitions("PAID")[shard] for shard, position in enumerate(positions) if position is DONE}
        page, positions = query_partitions(model, projection, "LoanSummary", BY_STATUS, status_partitions("PAID"),
                                           limit, positions)
        assert len(page) <= limit and len(model.queried) <= STATUS_SHARDS and not done & set(model.queried)
        listed += [(row["last_updated"], loan_id) for loan_id, row in page]
        if all(position is DONE for position in positions):
            break
    else:
        raise AssertionError("the listing never ended")
    assert sorted(loan_id for _, loan_id in listed) == sorted(rows)
    assert [updated for updated, _ in listed] == sorted((updated for updated, _ in listed), reverse=True)


def test_a_loan_keeps_its_shard_as_its_status_changes() -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    row = fold_summary(None, Event("LoanCreated", {"requested_amount": Decimal("100.00"),
                                                   "interest": Decimal("0.05")}, number=1, created=created))
    shard = row["status_shard"].split("#")[1]
    row = fold_summary(row, Event("LoanApproved", {}, number=2, created=datetime(2026, 1, 2, tzinfo=UTC)))
    assert row["status_shard"] == f"APPROVED#{shard}" == status_shard("APPROVED", row["created"])
    assert 0 <= int(shard) < STATUS_SHARDS
