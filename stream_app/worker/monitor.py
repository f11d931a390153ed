"""Periodic worker gauges: consumer lag per assigned partition and state table sizes.

Lag is the distance between the consumer's position and the partition's high watermark, both as the
worker's own consumer sees them, sampled on a faust timer (never on the scoring path).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import faust

from agents.context import AgentContext
from stream_app import metrics
from stream_app.kafka.faust_compat.internals import open_partition_dbs

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


def partition_lags(
    highwaters: Mapping[TopicPartition, int | None], positions: Mapping[TopicPartition, int | None]
) -> dict[TopicPartition, int]:
    """Lag per partition; partitions whose high watermark or position is not known yet are left out
    (a made-up 0 would hide a stuck consumer)."""
    lags: dict[TopicPartition, int] = {}
    for tp, high in highwaters.items():
        pos = positions.get(tp)
        if high is None or pos is None:
            continue
        lags[tp] = max(0, int(high) - int(pos))
    return lags


def publish_lags(
    lags: Mapping[TopicPartition, int], previous: Iterable[TopicPartition]
) -> set[TopicPartition]:
    """Set the lag gauges and remove series of partitions no longer assigned here (after a rebalance
    another worker reports them). Returns the partitions now published."""
    current = set(lags)
    for topic, partition in set(previous) - current:
        with contextlib.suppress(KeyError):
            metrics.CONSUMER_LAG.remove(topic, str(partition))
    for (topic, partition), lag in lags.items():
        metrics.CONSUMER_LAG.labels(topic, str(partition)).set(lag)
    return current


def table_keys(store: Any) -> int:
    """Estimated keys of a faust table store: RocksDB's estimate over the open partition databases,
    or the length of an in-memory store."""
    dbs = open_partition_dbs(store)
    if dbs is not None:
        total = 0
        for db in dbs:
            value = db.property_int_value("rocksdb.estimate-num-keys")
            total += int(value or 0)
        return total
    data = getattr(store, "data", store)
    return len(data)


def register(app: faust.App, ctx: AgentContext, interval: float) -> None:
    """Sample lag (readings topic) and table sizes every ``interval`` seconds on this worker."""
    published: set[TopicPartition] = set()
    topics = {ctx.readings_topic_name}

    @app.timer(interval)
    async def sample_worker_gauges() -> None:
        nonlocal published
        # Monitoring must never stop a worker: a failed sample is logged and the next one tries again.
        try:
            consumer = app.consumer
            assigned = [tp for tp in consumer.assignment() if tp.topic in topics]
            highwaters: dict[TopicPartition, int | None] = {}
            positions: dict[TopicPartition, int | None] = {}
            for tp in assigned:
                highwaters[(tp.topic, tp.partition)] = consumer.highwater(tp)
                positions[(tp.topic, tp.partition)] = await consumer.position(tp)
            published = publish_lags(partition_lags(highwaters, positions), published)
            metrics.TABLE_KEYS.labels(ctx.state_table.name).set(table_keys(ctx.state_table.data))
        except Exception:
            log.warning("worker gauges: sample failed", exc_info=True)
