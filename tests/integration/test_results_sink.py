"""The results sink on real Kafka and PostgreSQL with the detector's real events: rows stored once
(redeliveries, a replay of the whole topic), unreadable and refused messages skipped and counted."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from prometheus_client import REGISTRY

from schemas.events import Anomaly, Forecast
from stream_app.kafka.topics import ensure_topics
from stream_app.sinks.results import results_sink
from stream_app.store import migrations, results
from stream_app.store.pool import connect, create_pool
from tests.integration.harness import isolated_settings, produce
from tests.integration.results_support import real_events, run_until

pytestmark = pytest.mark.integration


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_sink_stores_detector_events_once_and_skips_bad_messages(
    tmp_path: Path, data_dir: Path
) -> None:
    settings, _env = isolated_settings(tmp_path)
    conn = await connect(settings)
    await migrations.upgrade(conn)
    await asyncio.to_thread(ensure_topics, settings)
    series, anomalies, forecasts = real_events(settings, data_dir)
    assets = [s.asset_id for s in series]
    assert len(anomalies) >= 20 and len(forecasts) >= 100
    spoiled = orjson.loads(anomalies[0][1])
    spoiled.update(event_id=str(uuid.uuid4()), reason="nul \u0000 in text")  # valid JSON, refused by PG
    bad_anomalies: list[tuple[bytes | None, bytes | None]] = [
        (b"x", b"{broken"),
        (b"x", orjson.dumps({"asset_id": "x", "score": 2.0})),
        (b"x", None),
        (assets[0].encode(), orjson.dumps(spoiled)),
    ]
    # every anomaly twice (a redelivery), interleaved with the bad ones
    a_msgs = [*anomalies[:5], *bad_anomalies, *anomalies, *anomalies[5:]]
    f_msgs = [*forecasts, *forecasts[:10]]
    invalid_before = sum(
        metric("kilowatch_sink_invalid_messages_total", sink="results", topic=settings.kafka.topic(k))
        for k in ("anomalies", "forecasts")
    )
    total = produce(settings, a_msgs, "anomalies")
    total += produce(settings, f_msgs, "forecasts")
    spec = results_sink(settings)
    try:
        reports = await run_until(settings, spec, total)
        assert sum(r.invalid for r in reports) == 4
        invalid_after = sum(
            metric("kilowatch_sink_invalid_messages_total", sink="results", topic=settings.kafka.topic(k))
            for k in ("anomalies", "forecasts")
        )
        assert invalid_after - invalid_before == 4
        assert sum(r.written.get("anomalies", (0, 0))[0] for r in reports) == len(anomalies)
        assert sum(r.written.get("anomalies", (0, 0))[1] for r in reports) == len(anomalies)
        assert sum(r.written.get("forecasts", (0, 0))[1] for r in reports) == 10

        stored = await conn.fetch("SELECT * FROM anomalies WHERE asset_id = ANY($1)", assets)
        expected = {a.event_id: a for a in (Anomaly.model_validate_json(v) for _, v in anomalies)}
        assert len(stored) == len(expected) == len(anomalies)
        for row in stored:
            a = expected[row["event_id"]]
            assert (row["asset_id"], row["ts"], row["value"], row["score"], row["type"], row["reason"]) == (
                a.asset_id,
                a.timestamp,
                a.value,
                a.score,
                a.type,
                a.reason,
            )
            bounds = (row["lower_bound"], row["upper_bound"], row["detected_at"])
            assert bounds == (a.lower, a.upper, a.detected_at)
        stored_f = await conn.fetch("SELECT * FROM forecasts WHERE asset_id = ANY($1)", assets)
        want_f = {results.forecast_id(f): f for f in (Forecast.model_validate_json(v) for _, v in forecasts)}
        assert len(stored_f) == len(want_f) == len(forecasts)
        for row in stored_f:
            f = want_f[row["forecast_id"]]
            assert row["issued_at"] == f.issued_at
            assert row["horizon"] == len(f.points) == settings.worker.forecast_horizon
            assert row["points"] == [orjson.loads(p.model_dump_json()) for p in f.points]

        # A restart that replays both topics from the start (a new consumer group) adds nothing.
        replay = dataclasses.replace(spec, group=f"{spec.group}-replay")
        dup_before = metric("kilowatch_sink_rows_total", table="anomalies", outcome="duplicate")
        reports = await run_until(settings, replay, total)
        assert sum(r.written.get("anomalies", (0, 0))[0] for r in reports) == 0
        assert sum(r.written.get("forecasts", (0, 0))[0] for r in reports) == 0
        # every valid message is a duplicate now: each anomaly is in the topic twice
        dup_after = metric("kilowatch_sink_rows_total", table="anomalies", outcome="duplicate")
        assert dup_after - dup_before == 2 * len(anomalies)
        n_a = await conn.fetchval("SELECT count(*) FROM anomalies WHERE asset_id = ANY($1)", assets)
        n_f = await conn.fetchval("SELECT count(*) FROM forecasts WHERE asset_id = ANY($1)", assets)
        assert (n_a, n_f) == (len(anomalies), len(forecasts))
    finally:
        await conn.execute("DELETE FROM anomalies WHERE asset_id = ANY($1)", assets)
        await conn.execute("DELETE FROM forecasts WHERE asset_id = ANY($1)", assets)
        await conn.close()


async def test_retention_deletes_rows_stored_before_the_cutoff_only(tmp_path: Path, data_dir: Path) -> None:
    settings, _env = isolated_settings(tmp_path, results_retention_days=30.0)
    series, anomalies, forecasts = real_events(settings, data_dir, n_assets=1, n_rows=900)
    assets = [s.asset_id for s in series]
    pool = await create_pool(settings)
    try:
        events = [Anomaly.model_validate_json(v) for _, v in anomalies]
        fcs = [Forecast.model_validate_json(v) for _, v in forecasts]
        assert await results.insert_anomalies(pool, events) == len(events) >= 4
        assert await results.insert_forecasts(pool, fcs) == len(fcs)
        old_ids = [e.event_id for e in events[: len(events) // 2]]
        now = datetime.now(UTC)
        await pool.execute(
            "UPDATE anomalies SET stored_at = $2 WHERE event_id = ANY($1)", old_ids, now - timedelta(days=31)
        )
        await pool.execute(
            "UPDATE forecasts SET stored_at = $2 WHERE asset_id = ANY($1)", assets, now - timedelta(days=29)
        )
        spec = results_sink(settings)
        assert spec.retention is not None
        deleted = await spec.retention(pool)
        # other tests' rows may be older than 30 days too; ours are counted from what is left
        assert deleted["anomalies"] >= len(old_ids)
        left = await pool.fetch("SELECT event_id FROM anomalies WHERE asset_id = ANY($1)", assets)
        assert {r["event_id"] for r in left} == {e.event_id for e in events[len(events) // 2 :]}
        n_f = await pool.fetchval("SELECT count(*) FROM forecasts WHERE asset_id = ANY($1)", assets)
        assert n_f == len(fcs)
    finally:
        await pool.execute("DELETE FROM anomalies WHERE asset_id = ANY($1)", assets)
        await pool.execute("DELETE FROM forecasts WHERE asset_id = ANY($1)", assets)
        await pool.close()


async def test_a_batch_the_database_cannot_take_is_retried_not_lost(tmp_path: Path, data_dir: Path) -> None:
    """The anomalies table is locked past the sink's statement timeout: the write fails, is retried
    with back-off, nothing is committed meanwhile, and every event is stored once the lock is gone."""
    settings, _env = isolated_settings(tmp_path, postgres_command_timeout_s=1.0)
    await asyncio.to_thread(ensure_topics, settings)
    series, anomalies, _forecasts = real_events(settings, data_dir, n_assets=1, n_rows=900)
    assets = [s.asset_id for s in series]
    locker = await connect(settings)
    lock = locker.transaction()
    await lock.start()
    await locker.execute("LOCK TABLE anomalies IN ACCESS EXCLUSIVE MODE")
    locked = True
    retries_before = metric("kilowatch_sink_write_retries_total", sink="results")
    try:
        total = produce(settings, anomalies, "anomalies")
        run = asyncio.create_task(run_until(settings, results_sink(settings), total))
        # the outage lasts until the sink has failed at least once (no event to await here: poll)
        deadline = time.monotonic() + 60
        while metric("kilowatch_sink_write_retries_total", sink="results") == retries_before:
            assert time.monotonic() < deadline and not run.done(), run
            await asyncio.sleep(0.1)
        await lock.rollback()
        locked = False
        reports = await run
        assert reports[0].retries >= 1 and reports[0].committed
        n = await locker.fetchval("SELECT count(*) FROM anomalies WHERE asset_id = ANY($1)", assets)
        assert n == len(anomalies)
    finally:
        if locked:
            await lock.rollback()
        await locker.execute("DELETE FROM anomalies WHERE asset_id = ANY($1)", assets)
        await locker.close()
