"""The collector's batch histogram reads exactly like prometheus_client's Histogram."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from collector.metrics import BatchHistogram, CollectorMetrics

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600)


def lines(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def test_batches_render_as_one_observe_per_value() -> None:
    rng = random.Random(7)
    batches = [[rng.uniform(-5, 5000) for _ in range(rng.randrange(0, 300))] for _ in range(20)]
    batches.append([0.05, 0.1, 3600.0, 3600.5])  # on the bounds and just past the last one
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    batch = BatchHistogram("lag_seconds", "Lag.", BUCKETS)
    ours.register(batch)
    plain = Histogram("lag_seconds", "Lag.", buckets=BUCKETS, registry=theirs)
    for values in batches:
        batch.observe_all(values)
        for value in values:
            plain.observe(max(0.0, value))
    ours_lines, their_lines = lines(ours), lines(theirs)
    sums = [
        float(x.split()[-1]) for x in (*ours_lines, *their_lines) if x.startswith("lag_seconds_sum")
    ]
    assert sums[0] == pytest.approx(sums[1], rel=1e-12)  # added up a batch at a time
    assert [x for x in ours_lines if "_sum" not in x] == [x for x in their_lines if "_sum" not in x]
    assert 'lag_seconds_bucket{le="+Inf"} ' in "\n".join(lines(ours))


def test_the_collectors_lag_metric_is_exposed() -> None:
    metrics = CollectorMetrics()
    metrics.lag.observe_all([0.2, 7.0])
    body = metrics.render().decode()
    assert 'camnet_collector_ingest_lag_seconds_bucket{le="0.25"} 1.0' in body
    assert "camnet_collector_ingest_lag_seconds_count 2.0" in body
    assert "camnet_collector_ingest_lag_seconds_sum 7.2" in body
