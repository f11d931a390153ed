"""Topic size limits on the real broker (issue 14): the created readings topic refuses a message larger
than the worker accepts and takes one as large as it accepts; kilowatch's producer keeps its batches
within the limit; the dead-letters topic takes the largest dead letter there is."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import ConfigResource

from stream_app.core.decode import dead_letter
from stream_app.kafka.clients import producer
from stream_app.kafka.topics import (
    admin,
    dead_letter_max_bytes,
    dead_letters_max_message_bytes,
    ensure_topics,
    readings_max_message_bytes,
)
from stream_app.settings import TOPIC_KINDS, Settings


@pytest.fixture
def settings() -> Iterator[Settings]:
    base = Settings()
    s = Settings(topic_prefix=f"{base.kafka.topic_prefix}-limits-{uuid.uuid4().hex[:8]}", topic_partitions=2)
    ensure_topics(s)
    yield s
    client = admin(s)
    names = [s.kafka.topic(k) for k in TOPIC_KINDS]
    for fut in client.delete_topics(names).values():
        fut.result(timeout=30)


def described(s: Settings, topic: str) -> dict[str, str]:
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    client = admin(s)  # kept referenced until the future resolves
    entries = client.describe_configs([res])[res].result(timeout=30)
    return {name: e.value for name, e in entries.items()}


def deliver(prod: Producer, topic: str, messages: list[tuple[bytes, bytes]]) -> list[KafkaError | None]:
    errors: list[KafkaError | None] = [None] * len(messages)
    done = [False] * len(messages)

    def report(i: int) -> Any:
        def cb(err: KafkaError | None, _msg: Any) -> None:
            errors[i], done[i] = err, True

        return cb

    for i, (k, v) in enumerate(messages):
        prod.produce(topic, key=k, value=v, on_delivery=report(i))
        prod.poll(0)
    prod.flush(60)
    assert all(done)
    return errors


def test_created_topics_carry_the_limits(settings: Settings) -> None:
    readings = described(settings, settings.kafka.topic("readings"))
    assert readings["max.message.bytes"] == str(readings_max_message_bytes(settings)) == "69632"
    dead = described(settings, settings.kafka.topic("dead-letters"))
    assert dead["max.message.bytes"] == str(dead_letters_max_message_bytes())
    assert described(settings, settings.kafka.topic("anomalies"))["max.message.bytes"] == "1048588"


def test_readings_topic_refuses_what_the_worker_would_not_accept(settings: Settings) -> None:
    topic = settings.kafka.topic("readings")
    limit = settings.worker.max_payload_bytes
    # a client that lets the broker decide (one message per batch, client limit above the topic's)
    raw = Producer(
        {
            "bootstrap.servers": settings.kafka.bootstrap,
            "message.max.bytes": 2_000_000,
            "batch.num.messages": 1,
        }
    )
    key = b"m" * 128  # the longest asset id
    errors = deliver(raw, topic, [(key, b"x" * limit), (key, b"x" * (limit + 8192)), (key, b"y" * 900_000)])
    assert errors[0] is None  # the largest payload the worker accepts is taken
    assert errors[1] is not None and errors[1].code() == KafkaError.MSG_SIZE_TOO_LARGE
    assert errors[2] is not None and errors[2].code() == KafkaError.MSG_SIZE_TOO_LARGE


def test_kilowatch_producer_batches_fit_the_readings_topic(settings: Settings) -> None:
    """20,000 small readings produced as fast as possible: librdkafka batches them (linger 5 ms); with
    its default batch.size (1 MB) every batch over 69,632 bytes would be refused whole."""
    topic = settings.kafka.topic("readings")
    body = b'{"timestamp": "2026-12-07T00:00:00Z", "value": 12.5, "unit": "kWh"}'
    msgs = [(f"asset-{i % 7}".encode(), body) for i in range(20_000)]
    errors = deliver(producer(settings), topic, msgs)
    assert [e for e in errors if e is not None] == []
    # the same stream with librdkafka's default batch size is refused (what the cap prevents)
    errors = deliver(producer(settings, **{"batch.size": 1_000_000}), topic, msgs)
    assert any(e is not None and e.code() == KafkaError.MSG_SIZE_TOO_LARGE for e in errors)


def test_dead_letters_topic_takes_the_largest_dead_letter(settings: Settings) -> None:
    at = datetime(2026, 12, 7, tzinfo=UTC)
    worst = dead_letter("r" * 249, 1, 1, b"\x01" * 5000, b"\x00" * 900_000, "\x02" * 10_000, at)
    body = worst.model_dump_json().encode()
    assert 100_000 < len(body) <= dead_letter_max_bytes()
    errors = deliver(producer(settings), settings.kafka.topic("dead-letters"), [(b"k" * 1024, body)] * 12)
    assert errors == [None] * 12
