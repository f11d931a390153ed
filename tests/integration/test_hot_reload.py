"""Model versions reach a running worker through the model-updates topic, without a restart."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from stream_app.kafka.topics import ensure_topics
from stream_app.settings import Settings
from tests.integration.data import steel_assets
from tests.integration.harness import TopicReader, Worker, isolated_settings, produce
from tests.integration.worker_support import publish_model, request_training, wait_log

ASSET = "plant-0"
LIGHTGBM = {"target": "Usage_kWh", "n_estimators": 60, "threads": 1}


def _bundle(data_dir: Path, out: Path, rows: slice) -> Path:
    from trainers.backend import TrainSpec, train

    df = pd.read_csv(data_dir / "energy" / "steel_industry_2018_15min.csv")
    frame = pd.DataFrame(
        {"timestamp": pd.to_datetime(df["timestamp"], utc=True), "value": df["Usage_kWh"].astype(float)}
    ).iloc[rows]
    spec = TrainSpec("lightgbm", {"n_estimators": 60, "threads": 1}, horizon=24)
    model = train(frame.reset_index(drop=True), spec)
    model.save(out)
    return out


def _store(settings: Settings, bundle: Path) -> str:
    from stream_app.lifecycle.artifacts import open_store

    return open_store(settings).put_dir(bundle, prefix=ASSET)


@pytest.mark.kafka4
def test_promotion_and_rollback_reach_a_running_worker(tmp_path: Path, data_dir: Path) -> None:
    settings, env = isolated_settings(tmp_path, topic_partitions=2, artifact_root=tmp_path / "artifacts")
    ensure_topics(settings)
    v1 = _store(settings, _bundle(data_dir, tmp_path / "v1", slice(0, 4000)))
    v2 = _store(settings, _bundle(data_dir, tmp_path / "v2", slice(4000, 8000)))
    (series,) = steel_assets(data_dir, n_assets=1, n_rows=3000)
    msgs = series.messages()
    worker = Worker(env, "hot", tmp_path)
    pid = worker.proc.pid
    forecasts = TopicReader(settings, "forecasts")
    try:
        produce(settings, msgs[:800])
        forecasts.wait_for(lambda items: len(items) >= 800 // 24, 120, "online forecasts", [worker])
        assert {f["model_id"] for f in forecasts.items} == {"online-seasonal"}

        publish_model(settings, ASSET, "lightgbm", "1", v1)
        wait_log(worker, "now scored by lightgbm/1")
        produce(settings, msgs[800:1600])
        forecasts.wait_for(lambda items: len(items) >= 1600 // 24, 120, "v1 forecasts", [worker])
        after_v1 = [f for f in forecasts.items if f["issued_at"] > msgs_ts(msgs, 800)]
        assert after_v1 and {(f["model_id"], f["model_version"]) for f in after_v1} == {("lightgbm", "1")}

        publish_model(settings, ASSET, "lightgbm", "2", v2)
        wait_log(worker, "now scored by lightgbm/2")
        publish_model(settings, ASSET, "lightgbm", "1", v1, action="rolled_back")
        wait_log(worker, "now scored by lightgbm/1", count=2)
        produce(settings, msgs[1600:2400])
        forecasts.wait_for(lambda items: len(items) >= 2400 // 24, 120, "forecasts after rollback", [worker])
        after_rollback = [f for f in forecasts.items if f["issued_at"] > msgs_ts(msgs, 1600)]
        assert {f["model_version"] for f in after_rollback} == {"1"}
        assert worker.alive() and worker.proc.pid == pid  # no restart
    finally:
        worker.stop()
        forecasts.close()


def msgs_ts(msgs: list[tuple[bytes, bytes]], i: int) -> str:
    import orjson

    return str(orjson.loads(msgs[i][1])["timestamp"])


@pytest.mark.integration
def test_training_request_to_new_version_scoring_in_the_stream(tmp_path: Path, data_dir: Path) -> None:
    """The whole lifecycle with the real trainers: request -> job states -> registered, promoted
    version -> model update -> the running worker's forecasts and anomalies carry that version."""
    import asyncio
    import json

    from stream_app.store import migrations
    from stream_app.store import repository as repo
    from stream_app.store.pool import connect

    settings, env = isolated_settings(tmp_path, topic_partitions=2, artifact_root=tmp_path / "artifacts")
    env["KILOWATCH_DATA_FILE_ROOTS"] = json.dumps([str(tmp_path)])
    ensure_topics(settings)

    async def with_conn(fn):  # type: ignore[no-untyped-def]
        conn = await connect(settings)
        try:
            return await fn(conn)
        finally:
            await conn.close()

    asyncio.run(with_conn(migrations.upgrade))
    csv = tmp_path / "plant.csv"
    pd.read_csv(data_dir / "energy" / "steel_industry_2018_15min.csv", nrows=4000).to_csv(csv, index=False)
    (series,) = steel_assets(data_dir, n_assets=1, n_rows=2000)
    asset = f"{settings.kafka.topic_prefix}-plant"
    msgs = [(asset.encode(), v) for _, v in series.messages()]
    worker = Worker(env, "life", tmp_path)
    updates, forecasts = TopicReader(settings, "model-updates"), TopicReader(settings, "forecasts")
    try:
        produce(settings, msgs[:900])
        request_training(settings, asset, "lightgbm", LIGHTGBM, csv.as_uri())
        got = updates.wait_for(lambda items: len(items) >= 1, 300, "a model update", [worker])
        assert got[0]["asset_id"] == asset and got[0]["action"] == "promoted"
        version = got[0]["model_version"]
        jobs = asyncio.run(with_conn(lambda c: repo.list_jobs(c, asset)))
        assert [(j.status.value, j.progress) for j in jobs] == [("TRAINED", 100)]
        wait_log(worker, f"now scored by lightgbm/{version}")
        produce(settings, msgs[900:1800])
        forecasts.wait_for(lambda items: len(items) >= 1800 // 24, 180, "forecasts", [worker])
        later = [f for f in forecasts.items if f["issued_at"] > msgs_ts(msgs, 900)]
        assert later and {(f["model_id"], f["model_version"]) for f in later} == {("lightgbm", version)}
    finally:
        worker.stop()
        updates.close()
        forecasts.close()
