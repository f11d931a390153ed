"""``python -m bench.console_fleet``: what the console's Fleet page costs the API, one ``GET /fleet`` page
against the three requests per asset the page made before (same run, same data).

The API in process (httpx's ASGI transport: no socket, so the figures are the server's own work and the
database's) on the real PostgreSQL and Redis. Data: ``--assets`` registered assets (a tag of their own),
each with ``--readings`` 15-minute readings of the steel plant (``Usage_kWh`` of the shared data, a
different slice per asset) in the readings history, its three largest readings of the last 24 hours
stored as anomalies (in ``anomalies``, as the sink would), and an
active model version for every other asset. Rounds alternate:

- **fleet**: ``GET /api/v1/fleet?q=<tag>&limit=<page>`` (one SQL statement for the page);
- **per asset (baseline)**: what the Fleet page asked before, for the same assets: ``GET readings
  ?max_points=1``, ``GET anomalies?from=<24 h ago>&limit=1`` and ``GET models`` per asset, four assets at
  a time (the old page's four lanes; it asked details for the first 50 assets only).

Writes ``bench/results/console_fleet.md`` and ``console_fleet.json``. The rows it made are deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from api.app import create_app
from api.services import keystore
from api.services.resources import Resources
from bench.common import RESULTS, ROOT, log
from bench.machine import machine_info
from stream_app.settings import Settings

STEEL = "energy/steel_industry_2018_15min.csv"
STEP = timedelta(minutes=15)
LANES = 4
ANOMALIES_PER_ASSET = 3  # the largest readings of its last 24 h are stored as anomalies


def data_dir() -> Path:
    return Path(os.environ.get("KILOWATCH_DATA_DIR", ROOT.parent / "shared" / "data"))


def steel_values() -> list[float]:
    with (data_dir() / STEEL).open() as f:
        return [float(r["Usage_kWh"]) for r in csv.DictReader(f)]


async def seed(pool: Any, tag: str, n_assets: int, n_readings: int) -> dict[str, int]:
    values = steel_values()
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    counts = {"readings": 0, "anomalies": 0, "active_versions": 0}
    for i in range(n_assets):
        asset = f"bench-fleet-{tag}-{i:04d}"
        await pool.execute("INSERT INTO assets (asset_id, name) VALUES ($1, $2)", asset, f"meter {i}")
        start = (i * n_readings) % max(1, len(values) - n_readings)
        chunk = values[start : start + n_readings]
        times = [end - STEP * (len(chunk) - j) for j in range(len(chunk))]
        await pool.copy_records_to_table(
            "readings_history",
            records=list(zip([asset] * len(chunk), times, chunk, strict=True)),
            columns=["asset_id", "ts", "value"],
        )
        counts["readings"] += len(chunk)
        med = statistics.median(chunk)
        day = [(t, v) for t, v in zip(times, chunk, strict=True) if t > end - timedelta(days=1)]
        flagged = sorted(day, key=lambda tv: tv[1])[-ANOMALIES_PER_ASSET:]
        for t, v in flagged:
            await pool.execute(
                "INSERT INTO anomalies (event_id, asset_id, ts, value, expected, lower_bound, upper_bound, "
                "score, type, reason, detector, model_version, detected_at) "
                "VALUES ($1, $2, $3, $4, $5, $5, $5, 0.99, 'spike', 'bench', 'bench', 'v1', now())",
                uuid.uuid4(),
                asset,
                t,
                v,
                med,
            )
        counts["anomalies"] += len(flagged)
        if i % 2 == 0:
            await pool.execute(
                "INSERT INTO model_versions (asset_id, version, model_type, artifact_uri, status, "
                "activated_at) "
                "VALUES ($1, 1, 'lightgbm', 'file:///bench', 'active', now())",
                asset,
            )
            counts["active_versions"] += 1
    return counts


async def cleanup(pool: Any, tag: str) -> None:
    like = f"bench-fleet-{tag}-%"
    await pool.execute("DELETE FROM anomalies WHERE asset_id LIKE $1", like)
    await pool.execute("DELETE FROM readings_history WHERE asset_id LIKE $1", like)
    await pool.execute("DELETE FROM assets WHERE asset_id LIKE $1", like)  # versions cascade


async def fleet_once(client: httpx.AsyncClient, h: dict[str, str], tag: str, page: int) -> float:
    t0 = time.perf_counter()
    r = await client.get("/api/v1/fleet", params={"q": tag, "limit": page}, headers=h)
    elapsed = time.perf_counter() - t0
    assert r.status_code == 200 and len(r.json()["data"]["items"]) == page, r.text[:300]
    return elapsed


async def per_asset_once(client: httpx.AsyncClient, h: dict[str, str], assets: list[str]) -> float:
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    queue = list(assets)

    async def lane() -> None:
        while queue:
            a = queue.pop()
            rs = await asyncio.gather(
                client.get(f"/api/v1/assets/{a}/readings", params={"max_points": 1}, headers=h),
                client.get(f"/api/v1/assets/{a}/anomalies", params={"from": since, "limit": 1}, headers=h),
                client.get(f"/api/v1/assets/{a}/models", headers=h),
            )
            assert all(r.status_code == 200 for r in rs), [r.text[:200] for r in rs]

    t0 = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(LANES)))
    return time.perf_counter() - t0


def summary(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 1), "max_ms": round(ms[-1], 1)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings(api_rate_limit_per_minute=1_000_000, api_key_cache_s=300.0)
    app = create_app(settings)
    resources = Resources(settings)
    app.state.resources = resources
    pool = await resources.pool()
    tag = uuid.uuid4().hex[:6]
    _rec, key = await keystore.create(pool, f"bench-fleet-{tag}", ["read"], rate_limit=1_000_000)
    h = {"Authorization": f"Bearer {key}"}
    try:
        log(f"seeding {args.assets} assets x {args.readings} readings")
        counts = await seed(pool, tag, args.assets, args.readings)
        assets = [f"bench-fleet-{tag}-{i:04d}" for i in range(args.assets)]
        out: dict[str, list[float]] = {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as c:
            await fleet_once(c, h, tag, min(args.assets, 50))  # warm up (key cache, statements)
            await per_asset_once(c, h, assets[:5])
            for r in range(args.rounds):
                log(f"round {r + 1}/{args.rounds}")
                for page in (50, args.assets):
                    out.setdefault(f"fleet_{page}", []).append(await fleet_once(c, h, tag, page))
                out.setdefault("per_asset_50", []).append(await per_asset_once(c, h, assets[:50]))
                if args.assets != 50:
                    out.setdefault(f"per_asset_{args.assets}", []).append(await per_asset_once(c, h, assets))
        return {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine_info(),
            "assets": args.assets,
            "readings_per_asset": args.readings,
            "seeded": counts,
            "rounds": args.rounds,
            "results": {k: summary(v) for k, v in out.items()},
        }
    finally:
        await cleanup(pool, tag)
        await keystore.revoke(pool, _rec.id)
        await resources.close()


def write(result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "console_fleet.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    res = result["results"]
    n = result["assets"]
    lines = [
        "# Console Fleet page: one GET /fleet against three requests per asset",
        "",
        f"`python -m bench.console_fleet` at {result['when']}: {n} registered assets, each with "
        f"{result['readings_per_asset']} steel-plant readings (15 min) in the readings history, "
        f"{result['seeded']['anomalies']} anomalies in the last 24 h in all, an active version on "
        f"{result['seeded']['active_versions']}. API in process (ASGI transport) on the real PostgreSQL and "
        f"Redis; {result['rounds']} alternating rounds, medians.",
        "",
        "| what | requests | median | max |",
        "| --- | ---: | ---: | ---: |",
    ]
    for page in (50, n):
        k = f"fleet_{page}"
        if k in res:
            lines.append(
                f"| GET /fleet, a page of {page} | 1 | {res[k]['median_ms']} ms | {res[k]['max_ms']} ms |"
            )
    for page in (50, n):
        k = f"per_asset_{page}"
        if k in res:
            lines.append(
                f"| before: readings + anomalies + models per asset, {page} assets, 4 at a time (baseline) | "
                f"{3 * page} | {res[k]['median_ms']} ms | {res[k]['max_ms']} ms |"
            )
    m = result["machine"]
    lines += [
        "",
        f"Machine: {m.get('cores')} cores, load average at start {m.get('load_avg_at_start')} (shared with "
        f"other work), commit {m.get('commit')}. The assets are found by their tag (`q`), so the page's "
        "search is part of the measured query.",
        "",
    ]
    (RESULTS / "console_fleet.md").write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--assets", type=int, default=200)
    ap.add_argument("--readings", type=int, default=192, help="readings per asset (15 min)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rewrite", action="store_true", help="only rewrite the .md from the saved .json")
    args = ap.parse_args()
    if args.rewrite:
        write(json.loads((RESULTS / "console_fleet.json").read_text()))
        return
    write(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
