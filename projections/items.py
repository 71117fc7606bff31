"""Rows to DynamoDB items and back. Numbers are stored as N so counters can `ADD` them exactly."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from projections.definition import VERSION, Row

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef


def to_item(key: str, aggregate_id: str, row: Row) -> dict[str, AttributeValueTypeDef]:
    item: dict[str, AttributeValueTypeDef] = {key: {"S": aggregate_id}}
    for name, value in row.items():
        if value is None or name == key:
            continue
        if isinstance(value, bool):
            item[name] = {"BOOL": value}
        elif isinstance(value, (int, Decimal)):
            item[name] = {"N": str(value)}
        else:
            item[name] = {"S": str(value)}
    return item


def from_item(key: str, item: dict[str, Any]) -> tuple[str, Row]:
    """(aggregate id, row); numbers come back as Decimal, the version as int."""
    row: Row = {}
    for name, value in item.items():
        if name == key:
            continue
        if "N" in value:
            row[name] = int(value["N"]) if name == VERSION else Decimal(value["N"])
        elif "S" in value:
            row[name] = value["S"]
        elif "BOOL" in value:
            row[name] = value["BOOL"]
    return item[key]["S"], row


def version_of(row: Row | None) -> int:
    return int(row.get(VERSION, 0)) if row else 0
