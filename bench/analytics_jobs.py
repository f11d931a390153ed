"""``python -m bench.analytics_jobs [--repeat N]``: each analytics job handler's time on the household file.

The household file (Sceaux, 4 years hourly, 34,589 rows; kWh = Global_active_power / 60, taken as UTC) in
the analytics' frame, then each job type's handler as the job runner calls it (``stream_app.jobs.
analytics_jobs``): statistics, load patterns (k-means k = 2..5, rules), anomalies (streaming, autoencoder),
reports (PDF zh-CN / en-US, XLSX). Wall and CPU seconds, median of ``--repeat`` runs (the autoencoder and
the reports once each unless ``--repeat-slow``). Same-run baseline: pandas' daily sums of the same frame
(the least any analysis of it costs). Writes ``bench/results/analytics_jobs.md`` and ``.json``.
Database and runner overheads (loading the series, storing the result) are not included.

Upload and preprocessing (the jobs+datasets part): ``stream_app.analytics.ingest`` on the file's bytes as
uploaded (CSV; and an .xlsx workbook made from it beforehand, not timed), with ``timezone=Europe/Paris,
scale=1/60``, against the same-run baseline of ``pandas.read_csv`` of the same bytes (the least any
parse costs); the ``preprocess`` handler on the ingested series (defaults; daily sums; forward fill,
outliers removed, hourly). ``--db`` adds the database path of a dataset on the configured PostgreSQL
(the dataset and its readings written in one transaction, the series loaded as a job's frame, the
processed series replaced), deleting what it wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import platform
import statistics as stats
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from schemas.analytics import (
    DatasetAnomaliesParams,
    LoadPatternsParams,
    ReportParams,
    StatisticsParams,
    TariffPrices,
)
from schemas.datasets import IngestOptions, PreprocessParams
from stream_app.analytics.ingest import ingest
from stream_app.jobs import analytics_jobs as jobs
from stream_app.jobs import preprocess_job
from tests.conftest import DATA_DIR

RESULTS = Path(__file__).with_name("results")


def household() -> pd.DataFrame:
    raw = pd.read_csv(DATA_DIR / "energy" / "household_sceaux_hourly.csv")
    index = pd.DatetimeIndex(pd.to_datetime(raw["datetime"]).dt.tz_localize("UTC"), name="timestamp")
    return pd.DataFrame({"value": raw["Global_active_power"].to_numpy() / 60.0}, index=index)


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return {"wall_s": round(stats.median(walls), 3), "cpu_s": round(stats.median(cpus), 3), "runs": repeat}


HOUSEHOLD_OPTS = IngestOptions(timezone="Europe/Paris", scale=1 / 60)


def household_xlsx(raw: bytes) -> bytes:
    """The household file as an Excel workbook (one sheet, dates as date cells)."""
    import openpyxl

    table = pd.read_csv(io.BytesIO(raw))
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("household")
    ws.append(list(table.columns))
    stamps = [t.to_pydatetime() for t in pd.to_datetime(table["datetime"])]
    for stamp, rec in zip(stamps, table.itertuples(index=False), strict=True):
        ws.append([stamp, *list(rec)[1:]])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def upload_rows(repeat: int) -> list[dict[str, Any]]:
    """Ingest (CSV, XLSX) and the preprocess handler on the household file."""
    raw = (DATA_DIR / "energy" / "household_sceaux_hourly.csv").read_bytes()
    book = household_xlsx(raw)
    rows = [
        {
            "case": "baseline: pandas read_csv of the file",
            **timed(lambda: pd.read_csv(io.BytesIO(raw)), repeat),
        },
        {
            "case": "ingest CSV (detect, Europe/Paris, kWh)",
            **timed(lambda: ingest(raw, HOUSEHOLD_OPTS), repeat),
        },
        {"case": "ingest XLSX made from it", **timed(lambda: ingest(book, HOUSEHOLD_OPTS), repeat)},
    ]
    frame = ingest(raw, HOUSEHOLD_OPTS).frame
    frame.attrs.update(interval_s=3600, timezone="Europe/Paris")
    for name, params in (
        ("preprocess defaults (interpolate, clip)", PreprocessParams()),
        ("preprocess resample 1d", PreprocessParams(resample="1d")),
        (
            "preprocess forward_fill, remove, 1h",
            PreprocessParams(missing="forward_fill", outliers="remove", resample="1h"),
        ),
    ):
        rows.append({"case": name, **timed(lambda p=params: preprocess_job.run(frame, p), repeat)})  # type: ignore[misc]
    for r in rows:
        print(r, flush=True)
    return rows


async def db_rows(repeat: int) -> list[dict[str, Any]]:
    """The dataset's database path: write (one transaction, COPY), load as a frame, replace processed."""
    from stream_app.settings import Settings
    from stream_app.store import datasets as ds
    from stream_app.store.pool import create_pool

    raw = (DATA_DIR / "energy" / "household_sceaux_hourly.csv").read_bytes()
    parsed = ingest(raw, HOUSEHOLD_OPTS)
    pool = await create_pool(Settings())
    made: list[Any] = []
    walls: dict[str, list[float]] = {"write": [], "load": [], "replace": []}
    try:
        for _ in range(repeat):
            t = time.perf_counter()
            d = await ds.create(
                pool,
                name="bench",
                file_name="household.csv",
                file_format="csv",
                file_bytes=len(raw),
                timezone=parsed.detection.timezone,
                unit=parsed.detection.unit.value,
                detection=parsed.detection.model_dump(mode="json"),
                interval_s=parsed.detection.interval_s,
                frame=parsed.frame,
            )
            walls["write"].append(time.perf_counter() - t)
            made.append(d.id)
            t = time.perf_counter()
            frame = await ds.frame(pool, d, ds.RAW)
            walls["load"].append(time.perf_counter() - t)
            out = preprocess_job.run(frame, PreprocessParams())
            t = time.perf_counter()
            async with pool.acquire() as conn, conn.transaction():
                await ds.replace_processed(conn, d.id, out.frame, out.result.model_dump(mode="json"))
            walls["replace"].append(time.perf_counter() - t)
    finally:
        for dataset_id in made:
            await ds.delete(pool, dataset_id)
        await pool.close()
    names = {
        "write": "db: write dataset + 34,581 readings (one transaction)",
        "load": "db: load the series as a job's frame",
        "replace": "db: replace the processed series",
    }
    rows = [
        {"case": names[k], "wall_s": round(stats.median(v), 3), "cpu_s": None, "runs": repeat}
        for k, v in walls.items()
    ]
    for r in rows:
        print(r, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--repeat-slow", type=int, default=1)
    ap.add_argument("--db", action="store_true", help="also time the dataset's database path (PostgreSQL)")
    args = ap.parse_args()
    upload = upload_rows(args.repeat)
    if args.db:
        upload += asyncio.run(db_rows(args.repeat))
    frame = household()
    prices = TariffPrices(peak=0.27, valley=0.12, flat=0.18, currency="EUR")
    cases: list[tuple[str, Callable[[pd.DataFrame, Any], BaseModel], BaseModel, int]] = [
        (
            "statistics (default periods, prices)",
            jobs.run_statistics,
            StatisticsParams(prices=prices),
            args.repeat,
        ),
    ]
    cases += [
        (f"load_patterns kmeans k={k}", jobs.run_load_patterns, LoadPatternsParams(k=k), args.repeat)
        for k in (2, 3, 4, 5)
    ]
    cases += [
        ("load_patterns rules", jobs.run_load_patterns, LoadPatternsParams(method="rules"), args.repeat),
        ("anomalies streaming", jobs.run_anomalies, DatasetAnomaliesParams(method="streaming"), args.repeat),
        ("anomalies autoencoder (24 h)", jobs.run_anomalies, DatasetAnomaliesParams(), args.repeat_slow),
        ("report pdf zh-CN", jobs.run_report, ReportParams(format="pdf", language="zh-CN"), args.repeat_slow),
        ("report pdf en-US", jobs.run_report, ReportParams(format="pdf", language="en-US"), args.repeat_slow),
        (
            "report xlsx zh-CN",
            jobs.run_report,
            ReportParams(format="xlsx", language="zh-CN"),
            args.repeat_slow,
        ),
    ]
    rows = [
        *upload,
        {
            "case": "baseline: pandas daily sums",
            **timed(lambda: frame["value"].groupby(frame.index.normalize()).sum(), args.repeat),
        },
    ]
    for name, handler, params, repeat in cases:
        handler(frame, params)  # warm: imports (torch, matplotlib, openpyxl) are not the job's cost
        rows.append({"case": name, **timed(lambda h=handler, p=params: h(frame, p), repeat)})  # type: ignore[misc]
        print(rows[-1], flush=True)
    out = {
        "data": "household_sceaux_hourly.csv (34,589 hourly rows, 2006-12-16 .. 2010-11-26)",
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "analytics_jobs.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        "# Analytics job handlers on the household file (4 years hourly)",
        "",
        f"{out['data']}; {out['machine']}; median of the runs shown; `python -m bench.analytics_jobs`.",
        "Handler time only (no database load/store) except the `db:` rows (`--db`; wall only). Shared "
        "2-core machine: wall includes waiting for the CPU.",
        "",
        "| case | wall s | CPU s | runs |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {r['case']} | {r['wall_s']} | {r['cpu_s']} | {r['runs']} |" for r in rows]
    (RESULTS / "analytics_jobs.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
