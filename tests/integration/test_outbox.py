"""Model activation events go through an outbox (issue 14), on the real broker and database.

The registry used to be updated and then ModelUpdated sent: with Kafka down the event was lost and
workers kept scoring with the old version. Now the event is written in the activation's transaction
and published from the outbox; its row is deleted only after the broker acked. Kafka is stopped for
real here, so run on an infra of your own.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from schemas.events import ModelUpdated
from stream_app import metrics
from stream_app.kafka.topics import ensure_topics
from stream_app.store import repository as repo
from tests.integration.harness import TopicReader
from tests.integration.outage import stopped
from tests.integration.test_training_jobs import _env

pytestmark = pytest.mark.integration


async def _register(pool: object, asset: str) -> None:
    async with pool.acquire() as conn:  # type: ignore[attr-defined]
        for _ in range(2):
            await repo.register_version(
                conn,
                asset_id=asset,
                model_type="lsq",
                params={},
                metrics={},
                artifact_uri="file:///x",
                job_id=None,
            )


async def test_an_activation_while_kafka_is_down_is_published_when_it_returns(tmp_path: Path) -> None:
    async with _env(tmp_path) as env:
        settings = env.settings
        await asyncio.to_thread(ensure_topics, settings)
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka.bootstrap, acks="all", request_timeout_ms=5000
        )
        await producer.start()

        async def publish(ev: ModelUpdated) -> None:
            await producer.send_and_wait(
                settings.kafka.topic("model-updates"), ev.model_dump_json().encode(), key=ev.asset_id.encode()
            )

        env.service.publish = publish
        pool = env.service.pool
        await _register(pool, "ob-1")
        try:
            await env.service.activate("ob-1", 1, rollback=False)  # broker up: published at once
            assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
            failed = metrics.OUTBOX_EVENTS.labels("failed")._value.get()
            async with stopped("kafka"):
                mv = await asyncio.wait_for(env.service.activate("ob-1", 2, rollback=False), 60)
                assert mv.version == 2  # the activation itself succeeds
                assert (await repo.active_version(pool, "ob-1")).version == 2  # type: ignore[union-attr]
                rows = await pool.fetch("SELECT key, value, attempts, last_error FROM outbox")
                assert len(rows) == 1 and rows[0]["key"] == b"ob-1" and rows[0]["attempts"] >= 1
                assert ModelUpdated.model_validate_json(rows[0]["value"]).model_version == "2"
                assert metrics.OUTBOX_EVENTS.labels("failed")._value.get() > failed
            back = time.monotonic()
            for _ in range(60):  # the worker's outbox timer does this every outbox_every_s
                if await env.service.relay_outbox():
                    break
                await asyncio.sleep(1.0)
            waited = time.monotonic() - back
            print(f"outbox: the outage's event was published {waited:.1f} s after Kafka was back")
            assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
        finally:
            await producer.stop()
        reader = TopicReader(settings, "model-updates")
        try:
            items = reader.wait_for(lambda xs: any(x["model_version"] == "2" for x in xs), 30, "the v2 event")
        finally:
            reader.close()
        # No loss, in order (a send cut off by the outage may come too: at-least-once, idempotent).
        versions = [x["model_version"] for x in items]
        assert versions[0] == "1" and versions[-1] == "2" and set(versions) == {"1", "2"}
