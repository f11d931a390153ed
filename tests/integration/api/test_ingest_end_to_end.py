"""The whole loop: readings posted to the API are scored by a real worker, whose in-process results sink
stores the anomalies and forecasts that the query routes then serve — the same ones the detector
gives offline for those readings."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from schemas.events import Anomaly, Forecast
from stream_app.kafka.topics import ensure_topics
from tests.integration.data import detector_events
from tests.integration.harness import TopicReader, Worker, isolated_settings
from tests.integration.results_support import tagged_steel_assets

from .conftest import Api, open_api


async def test_posted_readings_are_scored_stored_and_queryable(
    api: Api, tmp_path: Path, data_dir: Path
) -> None:
    # 2018 readings: a retention longer than their age keeps them (it deletes by reading time)
    settings, env = isolated_settings(tmp_path, history_enabled=True, history_retention_days=100_000)
    assert settings.worker.results_sink_enabled  # the default: the worker stores its results itself
    await asyncio.to_thread(ensure_topics, settings)
    series = tagged_steel_assets(data_dir, n_assets=1, n_rows=1500, faults_every=300)[0]
    asset = series.asset_id
    offline_a, offline_f = detector_events(settings, [series])
    want = {a.event_id: a for a in (Anomaly.model_validate_json(v) for _, v in offline_a)}
    n_forecasts = len(offline_f)
    assert len(want) >= 10 and n_forecasts >= 50

    client, resources = await open_api(settings)
    worker = Worker(env, "ingest", tmp_path)
    scores = TopicReader(settings, "scores")
    pool = await resources.pool()
    try:
        readings = [
            {"asset_id": asset, "timestamp": t, "value": float(v)}
            for t, v in zip(series.timestamps, series.values, strict=True)
        ]
        for i in range(0, len(readings), 500):
            r = await client.post(
                "/api/v1/readings", json={"readings": readings[i : i + 500]}, headers=api.auth("write")
            )
            assert r.status_code == 202, r.text
        await asyncio.to_thread(
            scores.wait_for, lambda items: len(items) >= len(readings), 240, "scores", [worker]
        )
        # the sink commits after its write; the rows appear within a few of its 1 s polls
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            n_a = await pool.fetchval("SELECT count(*) FROM anomalies WHERE asset_id = $1", asset)
            n_f = await pool.fetchval("SELECT count(*) FROM forecasts WHERE asset_id = $1", asset)
            n_h = await pool.fetchval("SELECT count(*) FROM readings_history WHERE asset_id = $1", asset)
            if (n_a, n_f, n_h) == (len(want), n_forecasts, len(readings)):
                break
            assert worker.alive(), worker.tail()
            await asyncio.sleep(0.5)
        assert (n_a, n_f) == (len(want), n_forecasts), worker.tail()
        assert n_h == len(readings)  # history_enabled: the worker's own history sink stored them all

        r = await client.get(
            f"/api/v1/assets/{asset}/anomalies",
            params={"limit": 1000, "sort": "created_at:asc"},
            headers=api.auth("read"),
        )
        assert r.status_code == 200, r.text
        got = r.json()["data"]["items"]
        assert [a["event_id"] for a in got] == [
            str(a.event_id) for a in sorted(want.values(), key=lambda a: a.timestamp)
        ]
        for item in got:
            a = want[uuid.UUID(item["event_id"])]
            assert (item["score"], item["type"], item["expected"]) == (a.score, a.type, a.expected)
        r = await client.get(f"/api/v1/assets/{asset}/forecasts/latest", headers=api.auth("read"))
        assert r.status_code == 200, r.text
        last = Forecast.model_validate_json(offline_f[-1][1])
        latest = r.json()["data"]
        assert latest["issued_at"].replace("+00:00", "Z") == last.issued_at.isoformat().replace("+00:00", "Z")
        assert [p["predicted_value"] for p in latest["points"]] == [p.predicted_value for p in last.points]
    finally:
        worker.stop()
        scores.close()
        await pool.execute("DELETE FROM anomalies WHERE asset_id = $1", asset)
        await pool.execute("DELETE FROM forecasts WHERE asset_id = $1", asset)
        await pool.execute("DELETE FROM readings_history WHERE asset_id = $1", asset)
        await client.aclose()
        await resources.close()
