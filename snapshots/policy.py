"""When to take a snapshot: every N events (per aggregate class), with an off switch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import ConfigurationError

#: The default interval: at 100 events the tail costs one small page and a snapshot write is 1% of writes.
DEFAULT_EVERY = 100


@dataclass(frozen=True)
class SnapshotPolicy:
    """`every` events by default; `per_class` (by class name) or a class's `snapshot_every` overrides it.

    Due when the aggregate is `every` or more events past the latest valid snapshot it knows of, so a
    skipped (stale, corrupt) snapshot or a failed write is made good by the next commit.
    """

    every: int = DEFAULT_EVERY
    enabled: bool = True
    per_class: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in {"every": self.every, **self.per_class}.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(f"snapshot interval for {name} must be a whole number of at least 1, "
                                         f"not {value!r}")

    def interval(self, cls: type) -> int:
        return self.per_class.get(cls.__name__) or getattr(cls, "snapshot_every", None) or self.every

    def due(self, cls: type, version: int, snapshot_version: int) -> bool:
        return self.enabled and version - snapshot_version >= self.interval(cls)


OFF = SnapshotPolicy(enabled=False)
