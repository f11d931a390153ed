"""A worker SIGKILLed while it trains a job, on real Kafka, PostgreSQL and Redis (issue 14).

No job may stay open for ever: the training child dies with its worker; a second worker's recovery
ends the running job FAILED with the fixed reason once its lease expired and runs again the job that
was waiting (PENDING, its request already acknowledged); a new request for the asset is accepted and
trained. Before, the waiting job stayed PENDING for ever (409 for its asset) and the child trained on
as an orphan.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from schemas.jobs import JobStatus
from stream_app.lifecycle.service import LOST_RUNNING
from stream_app.store import repository as repo
from tests.integration.harness import Worker, training_children
from tests.integration.lsq_worker import lsq_training_worker
from tests.integration.test_retraining_agent import db, request, send, wait_jobs

pytestmark = pytest.mark.integration


def test_a_job_of_a_killed_worker_ends_and_the_asset_trains_again(tmp_path: Path) -> None:
    settings, env, data = lsq_training_worker(tmp_path, job_lease_s=6.0)
    asset = f"{settings.kafka.topic_prefix}-crash"
    waiting = f"{settings.kafka.topic_prefix}-waiting"

    first = Worker(env, "w1", tmp_path)
    second: Worker | None = None
    try:
        send(settings, "training-requests", asset.encode(), request(asset, data.as_uri(), stage_sleep_s=30.0))
        wait_jobs(settings, asset, lambda js: len(js) == 1 and js[0].status is JobStatus.TRAINING, first)
        deadline = time.monotonic() + 30
        children = training_children(first)
        while not children and time.monotonic() < deadline:
            time.sleep(0.2)
            children = training_children(first)
        assert children, first.tail()
        # A second job waits for the only training slot: PENDING, claimed, its request acknowledged.
        send(settings, "training-requests", waiting.encode(), request(waiting, data.as_uri()))
        wait_jobs(settings, waiting, lambda js: len(js) == 1 and js[0].owner is not None, first)
        time.sleep(2.0)  # faust commits the acknowledged offset (every second)
        first.kill()  # SIGKILL: no shutdown hooks
        _gone, alive = psutil.wait_procs(children, timeout=5.0)
        assert alive == [], "the training child outlived its worker"
        stuck = db(settings, lambda c: repo.list_jobs(c, asset))
        assert [j.status for j in stuck] == [JobStatus.TRAINING]  # what the API answered 409 for
        stuck = db(settings, lambda c: repo.list_jobs(c, waiting))
        assert [j.status for j in stuck] == [JobStatus.PENDING]

        killed_at = time.monotonic()
        second = Worker(env, "w2", tmp_path)
        jobs = wait_jobs(settings, asset, lambda js: all(j.terminal for j in js), second, timeout=120)
        recovered_s = time.monotonic() - killed_at
        assert [(j.status, j.error) for j in jobs] == [(JobStatus.FAILED, LOST_RUNNING)]
        assert recovered_s < 90, recovered_s
        jobs = wait_jobs(settings, waiting, lambda js: all(j.terminal for j in js), second, timeout=120)
        assert [(j.status, j.error, j.attempts) for j in jobs] == [(JobStatus.TRAINED, None, 2)]
        print(f"running job ended {recovered_s:.1f} s after the kill; waiting job re-run and trained")

        send(settings, "training-requests", asset.encode(), request(asset, data.as_uri()))
        jobs = wait_jobs(settings, asset, lambda js: len(js) == 2 and all(j.terminal for j in js), second)
        assert sorted(j.status.value for j in jobs) == ["FAILED", "TRAINED"]
    finally:
        first.stop()
        if second is not None:
            second.stop()
