"""Where the worker's time goes: a ``kilowatch worker`` profiled in steady state only.

The worker runs under :mod:`bench.profiled_worker`; profiling is switched on once the group has
committed 10 % of the readings and off at 90 %, so start-up, group join and the tail are excluded.
"""

from __future__ import annotations

import os
import pstats
import shutil
import sys
import time
from typing import Any

from bench.common import RESULTS, Isolated, admin, committed_total, log, produce_all
from bench.data import Fleet
from bench.inprocess import summarize
from bench.profiled_worker import START, STOP
from bench.worker_run import run_until_committed
from stream_app.kafka.topics import ensure_topics


def run(n_assets: int, n_rows: int) -> dict[str, Any]:
    iso = Isolated.create("wprofile")
    try:
        return _run(iso, n_assets, n_rows)
    finally:
        iso.cleanup()


def _run(iso: Isolated, n_assets: int, n_rows: int) -> dict[str, Any]:
    s = iso.settings
    ensure_topics(s)
    messages = ((k, v) for _, _, k, v in Fleet(n_assets, n_rows).messages())
    total = produce_all(s, s.kafka.topic("readings"), messages)
    out = iso.state_dir / "worker.prof"
    worker = iso.start_worker(command=[sys.executable, "-m", "bench.profiled_worker", str(out)])
    run_until_committed(iso, worker, int(0.1 * total), timeout=600, poll_s=0.2)
    client, topic = admin(s), s.kafka.topic("readings")
    first = committed_total(client, s.worker.app_id, topic)
    os.kill(worker.pid, START)
    t0 = time.monotonic()
    run_until_committed(iso, worker, int(0.9 * total), timeout=600, poll_s=0.2)
    os.kill(worker.pid, STOP)
    secs = time.monotonic() - t0
    last = committed_total(client, s.worker.app_id, topic)
    for _ in range(100):
        if out.exists() and out.stat().st_size:
            break
        time.sleep(0.1)
    worker.stop()
    if not out.exists():
        raise RuntimeError(f"the profiled worker wrote no profile:\n{worker.tail()}")
    time.sleep(0.5)  # dump_stats writes in one go; give the file system a moment after it appears
    kept = RESULTS / "worker.prof"
    shutil.copy(out, kept)
    readings = last - first
    log(
        f"worker-profile: {readings} readings profiled in {secs:.1f}s "
        f"({readings / secs:,.0f}/s under cProfile)"
    )
    result = summarize(pstats.Stats(str(out)), readings, top=25)
    result.update(
        {
            "window_s": round(secs, 2),
            "per_s_under_profiler": readings / secs,
            "note": "steady state (committed offsets 10 %-90 %), main thread; "
            "readings = committed offset delta",
            "prof_file": "bench/results/worker.prof",
        }
    )
    return result
