"""A real worker trains through a PostgreSQL outage (issue 14; what scripts/fault-injection found).

Kafka, PostgreSQL and Redis of this checkout (run on an infra of your own). The worker trains a job
(the least-squares test backend, ~30 s); PostgreSQL is stopped for 15 s in the middle, longer than
the job's lease, while the worker's recovery runs every second. Before, the job failed at its first
progress write (child terminated) and stayed TRAINING until the lease recovery ended it FAILED. Now:
the worker and the child live through it, the worker's own recovery leaves the job alone, and the job
ends TRAINED with its version registered and active.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from schemas.jobs import JobStatus, VersionStatus
from stream_app.store import repository as repo
from tests.integration.harness import Worker, training_children
from tests.integration.lsq_worker import lsq_training_worker
from tests.integration.outage import infra
from tests.integration.test_retraining_agent import db, request, send, wait_jobs

pytestmark = pytest.mark.integration


def test_a_worker_trains_through_a_postgres_outage(tmp_path: Path) -> None:
    # the lease (8 s) is shorter than the outage: it looks stale when PostgreSQL is back
    settings, env, data = lsq_training_worker(tmp_path, job_lease_s=8.0)
    asset = f"{settings.kafka.topic_prefix}-outage"

    worker = Worker(env, "w1", tmp_path)
    try:
        send(settings, "training-requests", asset.encode(), request(asset, data.as_uri(), stage_sleep_s=3.0))
        jobs = wait_jobs(
            settings, asset, lambda js: len(js) == 1 and js[0].progress >= 10 and not js[0].terminal, worker
        )
        children = training_children(worker)
        assert len(children) == 1, (children, worker.tail())
        child = children[0]
        stopped_at = time.monotonic()
        infra("down", "postgres")
        try:
            time.sleep(15.0)
            assert worker.alive(), worker.tail()
            assert child.is_running() and child.status() != psutil.STATUS_ZOMBIE, worker.tail()
        finally:
            infra("up", "postgres")
        outage_s = time.monotonic() - stopped_at
        jobs = wait_jobs(settings, asset, lambda js: all(j.terminal for j in js), worker, timeout=120)
        ended_s = time.monotonic() - stopped_at
        assert [(j.status, j.error, j.attempts) for j in jobs] == [(JobStatus.TRAINED, None, 1)], (
            worker.tail()
        )
        versions = db(settings, lambda c: repo.list_versions(c, asset))
        assert [(v.version, v.status) for v in versions] == [(1, VersionStatus.ACTIVE)]
        log = worker.log_path.read_text(errors="replace")
        assert "ignored the stop request" not in log and "failed unexpectedly" not in log
        assert "postgres is down" in log and "answers again" in log
        print(f"outage {outage_s:.1f} s; job TRAINED {ended_s:.1f} s after PostgreSQL was stopped")
    finally:
        worker.stop()
