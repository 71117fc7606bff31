"""Publish the snapshot counts an invocation caused through a handler's powertools `Metrics` (EMF)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from snapshots.metrics import counting, metric_values


@contextmanager
def published(metrics: Metrics) -> Iterator[None]:
    """Count snapshot hits, skips (by reason) and writes during the block, and add them as metrics;
    the handler's `@metrics.log_metrics` flushes them when the invocation ends."""
    try:
        with counting() as counts:
            yield
    finally:  # a request that failed may have skipped a snapshot too
        for name, value in metric_values(counts).items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
