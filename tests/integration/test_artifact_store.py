"""The PostgreSQL artifact store on the real database: round trip, checksums refused, size bound,
concurrent first loads from several processes, and a bundle committed with its registry row."""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import tarfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import asyncpg
import pandas as pd
import pytest

from schemas.events import ModelUpdated, TrainingRequest, utc_now
from schemas.jobs import JobStatus
from stream_app.lifecycle.artifact_bundle import Prepared, pack, tree_digest
from stream_app.lifecycle.artifact_pg import PostgresArtifactStore, parse_uri
from stream_app.lifecycle.artifacts import ArtifactError
from stream_app.lifecycle.coord import JobChannel, TrainingLock, redis_client
from stream_app.lifecycle.service import TrainingService
from stream_app.settings import Settings
from stream_app.store import migrations
from stream_app.store import repository as repo
from stream_app.store.pool import connect
from tests.conftest import DATA_DIR
from tests.integration.registry_support import fresh_schema_pool

pytestmark = pytest.mark.integration
Schema = tuple[Settings, asyncpg.Pool, str]


def connector(settings: Settings, schema: str) -> Callable[[], Awaitable[asyncpg.Connection]]:
    async def open_conn() -> asyncpg.Connection:
        conn = await connect(settings)
        await conn.execute(f'SET search_path = "{schema}"')
        return conn

    return open_conn


def make_store(settings: Settings, schema: str, cache: Path) -> PostgresArtifactStore:
    return PostgresArtifactStore(settings, cache, connector(settings, schema))


def bundle(tmp: Path, seed: int = 1) -> Path:
    src = tmp / f"bundle-{seed}"
    (src / "model").mkdir(parents=True, exist_ok=True)
    (src / "metadata.json").write_text(f'{{"seed": {seed}}}')
    (src / "model" / "model.pkl").write_bytes(bytes((i * seed) % 256 for i in range(200_000)))
    return src


@pytest.fixture
async def schema(tmp_path: Path) -> AsyncIterator[Schema]:
    settings = Settings().with_changes(state_dir=tmp_path / "state")
    async with fresh_schema_pool(settings) as pool:
        yield settings, pool, await pool.fetchval("SELECT current_schema()")


async def test_round_trip_between_hosts_with_no_shared_folder(schema: Schema, tmp_path: Path) -> None:
    settings, pool, name = schema
    writer = make_store(settings, name, tmp_path / "host-a")
    reader = make_store(settings, name, tmp_path / "host-b")
    src = bundle(tmp_path)
    uri = await asyncio.to_thread(writer.put_dir, src, "plant-1")
    ident, digest = parse_uri(uri)
    assert uri == f"postgres://artifacts/{ident}?sha256={digest}"
    assert settings.postgres.password.get_secret_value() not in uri and "@" not in uri
    row = await pool.fetchrow("SELECT prefix, sha256, size_bytes FROM artifacts WHERE id = $1", ident)
    assert dict(row) == {"prefix": "plant-1", "sha256": digest, "size_bytes": 200_000 + len('{"seed": 1}')}
    got = await asyncio.to_thread(reader.get_dir, uri)
    assert got.is_relative_to(tmp_path / "host-b") and tree_digest(got) == tree_digest(src) == digest
    assert (got / "model" / "model.pkl").read_bytes() == (src / "model" / "model.pkl").read_bytes()
    await asyncio.to_thread(writer.delete, uri)
    await asyncio.to_thread(writer.delete, uri)  # idempotent
    with pytest.raises(ArtifactError, match="does not exist"):
        await asyncio.to_thread(make_store(settings, name, tmp_path / "host-c").get_dir, uri)


def other_archive(tmp: Path) -> bytes:
    return pack(bundle(tmp, seed=7), 1 << 30).archive


async def test_bytes_changed_in_the_table_are_refused(schema: Schema, tmp_path: Path) -> None:
    settings, pool, name = schema
    store = make_store(settings, name, tmp_path / "writer")
    uri = await asyncio.to_thread(store.put_dir, bundle(tmp_path), "plant-1")
    ident, digest = parse_uri(uri)
    fresh = iter(range(100))

    def load() -> Path:
        return make_store(settings, name, tmp_path / f"host-{next(fresh)}").get_dir(uri)

    # another valid archive, checksum column untouched: the content does not match the URI's checksum
    await pool.execute("UPDATE artifacts SET archive = $2 WHERE id = $1", ident, other_archive(tmp_path))
    expected = rf"is corrupt: its content has sha256 .*, the registry expects {digest}"
    with pytest.raises(ArtifactError, match=expected):
        await asyncio.to_thread(load)
    # bytes flipped: not even an archive any more
    await pool.execute("UPDATE artifacts SET archive = $2 WHERE id = $1", ident, b"\x1f\x8b" + b"\0" * 100)
    with pytest.raises(ArtifactError, match="archive is damaged"):
        await asyncio.to_thread(load)
    # the checksum column rewritten as well: still refused (the registry's URI pins the content)
    await pool.execute("UPDATE artifacts SET sha256 = $2 WHERE id = $1", ident, "e" * 64)
    with pytest.raises(ArtifactError, match=r"the store records sha256 e{64}"):
        await asyncio.to_thread(load)
    # nothing half-written was left in any cache
    left = await asyncio.to_thread(lambda: [p for p in tmp_path.glob("host-*/*") if p.name[0] != "."])
    assert not left


async def test_size_bound(schema: Schema, tmp_path: Path) -> None:
    settings, pool, name = schema
    small = PostgresArtifactStore(
        settings.with_changes(artifact_max_bytes=100_000), tmp_path / "small", connector(settings, name)
    )
    with pytest.raises(ArtifactError, match="over the store's limit of 100000"):
        await asyncio.to_thread(small.put_dir, bundle(tmp_path), "plant-1")
    assert await pool.fetchval("SELECT count(*) FROM artifacts") == 0
    uri = await asyncio.to_thread(make_store(settings, name, tmp_path / "big").put_dir, bundle(tmp_path), "p")
    with pytest.raises(ArtifactError, match="over the limit of 100000"):
        await asyncio.to_thread(small.get_dir, uri)


def _load_in_process(schema: str, cache: str, uri: str) -> tuple[str, str]:
    settings = Settings()  # the same database, from the environment this process inherited
    folder = make_store(settings, schema, Path(cache)).get_dir(uri)
    return str(folder), tree_digest(folder)


async def test_concurrent_first_loads_in_several_processes(schema: Schema, tmp_path: Path) -> None:
    settings, _, name = schema
    uri = await asyncio.to_thread(make_store(settings, name, tmp_path / "w").put_dir, bundle(tmp_path), "p")
    _, digest = parse_uri(uri)
    cache = tmp_path / "shared-cache"
    args = (name, str(cache), uri)
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = await asyncio.gather(
            *(asyncio.wrap_future(pool.submit(_load_in_process, *args)) for _ in range(4))
        )
    assert len({folder for folder, _ in results}) == 1
    assert [d for _, d in results] == [digest] * 4
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == [Path(results[0][0]).name]


async def test_tampered_cached_copy_is_refused_then_fetched_again(schema: Schema, tmp_path: Path) -> None:
    settings, _, name = schema
    store = make_store(settings, name, tmp_path / "cache")
    uri = await asyncio.to_thread(store.put_dir, bundle(tmp_path), "p")
    folder = await asyncio.to_thread(store.get_dir, uri)
    (folder / "metadata.json").write_text('{"seed": 666}')
    with pytest.raises(ArtifactError, match=r"cached copy .* does not match its checksum"):
        await asyncio.to_thread(store.get_dir, uri)
    again = await asyncio.to_thread(store.get_dir, uri)
    assert tree_digest(again) == parse_uri(uri)[1]


async def test_bundle_and_version_commit_together(schema: Schema, tmp_path: Path) -> None:
    settings, pool, name = schema
    store = make_store(settings, name, tmp_path / "cache")
    await repo.ensure_asset(pool, "plant-1")

    async def register(fail: bool) -> str:
        prepared = await asyncio.to_thread(store.prepare, bundle(tmp_path), "plant-1")
        async with pool.acquire() as conn, conn.transaction():
            await store.commit(conn, prepared)
            await repo.register_version(
                conn,
                asset_id="plant-1",
                model_type="lsq",
                params={},
                metrics={},
                artifact_uri=prepared.uri,
                job_id=None,
            )
            if fail:
                raise RuntimeError("registration failed after the insert")
        return prepared.uri

    with pytest.raises(RuntimeError):
        await register(fail=True)
    assert await pool.fetchval("SELECT count(*) FROM artifacts") == 0
    assert await repo.list_versions(pool, "plant-1") == []
    uri = await register(fail=False)
    versions = await repo.list_versions(pool, "plant-1")
    assert [v.artifact_uri for v in versions] == [uri]
    assert await pool.fetchval("SELECT count(*) FROM artifacts") == 1


class InTransactionOnly(PostgresArtifactStore):
    """The PostgreSQL store, recording that bundles are written in an open transaction and only so."""

    commits: list[str]

    async def commit(self, conn: asyncpg.Connection, prepared: Prepared) -> None:
        assert conn.is_in_transaction()
        await super().commit(conn, prepared)
        self.commits = [*getattr(self, "commits", []), prepared.uri]

    def put_dir(self, local_dir: Path, prefix: str = "") -> str:
        raise AssertionError("a training job stores its bundle with its registration, not before it")


async def test_a_training_job_stores_its_bundle_in_postgres(schema: Schema, tmp_path: Path) -> None:
    settings, pool, name = schema
    data = tmp_path / "steel.csv"
    pd.read_csv(DATA_DIR / "energy" / "steel_industry_2018_15min.csv", nrows=2016).to_csv(data, index=False)
    settings = settings.with_changes(
        topic_prefix=f"t{uuid.uuid4().hex[:10]}",
        training_backend="tests.integration.lsq_backend",
        data_file_roots=(tmp_path,),
    )
    store = InTransactionOnly(settings, tmp_path / "worker-cache", connector(settings, name))
    client = redis_client(settings)
    published: list[ModelUpdated] = []

    async def publish(ev: ModelUpdated) -> None:
        published.append(ev)

    service = TrainingService(
        settings=settings,
        pool=pool,
        lock=TrainingLock(client, settings.kafka.topic_prefix, 5000),
        channel=JobChannel(client, settings.kafka.topic_prefix, 100, 600),
        store=store,
        publish=publish,
    )
    try:
        request = TrainingRequest(
            request_id=uuid.uuid4(),
            asset_id="plant-1",
            model_type="lsq",
            params={},
            data_url=data.as_uri(),
            requested_at=utc_now(),
        )
        job = await service.handle(request)
    finally:
        await client.aclose()
    assert job.status is JobStatus.TRAINED, job.error
    (version,) = await repo.list_versions(pool, "plant-1")
    ident, digest = parse_uri(version.artifact_uri)
    assert await pool.fetchval("SELECT sha256 FROM artifacts WHERE id = $1", ident) == digest
    assert store.commits == [version.artifact_uri]  # inside the registration's transaction, not before it
    assert [e.artifact_uri for e in published] == [version.artifact_uri]
    api_host = make_store(settings, name, tmp_path / "api-cache")
    folder = await asyncio.to_thread(api_host.get_dir, version.artifact_uri)
    assert (folder / "coef.npy").is_file()


def test_archive_helper_is_a_real_targz(tmp_path: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(other_archive(tmp_path)), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["metadata.json", "model/model.pkl"]


def steel_frame() -> pd.DataFrame:
    steel = pd.read_csv(DATA_DIR / "energy" / "steel_industry_2018_15min.csv", nrows=3200)
    return pd.DataFrame(
        {"timestamp": pd.to_datetime(steel["timestamp"], utc=True), "value": steel["Usage_kWh"]}
    )


@pytest.fixture(scope="module")
def lgbm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real LightGBM bundle (input length 673 points)."""
    from trainers.backend import TrainSpec, train

    out = tmp_path_factory.mktemp("lgbm") / "bundle"
    train(steel_frame().iloc[:2400].reset_index(drop=True), TrainSpec("lightgbm", {"n_estimators": 20})).save(
        out
    )
    return out


@pytest.mark.ml
async def test_a_worker_keeps_its_model_when_the_new_bundle_is_corrupt(tmp_path: Path, lgbm: Path) -> None:
    from agents.model_updates import apply_update
    from stream_app import metrics
    from stream_app.lifecycle.artifacts import open_store
    from stream_app.serving.live import LiveModels
    from stream_app.serving.loader import bundle_loader

    settings = Settings().with_changes(state_dir=tmp_path / "worker-host", window_size=2000)
    conn = await connect(settings)  # the worker's database (public schema), migrated
    try:
        await migrations.upgrade(conn)
    finally:
        await conn.close()
    store = open_store(settings)
    asset = f"corrupt-{uuid.uuid4().hex[:8]}"
    loader = bundle_loader(settings)
    live = LiveModels(loader, horizon=24)

    def event(version: str, uri: str) -> bytes:
        return (
            ModelUpdated(
                asset_id=asset,
                model_id="lightgbm",
                model_version=version,
                model_type="lightgbm",
                artifact_uri=uri,
                action="promoted",
                updated_at=utc_now(),
            )
            .model_dump_json()
            .encode()
        )

    v1 = await asyncio.to_thread(store.put_dir, lgbm, asset)
    v2 = await asyncio.to_thread(store.put_dir, lgbm, asset)
    pool_conn = await connect(settings)
    try:
        await pool_conn.execute(
            "UPDATE artifacts SET archive = $2 WHERE id = $1", parse_uri(v2)[0], other_archive(tmp_path)
        )
        failures = metrics.MODEL_LOAD_FAILURES._value.get()
        assert await apply_update(event("1", v1), live, loader) is True
        assert live.label_of(asset) == "lightgbm/1"
        assert await apply_update(event("2", v2), live, loader) is False
        assert live.label_of(asset) == "lightgbm/1"  # still served by the version it had
        assert metrics.MODEL_LOAD_FAILURES._value.get() == failures + 1
    finally:
        for uri in (v1, v2):
            await asyncio.to_thread(store.delete, uri)
        await pool_conn.close()


@pytest.mark.ml
async def test_the_api_answers_with_the_online_model_when_the_bundle_is_corrupt(
    tmp_path: Path, lgbm: Path
) -> None:
    from api.http.envelope import Envelope
    from api.routes.inference import PredictionPublic
    from stream_app.lifecycle.artifacts import open_store
    from tests.integration.api.conftest import keyed_api

    frame = steel_frame()
    settings = Settings().with_changes(state_dir=tmp_path / "api-host", api_model_lookup_s=0.0)
    history = frame.iloc[2400:3100]
    body = {
        "historical_data": [
            {"timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": float(v)}
            for t, v in zip(history["timestamp"], history["value"], strict=True)
        ],
        "forecast_horizon": 24,
    }
    async with keyed_api(settings) as api:
        pool = await api.resources.pool()
        store = open_store(settings)
        asset = f"corrupt-{uuid.uuid4().hex[:8]}"
        await repo.upsert_asset(pool, asset)
        for version in (1, 2):
            uri = await asyncio.to_thread(store.put_dir, lgbm, asset)
            async with pool.acquire() as conn:
                mv = await repo.register_version(
                    conn,
                    asset_id=asset,
                    model_type="lightgbm",
                    params={},
                    metrics={},
                    artifact_uri=uri,
                    job_id=None,
                )
                await repo.activate(conn, asset, mv.version, "test")
            if version == 2:  # the second version's bytes are changed in the table before any host loads it
                ident, _ = parse_uri(uri)
                await pool.execute(
                    "UPDATE artifacts SET archive = $2 WHERE id = $1", ident, other_archive(tmp_path)
                )
            r = await api.client.post(f"/api/v1/assets/{asset}/predict", json=body, headers=api.auth("read"))
            assert r.status_code == 200, r.text
            got = Envelope[PredictionPublic].model_validate(r.json()).data
            if version == 1:
                assert got.model.kind == "trained" and got.model_version == "1"
            else:
                assert got.model.kind == "online", got.model
                assert got.model.fallback_reason == "lightgbm version 2 could not be loaded"
        await pool.execute("DELETE FROM model_versions WHERE asset_id = $1", asset)
