"""Every SQL query of every Grafana dashboard, macros expanded, against the real PostgreSQL holding one
asset's real results: the detector's anomaly and forecast events stored by the real results sink, its
readings stored by the history store, an alert episode stored by the alerting store. Each query must run
and return rows with the columns Grafana expects; every Prometheus query must use exported metrics."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from schemas.events import Forecast
from stream_app.alerting import store as alert_store
from stream_app.alerting.hygiene import Episode
from stream_app.devtools.metrics_doc import exported_series
from stream_app.kafka.topics import ensure_topics
from stream_app.sinks.results import results_sink
from stream_app.store import history, migrations
from stream_app.store.pool import connect
from tests.integration.grafana_sql import SqlQuery, TimeRange, expand, prometheus_exprs, sql_queries
from tests.integration.harness import isolated_settings, produce
from tests.integration.results_support import real_events, run_until
from tests.unit.test_observability_names import PROMETHEUS_SERIES, metric_names

pytestmark = pytest.mark.integration

DASHBOARDS = Path(__file__).parents[2] / "deploy" / "grafana" / "dashboards"
NUMERIC = {"float8", "float4", "numeric", "int8", "int4", "int2"}
TIME = {"timestamptz", "timestamp", *NUMERIC}  # a timestamp, or epoch seconds from $__timeGroup


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def test_the_expander_follows_grafana() -> None:
    rng = TimeRange(
        datetime.fromisoformat("2018-01-01T00:00:00+00:00"),
        datetime.fromisoformat("2018-01-02T00:00:00+00:00"),
        "15m",
    )
    sql = (
        "SELECT $__timeGroupAlias(ts, $__interval), v FROM t "
        "WHERE a = ${asset:sqlstring} AND $__timeFilter(ts)"
    )
    assert expand(sql, rng, {"asset": "o'brien"}) == (
        'SELECT floor(extract(epoch from ts)/900)*900 AS "time", v FROM t '
        "WHERE a = 'o''brien' AND ts BETWEEN '2018-01-01T00:00:00Z' AND '2018-01-02T00:00:00Z'"
    )
    for unknown in ("$__timeGroupx(ts)", "$other", "${asset:csv}", "$__unknown(ts)"):
        with pytest.raises(ValueError):
            expand(unknown, rng, {"asset": "a"})


def test_every_prometheus_query_uses_exported_metrics() -> None:
    exprs = [e for d in dashboards().values() for e in prometheus_exprs(d)]
    assert exprs
    used = set().union(*(metric_names(e) for e in exprs))
    assert not used - exported_series() - PROMETHEUS_SERIES


async def _columns_and_rows(conn: asyncpg.Connection, sql: str) -> tuple[list[tuple[str, str]], list[Any]]:
    stmt = await conn.prepare(sql)
    columns = [(a.name, a.type.name) for a in stmt.get_attributes()]
    return columns, await stmt.fetch()


def _check_shape(q: SqlQuery, columns: list[tuple[str, str]], rows: list[Any]) -> None:
    names = [c for c, _ in columns]
    types = dict(columns)
    assert rows, f"{q.where}: no rows"
    if q.kind == "annotation":
        assert {"time", "text"} <= set(names), (q.where, names)
        assert types["time"] in TIME and types["text"] == "text", (q.where, columns)
        return
    if q.kind == "variable":
        assert len(names) == 1 and types[names[0]] == "text", (q.where, columns)  # value = text
        return
    if q.fmt == "time_series":
        assert "time" in names and types["time"] in TIME, (q.where, columns)
        values = [c for c, t in columns if c != "time"]
        assert values and all(types[c] in NUMERIC for c in values), (q.where, columns)


async def test_every_dashboard_query_runs_on_real_results(tmp_path: Path, data_dir: Path) -> None:
    settings, _env = isolated_settings(tmp_path)
    conn = await connect(settings)
    try:
        await migrations.upgrade(conn)
        await asyncio.to_thread(ensure_topics, settings)
        series, anomalies, forecasts = real_events(settings, data_dir, n_assets=1, n_rows=1500)
        s = series[0]
        asset = s.asset_id
        assert len(anomalies) >= 5 and len(forecasts) >= 20
        total = produce(settings, anomalies, "anomalies") + produce(settings, forecasts, "forecasts")
        await run_until(settings, results_sink(settings), total)  # the real results sink stores them
        stamps = [datetime.fromisoformat(t) for t in s.timestamps]
        await history.insert_readings(
            conn, [(asset, t, float(v), {}) for t, v in zip(stamps, s.values, strict=True)]
        )
        now = time.time()
        await alert_store.save_episode(
            conn,
            Episode(
                uuid.uuid4(), asset, now - 60, now, uuid.uuid4(), count=3, max_score=0.97, types={"spike"}
            ),
        )

        last_point = max(p.timestamp for _, v in forecasts for p in Forecast.model_validate_json(v).points)
        rng = TimeRange(stamps[0] - timedelta(minutes=1), last_point + timedelta(minutes=1), "1h")
        variables = {"asset": asset, "datasource": "kilowatch-postgres"}
        checked: dict[str, int] = {}
        for name, dash in dashboards().items():
            for q in sql_queries(dash):
                columns, rows = await _columns_and_rows(conn, expand(q.sql, rng, variables))
                _check_shape(q, columns, rows)
                checked[f"{name}: {q.where}"] = len(rows)
                if q.kind == "variable":
                    assert asset in [r[0] for r in rows], q.where
        # readings, forecast band, anomaly points, anomaly table, by type, the annotation, the variable
        asset_queries = [k for k in checked if k.startswith("asset.json")]
        assert len(asset_queries) == 7, checked
        assert any(k.startswith("anomalies.json") for k in checked), checked

        await _check_values(conn, dashboards()["asset.json"], rng, variables, s, anomalies)
        assert await conn.fetchval("SELECT count(*) FROM anomalies WHERE asset_id = $1", asset) == len(
            anomalies
        )
    finally:
        await conn.close()


async def _check_values(
    conn: asyncpg.Connection,
    dash: dict[str, Any],
    rng: TimeRange,
    variables: dict[str, str],
    series: Any,
    anomalies: list[tuple[bytes, bytes]],
) -> None:
    """The asset panels show this asset's data: hourly mean readings, the forecast inside its band, one
    annotation per anomaly naming its type and score."""
    by_where = {q.where: q for q in sql_queries(dash)}
    readings = by_where["panel $asset: readings, forecast and its band / A"]
    rows = await conn.fetch(expand(readings.sql, rng, variables))
    assert len(rows) == pytest.approx(len(series.values) / 4, abs=2)  # 15-minute readings, 1 h groups
    assert sum(r["reading"] for r in rows) / len(rows) == pytest.approx(float(series.values.mean()), rel=0.01)

    band = await conn.fetch(
        expand(by_where["panel $asset: readings, forecast and its band / B"].sql, rng, variables)
    )
    assert len({r["time"] for r in band}) == len(band)  # one forecast per time
    assert all(r["lower"] <= r["forecast"] <= r["upper"] for r in band)

    notes = await conn.fetch(expand(by_where["annotation Anomalies"].sql, rng, variables))
    assert len(notes) == len(anomalies)
    types = {orjson.loads(v)["type"] for _, v in anomalies}
    assert {n["tags"].split(",")[1] for n in notes} == types
    assert all("score" in n["text"] and n["text"].split(" ")[0] in types for n in notes)
