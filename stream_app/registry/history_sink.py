"""``kilowatch history-sink``: readings topic -> ``readings_history`` table, in batches.

A separate consumer group (``<app_id>-history``), not a faust agent in the scoring worker: the
readings path is the throughput-critical one (a second faust agent on the same topic costs the per-
event stream machinery again), and a sink that falls behind or stops must never slow scoring. It
commits offsets only after a batch is in PostgreSQL (at-least-once) and upserts by (asset, timestamp),
so a redelivered batch changes nothing. Invalid readings are skipped (the worker dead-letters them).
Retention: rows older than ``history_retention_days`` are deleted every ``retrain_check_every_s``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from stream_app.core.decode import decode_reading
from stream_app.db import history, migrations
from stream_app.db.history import HistoryRow
from stream_app.errors import InvalidReading
from stream_app.settings import Settings

log = logging.getLogger(__name__)
BATCH = 2000


def rows_from_messages(
    messages: Iterable[tuple[bytes | None, bytes | None]], max_bytes: int
) -> tuple[list[HistoryRow], int]:
    """(rows to upsert, invalid count) from (key, value) pairs; the last reading of a duplicated
    (asset, timestamp) in one batch wins (one statement cannot upsert the same key twice)."""
    rows: dict[tuple[str, datetime], HistoryRow] = {}
    invalid = 0
    for key, value in messages:
        try:
            r = decode_reading(key, value, max_bytes=max_bytes)
        except InvalidReading:
            invalid += 1
            continue
        rows[(r.asset_id, r.timestamp)] = (r.asset_id, r.timestamp, r.value, dict(r.covariates))
    return list(rows.values()), invalid


async def run(settings: Settings, stop: asyncio.Event) -> None:
    from stream_app.db.pool import create_pool
    from stream_app.kafka_io import consumer

    pool = await create_pool(settings)
    async with pool.acquire() as conn:
        await migrations.ensure_current(conn)
    cons = consumer(settings, f"{settings.app_id}-history", **{"enable.auto.commit": False})
    cons.subscribe([settings.topic("readings")])
    next_retention = 0.0
    try:
        while not stop.is_set():
            msgs: list[Any] = await asyncio.to_thread(cons.consume, BATCH, 1.0)
            good = [m for m in msgs if m.error() is None]
            if good:
                rows, invalid = rows_from_messages(
                    ((m.key(), m.value()) for m in good), settings.max_payload_bytes
                )
                await history.insert_readings(pool, rows)
                await asyncio.to_thread(cons.commit, asynchronous=False)
                log.debug("history: %d rows stored, %d invalid skipped", len(rows), invalid)
            if time.monotonic() >= next_retention:
                cutoff = datetime.now(UTC) - timedelta(days=settings.history_retention_days)
                deleted = await history.delete_older_than(pool, cutoff)
                if deleted:
                    log.info("history retention: %d rows older than %s deleted", deleted, cutoff.isoformat())
                next_retention = time.monotonic() + settings.retrain_check_every_s
    finally:
        await asyncio.to_thread(cons.close)
        await pool.close()


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "history-sink", help="store readings in PostgreSQL for history-based training (batches, retention)"
    )
    p.set_defaults(handler=_main)


def _main(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    asyncio.run(go())
    return 0
