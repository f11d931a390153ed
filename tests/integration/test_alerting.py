"""Alerting service on the real PostgreSQL, a real SMTP server (aiosmtpd) and a real HTTP server."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import asyncpg
from prometheus_client import REGISTRY
from pydantic import SecretStr

from stream_app.alerting import store as alert_store
from stream_app.alerting.config import AlertConfig
from stream_app.alerting.service import AlertService
from stream_app.settings import Settings
from tests.integration.alerting_fixtures import Hook, Inbox, anomaly, free_port, pg_pool, smtp, webhook

__all__ = ["pg_pool", "smtp", "webhook"]  # fixtures

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def settings_for(smtp_port: int, **extra: object) -> Settings:
    values = {"alert_smtp_port": smtp_port, "alert_recovery_s": 600.0, "alert_cooldown_s": 0.0}
    values.update(extra)
    return Settings().with_changes(**values)


async def test_alert_config_round_trip(pg_pool: asyncpg.Pool) -> None:
    assert await alert_store.get_alert_config(pg_pool) is None
    cfg = AlertConfig(
        email="ops@example.com", threshold=0.97, frequency="hourly", anomaly_types=("spike", "dip")
    )
    await alert_store.put_alert_config(pg_pool, cfg)
    assert await alert_store.get_alert_config(pg_pool) == cfg
    changed = cfg.model_copy(update={"enabled": False, "anomaly_types": ()})
    await alert_store.put_alert_config(pg_pool, changed)
    assert await alert_store.get_alert_config(pg_pool) == changed


async def test_one_email_per_episode_and_redeliveries_send_nothing(
    pg_pool: asyncpg.Pool, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    await alert_store.put_alert_config(pg_pool, AlertConfig(email="ops@example.com", threshold=0.99))
    svc = AlertService(settings_for(port), pg_pool)
    burst = [anomaly("plant-1", T0 + timedelta(minutes=15 * i)) for i in range(40)]
    burst += [anomaly("plant-2", T0 + timedelta(minutes=15 * i), kind="dip") for i in range(5)]
    burst.append(anomaly("plant-3", T0, score=0.5))  # below the threshold: an episode, no alert
    for a in burst:
        svc.handle(a)
    now = time.time()
    await svc.flush(now)
    assert sorted(m["Subject"] for _, m in inbox.messages) == [
        "[kilowatch] dip on plant-2 (score 0.999)",
        "[kilowatch] spike on plant-1 (score 0.999)",
    ]
    assert all(rcpt == ["ops@example.com"] for rcpt, _ in inbox.messages)
    for a in burst:  # the whole burst redelivered
        svc.handle(a)
    await svc.flush(now + 1)
    assert len(inbox.messages) == 2
    rows = await pg_pool.fetch(
        "SELECT asset_id, anomaly_count, alerted FROM alert_episodes ORDER BY asset_id"
    )
    assert [tuple(r) for r in rows] == [("plant-1", 40, True), ("plant-2", 5, True), ("plant-3", 1, False)]
    sent = await alert_store.deliveries(pg_pool, "sent")
    assert len(sent) == 2 and all(r["attempts"] == 1 for r in sent)


async def test_webhook_retries_with_backoff_until_it_answers(
    pg_pool: asyncpg.Pool, smtp: tuple[Inbox, int], webhook: tuple[Hook, str]
) -> None:
    inbox, port = smtp
    hook, url = webhook
    hook.statuses[:] = [503, 500]
    await alert_store.put_alert_config(pg_pool, AlertConfig(email="ops@example.com", threshold=0.9))
    svc = AlertService(
        settings_for(
            port, alert_webhook_url=SecretStr(url), alert_retry_base_s=10.0, outbound_allow_private=True
        ),  # the sink is on loopback
        pg_pool,
    )
    retries = REGISTRY.get_sample_value(
        "kilowatch_alert_deliveries_total", {"channel": "webhook", "result": "retry"}
    )
    svc.handle(anomaly("plant-9", T0))
    now = time.time()
    await svc.flush(now)  # email sent; webhook 503 -> retry in 10 s
    assert hook.answers == [503] and len(inbox.messages) == 1
    assert await svc.deliver_due(now + 5) == 0  # not due yet
    assert await svc.deliver_due(now + 11) == 0  # 500 -> retry in 20 s
    assert await svc.deliver_due(now + 25) == 0  # 10 + 20 s: not yet
    assert await svc.deliver_due(now + 32) == 1
    assert hook.answers == [503, 500, 200]
    assert hook.bodies[-1]["alert"]["asset_id"] == "plant-9" and hook.bodies[-1]["kind"] == "alert"
    row = (await pg_pool.fetch("SELECT * FROM alert_deliveries WHERE channel = 'webhook'"))[0]
    assert (row["status"], row["attempts"], row["recipient"]) == ("sent", 3, "settings:alert_webhook_url")
    after = REGISTRY.get_sample_value(
        "kilowatch_alert_deliveries_total", {"channel": "webhook", "result": "retry"}
    )
    assert after == (retries or 0) + 2


async def test_failed_deliveries_are_kept_not_lost(pg_pool: asyncpg.Pool) -> None:
    dead_port = free_port()  # nothing listens here
    await alert_store.put_alert_config(pg_pool, AlertConfig(email="ops@example.com", threshold=0.9))
    svc = AlertService(settings_for(dead_port, alert_max_attempts=3, alert_retry_base_s=1.0), pg_pool)
    svc.handle(anomaly("plant-4", T0))
    now = time.time()
    await svc.flush(now)
    for dt in (2, 5, 10):
        await svc.deliver_due(now + dt)
    failed = await alert_store.deliveries(pg_pool, "failed")
    assert len(failed) == 1
    assert failed[0]["attempts"] == 3 and "smtp 127.0.0.1" in failed[0]["last_error"]
    assert "plant-4" in failed[0]["subject"]
    assert await svc.deliver_due(now + 1000) == 0  # failed for good: not retried by itself


async def test_hourly_digest_collects_alerts_into_one_email(
    pg_pool: asyncpg.Pool, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    await alert_store.put_alert_config(
        pg_pool, AlertConfig(email="ops@example.com", threshold=0.9, frequency="hourly")
    )
    svc = AlertService(settings_for(port), pg_pool)
    for asset in ("plant-5", "plant-6", "plant-7"):
        svc.handle(anomaly(asset, T0))
    now = time.time()
    await svc.flush(now)
    assert inbox.messages == []  # nothing immediate
    assert await svc.send_digest("hourly", now) == 1
    assert await svc.send_digest("daily_digest", now) == 0
    await svc.deliver_due(now)
    assert len(inbox.messages) == 1
    msg = inbox.messages[0][1]
    assert msg["Subject"] == "[kilowatch] 3 alert(s) on 3 asset(s) in the last hour"
    text = msg.get_payload(decode=True).decode()
    assert all(a in text for a in ("plant-5", "plant-6", "plant-7"))
    assert await svc.send_digest("hourly", now + 3600) == 0  # items are digested once


async def test_episodes_nobody_updates_are_closed_by_the_database(
    pg_pool: asyncpg.Pool, smtp: tuple[Inbox, int]
) -> None:
    _, port = smtp
    old = T0.timestamp()
    await pg_pool.execute(
        """INSERT INTO alert_episodes (episode_id, asset_id, opened_at, last_anomaly_at, anomaly_count,
             max_score, types, first_event_id, alerted)
           VALUES (gen_random_uuid(), 'orphan', $1, $1, 3, 0.99, '{spike}', gen_random_uuid(), true)""",
        T0,
    )
    svc = AlertService(settings_for(port), pg_pool)
    await svc.flush(old + 300)  # within the recovery window: stays open (dormant here)
    assert await pg_pool.fetchval("SELECT closed_at FROM alert_episodes WHERE asset_id = 'orphan'") is None
    assert "orphan" in svc.tracker.dormant
    await svc.flush(old + 700)
    closed_at = await pg_pool.fetchval("SELECT closed_at FROM alert_episodes WHERE asset_id = 'orphan'")
    assert closed_at == T0 + timedelta(seconds=600)
    assert "orphan" not in svc.tracker.dormant
