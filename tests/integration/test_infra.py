"""Against the services started by `kilowatch infra up` (never torn down here)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka.admin import AdminClient, NewTopic

from stream_app.devtools import infra
from stream_app.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.kafka4]


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings()


def test_status_reports_everything_running(settings: Settings) -> None:
    statuses = {s.name: s for s in infra.status(settings)}
    assert set(statuses) == set(infra.SERVICES)
    not_running = [s.line() for s in statuses.values() if not s.running]
    assert not not_running, f"run `kilowatch infra up` first: {not_running}"
    assert statuses["kafka"].version == settings.kafka.version


def test_up_is_idempotent(settings: Settings) -> None:
    before = {s.name: s.pid for s in infra.status(settings)}
    addresses = infra.up(settings)
    after = {s.name: s.pid for s in infra.status(settings)}
    assert before == after
    assert set(addresses) == set(infra.SERVICES)


def test_up_only_subset(settings: Settings) -> None:
    assert list(infra.up(settings, only="redis")) == ["redis"]


async def test_kafka_round_trip(settings: Settings) -> None:
    topic = f"test.infra.{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=30)
    try:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"hello", key=b"k1")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.kafka.bootstrap,
            group_id=f"test-infra-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            msg = await asyncio.wait_for(consumer.getone(), timeout=30)
        finally:
            await consumer.stop()
        assert (msg.key, msg.value) == (b"k1", b"hello")
    finally:
        admin.delete_topics([topic])[topic].result(timeout=30)


async def test_postgres_select_1(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.postgres.dsn(), timeout=10)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert await conn.fetchval("SELECT current_user") == settings.postgres.user
    finally:
        await conn.close()


async def test_redis_ping(settings: Settings) -> None:
    client = aioredis.from_url(settings.redis.url)
    try:
        assert await client.ping()
    finally:
        await client.aclose()
