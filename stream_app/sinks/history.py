"""``kilowatch history-sink``: readings topic -> ``readings_history`` table, in batches.

A separate consumer group (``<app_id>-history``), not a faust agent in the scoring worker: the
readings path is the throughput-critical one (a second faust agent on the same topic costs the per-
event stream machinery again), and a sink that falls behind or stops must never slow scoring. The
batching, the commit after the write (at-least-once) and the retry on database errors are the shared
sink loop's (:mod:`stream_app.sinks.sink`); rows are upserted by (asset, timestamp), so a redelivered batch
changes nothing. Invalid readings are skipped and counted (the worker dead-letters them). Readings
dated more than ``history_max_future_s`` ahead of now are skipped and counted in
``kilowatch_history_skipped_readings_total{reason="future"}``: a meter with a wrong clock must not
plant rows that retention never deletes and that every history-based training then takes as newest.
Retention: rows older than ``history_retention_days`` are deleted every ``retrain_check_every_s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from schemas.errors import InvalidReading
from stream_app import metrics
from stream_app.core.decode import decode_control, decode_reading
from stream_app.settings import Settings
from stream_app.sinks import sink
from stream_app.store import history
from stream_app.store.history import HistoryRow

BATCH = 2000
TABLE = "readings_history"


def decode(
    records: Sequence[sink.Record],
    max_bytes: int,
    max_future_s: float = float("inf"),
    now: datetime | None = None,
) -> sink.Decoded[list[HistoryRow]]:
    """Rows to upsert and the invalid messages; the last reading of a duplicated (asset, timestamp)
    in one batch wins (one statement cannot upsert the same key twice). Readings dated after
    ``now + max_future_s`` are skipped (counted, not invalid: the scoring worker judges them)."""
    latest = (now or datetime.now(UTC)) + timedelta(seconds=min(max_future_s, 1e9))
    rows: dict[tuple[str, datetime], HistoryRow] = {}
    invalid: list[tuple[sink.Record, str]] = []
    for rec in records:
        try:
            r = decode_reading(rec.key, rec.value, max_bytes=max_bytes)
        except InvalidReading as exc:
            try:
                control = decode_control(rec.key, rec.value, max_bytes=max_bytes)
            except InvalidReading:
                control = None
            if control is None:  # a control message (asset reset) is not a reading: nothing to store
                invalid.append((rec, exc.reason))
            continue
        if r.timestamp > latest:
            metrics.HISTORY_SKIPPED.labels("future").inc()
            continue
        rows[(r.asset_id, r.timestamp)] = (r.asset_id, r.timestamp, r.value, dict(r.covariates))
    return sink.Decoded(list(rows.values()), invalid)


def history_sink(settings: Settings) -> sink.Sink[list[HistoryRow]]:
    async def store(pool: asyncpg.Pool, rows: list[HistoryRow]) -> sink.Written:
        return {TABLE: (await history.insert_readings(pool, rows), 0)}

    async def retention(pool: asyncpg.Pool) -> dict[str, int]:
        cutoff = datetime.now(UTC) - timedelta(days=settings.training.history_retention_days)
        return {TABLE: await history.delete_older_than(pool, cutoff)}

    return sink.Sink(
        name="history",
        group=f"{settings.worker.app_id}-history",
        topics=(settings.kafka.topic("readings"),),
        decode=lambda records: decode(
            records, settings.worker.max_payload_bytes, settings.worker.history_max_future_s
        ),
        store=store,
        retention=retention,
        retention_every_s=settings.training.retrain_check_every_s,
        batch=BATCH,
        log_invalid=False,
    )


def register(sub: Any) -> None:
    sink.add_command(
        sub,
        "history-sink",
        "store readings in PostgreSQL for history-based training (batches, retention)",
        history_sink,
    )
