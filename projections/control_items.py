"""Where the control table's items live: DynamoDB, or memory (tests, and the contract's model).

`Control` (projections/tables.py) keeps the logic: which generation is live, which is being built, the
rebuild checkpoints and the runner's shard positions. Its storage needs three operations: read an item, put an
item, and change an item only if one attribute holds a value (or is absent), all or nothing. Both backends
honour that condition the same way; testkit/contracts/projection_store.py (`ControlContract`) holds both to it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from botocore.exceptions import ClientError

from core.dynamodb_calls import raise_if_missing_table
from core.errors import error_code
from projections.errors import ProjectionError

#: An item's attributes: numbers (generations, counts) and strings (sequence numbers).
Values = Mapping[str, int | str]
#: The condition of a change: (attribute, the value it must hold), or (attribute, None): it must be absent.
Condition = tuple[str, int | None]


class ControlItems(Protocol):
    def get(self, name: str) -> dict[str, int | str] | None: ...

    def put(self, name: str, values: Values) -> None: ...

    def change(self, name: str, assign: Values, remove: Sequence[str], when: Condition) -> bool:
        """Set `assign` and drop `remove` if `when` holds; False (and nothing changed) if it does not."""
        ...


class InMemoryControlItems:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, int | str]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> dict[str, int | str] | None:
        with self._lock:
            item = self.items.get(name)
            return dict(item) if item is not None else None

    def put(self, name: str, values: Values) -> None:
        with self._lock:
            self.items[name] = dict(values)

    def change(self, name: str, assign: Values, remove: Sequence[str], when: Condition) -> bool:
        with self._lock:
            item = self.items.get(name, {})
            attribute, value = when
            if item.get(attribute) != value:
                return False
            changed = {**item, **assign}
            for attribute in remove:
                changed.pop(attribute, None)
            self.items[name] = changed
            return True


class DynamoDBControlItems:
    """Items keyed by `name` (S); numbers stored as N, strings as S."""

    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    def get(self, name: str) -> dict[str, int | str] | None:
        item = self._call("get_item", TableName=self.table, Key={"name": {"S": name}}, ConsistentRead=True).get("Item")
        if item is None:
            return None
        return {key: int(value["N"]) if "N" in value else value["S"] for key, value in item.items() if key != "name"}

    def put(self, name: str, values: Values) -> None:
        self._call("put_item", TableName=self.table, Item={"name": {"S": name}, **_attributes(values)})

    def change(self, name: str, assign: Values, remove: Sequence[str], when: Condition) -> bool:
        names = {f"#a{i}": attribute for i, attribute in enumerate(dict.fromkeys([*assign, *remove, when[0]]))}
        aliases = {attribute: alias for alias, attribute in names.items()}
        values = {f":a{i}": encoded for i, encoded in enumerate(_attributes(assign).values())}
        expression = "SET " + ", ".join(f"{aliases[a]} = :a{i}" for i, a in enumerate(assign)) if assign else ""
        if remove:
            expression += " REMOVE " + ", ".join(aliases[attribute] for attribute in remove)
        if when[1] is None:
            condition = f"attribute_not_exists({aliases[when[0]]})"
        else:
            condition = f"{aliases[when[0]]} = :when"
            values[":when"] = {"N": str(when[1])}
        request: dict[str, Any] = {"TableName": self.table, "Key": {"name": {"S": name}},
                                   "UpdateExpression": expression.strip(), "ConditionExpression": condition,
                                   "ExpressionAttributeNames": names}
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            self._call("update_item", **request)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self.client, operation)(**request)
            return result
        except ClientError as exc:
            raise_if_missing_table(exc, "control table", self.table, ProjectionError)
            raise


def _attributes(values: Values) -> dict[str, dict[str, str]]:
    return {key: {"S": value} if isinstance(value, str) else {"N": str(value)} for key, value in values.items()}
