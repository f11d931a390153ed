"""The history sink on real Kafka and PostgreSQL: batches stored, redelivery idempotent, bad input skipped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pandas as pd
import pytest

from stream_app.kafka.topics import ensure_topics
from stream_app.sinks import history as history_sink
from stream_app.store import history, migrations
from stream_app.store.pool import connect
from tests.conftest import DATA_DIR
from tests.integration.harness import isolated_settings, produce
from tests.integration.results_support import run_until

pytestmark = pytest.mark.integration


async def test_sink_stores_readings_and_ignores_invalid(tmp_path: Path) -> None:
    settings, _env = isolated_settings(tmp_path, history_retention_days=100_000.0)
    conn = await connect(settings)
    await migrations.upgrade(conn)
    await asyncio.to_thread(ensure_topics, settings)
    frame = pd.read_csv(DATA_DIR / "energy" / "steel_industry_2018_15min.csv", nrows=500)
    asset = f"{settings.kafka.topic_prefix}-sink"
    msgs: list[tuple[bytes | None, bytes | None]] = [
        (asset.encode(), orjson.dumps({"timestamp": t, "value": v, "co2": c}))
        for t, v, c in zip(frame["timestamp"], frame["Usage_kWh"], frame["CO2(tCO2)"], strict=True)
    ]
    msgs += [(asset.encode(), b"{broken"), (asset.encode(), msgs[0][1])]  # bad + a resent reading
    total = await asyncio.to_thread(produce, settings, msgs)
    try:
        reports = await run_until(settings, history_sink.history_sink(settings), total)
        assert sum(r.invalid for r in reports) == 1
        data, n = await history.fetch_csv(conn, asset, 10_000)
        assert n == 500
        lines = data.decode().splitlines()
        assert lines[0] == "timestamp,value,co2"
        assert lines[1].startswith("2018-01-01T00:15:00+00:00,3.17,")
    finally:
        await conn.execute("DELETE FROM readings_history WHERE asset_id = $1", asset)
        await conn.close()
