"""Producer/consumer factories with kilowatch's conventions, for tools outside the faust worker."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, Producer

from stream_app.settings import Settings


def producer(settings: Settings, **overrides: Any) -> Producer:
    """Java-compatible murmur2 partitioning: the same asset lands in the same partition whichever
    client (faust/aiokafka, Java, this one) produced it — the worker's state depends on it."""
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 500_000,
        "compression.type": "none",
        "enable.idempotence": True,
    }
    conf.update(overrides)
    return Producer(conf)


def consumer(settings: Settings, group_id: str, **overrides: Any) -> Consumer:
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
    }
    conf.update(overrides)
    return Consumer(conf)


def produce(prod: Producer, topic: str, key: bytes | None, value: bytes | None) -> None:
    """``Producer.produce`` that waits (serving delivery reports) while the local queue is full."""
    while True:
        try:
            prod.produce(topic, key=key, value=value)
            return
        except BufferError:
            prod.poll(0.05)
