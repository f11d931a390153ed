"""A training job survives a PostgreSQL (or Redis) outage (issue 14, found by scripts/fault-injection).

Before, the first progress write into a stopped PostgreSQL raised ConnectionRefusedError, the runner
killed the training child, the job "failed unexpectedly" and stayed TRAINING until the lease recovery
ended it FAILED minutes later. Here a real job (the least-squares test backend, slowed down) runs on
the real services while PostgreSQL is stopped for ~15 s (``kilowatch infra down --only postgres``) and
started again: the child is not killed, progress resumes, and the job ends TRAINED with its version
registered. Run on an infra of your own: stopping PostgreSQL hits every user of it.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pandas as pd
import pytest

from schemas.jobs import JobStatus, VersionStatus
from stream_app.lifecycle import runner
from stream_app.store import repository as repo
from tests.conftest import DATA_DIR
from tests.integration.outage import postgres_reachable, stopped
from tests.integration.test_training_jobs import Env, _env

pytestmark = pytest.mark.integration

STEEL = DATA_DIR / "energy" / "steel_industry_2018_15min.csv"
OUTAGE_S = 15.0


@pytest.fixture(scope="module")
def steel_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "steel_3w.csv"
    pd.read_csv(STEEL, nrows=3 * 7 * 96).to_csv(out, index=False)
    return out


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    # A lease shorter than the outage: the job's lease must be renewed as soon as PostgreSQL answers
    # (and this worker's own recovery must never take the job it runs).
    async with _env(tmp_path, job_lease_s=10.0, training_db_retry_max_s=120.0) as e:
        yield e


Start = Callable[[str, float], Awaitable[tuple[asyncio.Task[repo.Job], uuid.UUID]]]


@pytest.fixture
def start_job(env: Env, steel_slice: Path) -> Start:
    """Starts a training job of an asset on the steel slice (its stages slowed by ``stage_sleep_s``),
    as the service does for a request: returns the task that runs it and the job's id."""

    async def start(asset_id: str, stage_sleep_s: float) -> tuple[asyncio.Task[repo.Job], uuid.UUID]:
        req = env.request(asset_id, steel_slice.as_uri(), stage_sleep_s=stage_sleep_s)
        task = asyncio.create_task(env.service.handle(req))
        job, _ = await repo.create_job(
            env.service.pool,
            request_id=req.request_id,
            asset_id=req.asset_id,
            model_type=req.model_type,
            params=req.params,
            data_url=req.data_url,
        )
        return task, job.id

    return start


def _training_child() -> mp.process.BaseProcess:
    children = [p for p in mp.active_children() if p.name == "kilowatch-training"]
    assert len(children) == 1, children
    return children[0]


async def _wait_progress(env: Env, job_id: uuid.UUID, at_least: float, within_s: float) -> float:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        job = await repo.get_job(env.service.pool, job_id)
        if job.terminal:
            raise AssertionError(f"job ended {job.status} ({job.error}) before progress {at_least}")
        if job.progress >= at_least:
            return job.progress
        await asyncio.sleep(0.2)
    raise AssertionError(f"no progress {at_least} within {within_s} s")


async def _live_progress(env: Env, job_id: uuid.UUID) -> float:
    return float((await env.service.channel.state(job_id)).get("progress", "0"))


async def _wait_postgres(env: Env, within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            await env.service.pool.fetchval("SELECT 1")
            return
        except OSError:
            await asyncio.sleep(0.5)
    raise AssertionError("PostgreSQL did not come back")


async def test_a_postgres_outage_during_training_costs_latency_not_the_job(
    env: Env, start_job: Start
) -> None:
    # 10 stages of 3 s: the outage falls in the middle of the training.
    task, job_id = await start_job("outage-1", 3.0)
    before = await _wait_progress(env, job_id, 10.0, 60.0)
    child = _training_child()
    async with stopped("postgres"):
        assert not await postgres_reachable(env.settings)
        live_at_stop = await _live_progress(env, job_id)
        await asyncio.sleep(OUTAGE_S)
        assert child.is_alive(), "the training child was stopped during the PostgreSQL outage"
        assert not task.done(), task
        live_after = await _live_progress(env, job_id)
        assert live_after > live_at_stop  # the training went on; Redis still had its progress
    await _wait_postgres(env)
    # This worker's recovery runs right after the outage: the job's lease looks stale (no heartbeat for
    # longer than job_lease_s), but the job is alive here and must not be taken.
    assert await env.service.recover_jobs() == []
    # Progress resumes in PostgreSQL (the value kept through the outage, then the next ones).
    resumed = await _wait_progress(env, job_id, max(before, live_after), 30.0)
    assert resumed > before
    final = await asyncio.wait_for(task, 120)
    assert final.status is JobStatus.TRAINED, final.error
    assert child.exitcode == 0  # ended by itself, never terminated or killed
    assert final.result and final.result["version"] == 1 and final.result["promoted"] is True
    versions = await repo.list_versions(env.service.pool, "outage-1")
    assert [(v.version, v.status) for v in versions] == [(1, VersionStatus.ACTIVE)]
    assert env.service.store.get_dir(versions[0].artifact_uri).is_dir()
    assert await env.statuses(job_id) == ["PREPARING", "TRAINING", "TRAINED"]
    # A worker elsewhere sees a live lease: nothing to recover.
    assert await env.service.recover_jobs() == []


async def test_the_final_write_waits_for_postgres_to_answer(env: Env, start_job: Start) -> None:
    # The training ends during the outage: registration, activation and TRAINED wait for the database.
    task, job_id = await start_job("outage-2", 1.0)
    await _wait_progress(env, job_id, 50.0, 60.0)
    child = _training_child()
    async with stopped("postgres"):
        await asyncio.sleep(OUTAGE_S)
        assert not child.is_alive() and child.exitcode == 0  # finished during the outage, by itself
        assert not task.done(), task  # waiting for the database, not failed
    final = await asyncio.wait_for(task, 120)
    assert final.status is JobStatus.TRAINED, final.error
    assert final.progress == 100
    versions = await repo.list_versions(env.service.pool, "outage-2")
    assert [(v.version, v.status) for v in versions] == [(1, VersionStatus.ACTIVE)]
    assert [(e.asset_id, e.model_version) for e in env.published] == [("outage-2", "1")]


async def test_a_redis_outage_during_training_costs_its_live_events_only(env: Env, start_job: Start) -> None:
    task, job_id = await start_job("outage-3", 2.0)
    before = await _wait_progress(env, job_id, 10.0, 60.0)
    child = _training_child()
    async with stopped("redis"):
        await asyncio.sleep(OUTAGE_S / 2)
        assert child.is_alive()
        # Progress goes on in PostgreSQL while Redis (live events, cancel flag) is down.
        assert await _wait_progress(env, job_id, before + 10.0, 30.0) > before
    # The asset's lock expired during the outage: the running job takes it again (no second training
    # of this asset can start meanwhile).
    deadline = time.monotonic() + 10.0
    while not str(await env.service.lock.holder("outage-3")).startswith(f"{job_id}:"):
        assert time.monotonic() < deadline, "the running job did not take its expired lock again"
        assert not task.done(), task
        await asyncio.sleep(0.2)
    final = await asyncio.wait_for(task, 120)
    assert final.status is JobStatus.TRAINED, final.error
    assert child.exitcode == 0
    assert [v.version for v in await repo.list_versions(env.service.pool, "outage-3")] == [1]


async def test_this_workers_recovery_never_takes_a_job_it_runs(env: Env, start_job: Start) -> None:
    """A lease that looks stale (as after an outage longer than job_lease_s) of a job this worker is
    running: its own recovery leaves it alone and the job ends TRAINED."""
    task, job_id = await start_job("outage-4", 1.0)
    await _wait_progress(env, job_id, 10.0, 60.0)
    await env.service.pool.execute(
        "UPDATE training_jobs SET heartbeat_at = now() - interval '1 hour' WHERE id = $1", job_id
    )
    assert await env.service.recover_jobs() == []
    final = await asyncio.wait_for(task, 120)
    assert final.status is JobStatus.TRAINED, final.error
    assert final.attempts == 1  # not taken over (a take-over counts an attempt)


async def test_the_runner_does_not_stop_the_child_when_its_callbacks_fail(
    env: Env, steel_slice: Path
) -> None:
    """The runner alone: progress, log and cancel-check callbacks that raise (a backend down, seen by a
    caller without the service's best-effort wrappers) cost those messages, never the training."""
    calls = {"progress": 0, "log": 0, "cancel": 0}

    async def on_progress(pct: float, message: str) -> None:
        calls["progress"] += 1
        raise ConnectionRefusedError(111, "Connect call failed")

    async def on_log(line: str) -> None:
        calls["log"] += 1
        raise ConnectionRefusedError(111, "Connect call failed")

    async def cancel_requested() -> bool:
        calls["cancel"] += 1
        raise ConnectionRefusedError(111, "Connect call failed")

    t = env.settings.training
    res = await runner.run(
        runner.RunRequest(
            backend=t.backend,
            data_path=steel_slice,
            spec_kwargs={"model_type": "lsq", "params": {"stage_sleep_s": 0.3}},
            out_dir=env.tmp / "bundle",
            active_dir=None,
            holdout_fraction=t.holdout_fraction,
            timeout_s=120.0,
            grace_s=3.0,
            job_id="runner-callbacks",
        ),
        on_progress,
        on_log,
        cancel_requested,
    )
    assert res.outcome == "ok", res.error
    assert res.exitcode == 0
    assert calls["progress"] >= 10 and calls["log"] >= 1 and calls["cancel"] >= 1
