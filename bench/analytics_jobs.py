"""``python -m bench.analytics_jobs [--repeat N]``: each analytics job handler's time on the household file.

The household file (Sceaux, 4 years hourly, 34,589 rows; kWh = Global_active_power / 60, taken as UTC) in
the analytics' frame, then each job type's handler as the job runner calls it (``stream_app.jobs.
analytics_jobs``): statistics, load patterns (k-means k = 2..5, rules), anomalies (streaming, autoencoder),
reports (PDF zh-CN / en-US, XLSX). Wall and CPU seconds, median of ``--repeat`` runs (the autoencoder and
the reports once each unless ``--repeat-slow``). Same-run baseline: pandas' daily sums of the same frame
(the least any analysis of it costs). Writes ``bench/results/analytics_jobs.md`` and ``.json``.
Database and runner overheads (loading the series, storing the result) are not included.
"""

from __future__ import annotations

import argparse
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
from stream_app.jobs import analytics_jobs as jobs
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--repeat-slow", type=int, default=1)
    args = ap.parse_args()
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
        {
            "case": "baseline: pandas daily sums",
            **timed(lambda: frame["value"].groupby(frame.index.normalize()).sum(), args.repeat),
        }
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
        "Handler time only (no database load/store). Shared 2-core machine: wall includes waiting for CPU.",
        "",
        "| case | wall s | CPU s | runs |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {r['case']} | {r['wall_s']} | {r['cpu_s']} | {r['runs']} |" for r in rows]
    (RESULTS / "analytics_jobs.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
