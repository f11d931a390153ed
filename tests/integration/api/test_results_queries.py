"""Anomaly and forecast queries on rows the sink's writer stored from the detector's real events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from schemas.events import Anomaly, Forecast
from stream_app.store import repository, results
from tests.integration.results_support import real_events

from .conftest import Api


@dataclass
class Seeded:
    asset: str
    anomalies: list[Anomaly]
    forecasts: list[Forecast]


@pytest.fixture(scope="module")
async def seeded(api: Api, data_dir: Path) -> AsyncIterator[Seeded]:
    series, anomalies, forecasts = real_events(api.settings, data_dir, n_assets=1, n_rows=2000)
    asset = series[0].asset_id
    events = [Anomaly.model_validate_json(v) for _, v in anomalies]
    fcs = [Forecast.model_validate_json(v) for _, v in forecasts]
    pool = await api.resources.pool()
    await results.insert_anomalies(pool, events)
    await results.insert_forecasts(pool, fcs)
    try:
        yield Seeded(asset, events, fcs)
    finally:
        await pool.execute("DELETE FROM anomalies WHERE asset_id = $1", asset)
        await pool.execute("DELETE FROM forecasts WHERE asset_id = $1", asset)


async def walk(api: Api, url: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a list route, following next_cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        q = dict(params, **({"cursor": cursor} if cursor else {}))
        r = await api.client.get(url, params=q, headers=api.auth("read"))
        assert r.status_code == 200, r.text
        body = r.json()
        page = body["data"]  # data: {items, next_cursor, has_more}; meta repeats the paging fields
        assert len(page["items"]) <= params["limit"]
        items += page["items"]
        cursor = page["next_cursor"]
        assert page["has_more"] == (cursor is not None)
        assert body["meta"] == {"next_cursor": cursor, "has_more": page["has_more"]}
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def ts(item: dict[str, Any], key: str = "timestamp") -> datetime:
    return datetime.fromisoformat(item[key])


async def test_anomaly_pages_walk_every_row_once_in_both_orders(api: Api, seeded: Seeded) -> None:
    url = f"/api/v1/assets/{seeded.asset}/anomalies"
    assert len(seeded.anomalies) >= 15
    want = sorted(seeded.anomalies, key=lambda a: (a.timestamp, str(a.event_id)))
    desc = await walk(api, url, limit=4)
    asc = await walk(api, url, limit=7, sort="created_at:asc")
    assert [a["event_id"] for a in asc] == [str(a.event_id) for a in want]
    assert [a["event_id"] for a in desc] == [str(a.event_id) for a in reversed(want)]
    first = next(a for a in asc if a["event_id"] == str(want[0].event_id))
    assert ts(first) == want[0].timestamp and first["score"] == want[0].score
    assert first["type"] == want[0].type and first["reason"] == want[0].reason
    assert first["lower"] == want[0].lower and ts(first, "detected_at") == want[0].detected_at


async def test_anomaly_filters_by_time_type_and_score(api: Api, seeded: Seeded) -> None:
    url = f"/api/v1/assets/{seeded.asset}/anomalies"
    events = sorted(seeded.anomalies, key=lambda a: a.timestamp)
    lo, hi = events[len(events) // 4].timestamp, events[3 * len(events) // 4].timestamp
    got = await walk(api, url, limit=5, **{"from": lo.isoformat(), "to": hi.isoformat()})
    assert {a["event_id"] for a in got} == {str(a.event_id) for a in events if lo <= a.timestamp < hi}
    assert got and all(lo <= ts(a) < hi for a in got)

    kinds = sorted({a.type for a in events})
    assert len(kinds) >= 2, kinds
    pick = kinds[:2]
    got = await walk(api, url, limit=50, type=pick)
    assert {a["event_id"] for a in got} == {str(a.event_id) for a in events if a.type in pick}

    cut = sorted(a.score for a in events)[len(events) // 2]
    got = await walk(api, url, limit=50, min_score=cut)
    assert {a["event_id"] for a in got} == {str(a.event_id) for a in events if a.score >= cut}
    assert len(got) < len(events)


async def test_forecast_history_and_latest(api: Api, seeded: Seeded) -> None:
    url = f"/api/v1/assets/{seeded.asset}/forecasts"
    got = await walk(api, url, limit=13)
    newest_first = sorted(seeded.forecasts, key=lambda f: f.issued_at, reverse=True)
    assert [ts(f, "issued_at") for f in got] == [f.issued_at for f in newest_first]
    assert len({f["forecast_id"] for f in got}) == len(got)
    r = await api.client.get(f"{url}/latest", headers=api.auth("read"))
    assert r.status_code == 200, r.text
    latest = r.json()["data"]
    want = newest_first[0]
    assert ts(latest, "issued_at") == want.issued_at and latest["model_id"] == want.model_id
    assert latest["forecast_id"] == str(results.forecast_id(want))
    assert len(latest["points"]) == latest["horizon"] == len(want.points)
    assert [(ts(p), p["predicted_value"], p["lower"], p["upper"]) for p in latest["points"]] == [
        (p.timestamp, p.predicted_value, p.lower, p.upper) for p in want.points
    ]


async def test_unknown_asset_is_404_and_a_known_one_without_results_is_empty(
    api: Api, seeded: Seeded
) -> None:
    pool = await api.resources.pool()
    for path in ("anomalies", "forecasts", "forecasts/latest"):
        r = await api.client.get(f"/api/v1/assets/no-such-{seeded.asset}/{path}", headers=api.auth("read"))
        assert r.status_code == 404 and r.json()["error"]["code"] == "RESOURCE_NOT_FOUND", r.text
    registered = f"site/{seeded.asset}-registered"  # ids may contain '/'
    await repository.ensure_asset(pool, registered)
    try:
        for path in ("anomalies", "forecasts"):
            r = await api.client.get(f"/api/v1/assets/{registered}/{path}", headers=api.auth("read"))
            assert r.status_code == 200 and r.json()["data"]["items"] == [], r.text
        r = await api.client.get(
            f"/api/v1/assets/{registered}/forecasts/latest?lang=zh-CN", headers=api.auth("read")
        )
        assert r.status_code == 404 and registered in r.json()["error"]["message"]
        # a filter that matches nothing is an empty page for an asset with results
        r = await api.client.get(
            f"/api/v1/assets/{seeded.asset}/anomalies",
            params={"min_score": 1.0, "type": "flatline", "to": "2000-01-01T00:00:00Z"},
            headers=api.auth("read"),
        )
        assert r.status_code == 200 and r.json()["data"]["items"] == []
    finally:
        await pool.execute("DELETE FROM assets WHERE asset_id = $1", registered)


async def test_keys_and_bad_parameters(api: Api, seeded: Seeded) -> None:
    url = f"/api/v1/assets/{seeded.asset}/anomalies"
    assert (await api.client.get(url)).status_code == 401
    r = await api.client.get(url, headers=api.auth("write"))  # read and write are independent scopes
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    assert (await api.client.get(url, headers=api.auth("admin"))).status_code == 200
    cases: list[tuple[dict[str, Any], int, list[Any]]] = [
        ({"min_score": 1.5}, 422, ["query", "min_score"]),
        ({"type": "explosion"}, 422, ["query", "type", 0]),
        ({"sort": "score:desc"}, 422, ["query", "sort"]),
        ({"limit": 0}, 422, ["query", "limit"]),
        ({"cursor": "bm90LWEtY3Vyc29y"}, 400, ["query", "cursor"]),
        ({"from": "2018-02-01T00:00:00Z", "to": "2018-01-01T00:00:00Z"}, 400, ["query", "to"]),
        ({"from": "yesterday"}, 422, ["query", "from"]),
    ]
    for params, status, loc in cases:
        r = await api.client.get(url, params=params, headers=api.auth("read"))
        assert r.status_code == status, (params, r.text)
        assert loc in [d["loc"] for d in r.json()["error"]["details"]], (params, r.text)
    r = await api.client.get(f"/api/v1/assets/{quote('bad id!')}/anomalies", headers=api.auth("read"))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["path", "asset_id"]
