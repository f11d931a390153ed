"""A real worker counts readings that arrive on another partition than Kafka's murmur2 hash of their
key names (kilowatch_readings_misrouted_total): none for murmur2-keyed readings, every misrouted one
for a producer on librdkafka's default partitioner (consistent_random, CRC32) or an explicit wrong
partition."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
from confluent_kafka import Producer

from stream_app.core.partitioning import partition_for
from stream_app.kafka.topics import ensure_topics
from tests.integration.harness import Worker, isolated_settings, produce
from tests.integration.test_worker_metrics import free_port, scrape

MISROUTED = "kilowatch_readings_misrouted_total"
ASSETS = [f"meter-{i}" for i in range(40)]


def _reading(minute: int) -> bytes:
    return orjson.dumps({"timestamp": f"2025-07-03T10:{minute:02d}:00Z", "value": 100.0 + minute})


def _counts(port: int) -> tuple[float, float]:
    seen = scrape(port)
    consumed = sum(v for (n, _), v in seen.items() if n == "kilowatch_readings_total")
    return consumed, seen.get((MISROUTED, ()), 0.0)


def _wait_consumed(worker: Worker, port: int, n: int) -> float:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert worker.alive(), worker.tail()
        try:
            consumed, misrouted = _counts(port)
        except OSError:
            consumed, misrouted = 0.0, 0.0
        if consumed >= n:
            return misrouted
        time.sleep(0.5)
    raise AssertionError(f"the worker consumed {consumed} of {n} readings: {worker.tail()}")


def test_misrouted_readings_are_counted(tmp_path: Path) -> None:
    port = free_port()
    settings, env = isolated_settings(tmp_path, metrics_port=port, topic_partitions=8)
    ensure_topics(settings)
    topic = settings.kafka.topic("readings")
    worker = Worker(env, "misrouted", tmp_path)
    try:
        # kilowatch's own producer (murmur2_random): every reading where its key hashes.
        sent = produce(settings, [(a.encode(), _reading(0)) for a in ASSETS])
        assert _wait_consumed(worker, port, sent) == 0

        # librdkafka's default partitioner; the partition each reading landed on, from the broker.
        landed: dict[str, int] = {}
        crc = Producer({"bootstrap.servers": settings.kafka.bootstrap})
        for a in ASSETS:

            def done(err: object, msg: object, a: str = a) -> None:
                assert err is None, err
                landed[a] = msg.partition()  # type: ignore[attr-defined]

            crc.produce(topic, key=a.encode(), value=_reading(15), on_delivery=done)
        assert crc.flush(60) == 0
        off = sum(landed[a] != partition_for(a.encode(), 8) for a in ASSETS)
        assert off > 0, "consistent_random put every key where murmur2 does: no test"
        sent += len(ASSETS)
        assert _wait_consumed(worker, port, sent) == off

        # An explicit wrong partition, keyless with asset_id in the body too.
        wrong = [(a, (partition_for(a.encode(), 8) + 1) % 8) for a in ASSETS[:5]]
        for a, p in wrong:
            body = orjson.dumps({"asset_id": a, "timestamp": "2025-07-03T10:30:00Z", "value": 1.0})
            crc.produce(topic, key=None, value=body, partition=p)
        assert crc.flush(60) == 0
        sent += len(wrong)
        assert _wait_consumed(worker, port, sent) == off + len(wrong)
    finally:
        worker.stop()
