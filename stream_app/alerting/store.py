"""PostgreSQL access for alerting (asyncpg, bound parameters only). The API's
GET/PUT /api/v1/alert-config call :func:`get_alert_config` and :func:`put_alert_config`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from stream_app.alerting.config import AlertConfig
from stream_app.alerting.hygiene import Episode

Conn = Any  # asyncpg.Connection or asyncpg.Pool (both have fetch/fetchrow/execute)
DEFAULT = "default"
DELIVERY_NS = uuid.UUID("0e4bb0a4-51a0-4c38-8f0e-3c2f9e8f6d11")


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


async def get_alert_config(conn: Conn, name: str = DEFAULT) -> AlertConfig | None:
    stamped = await get_alert_config_stamped(conn, name)
    return None if stamped is None else stamped[0]


async def get_alert_config_stamped(conn: Conn, name: str = DEFAULT) -> tuple[AlertConfig, datetime] | None:
    """The stored configuration and when it was last written (``updated_at``)."""
    row = await conn.fetchrow(
        "SELECT email, threshold, frequency, anomaly_types, enabled, updated_at FROM alert_config "
        "WHERE name = $1",
        name,
    )
    if row is None:
        return None
    config = AlertConfig(
        email=row["email"],
        threshold=row["threshold"],
        frequency=row["frequency"],
        anomaly_types=tuple(row["anomaly_types"]),
        enabled=row["enabled"],
    )
    return config, row["updated_at"]


async def put_alert_config(conn: Conn, config: AlertConfig, name: str = DEFAULT) -> AlertConfig:
    """Create or replace the configuration; returns what is stored."""
    return (await put_alert_config_stamped(conn, config, name))[0]


async def put_alert_config_stamped(
    conn: Conn, config: AlertConfig, name: str = DEFAULT
) -> tuple[AlertConfig, datetime]:
    """Create or replace the configuration; returns what is stored and its ``updated_at``."""
    updated_at = await conn.fetchval(
        """INSERT INTO alert_config (name, email, threshold, frequency, anomaly_types, enabled, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, now())
           ON CONFLICT (name) DO UPDATE SET email = EXCLUDED.email, threshold = EXCLUDED.threshold,
             frequency = EXCLUDED.frequency, anomaly_types = EXCLUDED.anomaly_types,
             enabled = EXCLUDED.enabled, updated_at = now()
           RETURNING updated_at""",
        name,
        config.email,
        config.threshold,
        config.frequency,
        list(config.anomaly_types),
        config.enabled,
    )
    return config, updated_at


async def save_episode(conn: Conn, ep: Episode) -> None:
    """Upsert an episode's current state (idempotent)."""
    await conn.execute(
        """INSERT INTO alert_episodes (episode_id, asset_id, opened_at, last_anomaly_at, closed_at,
             anomaly_count, max_score, types, first_event_id, alerted)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (episode_id) DO UPDATE SET last_anomaly_at = EXCLUDED.last_anomaly_at,
             closed_at = EXCLUDED.closed_at, anomaly_count = EXCLUDED.anomaly_count,
             max_score = EXCLUDED.max_score, types = EXCLUDED.types,
             alerted = alert_episodes.alerted OR EXCLUDED.alerted""",
        ep.episode_id,
        ep.asset_id,
        _dt(ep.opened_at),
        _dt(ep.last_at),
        _dt(ep.closed_at) if ep.closed_at is not None else None,
        ep.count,
        ep.max_score,
        sorted(ep.types),
        ep.first_event_id,
        ep.alerted,
    )


async def open_episodes(conn: Conn) -> list[Episode]:
    rows = await conn.fetch(
        """SELECT episode_id, asset_id, opened_at, last_anomaly_at, anomaly_count, max_score, types,
             first_event_id, alerted FROM alert_episodes WHERE closed_at IS NULL"""
    )
    return [
        Episode(
            episode_id=r["episode_id"],
            asset_id=r["asset_id"],
            opened_at=r["opened_at"].timestamp(),
            last_at=r["last_anomaly_at"].timestamp(),
            first_event_id=r["first_event_id"],
            count=r["anomaly_count"],
            max_score=r["max_score"],
            types=set(r["types"]),
            alerted=r["alerted"],
        )
        for r in rows
    ]


async def close_abandoned(conn: Conn, now: float, recovery_s: float) -> int:
    """Close open episodes whose last anomaly is older than the recovery window by the database's own
    record (an owner persists every tick, so only episodes nobody updates any more are closed)."""
    status = await conn.execute(
        """UPDATE alert_episodes SET closed_at = last_anomaly_at + make_interval(secs => $2)
           WHERE closed_at IS NULL AND last_anomaly_at < $1::timestamptz - make_interval(secs => $2)""",
        _dt(now),
        float(recovery_s),
    )
    return int(str(status).rsplit(" ", 1)[-1])


async def enqueue_delivery(
    conn: Conn,
    *,
    key: str,
    kind: str,
    channel: str,
    recipient: str,
    subject: str,
    payload: dict[str, Any],
    now: float,
) -> bool:
    """Record a message to send. ``key`` makes the id deterministic, so a redelivered anomaly or a
    repeated digest run never queues the same message twice. False when it already existed."""
    delivery_id = uuid.uuid5(DELIVERY_NS, f"{key}|{channel}")
    status = await conn.execute(
        """INSERT INTO alert_deliveries (delivery_id, kind, channel, recipient, subject, payload,
             next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
           ON CONFLICT (delivery_id) DO NOTHING""",
        delivery_id,
        kind,
        channel,
        recipient,
        subject,
        orjson.dumps(payload).decode(),
        _dt(now),
    )
    return bool(status == "INSERT 0 1")


@dataclass(frozen=True, slots=True)
class Delivery:
    delivery_id: uuid.UUID
    kind: str
    channel: str
    recipient: str
    subject: str
    payload: dict[str, Any]
    attempts: int


async def claim_due(conn: Conn, now: float, limit: int, lease_s: float) -> list[Delivery]:
    """Pending deliveries due by ``now``, leased for ``lease_s`` (moved forward) so that two workers
    never send the same one at once."""
    rows = await conn.fetch(
        """UPDATE alert_deliveries SET next_attempt_at = $1 + make_interval(secs => $3)
           WHERE delivery_id IN (
             SELECT delivery_id FROM alert_deliveries
             WHERE status = 'pending' AND next_attempt_at <= $1
             ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING delivery_id, kind, channel, recipient, subject, payload, attempts""",
        _dt(now),
        limit,
        float(lease_s),
    )
    return [
        Delivery(
            r["delivery_id"],
            r["kind"],
            r["channel"],
            r["recipient"],
            r["subject"],
            orjson.loads(r["payload"]),
            r["attempts"],
        )
        for r in rows
    ]


async def mark_sent(conn: Conn, delivery_id: uuid.UUID, now: float) -> None:
    await conn.execute(
        """UPDATE alert_deliveries SET status = 'sent', attempts = attempts + 1, sent_at = $2,
             last_error = NULL WHERE delivery_id = $1""",
        delivery_id,
        _dt(now),
    )


async def mark_attempt_failed(conn: Conn, delivery_id: uuid.UUID, error: str, retry_at: float | None) -> None:
    """Record a failed attempt: pending again at ``retry_at``, or ``failed`` for good when None
    (the row stays, with its payload and last error, for an operator to replay)."""
    await conn.execute(
        """UPDATE alert_deliveries SET attempts = attempts + 1, last_error = $2,
             status = CASE WHEN $3::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
             next_attempt_at = COALESCE($3::timestamptz, next_attempt_at)
           WHERE delivery_id = $1""",
        delivery_id,
        error[:2000],
        _dt(retry_at) if retry_at is not None else None,
    )


async def queue_digest_item(
    conn: Conn, episode_id: uuid.UUID, frequency: str, recipient: str, summary: dict[str, Any]
) -> None:
    await conn.execute(
        """INSERT INTO alert_digest_items (episode_id, frequency, recipient, summary)
           VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT (episode_id) DO NOTHING""",
        episode_id,
        frequency,
        recipient,
        orjson.dumps(summary).decode(),
    )


async def take_digest(conn: Conn, frequency: str) -> dict[str, list[dict[str, Any]]]:
    """Mark every pending digest item of ``frequency`` as digested and return them by recipient.
    Run inside the transaction that also queues the digest deliveries (nothing lost, nothing twice)."""
    rows = await conn.fetch(
        """UPDATE alert_digest_items SET digested_at = now()
           WHERE frequency = $1 AND digested_at IS NULL RETURNING recipient, summary""",
        frequency,
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["recipient"], []).append(orjson.loads(r["summary"]))
    return out


async def deliveries(conn: Conn, status: str | None = None) -> Sequence[Any]:
    """Rows of the delivery log (operators, tests)."""
    if status is None:
        return list(await conn.fetch("SELECT * FROM alert_deliveries ORDER BY created_at"))
    return list(
        await conn.fetch("SELECT * FROM alert_deliveries WHERE status = $1 ORDER BY created_at", status)
    )
