"""GET /assets/{id}/readings: stored readings over a range, as parallel arrays (what the console charts)."""

from __future__ import annotations

import csv
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest

from stream_app.store import history

from .conftest import Api

N_ROWS = 500


@pytest.fixture(scope="module")
async def stored(api: Api, data_dir: Path) -> AsyncIterator[tuple[str, list[tuple[datetime, float]]]]:
    """The first readings of the household's hourly consumption, stored for a fresh asset."""
    asset = f"site-{uuid.uuid4().hex[:6]}/household"
    rows: list[tuple[datetime, float]] = []
    with (data_dir / "energy" / "household_sceaux_hourly.csv").open() as f:
        for rec in csv.DictReader(f):
            if rec["Global_active_power"]:
                ts = datetime.fromisoformat(rec["datetime"]).replace(tzinfo=UTC)
                rows.append((ts, float(rec["Global_active_power"])))
            if len(rows) == N_ROWS:
                break
    pool = await api.resources.pool()
    await history.insert_readings(pool, [(asset, ts, v, {}) for ts, v in rows])
    try:
        yield asset, rows
    finally:
        await pool.execute("DELETE FROM readings_history WHERE asset_id = $1", asset)


async def test_range_is_answered_oldest_first_as_parallel_arrays(
    api: Api, stored: tuple[str, list[tuple[datetime, float]]]
) -> None:
    asset, rows = stored
    start, end = rows[100][0], rows[200][0]
    r = await api.client.get(
        f"/api/v1/assets/{quote(asset)}/readings",
        params={"from": start.isoformat(), "to": end.isoformat()},
        headers=api.auth("read"),
    )
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["asset_id"] == asset
    assert data["timestamps"] == [int(ts.timestamp() * 1000) for ts, _ in rows[100:200]]
    assert data["values"] == [v for _, v in rows[100:200]]
    assert data["truncated"] is False


async def test_max_points_keeps_the_newest_and_says_truncated(
    api: Api, stored: tuple[str, list[tuple[datetime, float]]]
) -> None:
    asset, rows = stored
    r = await api.client.get(
        f"/api/v1/assets/{asset}/readings", params={"max_points": 10}, headers=api.auth("read")
    )
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["values"] == [v for _, v in rows[-10:]]
    assert data["truncated"] is True


async def test_unknown_asset_is_404_and_bad_ranges_name_the_field(api: Api) -> None:
    r = await api.client.get(f"/api/v1/assets/never-{uuid.uuid4().hex}/readings", headers=api.auth("read"))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
    r = await api.client.get(
        "/api/v1/assets/a/readings",
        params={"from": "2024-01-02T00:00:00Z", "to": "2024-01-01T00:00:00Z"},
        headers=api.auth("read"),
    )
    assert r.status_code == 400
    assert r.json()["error"]["details"][0]["loc"] == ["query", "to"]
    r = await api.client.get("/api/v1/assets/a/readings", params={"max_points": 0}, headers=api.auth("read"))
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["query", "max_points"]


async def test_a_key_without_read_scope_is_refused(api: Api) -> None:
    r = await api.client.get("/api/v1/assets/a/readings", headers=api.auth("write"))
    assert r.status_code == 403
