"""``python -m bench.training_overlap``: scoring throughput while a training job runs, against idle.

The scoring step (``ScoringPipeline.process``, real steel-plant readings) runs on an asyncio loop in
micro-batches, yielding to the loop between batches as the worker's agent does; the training job runs
through the real job runner (spawned child process, progress polling on the same loop). Idle is
measured before and after the training phase and averaged (A-B-A), and the load average is recorded:
other jobs share the machine. Target
(issue 3): scoring during training >= 80 % of idle. The trainer is the real one (``trainers.backend``,
LightGBM on the steel data, one thread, enough boosting rounds to outlast the phase; canceled at its
end). Writes ``bench/results/training_overlap.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from bench.common import ROOT
from bench.data import CSV, Fleet
from bench.inprocess import as_raw
from stream_app.lifecycle import runner
from stream_app.scoring.pipeline import ScoringPipeline
from stream_app.scoring.state import InMemoryStore
from stream_app.settings import Settings

OUT = ROOT / "bench" / "results" / "training_overlap.json"


async def score_for(settings: Settings, batch: list[Any], seconds: float) -> float:
    """Readings scored per second during ``seconds`` (fresh pipeline per pass over the data)."""
    size = settings.worker.batch_size
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        pipe = ScoringPipeline(settings)
        store = InMemoryStore(settings.detector.window_size)
        for i in range(0, len(batch), size):
            out = pipe.process(batch[i : i + size], store)
            store.apply(out.writes)
            done += len(batch[i : i + size])
            await asyncio.sleep(0)  # the loop serves the runner between micro-batches, like the agent
            if time.perf_counter() - started >= seconds:
                break
    return done / (time.perf_counter() - started)


async def measure(
    seconds: float = 15.0, nice: int = 10, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    settings = Settings()
    fleet = Fleet(n_assets=200, n_rows=300)
    batch = as_raw([(k, v) for _i, _a, k, v in fleet.messages()], settings.kafka.topic_partitions)
    idle = await score_for(settings, batch, seconds)
    work = Path(tempfile.mkdtemp(prefix="kw-overlap-"))
    data = work / "data.csv"
    pd.read_csv(CSV, nrows=4 * 7 * 96).to_csv(data, index=False)
    stop = asyncio.Event()
    progress: list[float] = []

    async def on_progress(pct: float, _msg: str) -> None:
        progress.append(pct)

    async def on_log(_line: str) -> None:
        return None

    async def cancel() -> bool:
        return stop.is_set()

    job = asyncio.create_task(
        runner.run(
            runner.RunRequest(
                backend="trainers.backend",
                data_path=data,
                spec_kwargs={
                    "model_type": "lightgbm",
                    "params": params or {"target": "Usage_kWh", "n_estimators": 20_000, "threads": 1},
                },
                out_dir=work / "bundle",
                active_dir=None,
                holdout_fraction=0.2,
                timeout_s=seconds + 60,
                grace_s=5.0,
                nice=nice,
            ),
            on_progress,
            on_log,
            cancel,
        )
    )
    await asyncio.sleep(2.0)  # the child is spawned and fitting
    during = await score_for(settings, batch, seconds)
    stop.set()
    res = await job
    idle_after = await score_for(settings, batch, seconds)  # A-B-A: the machine is shared and noisy
    idle = (idle + idle_after) / 2
    result = {
        "idle_readings_per_s": round(idle),
        "idle_after_readings_per_s": round(idle_after),
        "during_training_readings_per_s": round(during),
        "ratio": round(during / idle, 3),
        "target_ratio": 0.8,
        "met": during / idle >= 0.8,
        "training_cpu_percent": round(res.cpu_percent or 0, 1),
        "training_peak_rss_mb": round(res.peak_rss_mb or 0, 1),
        "training_outcome": res.outcome,
        "cores": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "training_nice": nice,
        "trainer": "trainers.backend lightgbm, 1 thread",
        "seconds_per_phase": seconds,
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    import sys

    print(json.dumps(asyncio.run(measure(nice=int(sys.argv[1]) if len(sys.argv) > 1 else 10)), indent=2))
