"""Training from an uploaded dataset (issue 18): ``data_url: "dataset:<uuid>"`` on the real API,
PostgreSQL, Redis and Kafka, with a real TrainingService (what the worker's retraining agent runs) and
the real trainers (LightGBM), on two months of the household file uploaded as a dataset.

A dataset that is malformed, missing or being preprocessed is refused with 422 on ``data_url`` before
any job is made; the series written for the trainer is the dataset's newest ``history_max_rows``
readings and no more than ``data_url_max_bytes``.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from schemas.datasets import DatasetStatus
from schemas.events import TrainingRequest
from schemas.jobs import JobStatus
from stream_app.lifecycle.datasource import DataSourceError, fetch
from stream_app.lifecycle.service import TrainingService
from stream_app.store import datasets as ds_store
from stream_app.store import repository as repo
from tests.conftest import DATA_DIR

from .conftest import Api, keyed_api
from .registry_env import TopicTail, registry_settings, worker_service

pytestmark = pytest.mark.integration
URL = "/api/v1/training-jobs"
HOUSEHOLD = DATA_DIR / "energy" / "household_sceaux_hourly.csv"
ROWS = 60 * 24  # two months of hourly readings


@dataclass
class Env:
    api: Api
    worker: TrainingService
    requests: TopicTail
    dataset: dict[str, Any]
    tag: str
    tmp: Path

    async def post(self, asset: str, data_url: str, **extra: Any) -> Any:
        body = {"asset_id": asset, "model_type": "lightgbm", "data_url": data_url, **extra}
        return await self.api.client.post(URL, json=body, headers=self.api.auth("model"))

    async def request_of(self, job: dict[str, Any]) -> TrainingRequest:
        record = await self.requests.wait_for(
            lambda r: r.value is not None and orjson.loads(r.value)["request_id"] == job["request_id"]
        )
        assert record.value is not None
        return TrainingRequest.model_validate_json(record.value)

    async def jobs_of(self, asset: str) -> list[repo.Job]:
        return await repo.list_jobs(await self.api.resources.pool(), asset)


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    tmp = tmp_path_factory.mktemp("train-dataset")
    head = pd.read_csv(HOUSEHOLD, nrows=ROWS)
    settings = registry_settings(tmp, training_backend="trainers.backend")
    async with keyed_api(settings) as api, worker_service(settings, api.resources) as worker:
        await api.resources.producer()  # creates the test's topics
        files = {"file": ("sceaux-2m.csv", head.to_csv(index=False).encode(), "text/csv")}
        form = {"timezone": "Europe/Paris", "name": "Sceaux, two months"}
        r = await api.client.post("/api/v1/datasets", files=files, data=form, headers=api.auth("write"))
        assert r.status_code == 201, r.text
        requests = await TopicTail(settings, "training-requests").start()
        try:
            yield Env(api, worker, requests, r.json()["data"], settings.kafka.topic_prefix, tmp)
        finally:
            await requests.stop()


async def test_a_lightgbm_job_trains_from_an_uploaded_dataset(env: Env) -> None:
    dataset = env.dataset
    assert dataset["status"] == "ready" and dataset["row_count"] > ROWS - 5
    asset = f"{env.tag}-from-dataset"
    r = await env.post(asset, f"dataset:{dataset['id']}", params={"horizon": 24, "n_estimators": 40})
    assert r.status_code == 202, r.text
    job = r.json()["data"]
    req = await env.request_of(job)
    assert req.data_url == f"dataset:{dataset['id']}" and req.model_type == "lightgbm"
    done = await env.worker.handle(req)  # what the retraining agent does
    assert done.status is JobStatus.TRAINED, done.error
    shown = (await env.api.client.get(f"/api/v1/jobs/{job['id']}", headers=env.api.auth("read"))).json()
    assert (shown["data"]["status"], shown["data"]["stage"], shown["data"]["progress"]) == (
        "succeeded",
        "TRAINED",
        1,
    )
    r = await env.api.client.get(f"/api/v1/jobs/{job['id']}/logs", headers=env.api.auth("read"))
    lines = r.json()["data"]["lines"]
    assert any(f"fetching data from dataset {dataset['id']}" in line for line in lines), lines
    r = await env.api.client.get(f"/api/v1/assets/{asset}/models", headers=env.api.auth("read"))
    assert [(m["version"], m["status"], m["model_type"]) for m in r.json()["data"]["items"]] == [
        (1, "active", "lightgbm")
    ]
    r = await env.api.client.get(f"/api/v1/jobs/{job['id']}/result", headers=env.api.auth("read"))
    assert 0 < r.json()["data"]["metrics"]["holdout"]["mase"] < 5


@pytest.mark.parametrize("data_url", ["dataset:", "dataset:1234", "dataset:not-a-uuid", "dataset:{x}"])
async def test_a_malformed_dataset_id_is_422_on_data_url(env: Env, data_url: str) -> None:
    asset = f"{env.tag}-malformed"
    r = await env.post(asset, data_url)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["loc"] == ["body", "data_url"]
    assert await env.jobs_of(asset) == []


async def test_a_missing_or_busy_dataset_is_422_on_data_url_and_makes_no_job(env: Env) -> None:
    asset = f"{env.tag}-refused"
    missing = uuid.uuid4()
    r = await env.post(asset, f"dataset:{missing}")
    assert r.status_code == 422, r.text
    detail = r.json()["error"]["details"][0]
    assert detail["loc"] == ["body", "data_url"] and str(missing) in detail["msg"]
    pool = await env.api.resources.pool()
    ident = uuid.UUID(env.dataset["id"])
    await ds_store.set_status(pool, ident, DatasetStatus.PROCESSING)
    try:
        r = await env.post(asset, f"dataset:{ident}")
    finally:
        await ds_store.set_status(pool, ident, DatasetStatus.READY)
    assert r.status_code == 422, r.text
    detail = r.json()["error"]["details"][0]
    assert detail["loc"] == ["body", "data_url"] and "processing" in detail["msg"]
    assert await env.jobs_of(asset) == []


async def test_the_series_written_is_bounded_like_the_history(env: Env) -> None:
    pool = await env.api.resources.pool()
    settings = env.api.resources.settings
    url = f"dataset:{env.dataset['id']}"
    dest = env.tmp / "bounded.csv"
    size = await fetch(url, "any", dest, settings.with_changes(training={"history_max_rows": 100}), pool)
    frame = pd.read_csv(io.BytesIO(dest.read_bytes()), parse_dates=["timestamp"])
    assert size == dest.stat().st_size and list(frame.columns) == ["timestamp", "value"]
    assert len(frame) == 100  # the newest 100
    assert frame["timestamp"].iloc[-1] == pd.Timestamp(env.dataset["end_at"])
    assert frame["timestamp"].is_monotonic_increasing and frame["value"].notna().all()
    small = settings.with_changes(training={"data_url_max_bytes": 1024})
    with pytest.raises(DataSourceError, match="over the 1024-byte limit"):
        await fetch(url, "any", env.tmp / "too-big.csv", small, pool)
    with pytest.raises(DataSourceError, match="dataset does not exist"):
        await fetch(f"dataset:{uuid.uuid4()}", "any", env.tmp / "none.csv", settings, pool)
