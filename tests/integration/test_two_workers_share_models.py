"""One artifact store for every host: a model trained and promoted by one worker is served by another
worker and by the API, with no folder shared between them (each has its own state folder, artifact root
and bundle cache; the bundle travels through PostgreSQL). Real Kafka, PostgreSQL, Redis, trainers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from api.http.envelope import Envelope
from api.routes.inference import PredictionPublic
from stream_app.kafka.topics import ensure_topics
from stream_app.lifecycle.artifact_pg import parse_uri
from stream_app.settings import Settings
from stream_app.store import migrations
from stream_app.store import repository as repo
from stream_app.store.pool import connect
from tests.integration.api.conftest import keyed_api
from tests.integration.data import steel_assets
from tests.integration.harness import TopicReader, Worker, isolated_settings, produce
from tests.integration.worker_support import request_training, wait_log

pytestmark = [pytest.mark.integration, pytest.mark.ml]


def host_env(env: dict[str, str], tmp: Path, name: str, **extra: str) -> dict[str, str]:
    """A worker on a host of its own: nothing of it on a folder another process sees."""
    home = tmp / name
    return {
        **env,
        "KILOWATCH_STATE_DIR": str(home / "state"),
        "KILOWATCH_ARTIFACT_ROOT": str(home / "artifacts"),
        "KILOWATCH_ARTIFACT_STORE": "postgres",
        **extra,
    }


def bundles_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.name == "metadata.json"]


def with_conn(settings: Settings, fn: Any) -> Any:
    async def run() -> Any:
        conn = await connect(settings)
        try:
            return await fn(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


def test_a_model_promoted_by_one_worker_is_served_by_another_and_by_the_api(
    tmp_path: Path, data_dir: Path
) -> None:
    settings, env = isolated_settings(tmp_path, topic_partitions=2)
    ensure_topics(settings)
    with_conn(settings, migrations.upgrade)
    data = tmp_path / "data"
    data.mkdir()
    csv = data / "plant.csv"
    pd.read_csv(data_dir / "energy" / "steel_industry_2018_15min.csv", nrows=4000).to_csv(csv, index=False)
    (series,) = steel_assets(data_dir, n_assets=1, n_rows=2000)
    asset = f"{settings.kafka.topic_prefix}-plant"
    msgs = [(asset.encode(), v) for _, v in series.messages()]
    app = settings.worker.app_id
    # Host A trains (it serves the online model only); host B serves trained models and trains nothing.
    # Each is its own consumer group, so both see every reading.
    trainer = Worker(
        host_env(
            env,
            tmp_path,
            "host-a",
            KILOWATCH_APP_ID=f"{app}-a",
            KILOWATCH_TRAINED_MODELS="false",
            KILOWATCH_DATA_FILE_ROOTS=json.dumps([str(data)]),
        ),
        "a",
        tmp_path,
    )
    server = Worker(
        host_env(env, tmp_path, "host-b", KILOWATCH_APP_ID=f"{app}-b", KILOWATCH_RETRAINING_ENABLED="false"),
        "b",
        tmp_path,
    )
    updates, forecasts = TopicReader(settings, "model-updates"), TopicReader(settings, "forecasts")
    try:
        produce(settings, msgs[:900])
        params = {"target": "Usage_kWh", "n_estimators": 60, "threads": 1}
        request_training(settings, asset, "lightgbm", params, csv.as_uri())
        got = updates.wait_for(lambda items: len(items) >= 1, 300, "a model update", [trainer, server])
        assert got[0]["asset_id"] == asset and got[0]["action"] == "promoted"
        version, uri = got[0]["model_version"], got[0]["artifact_uri"]
        ident, digest = parse_uri(uri)
        jobs = with_conn(settings, lambda c: repo.list_jobs(c, asset))
        assert [j.status.value for j in jobs] == ["TRAINED"]

        wait_log(server, f"now scored by lightgbm/{version}", timeout=120.0)
        produce(settings, msgs[900:1800])
        forecasts.wait_for(
            lambda items: sum(f["model_id"] == "lightgbm" for f in items) >= 20,
            180,
            "forecasts of the trained model",
            [trainer, server],
        )
        trained = {
            (f["model_id"], f["model_version"]) for f in forecasts.items if f["model_id"] == "lightgbm"
        }
        assert trained == {("lightgbm", version)}
        # B holds the bundle in its own cache, verified; A never loaded one; no file store was used.
        (cached,) = bundles_under(tmp_path / "host-b" / "state" / "artifact-cache")
        assert cached.parent.name == f"{ident}-{digest[:16]}"
        assert bundles_under(tmp_path / "host-a") == []
        assert (
            not (tmp_path / "host-a" / "artifacts").exists()
            or bundles_under(tmp_path / "host-a" / "artifacts") == []
        )
        assert "now scored by" not in trainer.log_path.read_text(errors="replace")

        # The API, on a third host, answers predict with the version A promoted.
        api_settings = settings.with_changes(
            state_dir=tmp_path / "host-api" / "state", artifact_root=tmp_path / "host-api" / "artifacts"
        )
        history = series_frame(data_dir, 3000, 700)  # the model needs 673 points
        prediction = asyncio.run(predict(api_settings, asset, history))
        assert prediction.model.kind == "trained" and prediction.model_version == version, prediction
        assert len(bundles_under(tmp_path / "host-api" / "state" / "artifact-cache")) == 1
        assert trainer.alive() and server.alive()
    finally:
        trainer.stop()
        server.stop()
        updates.close()
        forecasts.close()


def series_frame(data_dir: Path, start: int, n: int) -> pd.DataFrame:
    df = pd.read_csv(
        data_dir / "energy" / "steel_industry_2018_15min.csv", skiprows=range(1, start + 1), nrows=n
    )
    return pd.DataFrame({"timestamp": pd.to_datetime(df["timestamp"], utc=True), "value": df["Usage_kWh"]})


async def predict(settings: Settings, asset: str, history: pd.DataFrame) -> PredictionPublic:
    body = {
        "historical_data": [
            {"timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": float(v)}
            for t, v in zip(history["timestamp"], history["value"], strict=True)
        ],
        "forecast_horizon": 24,
    }
    async with keyed_api(settings) as api:
        r = await api.client.post(f"/api/v1/assets/{asset}/predict", json=body, headers=api.auth("read"))
    assert r.status_code == 200, r.text
    return Envelope[PredictionPublic].model_validate(r.json()).data
