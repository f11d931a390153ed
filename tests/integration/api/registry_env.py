"""Helpers of the training-job, asset and model API tests: settings with the small real training backend
(``tests.integration.lsq_backend``), a worker-side TrainingService, an async reader of a topic, and
waiting for a job's status on its Redis event stream (blocking XREAD, no polling)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from api.services.resources import Resources
from schemas.events import ModelUpdated
from stream_app.lifecycle.artifacts import LocalArtifactStore
from stream_app.lifecycle.coord import JobChannel, TrainingLock, redis_client
from stream_app.lifecycle.service import TrainingService
from stream_app.settings import Settings
from tests.conftest import DATA_DIR

from .conftest import api_settings

STEEL = DATA_DIR / "energy" / "steel_industry_2018_15min.csv"


def registry_settings(tmp: Path, **overrides: Any) -> Settings:
    """Own topics (prefix) and artifact folder; file:// data under ``tmp`` and the shared data."""
    values: dict[str, Any] = {
        "topic_prefix": f"api{uuid.uuid4().hex[:10]}",
        "topic_partitions": 2,
        "training_backend": "tests.integration.lsq_backend",
        "artifact_root": tmp / "artifacts",
        "data_file_roots": (tmp, DATA_DIR),
        "training_cancel_grace_s": 3.0,
        "training_lock_ttl_ms": 3000,
        "api_sse_keepalive_s": 0.3,
    }
    values.update(overrides)
    return api_settings(**values)


@asynccontextmanager
async def worker_service(settings: Settings, resources: Resources) -> AsyncIterator[TrainingService]:
    """What the worker's retraining agent runs, on its own Redis connection; its ModelUpdated events go
    to the model-updates topic as the agent's do."""
    client = redis_client(settings)

    async def publish(event: ModelUpdated) -> None:
        value = event.model_dump_json().encode()
        await resources.publish(settings.kafka.topic("model-updates"), [(event.asset_id.encode(), value)])

    service = TrainingService(
        settings=settings,
        pool=await resources.pool(),
        lock=TrainingLock(client, settings.kafka.topic_prefix, settings.training.lock_ttl_ms),
        channel=JobChannel(client, settings.kafka.topic_prefix, settings.training.log_lines, 600),
        store=LocalArtifactStore(settings.training.artifact_root),
        publish=publish,
    )
    try:
        yield service
    finally:
        await client.aclose()


class TopicTail:
    """Reads one topic from the beginning (all partitions, no consumer group)."""

    def __init__(self, settings: Settings, kind: str) -> None:
        self.topic = settings.kafka.topic(kind)  # type: ignore[arg-type]
        self.partitions = settings.kafka.topic_partitions
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        self.seen: list[ConsumerRecord[bytes, bytes]] = []

    async def start(self) -> TopicTail:
        await self.consumer.start()
        self.consumer.assign([TopicPartition(self.topic, p) for p in range(self.partitions)])
        await self.consumer.seek_to_beginning()
        return self

    async def wait_for(
        self, match: Callable[[ConsumerRecord[bytes, bytes]], bool], within: float = 30.0
    ) -> ConsumerRecord[bytes, bytes]:
        """The first record (seen before or arriving) that matches."""
        for record in self.seen:
            if match(record):
                return record
        async with asyncio.timeout(within):
            while True:
                batches = await self.consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    self.seen.extend(records)
                    for record in records:
                        if match(record):
                            return record

    async def drain(self) -> list[ConsumerRecord[bytes, bytes]]:
        """Everything on the topic up to its current end."""
        parts = [TopicPartition(self.topic, p) for p in range(self.partitions)]
        ends = await self.consumer.end_offsets(parts)
        async with asyncio.timeout(30):
            while [tp for tp in parts if await self.consumer.position(tp) < ends[tp]]:
                batches = await self.consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    self.seen.extend(records)
        return self.seen

    async def json_for(self, key: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        record = await self.wait_for(
            lambda r: r.key == key.encode() and r.value is not None and match(orjson.loads(r.value))
        )
        assert record.value is not None
        value: dict[str, Any] = orjson.loads(record.value)
        return value

    async def stop(self) -> None:
        await self.consumer.stop()


async def wait_event(
    channel: JobChannel, job_id: uuid.UUID, match: Callable[[dict[str, str]], bool], within: float = 30.0
) -> dict[str, str]:
    """Block on the job's Redis event stream (XREAD) until an event matches; returns it."""
    last = "0-0"
    async with asyncio.timeout(within):
        while True:
            for event_id, fields in await channel.tail(job_id, last, block_ms=1000):
                last = event_id
                if match(fields):
                    return fields


async def wait_status(channel: JobChannel, job_id: uuid.UUID, status: str) -> dict[str, str]:
    return await wait_event(
        channel, job_id, lambda f: f.get("kind") == "status" and f.get("status") == status
    )


def parse_sse(text: str) -> list[dict[str, str]]:
    """Server-Sent Events as dicts (id, event, data); a comment line becomes {"comment": ...}."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.split("\n"):
        if line == "":
            if current:
                events.append(current)
                current = {}
        elif line.startswith(":"):
            events.append({"comment": line[1:].strip()})
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            current[name] = f"{current[name]}\n{value}" if name in current else value
    if current:
        events.append(current)
    return events
