"""Training jobs end to end on the real PostgreSQL and Redis: lifecycle, champion/challenger,
rollback, the lock, cancel, timeout and every failure path.

The training backend is ``tests.integration.lsq_backend`` (a real least-squares model with the
trainers API's names); re-point ``training_backend`` at ``trainers.backend`` once the trainers branch lands.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from aiohttp import web

from schemas.events import ModelUpdated, TrainingRequest, utc_now
from schemas.jobs import JobStatus, VersionStatus
from stream_app.lifecycle.artifacts import LocalArtifactStore
from stream_app.lifecycle.coord import JobChannel, TrainingLock, new_token, redis_client
from stream_app.lifecycle.service import TrainingService
from stream_app.settings import Settings
from stream_app.store import history
from stream_app.store import repository as repo
from tests.conftest import DATA_DIR
from tests.integration.registry_support import fresh_schema_pool

pytestmark = pytest.mark.integration

STEEL = DATA_DIR / "energy" / "steel_industry_2018_15min.csv"


@dataclass
class Env:
    settings: Settings
    service: TrainingService
    published: list[ModelUpdated]
    store_root: Path
    tmp: Path

    def request(self, asset: str, data_url: str | None, **params: Any) -> TrainingRequest:
        return TrainingRequest(
            request_id=uuid.uuid4(),
            asset_id=asset,
            model_type=params.pop("model_type", "lsq"),
            params=params,
            data_url=data_url,
            requested_at=utc_now(),
        )

    async def statuses(self, job_id: uuid.UUID) -> list[str]:
        events = await self.service.channel.tail(job_id, "0-0", block_ms=1, count=10_000)
        return [f["status"] for _, f in events if f["kind"] == "status"]

    def bundles(self) -> list[Path]:
        return [p for p in self.store_root.rglob("*") if p.is_dir() and p.parent != self.store_root]


@pytest.fixture(scope="module")
def steel_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three weeks of the real steel-plant year (15-minute readings)."""
    out = tmp_path_factory.mktemp("data") / "steel_3w.csv"
    pd.read_csv(STEEL, nrows=3 * 7 * 96).to_csv(out, index=False)
    return out


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with _env(tmp_path) as e:
        yield e


@asynccontextmanager
async def _env(tmp_path: Path, **overrides: Any) -> AsyncIterator[Env]:
    base = Settings()
    settings = base.with_changes(
        **{
            "topic_prefix": f"t{uuid.uuid4().hex[:10]}",
            "artifact_root": tmp_path / "artifacts",
            "training_backend": "tests.integration.lsq_backend",
            "data_file_roots": (tmp_path.parent.parent, DATA_DIR),  # pytest's base temp folder
            "training_cancel_grace_s": 3.0,
            "training_lock_ttl_ms": 3000,
            **overrides,
        }
    )
    client = redis_client(settings)
    published: list[ModelUpdated] = []

    async def publish(ev: ModelUpdated) -> None:
        published.append(ev)

    async with fresh_schema_pool(settings) as pool:
        store = LocalArtifactStore(settings.training.artifact_root)
        service = TrainingService(
            settings=settings,
            pool=pool,
            lock=TrainingLock(client, settings.kafka.topic_prefix, settings.training.lock_ttl_ms),
            channel=JobChannel(client, settings.kafka.topic_prefix, settings.training.log_lines, 600),
            store=store,
            publish=publish,
        )
        try:
            yield Env(settings, service, published, store.root, tmp_path)
        finally:
            await client.aclose()


async def test_job_lifecycle_registers_and_promotes_first_version(env: Env, steel_slice: Path) -> None:
    job = await env.service.handle(env.request("plant-1", steel_slice.as_uri()))
    assert job.status is JobStatus.TRAINED, job.error
    assert await env.statuses(job.id) == ["PREPARING", "TRAINING", "TRAINED"]
    assert job.progress == 100 and job.started_at and job.finished_at
    assert job.duration_s and job.duration_s > 0
    assert job.cpu_percent is not None and job.cpu_percent > 0
    assert job.peak_rss_mb is not None and job.peak_rss_mb > 20  # a python process with numpy/pandas
    assert job.result and job.result["version"] == 1 and job.result["promoted"] is True
    versions = await repo.list_versions(env.service.pool, "plant-1")
    assert [(v.version, v.status) for v in versions] == [(1, VersionStatus.ACTIVE)]
    assert 0 < versions[0].metrics["holdout"]["mase"] < 5
    bundle = env.service.store.get_dir(versions[0].artifact_uri)
    assert await asyncio.to_thread((bundle / "coef.npy").is_file)
    assert [(e.asset_id, e.model_version, e.action) for e in env.published] == [("plant-1", "1", "promoted")]
    logs = await env.service.channel.logs(job.id)
    assert any("stage 10/10" in line or "registered version 1" in line for line in logs)
    state = await env.service.channel.state(job.id)
    assert state["status"] == "TRAINED" and state["progress"] == "100.0"


async def test_champion_challenger_and_rollback(env: Env, steel_slice: Path) -> None:
    url = steel_slice.as_uri()
    worse = await env.service.handle(env.request("p2", url, bias=40.0))  # v1: no champion -> active
    assert worse.result and worse.result["promoted"]
    same = await env.service.handle(env.request("p2", url, bias=40.0))  # v2: equal, not by the margin
    assert same.status is JobStatus.TRAINED and same.result and not same.result["promoted"]
    assert "does not beat" in same.result["reason"]
    better = await env.service.handle(env.request("p2", url))  # v3: no bias -> clearly better
    assert better.result and better.result["promoted"], better.result
    assert "beats active" in better.result["reason"]
    pool = env.service.pool
    statuses = {v.version: v.status for v in await repo.list_versions(pool, "p2")}
    assert statuses == {1: VersionStatus.RETIRED, 2: VersionStatus.CANDIDATE, 3: VersionStatus.ACTIVE}
    kept = await repo.get_version(pool, "p2", 2)
    assert "does not beat" in kept.reason
    # The champion was measured on the same hold-out as the challenger.
    v3 = await repo.get_version(pool, "p2", 3)
    assert v3.metrics["champion_holdout"]["mase"] > v3.metrics["holdout"]["mase"]

    rolled = await env.service.activate("p2", 1, rollback=True)
    assert rolled.status is VersionStatus.ACTIVE
    assert (await repo.active_version(pool, "p2")).version == 1  # type: ignore[union-attr]
    assert [(e.model_version, e.action) for e in env.published] == [
        ("1", "promoted"),
        ("3", "promoted"),
        ("1", "rolled_back"),
    ]


async def test_duplicate_concurrent_request_is_rejected_by_the_lock(env: Env, steel_slice: Path) -> None:
    first_req = env.request("p3", steel_slice.as_uri(), stage_sleep_s=0.4)
    first = asyncio.create_task(env.service.handle(first_req))
    await _wait_status(env, first_req, "TRAINING")
    second = await env.service.handle(env.request("p3", steel_slice.as_uri()))
    assert second.status is JobStatus.FAILED
    assert second.error == "another training is running for asset 'p3'"
    done = await first
    assert done.status is JobStatus.TRAINED
    # Redelivery of a finished request runs nothing again.
    again = await env.service.handle(first_req)
    assert again.id == done.id and again.status is JobStatus.TRAINED
    assert len(await repo.list_versions(env.service.pool, "p3")) == 1
    # The lock was released: the next request trains.
    assert (await env.service.handle(env.request("p3", steel_slice.as_uri()))).status is JobStatus.TRAINED


async def test_a_request_redelivered_while_its_job_waits_runs_that_job_once(
    env: Env, steel_slice: Path
) -> None:
    """A rebalance can redeliver a request whose job is still PENDING (it holds the asset's lock and
    waits for a training slot; its offset is not yet committed): the second delivery must find the
    lock held by its own job and leave that job alone, not fail it as "another training"."""
    busy_req = env.request("p3a", steel_slice.as_uri(), stage_sleep_s=0.3)  # takes the only slot
    busy = asyncio.create_task(env.service.handle(busy_req))
    await _wait_status(env, busy_req, "TRAINING")
    req = env.request("p3b", steel_slice.as_uri())
    first = asyncio.create_task(env.service.handle(req))
    await _wait_status(env, req, "PENDING")
    for _ in range(500):  # the first delivery takes the lock right after creating the job
        if await env.service.lock.holder("p3b") is not None:
            break
        await asyncio.sleep(0.02)
    again = await env.service.handle(req)  # the redelivery, while the job waits for the slot
    assert again.status is JobStatus.PENDING
    job = await asyncio.wait_for(first, 60)
    assert job.id == again.id and job.status is JobStatus.TRAINED, job.error
    assert [v.version for v in await repo.list_versions(env.service.pool, "p3b")] == [1]
    assert len(await repo.list_jobs(env.service.pool, "p3b")) == 1
    assert (await busy).status is JobStatus.TRAINED


async def test_cancel_ends_the_job_and_registers_nothing(env: Env, steel_slice: Path) -> None:
    req = env.request("p4", steel_slice.as_uri(), stage_sleep_s=2.0)
    task = asyncio.create_task(env.service.handle(req))
    job_id = await _wait_status(env, req, "TRAINING")
    await asyncio.sleep(0.5)
    await env.service.cancel(job_id)
    job = await asyncio.wait_for(task, 30)
    assert job.status is JobStatus.CANCELED and job.error == "training canceled"
    assert job.finished_at and job.duration_s is not None and job.duration_s < 15
    assert await repo.list_versions(env.service.pool, "p4") == []
    assert env.bundles() == [] and env.published == []


async def test_cancel_of_a_pending_job(env: Env) -> None:
    job, _ = await repo.create_job(
        env.service.pool, request_id=uuid.uuid4(), asset_id="p5", model_type="lsq", params={}, data_url=None
    )
    canceled = await env.service.cancel(job.id)
    assert canceled.status is JobStatus.CANCELED and canceled.error == "canceled before it started"


async def test_timeout_terminates_a_child_that_ignores_stop(tmp_path: Path, steel_slice: Path) -> None:
    async with _env(tmp_path, training_timeout_s=3.0, training_cancel_grace_s=1.0) as env:
        job = await env.service.handle(
            env.request("p6", steel_slice.as_uri(), stage_sleep_s=30.0, ignore_stop=True)
        )
        assert job.status is JobStatus.FAILED
        assert job.error == "training timed out after 3 s"
        assert job.duration_s is not None and 3.0 <= job.duration_s < 15
        assert await repo.list_versions(env.service.pool, "p6") == [] and env.bundles() == []
        assert any("timed out" in line for line in await env.service.channel.logs(job.id))


async def test_failure_paths_register_nothing(env: Env, steel_slice: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\xff\x10 not,a\ncsv\x00\x00")
    no_ts = tmp_path / "no_ts.csv"
    no_ts.write_text("a,b\n1,2\n3,4\n")
    tiny = tmp_path / "tiny.csv"
    pd.read_csv(steel_slice, nrows=50).to_csv(tiny, index=False)
    outside = Path("/etc/hostname")
    cases: list[tuple[TrainingRequest, str]] = [
        (env.request("f1", (tmp_path / "missing.csv").as_uri()), "does not exist"),
        (env.request("f2", outside.as_uri()), "outside the allowed data folders"),
        (env.request("f3", "ftp://example.invalid/x.csv"), "unsupported data_url scheme 'ftp'"),
        (env.request("f4", garbage.as_uri()), "training data is not a readable CSV"),
        (env.request("f5", no_ts.as_uri()), "no timestamp column"),
        (
            env.request("f6", tiny.as_uri()),
            "too little data: 40 rows, need at least 202",
        ),  # 50 - 20 % hold-out
        (env.request("f7", steel_slice.as_uri(), crash="raise"), "training failed (see worker log, job "),
        (env.request("f8", steel_slice.as_uri(), crash="exit"), "died without a result (exit code 3)"),
        (env.request("f9", steel_slice.as_uri(), model_type="nope"), "unknown model type 'nope'"),
        (env.request("f10", None), "no readings history for asset 'f10'"),
    ]
    for req, message in cases:
        job = await env.service.handle(req)
        assert job.status is JobStatus.FAILED, (req.asset_id, job)
        assert job.error and message in job.error, (req.asset_id, job.error)
        assert job.finished_at is not None
        assert await repo.list_versions(env.service.pool, req.asset_id) == []
        assert "FAILED" in await env.statuses(job.id)
    assert env.bundles() == [] and env.published == []


async def test_http_data_url_with_size_limit_and_404(tmp_path: Path, steel_slice: Path) -> None:
    body = await asyncio.to_thread(steel_slice.read_bytes)
    app = web.Application()

    async def serve(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/csv")

    app.router.add_get("/data.csv", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    try:
        async with _env(tmp_path, outbound_allow_private=True) as env:  # the server is on loopback
            ok = await env.service.handle(env.request("h1", f"{base}/data.csv?token=secret"))
            assert ok.status is JobStatus.TRAINED, ok.error
            missing = await env.service.handle(env.request("h2", f"{base}/nope.csv"))
            assert missing.status is JobStatus.FAILED and "answered HTTP 404" in (missing.error or "")
            logs = "\n".join(await env.service.channel.logs(ok.id))
            assert "secret" not in logs  # query strings (tokens) never reach the logs
        async with _env(tmp_path, data_url_max_bytes=len(body) // 2, outbound_allow_private=True) as env:
            big = await env.service.handle(env.request("h3", f"{base}/data.csv"))
            assert big.status is JobStatus.FAILED and "byte limit" in (big.error or "")
    finally:
        await runner.cleanup()


async def test_history_data_source(env: Env, steel_slice: Path) -> None:
    frame = pd.read_csv(steel_slice)
    ts = pd.to_datetime(frame["timestamp"], utc=True)
    rows = [
        ("hist-1", t.to_pydatetime(), float(v), {"co2": float(c)})
        for t, v, c in zip(ts, frame["Usage_kWh"], frame["CO2(tCO2)"], strict=True)
    ]
    await history.insert_readings(env.service.pool, rows)
    job = await env.service.handle(env.request("hist-1", None))
    assert job.status is JobStatus.TRAINED, job.error
    assert job.result and job.result["metrics"]["holdout_rows"] == int(len(rows) * 0.2)


async def test_lock_token_semantics(env: Env) -> None:
    lock = env.service.lock
    a, b = new_token(), new_token()
    assert a != b and len(a) == 32
    assert await lock.acquire("L", a)
    assert not await lock.acquire("L", b)
    assert not await lock.release("L", b)  # not the holder: nothing released
    assert not await lock.renew("L", b)
    assert await lock.renew("L", a)
    assert await lock.holder("L") == a
    assert await lock.release("L", a)
    assert await lock.holder("L") is None
    assert await lock.acquire("L", b)
    await asyncio.sleep(env.settings.training.lock_ttl_ms / 1000 + 0.3)  # expiry frees it
    assert await lock.acquire("L", a)
    assert not await lock.release("L", b)  # an expired holder cannot free the new holder's lock


async def _wait_status(env: Env, req: TrainingRequest, status: str, within: float = 30.0) -> uuid.UUID:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        row = await env.service.pool.fetchrow(
            "SELECT id, status FROM training_jobs WHERE request_id = $1", req.request_id
        )
        if row is not None and row["status"] == status:
            return row["id"]  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError(f"job of {req.request_id} never reached {status}")
