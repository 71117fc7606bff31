"""The tables of a rebuilt generation on AWS: created as the stack's own (point-in-time recovery, encryption with
DynamoDB's KMS key, tags naming the stack, the projection and the generation), and old ones deleted once they are
`keep` switches behind the live one.

Only tables a rebuild made are ever deleted: generation 0 is the stack's own (CloudFormation's), the live
generation and the `keep` before it stay, nothing is deleted while a rebuild is building or catching up, and a
table is deleted only when its tags name this stack and projection.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from core.errors import error_code
from projections.definition import Projection
from projections.store import ProjectionStore
from projections.tables import ControlStore, Tables, table_definitions, tables_for

SSE = {"Enabled": True, "SSEType": "KMS"}
TAG_STACK, TAG_PROJECTION, TAG_GENERATION = "aws-es:stack", "aws-es:projection", "aws-es:generation"
ACTIVE_WAIT = 60


def tags(stack: str, projection: Projection, generation: int) -> list[dict[str, str]]:
    return [{"Key": TAG_STACK, "Value": stack}, {"Key": TAG_PROJECTION, "Value": projection.name},
            {"Key": TAG_GENERATION, "Value": str(generation)}]


def names(tables: Tables) -> list[str]:
    return [name for name in (tables.rows, tables.counters, tables.event_counters) if name]


class HardenedGenerations:
    """A projection store whose new generations are created encrypted, tagged and with point-in-time recovery;
    everything else is the wrapped store's."""

    def __init__(self, store: ProjectionStore, projection: Projection, client: Any, stack: str) -> None:
        self.store, self.projection, self.client, self.stack = store, projection, client, stack

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def create_generation(self, tables: Tables) -> None:
        labels = tags(self.stack, self.projection, tables.generation)
        for definition in table_definitions(self.projection, tables):
            name = definition["TableName"]
            try:
                self.client.create_table(**definition, SSESpecification=SSE, Tags=labels)
            except ClientError as exc:
                if error_code(exc) != "ResourceInUseException":
                    raise
            self.client.get_waiter("table_exists").wait(TableName=name,
                                                        WaiterConfig={"Delay": 1, "MaxAttempts": ACTIVE_WAIT})
            # a table made by an earlier attempt of this step gets the same settings
            arn = self.client.describe_table(TableName=name)["Table"]["TableArn"]
            self.client.tag_resource(ResourceArn=arn, Tags=labels)
            _point_in_time_recovery(self.client, name)


def _point_in_time_recovery(client: Any, name: str) -> None:
    for attempt in range(10):
        try:
            client.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
            return
        except ClientError as exc:  # just after creation, backups may not be available yet
            if error_code(exc) != "ContinuousBackupsUnavailableException" or attempt == 9:
                raise
            time.sleep(min(2 ** attempt, 10))


def drop_old_generations(projection: Projection, control: ControlStore, client: Any, stack: str,
                         keep: int) -> list[str]:
    """Delete the tables of generations more than `keep` switches behind the live one (never generation 0, the
    live one, or any while a rebuild is under way), those tagged as this stack's; the names deleted."""
    state = control.state(projection.name, fresh=True)
    if state["building"] is not None or state["previous"] is not None:
        return []
    live = int(state["live"])
    deleted = []
    for generation in range(1, live - keep):
        for name in names(tables_for(projection, generation)):
            try:
                arn = client.describe_table(TableName=name)["Table"]["TableArn"]
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    continue
                raise
            found = {t["Key"]: t["Value"] for t in client.list_tags_of_resource(ResourceArn=arn).get("Tags", [])}
            if found.get(TAG_STACK) != stack or found.get(TAG_PROJECTION) != projection.name:
                continue
            try:
                client.delete_table(TableName=name)
                deleted.append(name)
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
    return deleted
