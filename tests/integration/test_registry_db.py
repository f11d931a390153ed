"""Migrations and the registry repository on the real PostgreSQL (`kilowatch infra up`)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from schemas.jobs import InvalidTransition, JobStatus, VersionStatus
from stream_app.settings import Settings
from stream_app.store import history, migrations
from stream_app.store import repository as repo
from stream_app.store.pool import create_pool
from tests.integration.registry_support import fresh_schema_pool

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings()


async def test_upgrade_is_idempotent_and_race_free(settings: Settings) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = await create_pool(settings, min_size=1, max_size=1)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    pool = await create_pool(settings, server_settings={"search_path": schema}, min_size=2, max_size=2)
    try:
        async with pool.acquire() as c1, pool.acquire() as c2:
            with pytest.raises(migrations.MigrationError, match="pending migrations: 0001_registry"):
                await migrations.ensure_current(c1)
            # Two processes upgrading at once: the advisory lock makes one apply, the other see nothing.
            first, second = await asyncio.gather(migrations.upgrade(c1), migrations.upgrade(c2))
            applied_now = sorted(first + second)
            assert applied_now == [m.label for m in migrations.discover()]
            assert await migrations.upgrade(c1) == []
            await migrations.ensure_current(c1)
            rows = await c1.fetch("SELECT version FROM schema_migrations ORDER BY version")
            assert [r["version"] for r in rows] == [m.version for m in migrations.discover()]
    finally:
        await pool.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


async def test_failed_migration_rolls_back_and_is_not_recorded(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE ok_t (x int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE bad_t (x int); SELECT no_such_function();")
    available = migrations.discover(tmp_path)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = await create_pool(settings, min_size=1, max_size=1)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    conn = await asyncpg.connect(
        host=settings.postgres.host,
        port=settings.postgres.port,
        user=settings.postgres.user,
        password=settings.postgres.password.get_secret_value(),
        database=settings.postgres.db,
        server_settings={"search_path": schema},
    )
    try:
        with pytest.raises(migrations.MigrationError, match="0002_bad failed"):
            await migrations.upgrade(conn, available)
        assert [a.version for a in await migrations.applied_migrations(conn)] == [1]
        assert await conn.fetchval("SELECT to_regclass('bad_t')") is None
        with pytest.raises(migrations.MigrationError, match="pending migrations: 0002_bad"):
            await migrations.ensure_current(conn, available)
    finally:
        await conn.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


async def test_job_lifecycle_and_guards(settings: Settings) -> None:
    async with fresh_schema_pool(settings) as pool:
        req = uuid.uuid4()
        job, created = await repo.create_job(
            pool, request_id=req, asset_id="meter-1", model_type="lsq", params={"a": 1}, data_url=None
        )
        assert created and job.status is JobStatus.PENDING and job.params == {"a": 1}
        again, created2 = await repo.create_job(
            pool, request_id=req, asset_id="meter-1", model_type="lsq", params={}, data_url=None
        )
        assert not created2 and again.id == job.id  # idempotent on request_id
        with pytest.raises(InvalidTransition, match="from PENDING to TRAINED"):
            await repo.transition(pool, job.id, JobStatus.TRAINED)
        j = await repo.transition(pool, job.id, JobStatus.PREPARING)
        assert j.started_at is not None and j.finished_at is None
        await repo.transition(pool, job.id, JobStatus.TRAINING)
        await repo.set_progress(pool, job.id, 42.5)
        assert (await repo.get_job(pool, job.id)).progress == pytest.approx(42.5)
        done = await repo.transition(
            pool,
            job.id,
            JobStatus.TRAINED,
            progress=100,
            cpu_percent=97.0,
            peak_rss_mb=120.0,
            duration_s=3.5,
            result={"version": 1},
        )
        assert done.finished_at is not None and done.result == {"version": 1} and done.duration_s == 3.5
        with pytest.raises(InvalidTransition, match="from TRAINED to CANCELED"):
            await repo.transition(pool, job.id, JobStatus.CANCELED)
        await repo.set_progress(pool, job.id, 5)  # ignored on a terminal job
        assert (await repo.get_job(pool, job.id)).progress == 100
        with pytest.raises(repo.NotFound):
            await repo.get_job(pool, uuid.uuid4())


async def test_concurrent_transitions_only_one_wins(settings: Settings) -> None:
    async with fresh_schema_pool(settings) as pool:
        job, _ = await repo.create_job(
            pool, request_id=uuid.uuid4(), asset_id="m", model_type="lsq", params={}, data_url=None
        )
        results = await asyncio.gather(
            repo.transition(pool, job.id, JobStatus.CANCELED),
            repo.transition(pool, job.id, JobStatus.FAILED, error="x"),
            return_exceptions=True,
        )
        assert sum(isinstance(r, repo.Job) for r in results) == 1
        assert sum(isinstance(r, InvalidTransition) for r in results) == 1


async def test_versions_promotion_rollback_and_one_active(settings: Settings) -> None:
    async with fresh_schema_pool(settings) as pool, pool.acquire() as conn:
        vs = [
            await repo.register_version(
                conn,
                asset_id="a1",
                model_type="lsq",
                params={},
                metrics={"mase": 1.0 - i / 10},
                artifact_uri=f"file:///x/{i}",
                job_id=None,
            )
            for i in range(3)
        ]
        assert [v.version for v in vs] == [1, 2, 3]
        assert all(v.status is VersionStatus.CANDIDATE for v in vs)
        assert await repo.active_version(conn, "a1") is None
        active, prev = await repo.activate(conn, "a1", 2, "promoted")
        assert active.status is VersionStatus.ACTIVE and prev is None and active.activated_at is not None
        active, prev = await repo.activate(conn, "a1", 3, "promoted")
        assert prev is not None and prev.version == 2
        rolled, prev = await repo.activate(conn, "a1", 1, "rollback to 1")
        assert rolled.version == 1 and prev is not None and prev.version == 3
        statuses = {v.version: v.status for v in await repo.list_versions(conn, "a1")}
        assert statuses == {1: VersionStatus.ACTIVE, 2: VersionStatus.RETIRED, 3: VersionStatus.RETIRED}
        # The partial unique index: a second active row is refused by the database itself.
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "UPDATE model_versions SET status = 'active' WHERE asset_id = 'a1' AND version = 2"
            )
        with pytest.raises(repo.RegistryConflict, match="active, not a candidate"):
            await repo.delete_candidate(conn, "a1", 1)
        v4 = await repo.register_version(
            conn, asset_id="a1", model_type="lsq", params={}, metrics={}, artifact_uri="u", job_id=None
        )
        assert (await repo.delete_candidate(conn, "a1", v4.version)).version == 4
        with pytest.raises(repo.NotFound):
            await repo.activate(conn, "a1", 99, "nope")


async def test_concurrent_registration_numbers_versions_uniquely(settings: Settings) -> None:
    async with fresh_schema_pool(settings) as pool:

        async def reg() -> int:
            async with pool.acquire() as conn:
                v = await repo.register_version(
                    conn,
                    asset_id="a2",
                    model_type="lsq",
                    params={},
                    metrics={},
                    artifact_uri="u",
                    job_id=None,
                )
                return v.version

        assert sorted(await asyncio.gather(*(reg() for _ in range(4)))) == [1, 2, 3, 4]


async def test_assets_due_for_retraining(settings: Settings) -> None:
    async with fresh_schema_pool(settings) as pool:
        await repo.upsert_asset(pool, "due", retrain_interval=timedelta(hours=1))
        await repo.upsert_asset(pool, "never")
        await repo.upsert_asset(pool, "recent", retrain_interval=timedelta(hours=1), name="R")
        await repo.create_job(
            pool, request_id=uuid.uuid4(), asset_id="recent", model_type="m", params={}, data_url=None
        )
        now = datetime.now(UTC)
        assert [a.asset_id for a in await repo.assets_due_for_retraining(pool, now)] == ["due"]
        later = now + timedelta(hours=2)  # the recent job is open (PENDING): still not due
        assert [a.asset_id for a in await repo.assets_due_for_retraining(pool, later)] == ["due"]
        asset = await repo.upsert_asset(pool, "recent", metadata={"site": "x"})
        assert asset.name == "R" and asset.metadata == {"site": "x"}


async def test_history_round_trip_and_retention(settings: Settings) -> None:
    async with fresh_schema_pool(settings) as pool:
        t0 = datetime(2025, 1, 1, tzinfo=UTC)
        rows = [("h", t0 + timedelta(minutes=15 * i), float(i), {"temp": i / 2}) for i in range(10)]
        assert await history.insert_readings(pool, rows) == 10
        await history.insert_readings(pool, rows[:3])  # redelivery: no duplicates
        data, n = await history.fetch_csv(pool, "h", max_rows=4)
        lines = data.decode().splitlines()
        assert n == 4 and lines[0] == "timestamp,value,temp"
        assert lines[1].startswith("2025-01-01T01:30:00+00:00,6.0,3.0")
        assert await history.delete_older_than(pool, t0 + timedelta(minutes=15 * 5)) == 5
        _, n = await history.fetch_csv(pool, "h", max_rows=100)
        assert n == 5
