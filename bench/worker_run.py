"""Drive one ``kilowatch worker`` over pre-produced readings and measure it from the outside."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from bench.common import Isolated, Worker, admin, committed_total, cpu_seconds, log, machine_busy, proc_status


@dataclass
class Progress:
    """Committed offsets of the worker's group over wall time."""

    samples: list[tuple[float, int]] = field(default_factory=list)
    rss_kb: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    worker_cpu_s: float = 0.0
    machine_busy_cores: float = 0.0  # average cores busy machine-wide (worker, Kafka, bench, others)

    def cpu_summary(self) -> dict[str, float]:
        return {
            "wall_s": round(self.wall_s, 2),
            "worker_cpu_s": round(self.worker_cpu_s, 2),
            "worker_cpu_util": round(self.worker_cpu_s / self.wall_s, 3) if self.wall_s else 0.0,
            "machine_busy_cores": round(self.machine_busy_cores, 2),
        }

    def rate_between(self, lo_frac: float, hi_frac: float, total: int) -> float | None:
        """Readings/s between the first samples reaching ``lo_frac`` and ``hi_frac`` of ``total``."""
        lo = next(((t, n) for t, n in self.samples if n >= lo_frac * total), None)
        hi = next(((t, n) for t, n in self.samples if n >= hi_frac * total), None)
        if lo is None or hi is None or hi[0] <= lo[0]:
            return None
        return (hi[1] - lo[1]) / (hi[0] - lo[0])


def run_until_committed(
    iso: Isolated, worker: Worker, total: int, timeout: float, poll_s: float = 0.5
) -> Progress:
    """Wait until the group committed ``total`` readings (the worker flushed state and events first)."""
    client = admin(iso.settings)
    topic = iso.settings.kafka.topic("readings")
    prog = Progress()
    started = time.monotonic()
    last_log = started
    cpu0 = cpu_seconds(worker.pid)
    busy0, total0 = machine_busy()
    while True:
        worker.check()
        n = committed_total(client, iso.settings.worker.app_id, topic)
        now = time.monotonic()
        prog.samples.append((now, n))
        if n >= total:
            break
        if now - started > timeout:
            raise RuntimeError(f"{iso.name}: worker committed only {n}/{total} readings in {timeout:.0f}s")
        if now - last_log > 10:
            log(f"{iso.name}: committed {n}/{total}")
            last_log = now
        time.sleep(poll_s)
    prog.rss_kb = proc_status(worker.pid)
    prog.wall_s = time.monotonic() - started
    prog.worker_cpu_s = cpu_seconds(worker.pid) - cpu0
    busy1, total1 = machine_busy()
    cores = os.cpu_count() or 1
    prog.machine_busy_cores = cores * (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
    return prog


def changelog_rate(timestamps_ms: list[int], lo_frac: float = 0.1, hi_frac: float = 0.9) -> dict[str, Any]:
    """Scored readings/s from changelog record timestamps: overall and over the middle 80 % (steady)."""
    ts = sorted(timestamps_ms)
    n = len(ts)
    if n < 10:
        return {"records": n}
    span = (ts[-1] - ts[0]) / 1000
    i, j = int(lo_frac * n), int(hi_frac * n) - 1
    mid = (ts[j] - ts[i]) / 1000
    return {
        "records": n,
        "first_to_last_s": round(span, 3),
        "overall_per_s": n / span if span > 0 else None,
        "steady_window": f"records {i}..{j} ({lo_frac:.0%}-{hi_frac:.0%})",
        "steady_s": round(mid, 3),
        "steady_per_s": (j - i) / mid if mid > 0 else None,
    }
