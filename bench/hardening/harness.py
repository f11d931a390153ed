"""Plumbing shared by the hardening runs: isolated settings that keep the caller's infrastructure
ports, a producer that records where (or why not) each message landed, and background topic readers."""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from stream_app.kafka.topics import readings_max_message_bytes
from stream_app.settings import Settings


def isolated(tag: str, state_dir: Path, **overrides: Any) -> tuple[Settings, dict[str, str]]:
    """Settings with their own topics, consumer group and state folder; the caller's KILOWATCH_*
    environment (bootstrap, database and cache ports) is kept. Returns the env for subprocesses."""
    values: dict[str, Any] = {
        "topic_prefix": f"{Settings().kafka.topic_prefix}-{tag}",
        "app_id": f"{Settings().kafka.topic_prefix}-{tag}-worker",
        "state_dir": str(state_dir),
        "emit_scores": True,
        "topic_partitions": 4,
        "kafka_session_timeout_s": 10.0,
    }
    values.update(overrides)
    env = dict(os.environ)
    for k, v in values.items():
        env[f"KILOWATCH_{k.upper()}"] = v if isinstance(v, str) else orjson.dumps(v).decode().strip('"')
    update = {k: (Path(v) if k == "state_dir" else v) for k, v in values.items()}
    return Settings().with_changes(**update), env


@dataclass
class Delivery:
    """Where one produced message landed, or the error that kept it out."""

    partition: int = -1
    offset: int = -1
    error: str | None = None
    done: bool = False


class TrackingProducer:
    """A producer whose every message gets a ``Delivery``: (partition, offset) or the broker's (or
    client's) refusal. The client accepts messages up to 2 MB so that the broker, not the client,
    decides on large ones; its batches stay within the readings topic's ``max.message.bytes`` (a
    larger batch is refused whole, small messages with it), as kilowatch's own producer does. No
    idempotence by default: a message refused for its size must not fail the producer."""

    def __init__(self, settings: Settings, **conf: Any) -> None:
        base: dict[str, Any] = {
            "bootstrap.servers": settings.kafka.bootstrap,
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "message.max.bytes": 2_000_000,
            "batch.size": readings_max_message_bytes(settings),
            "queue.buffering.max.messages": 1_000_000,
            "max.in.flight.requests.per.connection": 1,
            "acks": "all",
        }
        base.update(conf)
        self.producer = Producer(base)

    def send(self, topic: str, key: bytes | None, value: bytes | None) -> Delivery:
        d = Delivery()

        def done(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                d.error = err.name()
            else:
                d.partition, d.offset = msg.partition(), msg.offset()
            d.done = True

        while True:
            try:
                self.producer.produce(topic, value, key, on_delivery=done)
                return d
            except BufferError:
                self.producer.poll(0.05)
            except KafkaException as exc:  # refused by the client itself (e.g. too large)
                d.error, d.done = f"client: {exc.args[0].name()}", True
                return d

    def poll(self) -> None:
        self.producer.poll(0)

    def flush(self, timeout: float) -> int:
        return int(self.producer.flush(timeout))


@dataclass
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: dict[str, Any]
    arrived: float  # time.time() when read


@dataclass
class TopicCollector:
    """Reads a topic from the beginning in a background thread, decoding JSON values."""

    settings: Settings
    topic: str
    partitions: int
    records: list[Record] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"collect-{self.topic}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.kafka.bootstrap,
                "group.id": f"collector-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "fetch.max.bytes": 64 * 1024 * 1024,
            }
        )
        consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in range(self.partitions)])
        try:
            while not self._stop.is_set():
                batch = consumer.consume(5_000, timeout=0.5)
                now = time.time()
                got = []
                for m in batch:
                    if m.error():
                        if m.error().code() not in (
                            KafkaError._PARTITION_EOF,  # noqa: SLF001
                            KafkaError.UNKNOWN_TOPIC_OR_PART,
                        ):
                            self.errors.append(str(m.error()))
                        continue
                    try:
                        value = orjson.loads(m.value())
                    except orjson.JSONDecodeError as exc:
                        self.errors.append(f"undecodable record at {m.partition()}@{m.offset()}: {exc}")
                        continue
                    got.append(Record(m.partition(), m.offset(), m.key(), value, now))
                with self._lock:
                    self.records.extend(got)
        finally:
            consumer.close()

    def snapshot(self) -> list[Record]:
        with self._lock:
            return list(self.records)

    def count(self) -> int:
        with self._lock:
            return len(self.records)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(30)


def group_members(settings: Settings) -> int:
    """Members of the worker group that hold readings partitions (0 while none or rebalancing)."""
    client = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    group = settings.worker.app_id
    try:
        desc = client.describe_consumer_groups([group], request_timeout=5)[group].result(timeout=10)
    except (KafkaException, TimeoutError):  # no coordinator yet, or mid-rebalance
        return 0
    readings = settings.kafka.topic("readings")
    return sum(1 for m in desc.members if any(tp.topic == readings for tp in m.assignment.topic_partitions))


def wait_for_worker(settings: Settings, alive: Any, timeout: float) -> float:
    """Seconds until the worker group holds the readings partitions; raises if the worker died."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not alive():
            raise RuntimeError("the worker exited before it joined its group")
        if group_members(settings) >= 1:
            return time.monotonic() - started
        time.sleep(0.5)
    raise RuntimeError(f"the worker did not join its group within {timeout:.0f} s")
