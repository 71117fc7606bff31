"""moto, made to keep DynamoDB's promises where the embedded local stack (`handlers.local`) relies on them.

moto's server answers each request on a thread of its own, and as shipped (moto 5.2):
- a conditional write reads the item, evaluates the condition and writes without a lock, so two racing
  `attribute_not_exists(...)` writes can both succeed and the later silently overwrites the earlier;
- `TransactWriteItems` deep-copies every table it touches for its rollback (seconds per transaction at 10,000
  items), and a cancelled one puts that copy back, erasing whatever landed meanwhile and replacing the table
  object (and so its stream shard) under every reader;
- a `Query` on a table sorts every item of the table to find one partition's, and a `Query` on an index sorts
  and compares every item of the table too (tenths of a second each at 10,000 items);
- every reply is serialised by walking the API's shapes member by member: a Query of 25 rows costs more than
  everything else moto does for it;
- every model instance it ever creates is kept (`instances_tracked`), per-transaction copies and query results
  included, and so are the two shard iterators of every stream poll: memory grows with every request.

`patch()` changes that, in this process, for every moto server and `mock_aws` in it:
- one lock around each DynamoDB and DynamoDB Streams request (`LOCK`): a condition and its write, a whole
  transaction and its rollback are atomic, and a stream reader never sees a write a transaction then undoes;
- a transaction remembers only the items it writes, and a cancelled one restores exactly those and drops the
  stream records it added (as on AWS, a cancelled transaction leaves no trace in the stream);
- a `Query` on a table reads only the partition asked for, and a `Query` on an index only the items whose index
  partition key equals the one asked for: the table's items grouped by that attribute once, and grouped again
  after any request that may write (any action but `READS`); moto's own matching, sorting and paging then run on
  that group exactly as shipped, but for sorting it by the plain values of its key attributes (moto compares
  them as `DynamoType`s, a Python call per comparison: a tenth of a second for an index partition of 1,000 items),
  and only once until the next request that may write; a first page (a Limit, no start key, no range
  condition) is answered from the `Limit + 1` items at that end of the sorted partition, the only ones it reaches;
- the replies of `ITEM_REPLIES` holding only JSON's own types are written by `json.dumps` (the same JSON
  document; anything else, a binary attribute say, goes through moto's serialiser as before);
- models are not tracked (moto's `/moto-api/data.json` view of them is then empty), and a stream's shard
  iterators expire 15 minutes after they are handed out, as on AWS, with at most `ITERATORS_KEPT` kept.

What stays as moto has it is listed in the README ("The local stack's limits"). `unpatch()` restores moto as
shipped (`tests/integration/test_local_atomicity.py` shows racing writers losing commits without the patches).
"""

from __future__ import annotations

import contextvars
import copy
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from moto.core.common_models import BaseModel
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamShard, Table
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.models import DynamoDBStreamsBackend
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

#: Held while moto serves any DynamoDB or DynamoDB Streams request.
LOCK = threading.RLock()
#: The DynamoDB actions that never change an item; every other request ends the index groups' life (`_grouped`).
READS = frozenset({"BatchGetItem", "DescribeContinuousBackups", "DescribeTable", "DescribeTimeToLive", "GetItem",
                   "ListTables", "ListTagsOfResource", "Query", "Scan", "TransactGetItems"})
#: Shard iterators kept per streams backend (the oldest go first); each poll of a stream hands out two.
ITERATORS_KEPT = 1_000
#: A shard iterator expires this long after it is handed out, as on AWS.
ITERATOR_SECONDS = 15 * 60

_MISSING = object()
_originals: dict[tuple[type, str], Any] = {}
#: The DynamoDB actions whose replies are items (and counts, keys and capacity): plain JSON documents.
ITEM_REPLIES = frozenset({"BatchGetItem", "GetItem", "Query", "Scan"})
#: The partition a Query is reading: (None, its table hash key, None) or (an index's partition key attribute, its
#: value, and the edge of the partition that decides the answer, when one does: `_edge_request`).
_partition: contextvars.ContextVar[tuple[str | None, DynamoType, tuple[str, int, bool] | None] | None] = (
    contextvars.ContextVar("partition", default=None))
#: Counts the requests that may have written (`READS` excepted): index groups built before the last are stale.
_writes = [0]


def patch() -> None:
    """Apply every patch (idempotent)."""
    with LOCK:
        if _originals:
            return
        _replace(DynamoHandler, "call_action", _serialised(DynamoHandler.call_action, counts_writes=True))
        _replace(DynamoHandler, "serialized", _items_as_json(DynamoHandler.serialized))
        _replace(DynamoDBStreamsHandler, "call_action", _serialised(DynamoDBStreamsHandler.call_action))
        _replace(DynamoDBBackend, "transact_write_items", transact_write_items)
        _replace(Table, "query", _partition_query(Table.query))
        _replace(Table, "all_items", _partition_items(Table.all_items))
        _replace(Table, "sorted_items", _sorted_by_values(Table.sorted_items))
        _replace(BaseModel, "__new__", staticmethod(_untracked))
        _replace(DynamoDBStreamsBackend, "__init__", _bounded_iterators(DynamoDBStreamsBackend.__init__))


def unpatch() -> None:
    """Restore moto as shipped (iterator maps already bounded stay bounded)."""
    with LOCK:
        for (owner, name), original in _originals.items():
            if original is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        _originals.clear()


def patched() -> bool:
    return bool(_originals)


def _replace(owner: type, name: str, value: Any) -> None:
    _originals[owner, name] = owner.__dict__.get(name, _MISSING)
    setattr(owner, name, value)


# -- one request at a time ----------------------------------------------------------------------------------

def _serialised(call_action: Callable[[Any], Any], counts_writes: bool = False) -> Callable[[Any], Any]:
    def call_action_serialised(self: Any) -> Any:
        with LOCK:
            if counts_writes and self._get_action() not in READS:
                _writes[0] += 1
            return call_action(self)

    return call_action_serialised


# -- replies of items as JSON --------------------------------------------------------------------------------

def _items_as_json(serialized: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def items_as_json(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if isinstance(result, dict) and self._get_action() in ITEM_REPLIES:
            try:
                body = json.dumps(result)
            except TypeError:  # bytes, a datetime: moto's serialiser knows how their shapes are written
                pass
            else:
                return 200, {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}, body
        return serialized(self, action_result)

    return items_as_json


# -- transactions that remember only what they write ----------------------------------------------------------

class _Journal:
    """The items a transaction writes, as they were before, and where each touched stream ended."""

    def __init__(self) -> None:
        self.items: list[tuple[Table, DynamoType, DynamoType | None, Item | None]] = []
        self.streams: dict[int, tuple[StreamShard, int]] = {}

    def remember(self, table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> None:
        shard = table.stream_shard
        if shard is not None and id(shard) not in self.streams:
            self.streams[id(shard)] = (shard, len(shard.items))
        before = _stored(table, hash_key, range_key)
        self.items.append((table, hash_key, range_key, copy.deepcopy(before)))

    def undo(self) -> None:
        for table, hash_key, range_key, before in reversed(self.items):
            partitions: Any = table.items  # {hash: item}, or {hash: {range: item}} with a range key
            if table.range_key_attr is None:
                if before is None:
                    partitions.pop(hash_key, None)
                else:
                    partitions[hash_key] = before
            elif before is None:
                partitions.get(hash_key, {}).pop(range_key, None)
            else:
                partitions[hash_key][range_key] = before
        for shard, length in self.streams.values():
            del shard.items[length:]


def _stored(table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
    """The item under the key, without creating an empty partition (moto's `items` is a defaultdict)."""
    partitions: Any = table.items
    stored = partitions.get(hash_key)
    if table.range_key_attr is None or stored is None:
        return stored
    return stored.get(range_key)


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's `DynamoDBBackend.transact_write_items` (same checks, errors and cancellation reasons), rolled
    back from a journal of the items it wrote instead of from a copy of every table it touches."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    journal = _Journal()
    try:
        errors = _write_all(self, transact_items, journal)
    except BaseException:
        journal.undo()
        raise
    if any(code is not None for code, _, _ in errors):
        journal.undo()
        raise TransactionCanceledException(errors)


def _write_all(backend: DynamoDBBackend, transact_items: list[dict[str, Any]],
               journal: _Journal) -> list[tuple[Any, Any, Any]]:
    targets: set[tuple[str, str]] = set()
    errors: list[tuple[Any, Any, Any]] = []
    for entry in transact_items:
        original_item: dict[str, Any] | None = None
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(entry.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            condition = op.get("ConditionExpression")
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            table = backend.get_table(table_name)
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            target = (str(table_name), str(dict(sorted(key.items()))))
            if target in targets:
                raise MultipleTransactionsException()
            targets.add(target)
            current = backend.get_item(table_name, key)
            if condition is not None and not get_filter_expression(condition, names, values).expr(current):
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    original_item = current.to_json()["Attributes"]
                raise ConditionalCheckFailed(item=original_item)
            if op_type != "ConditionCheck":
                journal.remember(table, *backend.get_keys_value(table, key))
            if op_type == "Put":
                backend.put_item(table_name, op["Item"], condition_expression=condition,
                                 expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Delete":
                backend.delete_item(table_name, key, condition_expression=condition,
                                    expression_attribute_names=names, expression_attribute_values=values)
            elif op_type == "Update":
                backend.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                    condition_expression=condition, expression_attribute_names=names,
                                    expression_attribute_values=values)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except ConditionalCheckFailed as exc:
            errors.append(("ConditionalCheckFailed", str(exc.message), original_item))
        except Exception as exc:  # as moto: any other failure of one item is that item's cancellation reason
            errors.append((type(exc).__name__, str(exc), original_item))
    return errors


# -- a Query reads one partition ------------------------------------------------------------------------------

def _partition_query(query: Callable[..., Any]) -> Callable[..., Any]:
    def query_one_partition(self: Table, hash_key: DynamoType | None, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        conditions = kwargs.get("hash_key_conditions") or []
        if hash_key is None or (index_name and len(conditions) != 1):
            return query(self, hash_key, *args, **kwargs)
        selected: tuple[str | None, DynamoType, tuple[str, int, bool] | None] = (None, hash_key, None)
        if index_name:
            selected = (conditions[0][0], conditions[0][1], _edge_request(index_name, args, kwargs))
        token = _partition.set(selected)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _partition.reset(token)

    return query_one_partition


def _edge_request(index_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, int, bool] | None:
    """(index, limit, forward) when the Query's answer is decided by the first (or last) `limit + 1` items of
    its partition in index order: no range key condition, no start key, no legacy QueryFilter, a Limit (a
    filter expression applies after the Limit, in moto as on AWS); else None."""
    if len(args) < 9 or set(kwargs) - {"hash_key_conditions", "range_key_conditions"}:
        return None
    range_comparison, _, limit, exclusive_start_key, forward = args[:5]
    if range_comparison or kwargs.get("range_key_conditions") or exclusive_start_key:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        return None
    return index_name, limit, forward is not False


def _partition_items(all_items: Callable[[Table], list[Item]]) -> Callable[[Table], list[Item]]:
    def items_of_partition(self: Table) -> list[Item]:
        selected = _partition.get()
        if selected is None:
            return all_items(self)
        attribute, value, edge = selected
        if attribute is not None:
            group = _grouped(self, attribute, all_items).get(value, [])
            return list(group if edge is None else _edge(self, attribute, value, group, *edge))
        partitions: Any = self.items
        stored = partitions.get(value)
        if stored is None:
            return []
        return list(stored.values()) if self.range_key_attr is not None else [stored]

    return items_of_partition


def _edge(table: Table, attribute: str, value: DynamoType, group: list[Item], index_name: str, limit: int,
          forward: bool) -> list[Item]:
    """The `limit + 1` items of an index partition a Query reading from its start (or end) can reach: the
    first `limit` answer it, the next one tells moto a `LastEvaluatedKey` is due. Only for an index keyed by
    `attribute` and one range key; anything else gets the whole group."""
    index = {index.name: index for index in table.all_indexes()}.get(index_name)
    schema = index.schema if index is not None else []
    hashes = [key["AttributeName"] for key in schema if key["KeyType"] == "HASH"]
    ranges = [key["AttributeName"] for key in schema if key["KeyType"] == "RANGE"]
    if hashes != [attribute] or len(ranges) != 1:
        return group
    remembered = _remembered(table)
    seen = ("edge", index_name, value, limit, forward)
    if seen not in remembered:
        indexed = [item for item in group if item.attrs.get(ranges[0]) is not None]  # as moto's Query keeps them
        ordered = table.sorted_items([attribute, table.hash_key_attr], [ranges[0], table.range_key_attr], indexed)
        remembered[seen] = ordered[:limit + 1] if forward else ordered[-(limit + 1):]
    return remembered[seen]


def _remembered(table: Table) -> dict[tuple[Any, ...], Any]:
    """What the index Queries of `table` worked out since the last request that may write (then forgotten):
    its items grouped by an attribute, and partitions in sorted order."""
    built, remembered = table.__dict__.get("_remembered") or (None, {})
    if built != _writes[0]:
        remembered = {}
        table.__dict__["_remembered"] = (_writes[0], remembered)
    return remembered


def _grouped(table: Table, attribute: str, all_items: Callable[[Table], list[Item]]) -> dict[DynamoType, list[Item]]:
    """The table's items by their value of `attribute`, in moto's `all_items` order. A group holds every item
    moto's index Query would match (equal values hash alike); moto's Query still checks each one."""
    remembered = _remembered(table)
    if ("group", attribute) not in remembered:
        grouping: dict[DynamoType, list[Item]] = {}
        for item in all_items(table):
            value = item.attrs.get(attribute)
            if isinstance(value, DynamoType) and value.type in ("S", "N", "B"):  # a key's types: hashable
                grouping.setdefault(value, []).append(item)
        remembered["group", attribute] = grouping
    return remembered["group", attribute]


def _sorted_by_values(sorted_items: Callable[..., list[Item]]) -> Callable[..., list[Item]]:
    def sorted_by_values(self: Table, hash_key_attrs: list[str], range_key_attrs: list[str | None],
                         items: list[Item]) -> list[Item]:
        names = tuple(self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs))
        # the same items in the same order since the last write (the table holds them: their ids are theirs)
        seen = ("sorted", names, tuple(map(id, items)))
        remembered = _remembered(self)
        if seen in remembered:
            return list(remembered[seen])
        try:  # the order moto's comparisons give: on key types, a DynamoType compares as its cast value
            items.sort(key=lambda item: tuple(_key_value(item.attrs[name]) for name in names))
        except TypeError:  # another type, or values of different types: moto's own comparisons decide
            return sorted_items(self, hash_key_attrs, range_key_attrs, items)
        remembered[seen] = tuple(items)
        return items

    return sorted_by_values


def _key_value(value: DynamoType) -> Any:
    if value.type not in ("S", "N", "B"):
        raise TypeError(f"{value.type} is not a key type")
    return value.cast_value


# -- bounded memory ------------------------------------------------------------------------------------------

def _untracked(cls: type, *args: Any, **kwargs: Any) -> Any:
    return object.__new__(cls)


class RecentIterators(dict[str, Any]):
    """Shard iterators by ARN: each expires `ITERATOR_SECONDS` after it is handed out, and at most
    `ITERATORS_KEPT` are kept (the oldest go first). Using a forgotten one fails, as an expired one does on AWS."""

    def __init__(self, kept: int = ITERATORS_KEPT, seconds: float = ITERATOR_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._kept, self._seconds, self._clock = kept, seconds, clock
        self._handed_out: dict[str, float] = {}

    def __setitem__(self, arn: str, iterator: Any) -> None:
        now = self._clock()
        super().__setitem__(arn, iterator)
        self._handed_out.pop(arn, None)
        self._handed_out[arn] = now
        while self._handed_out:
            oldest, when = next(iter(self._handed_out.items()))
            if len(self._handed_out) <= self._kept and now - when < self._seconds:
                break
            del self._handed_out[oldest]
            super().pop(oldest, None)


def _bounded_iterators(init: Callable[..., None]) -> Callable[..., None]:
    def init_bounded(self: DynamoDBStreamsBackend, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.shard_iterators = RecentIterators()

    return init_bounded
