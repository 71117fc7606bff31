"""A test kit for your own aggregates, projections and stores (install the `testkit` extra).

- `check_aggregate(Aggregate, commands)` and `check_projection(projection, commands)`: generated properties
  (hypothesis) of your code, given a strategy for its commands (testkit/commands.py says their shapes).
- `given_events(...)`: given/when/then for one aggregate or one projection.
- `EventStoreContract`, `EventStoreReadsContract`, `KeyedAppendContract`, `SnapshotStoreContract`,
  `ProjectionStoreContract`, `ControlContract`: the contract suites the library's own stores pass; subclass one
  in a pytest file and give it a factory for a fresh store of yours.

Nothing in the library imports this package.
"""

from testkit.aggregates import check_aggregate
from testkit.commands import Command, Decision
from testkit.contracts.event_store import EventStoreContract, EventStoreReadsContract, KeyedAppendContract
from testkit.contracts.projection_store import ControlContract, ProjectionStoreContract
from testkit.contracts.snapshot_store import SnapshotStoreContract
from testkit.projections import check_projection
from testkit.scenarios import AggregateOutcome, AggregateScenario, ProjectionScenario, given_events
from testkit.settings import DEFAULT_EXAMPLES, kit_settings

__all__ = [
    "DEFAULT_EXAMPLES",
    "AggregateOutcome",
    "AggregateScenario",
    "Command",
    "ControlContract",
    "Decision",
    "EventStoreContract",
    "EventStoreReadsContract",
    "KeyedAppendContract",
    "ProjectionScenario",
    "ProjectionStoreContract",
    "SnapshotStoreContract",
    "check_aggregate",
    "check_projection",
    "given_events",
    "kit_settings",
]
