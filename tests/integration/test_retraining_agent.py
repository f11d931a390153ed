"""The retraining agent in a real `kilowatch worker` on Kafka, with PostgreSQL and Redis.

Training backend: ``tests.integration.lsq_backend`` (re-point to ``trainers.backend`` after the trainers
merge). Runs on the public schema, which `make integration` upgrades first (the test upgrades too).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pandas as pd
import pytest

from schemas.events import ModelUpdated, TrainingRequest, utc_now
from stream_app.kafka.clients import produce, producer
from stream_app.lifecycle.artifacts import LocalArtifactStore
from stream_app.lifecycle.coord import JobChannel, TrainingLock, redis_client
from stream_app.lifecycle.service import TrainingService
from stream_app.settings import Settings
from stream_app.store import history, migrations
from stream_app.store import repository as repo
from stream_app.store.pool import connect
from tests.conftest import DATA_DIR
from tests.integration.harness import ROOT, TopicReader, Worker, isolated_settings
from tests.integration.harness import produce as harness_produce

pytestmark = pytest.mark.integration
T = TypeVar("T")
STEEL = DATA_DIR / "energy" / "steel_industry_2018_15min.csv"


def db(settings: Settings, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def go() -> T:
        conn = await connect(settings)
        try:
            return await fn(conn)
        finally:
            await conn.close()

    return asyncio.run(go())


def send(settings: Settings, kind: str, key: bytes, value: bytes) -> None:
    prod = producer(settings)
    produce(prod, settings.kafka.topic(kind), key, value)  # type: ignore[arg-type]
    assert prod.flush(30) == 0


def request(asset: str, data_url: str | None, **params: Any) -> bytes:
    req = TrainingRequest(
        request_id=uuid.uuid4(),
        asset_id=asset,
        model_type="lsq",
        params=params,
        data_url=data_url,
        requested_at=utc_now(),
    )
    return req.model_dump_json().encode()


def wait_jobs(
    settings: Settings,
    asset: str,
    done: Callable[[list[repo.Job]], bool],
    worker: Worker,
    timeout: float = 120.0,
) -> list[repo.Job]:
    deadline = time.monotonic() + timeout
    jobs: list[repo.Job] = []
    while time.monotonic() < deadline:
        jobs = db(settings, lambda c: repo.list_jobs(c, asset))
        if done(jobs):
            return jobs
        assert worker.alive(), worker.tail()
        time.sleep(0.5)
    raise AssertionError(f"jobs of {asset}: {[(j.status, j.error) for j in jobs]}\n{worker.tail()}")


def all_done(n: int) -> Callable[[list[repo.Job]], bool]:
    return lambda js: len(js) == n and all(j.terminal for j in js)


def test_requests_jobs_updates_duplicates_schedule_and_rollback(tmp_path: Path) -> None:
    settings, env = isolated_settings(
        tmp_path,
        training_backend="tests.integration.lsq_backend",
        artifact_root=str(tmp_path / "artifacts"),
        retrain_check_every_s=2.0,
        retrain_default_model="lsq",
        training_lock_ttl_ms=5000,
        emit_scores=False,
        champion_margin=0.0,  # a retrain on the same data ties the champion, and a tie promotes
    )
    env["KILOWATCH_DATA_FILE_ROOTS"] = json.dumps([str(tmp_path), str(DATA_DIR)])
    env["PYTHONPATH"] = str(ROOT)  # the spawned training process imports the test backend
    settings = settings.with_changes(artifact_root=tmp_path / "artifacts")
    db(settings, migrations.upgrade)
    data = tmp_path / "steel.csv"
    frame = pd.read_csv(STEEL, nrows=3 * 7 * 96)
    frame.to_csv(data, index=False)
    tag = settings.kafka.topic_prefix
    a, b, c = f"{tag}-a", f"{tag}-b", f"{tag}-c"

    # Asset c: scheduled retraining from its readings history.
    ts = pd.to_datetime(frame["timestamp"], utc=True)
    rows = [(c, t.to_pydatetime(), float(v), {}) for t, v in zip(ts, frame["Usage_kWh"], strict=True)]

    async def seed(conn: asyncpg.Connection) -> None:
        await history.insert_readings(conn, rows)
        await repo.upsert_asset(conn, c, retrain_interval=timedelta(hours=1))

    db(settings, seed)
    worker = Worker(env, "w1", tmp_path)
    updates = TopicReader(settings, "model-updates")
    letters = TopicReader(settings, "dead-letters")
    try:
        send(settings, "training-requests", a.encode(), request(a, data.as_uri()))
        send(settings, "training-requests", b"junk", b'{"asset_id": "x", "not": "a request"}')
        for _ in range(2):  # two concurrent requests for b: the lock lets one through
            send(settings, "training-requests", b.encode(), request(b, data.as_uri(), stage_sleep_s=0.3))

        jobs_a = wait_jobs(settings, a, all_done(1), worker)
        assert [(j.status.value, j.error) for j in jobs_a] == [("TRAINED", None)]
        jobs_b = wait_jobs(settings, b, all_done(2), worker)
        outcomes = sorted((j.status.value, j.error or "") for j in jobs_b)
        assert outcomes == [("FAILED", f"another training is running for asset '{b}'"), ("TRAINED", "")]
        jobs_c = wait_jobs(settings, c, all_done(1), worker)
        assert jobs_c[0].status.value == "TRAINED" and jobs_c[0].data_url is None

        got = updates.wait_for(lambda items: len(items) >= 3, 60, "model updates", [worker])
        assert sorted((u["asset_id"], u["model_version"], u["action"]) for u in got) == sorted(
            [(a, "1", "promoted"), (b, "1", "promoted"), (c, "1", "promoted")]
        )
        dl = letters.wait_for(lambda items: len(items) >= 1, 30, "dead letter", [worker])
        assert dl[0]["error"].startswith("invalid training request")

        # A second version of a is promoted; rolling back to 1 (as the API will) publishes too.
        send(settings, "training-requests", a.encode(), request(a, data.as_uri()))
        jobs_a = wait_jobs(settings, a, all_done(2), worker)
        versions = db(settings, lambda conn: repo.list_versions(conn, a))
        assert [(v.version, v.status.value) for v in versions] == [(2, "active"), (1, "retired")], (
            [(j.status.value, j.error) for j in jobs_a],
            worker.tail(),
        )
        asyncio.run(_rollback_via_service(settings, a, 1))
        got = updates.wait_for(lambda items: len(items) >= 5, 60, "rollback update", [worker])
        assert [(u["model_version"], u["action"]) for u in got if u["asset_id"] == a] == [
            ("1", "promoted"),
            ("2", "promoted"),
            ("1", "rolled_back"),
        ]
        versions = db(settings, lambda conn: repo.list_versions(conn, a))
        assert [(v.version, v.status.value) for v in versions] == [(2, "retired"), (1, "active")]
        assert worker.alive()
    finally:
        worker.stop()
        updates.close()
        letters.close()


async def _rollback_via_service(settings: Settings, asset: str, version: int) -> None:
    from stream_app.store.pool import create_pool

    pool = await create_pool(settings)
    client = redis_client(settings)
    prod = producer(settings)

    async def publish(ev: ModelUpdated) -> None:
        produce(
            prod, settings.kafka.topic("model-updates"), ev.asset_id.encode(), ev.model_dump_json().encode()
        )
        assert prod.flush(30) == 0

    service = TrainingService(
        settings=settings,
        pool=pool,
        lock=TrainingLock(client, settings.kafka.topic_prefix, 5000),
        channel=JobChannel(client, settings.kafka.topic_prefix, 100, 600),
        store=LocalArtifactStore(settings.training.artifact_root),
        publish=publish,
    )
    try:
        await service.activate(asset, version, rollback=True)
    finally:
        await pool.close()
        await client.aclose()


def test_drift_timer_asks_for_retraining_from_scored_readings(tmp_path: Path) -> None:
    """Scores of a real series feed the drift monitor; with a threshold any model exceeds, the drift
    timer publishes a TrainingRequest (history source) and the agent runs it as a job."""
    settings, env = isolated_settings(
        tmp_path,
        training_backend="tests.integration.lsq_backend",
        artifact_root=str(tmp_path / "artifacts"),
        retrain_check_every_s=2.0,
        retrain_default_model="lsq",
        emit_scores=True,
        drift_enabled=True,
        drift_threshold=0.001,
        drift_window=16,
    )
    env["PYTHONPATH"] = str(ROOT)
    db(settings, migrations.upgrade)
    asset = f"{settings.kafka.topic_prefix}-d"
    frame = pd.read_csv(STEEL, nrows=200)
    readings = [
        (asset.encode(), json.dumps({"timestamp": t, "value": v}).encode())
        for t, v in zip(frame["timestamp"], frame["Usage_kWh"], strict=True)
    ]
    worker = Worker(env, "w1", tmp_path)
    requests_seen = TopicReader(settings, "training-requests")
    try:
        harness_produce(settings, readings)
        got = requests_seen.wait_for(lambda items: len(items) >= 1, 90, "a drift request", [worker])
        assert got[0]["asset_id"] == asset and got[0]["data_url"] is None and got[0]["model_type"] == "lsq"
        jobs = wait_jobs(settings, asset, lambda js: bool(js) and js[0].terminal, worker)
        assert jobs[0].status.value == "FAILED" and "no readings history" in (jobs[0].error or "")
    finally:
        worker.stop()
        requests_seen.close()
