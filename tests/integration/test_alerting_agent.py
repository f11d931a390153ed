"""The alerting agent in a real worker: anomaly topic in, one e-mail per episode out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from stream_app.alerting import store as alert_store
from stream_app.alerting.config import AlertConfig
from stream_app.kafka.clients import produce, producer
from stream_app.kafka.topics import ensure_topics
from stream_app.settings import Settings
from tests.integration.alerting_fixtures import Inbox, anomaly, apply_migration, smtp
from tests.integration.harness import Worker, isolated_settings

__all__ = ["smtp"]


TABLES = "alert_deliveries, alert_digest_items, alert_episodes, alert_config"


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """The alerting tables in the database's default schema, emptied (the worker subprocess connects
    with the plain settings; the role may not create databases)."""
    conn = await asyncpg.connect(Settings().postgres.dsn())
    await apply_migration(conn)
    await conn.execute(f"TRUNCATE {TABLES}")
    await alert_store.put_alert_config(conn, AlertConfig(email="ops@example.com", threshold=0.99))
    try:
        yield Settings().postgres.db
    finally:
        await conn.execute(f"TRUNCATE {TABLES}")
        await conn.close()


async def test_worker_alerts_once_per_episode(tmp_path: Path, database: str, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    settings, env = isolated_settings(
        tmp_path,
        alerting_enabled=True,
        alert_tick_s=0.5,
        alert_smtp_port=port,
        postgres_db=database,
        alert_recovery_s=3600,
    )
    ensure_topics(settings)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    events = [anomaly("plant-a", t0 + timedelta(minutes=15 * i)) for i in range(30)]
    events += [anomaly("plant-b", t0 + timedelta(minutes=15 * i), kind="dip") for i in range(3)]
    prod = producer(settings)
    topic = settings.kafka.topic("anomalies")
    produce(prod, topic, b"plant-a", b"{not an anomaly")  # skipped with a warning, never fatal
    for a in events + events[:10]:  # and some redeliveries
        produce(prod, topic, a.asset_id.encode(), a.model_dump_json().encode())
    assert prod.flush(30) == 0
    worker = Worker(env, "alerts", tmp_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(inbox.messages) < 2:
            assert worker.alive(), worker.tail()
            await asyncio.sleep(0.5)
        await asyncio.sleep(3.0)  # anything more would arrive now
    finally:
        worker.stop()
    subjects = sorted(m["Subject"] for _, m in inbox.messages)
    assert subjects == [
        "[kilowatch] dip on plant-b (score 0.999)",
        "[kilowatch] spike on plant-a (score 0.999)",
    ]
    conn = await asyncpg.connect(settings.postgres.dsn())
    try:
        rows = await conn.fetch("SELECT asset_id, anomaly_count FROM alert_episodes ORDER BY asset_id")
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [("plant-a", 30), ("plant-b", 3)]
    assert "unreadable anomaly event skipped" in worker.log_path.read_text()
