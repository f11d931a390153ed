"""Benchmark 4: worker RSS after many assets, and the in-process cache with full windows."""

from __future__ import annotations

import gc
import multiprocessing
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.common import Isolated, log, proc_status, produce_all
from bench.data import Fleet
from bench.worker_run import run_until_committed
from stream_app.core.online import OnlineDetector
from stream_app.core.window import AssetState
from stream_app.kafka.topics import ensure_topics
from stream_app.scoring.state import AssetEntry
from stream_app.settings import Settings


def run(n_assets: int, rows: int) -> dict[str, Any]:
    iso = Isolated.create("memory")
    try:
        worker = _worker(iso, n_assets, rows)
    finally:
        iso.cleanup()
    # a fresh interpreter, so that RSS growth is not hidden by heap the benchmark already freed
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        in_process = pool.apply(cache_footprint, (iso.settings, n_assets))
    return {"worker": worker, "in_process": in_process}


def _worker(iso: Isolated, n_assets: int, rows: int) -> dict[str, Any]:
    s = iso.settings
    ensure_topics(s)
    fleet = Fleet(n_assets, rows, prefix="mem")
    worker = iso.start_worker()
    time.sleep(5.0)  # started and idle (topics exist, group joined or joining)
    idle = proc_status(worker.pid)
    total = produce_all(s, s.kafka.topic("readings"), ((k, v) for _, _, k, v in fleet.messages()))
    log(f"memory: produced {total} readings over {n_assets} assets")
    run_until_committed(iso, worker, total, timeout=600)
    time.sleep(2.0)
    st = proc_status(worker.pid)
    log(f"memory: worker VmRSS {st['VmRSS'] / 1024:.0f} MiB, VmHWM {st['VmHWM'] / 1024:.0f} MiB")
    return {
        "assets": n_assets,
        "rows": rows,
        "readings": total,
        "VmRSS_kB": st["VmRSS"],
        "VmHWM_kB": st["VmHWM"],
        "idle_VmRSS_kB": idle["VmRSS"],
        "note": "RSS of the faust worker process (pipeline cache + RocksDB + aiokafka buffers + interpreter)",
    }


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cache_footprint(settings: Settings, n_assets: int, distinct: int = 50) -> dict[str, Any]:
    """``n_assets`` cache entries with full windows: ``distinct`` real states built through
    ``score_one`` over ``window_size + 50`` readings each, then copied (same layout, same size)."""
    w = settings.detector.window_size
    params = settings.detector.params()
    det = OnlineDetector(params)
    fleet = Fleet(distinct, w + 50)
    vals = fleet.values()
    step = 900.0
    bases: list[AssetState] = []
    for k in range(distinct):
        st = det.new_state()
        for i in range(w + 50):
            det.score_one(st, 1_514_764_800.0 + i * step, float(vals[k, i]))
        bases.append(st)
    assert all(len(b) == w for b in bases)

    def build() -> dict[str, AssetEntry]:
        return {
            f"asset-{k:05d}": AssetEntry(state=bases[k % distinct].copy(), partition=k % 8)
            for k in range(n_assets)
        }

    gc.collect()
    rss0 = _rss_kb()
    cache = build()
    rss1 = _rss_kb()
    del cache
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    cache = build()
    traced = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del cache
    log(f"memory: in-process cache {n_assets} x {w} readings = {traced / 2**20:.1f} MiB (tracemalloc)")
    return {
        "assets": n_assets,
        "window": w,
        "tracemalloc_bytes": traced,
        "bytes_per_asset": traced / n_assets,
        "rss_delta_kB": rss1 - rss0,
        "how": f"{distinct} real states built by score_one over {w + 50} readings each, "
        f"copied to {n_assets} entries",
    }
