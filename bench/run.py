"""``python -m bench.run [--quick] [--only NAME]``: kilowatch benchmarks on the local Kafka.

Writes ``bench/results/latest.json`` and ``bench/results/latest.md``. Exits non-zero only when a
benchmark fails to run; targets missed are reported as "not met" in the table.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench import asset_memory, latency, memory, report, throughput, worker_profile
from bench.common import log
from bench.machine import machine_info

NAMES = (
    "throughput",
    "throughput-batch",
    "latency",
    "latency-batch",
    "memory",
    "asset-memory",
    "worker-profile",
)

NOTES = [
    "Every benchmark uses its own topic prefix, consumer group (= faust app id) and state folder, "
    "fresh per run; its topics (including `<app_id>-asset-state-changelog`) are deleted at the end.",
    "Data: real 15-minute `Usage_kWh` of the steel plant (UCI, 2018); asset k replays its own stretch "
    "of the year scaled by 0.5-2.0x, all assets on a common clock, produced time-interleaved with the "
    "murmur2 partitioner.",
    "Worker throughput = changelog records (exactly one per scored reading) over their producer "
    "timestamps, records 10 %-90 % (steady state: no start-up, group join or drain tail). The worker "
    "runs with default settings except `emit_scores=false`.",
    "The raw baseline runs in this process, once before and once after the worker; the 2 cores are "
    "shared with other jobs, so compare numbers within one run only.",
    "Latency = anomaly arrival at a confluent consumer (fetch.wait.max.ms=5) - wall time of the "
    "produce() call of the same (asset_id, timestamp); spikes: every 40th reading of an asset x3 "
    "after the warm-up. A rate above the worker's capacity measures the growing backlog.",
    "Memory: the worker RSS includes the interpreter, faust/aiokafka and RocksDB; the pipeline cache "
    "figure is the `AssetEntry` dict alone, full windows (a ring grows to the window size with an "
    "asset's first readings). Asset memory: new asset ids in-process against a baseline revision "
    "(`bench/results/hardening-memory.md`).",
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    p.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke run of every benchmark (~2 min)"
    )
    p.add_argument("--only", choices=NAMES, action="append", help="run only this benchmark (repeatable)")
    args = p.parse_args(argv)
    only = set(args.only or NAMES)
    q = args.quick
    plan: dict[str, Callable[[], dict[str, Any]]] = {
        "throughput": lambda: throughput.run(
            n_assets=200 if q else 1_000,
            n_rows=100 if q else 200,
            profile_n=10_000 if q else 50_000,
            readings_path="agent",
        ),
        "throughput-batch": lambda: throughput.run(
            n_assets=200 if q else 1_000, n_rows=100 if q else 200, profile_n=1_000, readings_path="batch"
        ),
        "latency": lambda: latency.run(
            n_assets=50 if q else 200,
            phases=[(2_000, 8.0), (300, 6.0)] if q else [(2_000, 30.0), (500, 20.0)],
            warmup=60 if q else 100,
            readings_path="agent",
        ),
        "latency-batch": lambda: latency.run(
            n_assets=50 if q else 200,
            phases=[(2_000, 8.0), (300, 6.0)] if q else [(2_000, 30.0), (500, 20.0)],
            warmup=60 if q else 100,
            readings_path="batch",
        ),
        "memory": lambda: memory.run(n_assets=1_000 if q else 10_000, rows=10 if q else 15),
        # in-process, against a baseline revision; also writes asset-memory.json, hardening-memory.md
        "asset-memory": lambda: asset_memory.run(quick=q),
        "worker-profile": lambda: worker_profile.run(n_assets=200 if q else 1_000, n_rows=50 if q else 30),
    }
    started = time.monotonic()
    results: dict[str, Any] = {"mode": "quick" if q else "full", "machine": machine_info(), "notes": NOTES}
    failed: list[str] = []
    for name, fn in plan.items():
        if name not in only:
            continue
        log(f"=== {name} ===")
        t0 = time.monotonic()
        try:
            results[name.replace("-", "_")] = fn()
        except Exception:  # report, go on with the next benchmark, fail at the end
            log(f"{name} FAILED:\n{traceback.format_exc()}")
            results.setdefault("failures", {})[name] = traceback.format_exc()
            failed.append(name)
        log(f"=== {name} done in {time.monotonic() - t0:.0f}s ===")
    results["elapsed_s"] = time.monotonic() - started
    report.write(results)
    log(f"wrote bench/results/latest.json and latest.md ({results['elapsed_s']:.0f}s)")
    print(report.markdown(results))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
