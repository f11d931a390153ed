"""Producer/consumer factories with kilowatch's conventions, for tools outside the faust worker."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Producer

from stream_app.kafka.security import client_security
from stream_app.kafka.topics import readings_max_message_bytes
from stream_app.settings import KafkaSettings, Settings

log = logging.getLogger(__name__)


def producer(settings: Settings, **overrides: Any) -> Producer:
    """Java-compatible murmur2 partitioning: the same asset lands in the same partition whichever
    client (faust/aiokafka, Java, this one) produced it — the worker's state depends on it."""
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.kafka.bootstrap,
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 500_000,
        "compression.type": "none",
        "enable.idempotence": True,
        # A batch within the readings topic's max.message.bytes (a larger one is refused whole).
        "batch.size": readings_max_message_bytes(settings),
        **client_security(settings.kafka, "confluent"),
    }
    conf.update(overrides)
    return Producer(conf)


def consumer(settings: Settings, group_id: str, **overrides: Any) -> Consumer:
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.kafka.bootstrap,
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        **client_security(settings.kafka, "confluent"),
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


class PolledProducer:
    """A confluent-kafka producer served by its own poll thread (the worker's batch path): delivery
    callbacks run there, so the event loop never blocks on Kafka."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.producer = Producer(
            {
                "bootstrap.servers": kafka.bootstrap,
                **client_security(kafka, "confluent"),
                "partitioner": "murmur2_random",  # Java/aiokafka-compatible for keyed events
                "linger.ms": max(1, kafka.producer_linger_ms),
                "batch.num.messages": 10_000,
                "queue.buffering.max.messages": 1_000_000,
                "enable.idempotence": True,  # per-partition order of the changelog survives retries
                "acks": "all",
            }
        )
        self.running = True
        self.thread = threading.Thread(target=self._poll, name="kw-producer-poll", daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while self.running:
            try:
                self.producer.poll(0.05)
            except Exception:  # a delivery callback failing must not stop delivery reports
                log.exception("producer poll")

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int,
        on_delivery: Callable[[Any, Any], None],
    ) -> None:
        """Queue one record (``partition`` -1: by key); waits while the local queue is full."""
        while True:
            try:
                self.producer.produce(topic, value, key, partition, on_delivery=on_delivery)
                return
            except BufferError:
                time.sleep(0.01)  # the poll thread drains the queue

    def close(self) -> None:
        self.running = False
        self.thread.join(1.0)
        try:
            left = self.producer.flush(10)
            if left:
                log.warning("stopping with %d records undelivered", left)
        except Exception:  # delivery callbacks may hit a closed loop on shutdown
            log.exception("final producer flush")
