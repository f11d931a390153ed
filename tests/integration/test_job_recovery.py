"""Training jobs left open by a dead worker are recovered (issue 14), on the real PostgreSQL and Redis.

A worker acknowledges a training request before its job leaves PENDING; killed then, the job stayed
PENDING for ever and the asset answered 409 to every new request. Jobs now carry a lease (owner +
heartbeat): recovery re-runs a PENDING job whose lease expired (or that nobody ever claimed) and ends a
PREPARING/TRAINING one FAILED with a fixed reason; a live job's lease is renewed and never taken.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from schemas.jobs import JobStatus
from stream_app import metrics
from stream_app.lifecycle.service import LOST_RUNNING, LOST_TOO_OFTEN
from stream_app.store import registry_admin as admin
from stream_app.store import repository as repo
from tests.integration.test_training_jobs import Env, _env, _wait_status, env, steel_slice

pytestmark = pytest.mark.integration
__all__ = ["env", "steel_slice"]


async def _crashed_job(env: Env, asset: str, status: str, data_url: str, *, attempts: int = 1) -> repo.Job:
    """A job as a SIGKILLed worker leaves it: open, its lease last renewed an hour ago."""
    pool = env.service.pool
    job, _ = await repo.create_job(
        pool, request_id=uuid.uuid4(), asset_id=asset, model_type="lsq", params={}, data_url=data_url
    )
    await pool.execute(
        """UPDATE training_jobs SET status = $2, owner = 'dead-host:4242:0badc0de', attempts = $3,
             heartbeat_at = now() - interval '1 hour',
             started_at = CASE WHEN $2 = 'PENDING' THEN NULL ELSE now() - interval '1 hour' END
           WHERE id = $1""",
        job.id,
        status,
        attempts,
    )
    return await repo.get_job(pool, job.id)


def _recovered(action: str) -> float:
    return metrics.TRAINING_JOBS_RECOVERED.labels(action)._value.get()


async def test_a_pending_job_of_a_dead_worker_is_requeued_and_the_asset_accepts_requests(
    env: Env, steel_slice: Path
) -> None:
    url = steel_slice.as_uri()
    job = await _crashed_job(env, "r1", "PENDING", url)
    assert (await admin.open_job(env.service.pool, "r1")) is not None  # what made the API answer 409
    before = _recovered("requeued")
    again = await env.service.recover_jobs()
    assert [r.request_id for r in again] == [job.request_id]
    assert _recovered("requeued") - before == 1
    assert await env.service.recover_jobs() == []  # taken over: a second recovery leaves it alone
    done = await env.service.handle(again[0])
    assert done.id == job.id and done.status is JobStatus.TRAINED, done.error
    assert done.owner == env.service.owner and done.attempts == 2
    assert await admin.open_job(env.service.pool, "r1") is None
    nxt = await env.service.handle(env.request("r1", url))  # a new request for the asset is accepted
    assert nxt.status is JobStatus.TRAINED, nxt.error


async def test_a_running_job_of_a_dead_worker_ends_failed_with_a_fixed_reason(
    env: Env, steel_slice: Path
) -> None:
    url = steel_slice.as_uri()
    training = await _crashed_job(env, "r2", "TRAINING", url)
    preparing = await _crashed_job(env, "r3", "PREPARING", url)
    before = _recovered("failed")
    assert await env.service.recover_jobs() == []
    for job in (training, preparing):
        ended = await repo.get_job(env.service.pool, job.id)
        assert ended.status is JobStatus.FAILED and ended.error == LOST_RUNNING
    assert _recovered("failed") - before == 2
    assert await admin.open_job(env.service.pool, "r2") is None
    assert (await env.service.handle(env.request("r2", url))).status is JobStatus.TRAINED


async def test_a_job_that_lost_too_many_workers_is_not_rerun(env: Env, steel_slice: Path) -> None:
    job = await _crashed_job(
        env, "r4", "PENDING", steel_slice.as_uri(), attempts=env.settings.training.job_max_attempts
    )
    assert await env.service.recover_jobs() == []
    ended = await repo.get_job(env.service.pool, job.id)
    assert ended.status is JobStatus.FAILED and ended.error == LOST_TOO_OFTEN


async def test_a_pending_job_never_claimed_is_requeued_after_the_grace(
    tmp_path: Path, steel_slice: Path
) -> None:
    """Killed between storing the job and claiming it: no owner; recovered once ``job_unclaimed_s`` passed."""
    async with _env(tmp_path, job_unclaimed_s=1.0) as env:
        job, _ = await repo.create_job(
            env.service.pool,
            request_id=uuid.uuid4(),
            asset_id="r5",
            model_type="lsq",
            params={},
            data_url=steel_slice.as_uri(),
        )
        assert await env.service.recover_jobs() == []  # too young: its request may still be in Kafka
        await asyncio.sleep(1.5)
        again = await env.service.recover_jobs()
        assert [r.request_id for r in again] == [job.request_id]
        assert (await env.service.handle(again[0])).status is JobStatus.TRAINED


async def test_a_live_job_keeps_its_lease(tmp_path: Path, steel_slice: Path) -> None:
    """Lock TTL 3 s -> lease renewed every second; a 2 s lease never expires while the job runs."""
    async with _env(tmp_path, job_lease_s=2.0) as env:
        req = env.request("r6", steel_slice.as_uri(), stage_sleep_s=0.5)
        task = asyncio.create_task(env.service.handle(req))
        await _wait_status(env, req, "TRAINING")
        for _ in range(10):
            assert await env.service.recover_jobs() == []
            await asyncio.sleep(0.5)
        job = await asyncio.wait_for(task, 60)
        assert job.status is JobStatus.TRAINED, job.error
