"""What the console costs: the built bundle's size (gzip) and the asset page's load time with a year of
15-minute readings, in a real headless Chromium against a real `kilowatch api` server (issue 18).

- Bundle: every file of ``console/dist`` (built first with ``npm run build`` when missing), raw bytes and
  gzip -9 bytes (what a server or proxy compressing the files would send; the API sends them as they are).
- Load time: the steel plant's 35,040 readings of 2018 (``Usage_kWh``, 15 min, the shared data) stored as
  one asset's readings history; a viewer signs in; then each round opens a fresh page on
  ``/admin/asset?id=...&range=365d`` and waits until the chart holds all 35,040 readings
  (``data-readings`` of the chart element, set after ECharts' setOption). Measured in the browser:
  ``performance.now()`` at that moment (milliseconds since the navigation started). Same-run baseline:
  the same page with ``range=24h`` (96 readings), and the bare ``GET /readings`` call (JSON size, time).
  Rounds alternate the two ranges; medians reported.

Usage: .venv/bin/python -m bench.console [--rounds 5] [--port 0]
(needs the infrastructure up and migrations applied: ``scripts/with-infra`` / ``kilowatch db upgrade``;
Debian's ``chromium`` and Python Playwright). Writes bench/results/console.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import KILOWATCH, RESULTS, ROOT, RUN_TAG, log
from stream_app.settings import Settings

CONSOLE = ROOT / "console"
DIST = CONSOLE / "dist"
STEEL = "energy/steel_industry_2018_15min.csv"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The chart holds readings (all of them when `want` is given): set after ECharts' setOption.
READY_JS = (
    "(want) => { const el = document.querySelector('[data-testid=asset-chart]');"
    " return el && Number(el.dataset.readings) > 0 && (!want || el.dataset.readings === want); }"
)


def data_dir() -> Path:
    return Path(os.environ.get("KILOWATCH_DATA_DIR", ROOT.parent / "shared" / "data"))


def bundle_sizes() -> dict[str, Any]:
    if not (DIST / "index.html").is_file():
        log("console/dist missing: npm ci + npm run build")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CONSOLE, check=True)
        subprocess.run(["npm", "run", "build"], cwd=CONSOLE, check=True)
    files = []
    for path in sorted(DIST.rglob("*")):
        if path.is_file():
            raw = path.read_bytes()
            files.append(
                {"file": str(path.relative_to(DIST)), "bytes": len(raw), "gzip": len(gzip.compress(raw, 9))}
            )
    return {
        "files": files,
        "total_bytes": sum(f["bytes"] for f in files),
        "total_gzip": sum(f["gzip"] for f in files),
    }


def steel_rows() -> list[tuple[datetime, float]]:
    rows = []
    with (data_dir() / STEEL).open() as f:
        for rec in csv.DictReader(f):
            ts = datetime.fromisoformat(rec["timestamp"])
            rows.append((ts if ts.tzinfo else ts.replace(tzinfo=UTC), float(rec["Usage_kWh"])))
    return rows


async def seed(
    settings: Settings, asset: str, username: str, password: str, rows: list[tuple[datetime, float]]
) -> None:
    from api.services import users
    from stream_app.store import history
    from stream_app.store.pool import connect

    conn = await connect(settings)
    try:
        await history.insert_readings(conn, [(asset, ts, v, {}) for ts, v in rows])
        await users.create(conn, username, "viewer", password)
    finally:
        await conn.close()


async def cleanup(settings: Settings, asset: str, username: str) -> None:
    from stream_app.store.pool import connect

    conn = await connect(settings)
    try:
        await conn.execute("DELETE FROM readings_history WHERE asset_id = $1", asset)
        await conn.execute("DELETE FROM console_sessions WHERE username = $1", username)
        await conn.execute("DELETE FROM console_users WHERE username = $1", username)
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_ready(base: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the API did not start")


def measure(
    base: str, asset: str, username: str, password: str, expected: int, rounds: int
) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {"365d": [], "24h": [], "api_readings_ms": []}
    counts: dict[str, int] = {}
    json_bytes = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
            r = ctx.request.post(
                base + "/api/v1/auth/login", data={"username": username, "password": password}
            )
            if r.status != 200:
                raise RuntimeError(f"sign-in failed: {r.status} {r.text()}")
            for i in range(rounds):
                for rng in ("365d", "24h") if i % 2 == 0 else ("24h", "365d"):
                    page = ctx.new_page()
                    page.goto(f"{base}/admin/asset?id={asset}&range={rng}")
                    want = str(expected) if rng == "365d" else None
                    page.wait_for_function(
                        READY_JS,
                        arg=want,
                        timeout=120_000,
                    )
                    out[rng].append(float(page.evaluate("performance.now()")))
                    counts[rng] = int(page.get_attribute("[data-testid=asset-chart]", "data-readings") or 0)
                    page.close()
                t0 = time.perf_counter()
                resp = ctx.request.get(f"{base}/api/v1/assets/{asset}/readings?max_points=100000")
                body = resp.body()
                out["api_readings_ms"].append((time.perf_counter() - t0) * 1000)
                json_bytes = len(body)
                assert len(json.loads(body)["data"]["values"]) == expected
        finally:
            browser.close()
    return {
        "rounds": rounds,
        "readings_shown": counts,
        "readings_json_bytes": json_bytes,
        "samples_ms": out,
        "median_ms": {k: round(statistics.median(v), 1) for k, v in out.items()},
    }


def markdown(res: dict[str, Any]) -> str:
    b, lt = res["bundle"], res["load"]

    def samples(key: str) -> str:
        return ", ".join(f"{x:.0f}" for x in lt["samples_ms"][key])

    def row(what: str, key: str) -> str:
        shown = lt["readings_shown"].get(key, 0)
        return f"| {what}: {shown:,} points | {lt['median_ms'][key]:,} | {samples(key)} |"

    lines = [
        "# Console cost (bench/console.py)",
        "",
        f"Run {res['when']} on this shared 2-core machine; Chromium {res['chromium']}, headless, 1280x900.",
        "",
        "## Bundle (console/dist)",
        "",
        "| file | bytes | gzip -9 |",
        "|---|---:|---:|",
        *[f"| {f['file']} | {f['bytes']:,} | {f['gzip']:,} |" for f in b["files"]],
        f"| **total** | **{b['total_bytes']:,}** | **{b['total_gzip']:,}** |",
        "",
        "## Asset page load (navigation start to the chart holding every reading; median of "
        f"{lt['rounds']} rounds)",
        "",
        "| what | median ms | samples ms |",
        "|---|---:|---|",
        row("asset page, 1 year of 15-min readings", "365d"),
        row("same page, 24 h (baseline)", "24h"),
        f"| GET /readings for the year alone ({lt['readings_json_bytes']:,} bytes of JSON) | "
        f"{lt['median_ms']['api_readings_ms']:,} | {samples('api_readings_ms')} |",
        "",
        "Data: the steel plant's 2018 consumption (`Usage_kWh`, 35,040 readings at 15 min) stored as one "
        "asset's readings history.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    settings = Settings()
    bundle = bundle_sizes()
    rows = steel_rows()
    asset, username, password = f"bench-console-{RUN_TAG}", f"bench-{RUN_TAG}", secrets.token_urlsafe(18)
    asyncio.run(seed(settings, asset, username, password, rows))
    port = args.port or free_port()
    env = {**os.environ, "KILOWATCH_API_CONSOLE_DIR": str(DIST)}
    server = subprocess.Popen(
        [KILOWATCH, "api", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base)
        log(f"api on {base}; {len(rows)} readings stored for {asset}")
        load = measure(base, asset, username, password, len(rows), args.rounds)
    finally:
        server.terminate()
        server.wait(timeout=30)
        asyncio.run(cleanup(settings, asset, username))
    version = subprocess.run(
        [CHROMIUM, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    res = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "chromium": version,
        "bundle": bundle,
        "load": load,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "console.json").write_text(json.dumps(res, indent=2) + "\n")
    (RESULTS / "console.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
