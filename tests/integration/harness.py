"""Real-process helpers for integration tests: worker subprocesses and topic readers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
import psutil
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from stream_app.kafka.clients import produce as kafka_produce
from stream_app.kafka.clients import producer
from stream_app.settings import Settings, TopicKind

ROOT = Path(__file__).resolve().parents[2]
KILOWATCH = str(Path(sys.executable).parent / "kilowatch")


def isolated_settings(tmp_path: Path, **overrides: Any) -> tuple[Settings, dict[str, str]]:
    """Settings for one test: its own topics, consumer group and state folder; plus the env for
    worker subprocesses that makes them build the same settings."""
    tag = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "topic_prefix": f"it-{tag}",
        "app_id": f"it-{tag}-worker",
        "state_dir": str(tmp_path / "state"),
        "emit_scores": True,
        "topic_partitions": 4,
        "batch_within": 0.02,
        # A killed worker leaves the group after this long (the restart tests wait for it).
        "kafka_session_timeout_s": 10.0,
    }
    values.update(overrides)
    env = dict(os.environ)
    env.update({f"KILOWATCH_{k.upper()}": str(v) for k, v in values.items()})
    base = Settings()
    return base.with_changes(**values), env


class Worker:
    """A `kilowatch worker` process, killable for real."""

    def __init__(self, env: dict[str, str], worker_id: str, log_dir: Path) -> None:
        self.worker_id = worker_id
        self.log_path = log_dir / f"worker-{worker_id}.log"
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [KILOWATCH, "worker", "--worker-id", worker_id],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


def training_children(worker: Worker) -> list[psutil.Process]:
    """The worker's training child processes (multiprocessing's resource tracker is not one)."""
    return [
        c
        for c in psutil.Process(worker.proc.pid).children(recursive=True)
        if "resource_tracker" not in " ".join(c.cmdline())
    ]


def produce(
    settings: Settings, messages: Iterable[tuple[bytes | None, bytes | None]], kind: TopicKind = "readings"
) -> int:
    prod = producer(settings)
    topic = settings.kafka.topic(kind)
    n = 0
    for key, value in messages:
        kafka_produce(prod, topic, key, value)
        n += 1
    assert prod.flush(60) == 0
    return n


class PacedProducer:
    """Produces readings at a steady rate in a background thread, so that a worker is killed or a
    second one joins while readings are still arriving (not after a burst was already scored)."""

    def __init__(
        self, settings: Settings, messages: list[tuple[bytes | None, bytes | None]], rate: int
    ) -> None:
        self.settings = settings
        self.messages = messages
        self.rate = rate
        self.sent = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="paced-producer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            prod = producer(self.settings)
            topic = self.settings.kafka.topic("readings")
            step = max(1, self.rate // 20)
            started = time.monotonic()
            for i in range(0, len(self.messages), step):
                for key, value in self.messages[i : i + step]:
                    kafka_produce(prod, topic, key, value)
                self.sent = min(len(self.messages), i + step)
                prod.poll(0)
                delay = started + self.sent / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            assert prod.flush(60) == 0
        except BaseException as exc:  # reported by join()
            self.error = exc

    def join(self, timeout: float = 120) -> int:
        self.thread.join(timeout)
        if self.error is not None:
            raise self.error
        assert not self.thread.is_alive(), "paced producer did not finish"
        return len(self.messages)


def wait_for_members(settings: Settings, n: int, timeout: float) -> dict[str, set[int]]:
    """Wait until the worker group has ``n`` members that each hold readings partitions."""
    deadline = time.monotonic() + timeout
    assignment: dict[str, set[int]] = {}
    while time.monotonic() < deadline:
        try:
            assignment = group_assignment(settings)
        except KafkaException:  # the group is mid-rebalance: describe it again
            assignment = {}
        if len(assignment) == n and all(assignment.values()):
            return assignment
        time.sleep(0.5)
    raise AssertionError(f"group never had {n} members with partitions: {assignment}")


class TopicReader:
    """Reads a whole topic from the beginning, accumulating decoded JSON values."""

    def __init__(self, settings: Settings, kind: str) -> None:
        self.topic = settings.kafka.topic(kind)  # type: ignore[arg-type]
        self.consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka.bootstrap,
                "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
            }
        )
        self.consumer.assign(
            [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in range(settings.kafka.topic_partitions)]
        )
        self.items: list[dict[str, Any]] = []

    def poll(self, seconds: float = 0.5) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            batch = self.consumer.consume(10_000, timeout=0.2)
            for m in batch:
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise RuntimeError(err)
                value = m.value()
                if value is None:
                    raise AssertionError(f"a tombstone on {self.topic} (key {m.key()!r}): no payload to read")
                self.items.append(orjson.loads(value))

    def wait_for(
        self,
        done: Callable[[list[dict[str, Any]]], bool],
        timeout: float,
        what: str,
        workers: Iterable[Worker] = (),
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll(1.0)
            if done(self.items):
                return self.items
            for w in workers:
                if not w.alive():
                    raise AssertionError(f"worker {w.worker_id} died:\n{w.tail()}")
        logs = "\n".join(w.tail() for w in workers)
        raise AssertionError(f"timed out waiting for {what}: have {len(self.items)} on {self.topic}\n{logs}")

    def close(self) -> None:
        self.consumer.close()


def group_assignment(settings: Settings) -> dict[str, set[int]]:
    """Members of the worker's consumer group and the readings partitions each one holds."""
    client = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    desc = client.describe_consumer_groups([settings.worker.app_id])[settings.worker.app_id].result(
        timeout=10
    )
    out: dict[str, set[int]] = {}
    for m in desc.members:
        parts = {
            tp.partition
            for tp in m.assignment.topic_partitions
            if tp.topic == settings.kafka.topic("readings")
        }
        out[m.member_id] = parts
    return out
