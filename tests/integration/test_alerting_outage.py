"""Alerting is at-least-once and bounded across a PostgreSQL outage (issue 14).

Anomalies arrive while PostgreSQL is down; the worker that took them is then SIGKILLed, PostgreSQL
comes back and a second worker starts. Every alert raised during the outage must be delivered once:
before the fix the first worker acknowledged the anomalies after an in-memory handle (their offsets
were committed), so the kill lost them.

Needs an infra of its own (it stops PostgreSQL): run it with the KILOWATCH_* ports of a private infra.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from stream_app import metrics
from stream_app.alerting import store as alert_store
from stream_app.alerting.config import AlertConfig
from stream_app.alerting.service import AlertService
from stream_app.kafka.clients import produce, producer
from stream_app.kafka.topics import ensure_topics
from stream_app.settings import Settings
from tests.integration.alerting_fixtures import Inbox, anomaly, apply_migration, smtp
from tests.integration.harness import Worker, isolated_settings
from tests.integration.outage import stopped

__all__ = ["smtp"]

TABLES = "alert_deliveries, alert_digest_items, alert_episodes, alert_config"
ASSETS = [f"outage-{i}" for i in range(8)]


@pytest.fixture
async def database() -> AsyncIterator[str]:
    conn = await asyncpg.connect(Settings().postgres.dsn())
    await apply_migration(conn)
    await conn.execute(f"TRUNCATE {TABLES}")
    await alert_store.put_alert_config(conn, AlertConfig(email="ops@example.com", threshold=0.99))
    await conn.close()
    yield Settings().postgres.db
    conn = await asyncpg.connect(Settings().postgres.dsn())
    await conn.execute(f"TRUNCATE {TABLES}")
    await conn.close()


async def _wait(pred: Callable[[], bool], within_s: float, worker: Worker | None = None) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if worker is not None:
            assert worker.alive(), worker.tail()
        if pred():
            return
        await asyncio.sleep(0.5)
    raise AssertionError("timed out" + ("\n" + worker.tail() if worker else ""))


async def test_alerts_raised_during_a_postgres_outage_are_delivered_once(
    tmp_path: Path, database: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    settings, env = isolated_settings(
        tmp_path,
        alerting_enabled=True,
        alert_tick_s=0.5,
        alert_smtp_port=port,
        postgres_db=database,
        alert_recovery_s=3600,
        alert_batch_max=16,
        timer_backoff_max_s=2.0,
    )
    ensure_topics(settings)
    topic = settings.kafka.topic("anomalies")
    prod = producer(settings)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    warm = anomaly("warm-up", t0)
    produce(prod, topic, b"warm-up", warm.model_dump_json().encode())
    assert prod.flush(30) == 0
    first = Worker(env, "alerts-1", tmp_path)
    second: Worker | None = None
    try:
        await _wait(lambda: len(inbox.messages) == 1, 120, first)  # the service is started
        async with stopped("postgres"):
            events = [anomaly(a, t0 + timedelta(minutes=15 * i)) for a in ASSETS for i in range(5)]
            for a in events + events[:7]:  # and some redeliveries
                produce(prod, topic, a.asset_id.encode(), a.model_dump_json().encode())
            assert prod.flush(30) == 0
            await asyncio.sleep(8.0)  # the worker takes them (and, before the fix, commits them)
            assert first.alive(), first.tail()
            log = first.log_path.read_text(errors="replace")
            assert "PostgreSQL unavailable" in log  # waited on its batch, logged, did not die
            first.kill()
        back = time.monotonic()
        second = Worker(env, "alerts-2", tmp_path)
        await _wait(lambda: len(inbox.messages) >= 1 + len(ASSETS), 180, second)
        took = time.monotonic() - back
        sent = len(ASSETS) * 5 + 7
        print(f"alerting: {len(ASSETS)} alerts ({sent} anomaly messages sent in the outage) delivered")
        print(f"alerting: {took:.1f} s after PostgreSQL was back (the second worker started then)")
        await asyncio.sleep(4.0)  # a duplicate would arrive now
    finally:
        first.stop()
        if second is not None:
            second.stop()
    subjects = sorted(m["Subject"] for _, m in inbox.messages)
    assert subjects == sorted(f"[kilowatch] spike on {a} (score 0.999)" for a in [*ASSETS, "warm-up"])
    conn = await asyncpg.connect(settings.postgres.dsn())
    try:
        rows = await conn.fetch(
            "SELECT asset_id, anomaly_count FROM alert_episodes WHERE asset_id LIKE 'outage-%' "
            "ORDER BY asset_id"
        )
        sent = await conn.fetchval("SELECT count(*) FROM alert_deliveries WHERE status = 'sent'")
    finally:
        await conn.close()
    assert [(r["asset_id"], r["anomaly_count"]) for r in rows] == [(a, 5) for a in ASSETS]
    assert sent == 1 + len(ASSETS)


async def test_a_batch_waits_for_a_missing_schema_instead_of_ending_the_worker() -> None:
    """Not an outage but an operator's slip (alerting on, tables not migrated yet): the batch is
    retried with back-off, logged as an error, and stored once the tables exist; nothing raises."""
    settings = Settings()
    schema = f"alert_out_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(settings.postgres.dsn())
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    pool = await asyncpg.create_pool(
        settings.postgres.dsn(), min_size=1, max_size=2, server_settings={"search_path": schema}
    )
    try:
        svc = AlertService(settings, pool=pool)
        waits: list[float] = []

        async def sleep(s: float) -> None:
            waits.append(s)
            if len(waits) == 3:  # the operator migrates
                async with pool.acquire() as conn:
                    await apply_migration(conn)
                    await alert_store.put_alert_config(conn, AlertConfig(email="ops@example.com"))

        svc.sleep = sleep  # type: ignore[method-assign]
        before = metrics.PERIODIC_FAILURES.labels("alerting-store")._value.get()
        t0 = datetime(2026, 3, 1, tzinfo=UTC)
        await asyncio.wait_for(svc.store_batch([anomaly("schema-1", t0), anomaly("schema-2", t0)]), 30)
        assert waits == [0.5, 1.0, 2.0]
        assert metrics.PERIODIC_FAILURES.labels("alerting-store")._value.get() - before == 3
        rows = await pool.fetch("SELECT asset_id FROM alert_episodes ORDER BY asset_id")
        assert [r["asset_id"] for r in rows] == ["schema-1", "schema-2"]
        assert len(svc.pending) == 0
    finally:
        await pool.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
