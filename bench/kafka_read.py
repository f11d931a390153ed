"""Reading whole topics for measurement: the aiokafka baseline loop and a changelog scan."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError
from confluent_kafka import TopicPartition as CTopicPartition

from stream_app.settings import Settings


async def _raw_loop(
    bootstrap: str, topic: str, partitions: int, total: int, deadline_s: float
) -> tuple[int, float]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        n = 0
        started = 0.0
        deadline = time.monotonic() + deadline_s
        while n < total and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
            if batches and not started:
                started = time.perf_counter()
            for records in batches.values():
                for rec in records:
                    orjson.loads(rec.value)
                n += len(records)
        return n, time.perf_counter() - started
    finally:
        await consumer.stop()


def raw_consume_rate(settings: Settings, topic: str, total: int, timeout: float = 120.0) -> dict[str, float]:
    """The floor: aiokafka ``getmany`` + ``orjson.loads`` per message, clock from the first batch."""
    n, secs = asyncio.run(
        _raw_loop(settings.kafka.bootstrap, topic, settings.kafka.topic_partitions, total, timeout)
    )
    if n < total:
        raise RuntimeError(f"baseline read only {n}/{total} messages of {topic}")
    return {"messages": n, "seconds": round(secs, 3), "per_s": n / secs}


@dataclass
class TopicScan:
    records: int
    key_bytes: int
    value_bytes: int
    timestamps_ms: list[int]


def scan_topic(
    settings: Settings, topic: str, expected: int | None = None, timeout: float = 120.0
) -> TopicScan:
    """Every record of ``topic``: count, key/value bytes and (producer) timestamps."""
    c = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap,
            "group.id": f"bench-scan-{time.time_ns()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        parts = list(c.list_topics(topic, timeout=10).topics[topic].partitions)
        c.assign([CTopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        scan = TopicScan(0, 0, 0, [])
        eof: set[int] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in c.consume(10_000, timeout=0.5):
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        eof.add(m.partition() or 0)
                        continue
                    raise RuntimeError(str(err))
                eof.discard(m.partition())
                scan.records += 1
                scan.key_bytes += len(m.key() or b"")
                scan.value_bytes += len(m.value() or b"")
                scan.timestamps_ms.append(m.timestamp()[1])
            if len(eof) == len(parts) and (expected is None or scan.records >= expected):
                break
        return scan
    finally:
        c.close()
