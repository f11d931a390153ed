"""The worker's timers survive a PostgreSQL outage (issue 14): logged, counted, backed off, resumed.

Before, an exception in ``scheduled-retraining`` or ``drift-check`` ended the faust timer with the
worker. Here a real worker runs its retraining timers every second while PostgreSQL is stopped for
real (run on an infra of your own), stays up, and its timers work again once PostgreSQL is back.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_app.kafka.topics import ensure_topics
from tests.integration.harness import Worker, isolated_settings
from tests.integration.outage import stopped

pytestmark = pytest.mark.integration


def _record(line: str) -> dict[str, Any]:
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError:
        return {}
    return rec if isinstance(rec, dict) else {}


async def _wait_log(worker: Worker, text: str, within_s: float) -> str:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        assert worker.alive(), worker.tail()
        log = worker.log_path.read_text(errors="replace")
        if text in log:
            return log
        await asyncio.sleep(0.5)
    raise AssertionError(f"no {text!r} in the worker log:\n{worker.tail()}")


async def test_retraining_timers_back_off_during_a_postgres_outage_and_resume(tmp_path: Path) -> None:
    settings, env = isolated_settings(
        tmp_path,
        retrain_check_every_s=1.0,
        job_recovery_every_s=1.0,
        outbox_every_s=1.0,
        timer_backoff_max_s=2.0,
    )
    ensure_topics(settings)
    worker = Worker(env, "timers", tmp_path)
    try:
        await _wait_log(worker, "retraining service ready", 120)
        async with stopped("postgres"):
            log = await _wait_log(worker, "scheduled-retraining failed", 30)
            await asyncio.sleep(6.0)  # several periods: each failure pauses the timer, none stops the worker
            assert worker.alive(), worker.tail()
            log = worker.log_path.read_text(errors="replace")
            for task in ("scheduled-retraining", "training-job-recovery", "model-update-outbox"):
                assert f"{task} failed" in log, task
            assert "next try in 2 s" in log  # the pause grew to timer_backoff_max_s
        for task in ("scheduled-retraining", "training-job-recovery", "model-update-outbox"):
            log = await _wait_log(worker, f"{task} works again", 60)
        # Expected outages are one warning line each, no traceback of ours, no crash.
        ours = [
            r
            for r in map(_record, log.splitlines())
            if r.get("logger", "").startswith(("agents", "stream_app"))
        ]
        assert not [r for r in ours if "exc" in r], [r for r in ours if "exc" in r][:1]
        assert "crash" not in log.lower()
    finally:
        worker.stop()
