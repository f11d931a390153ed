"""POST /api/v1/training-jobs with only ``{asset_id, data_url}`` (issue 17): the job trains the default
model type (setting ``training.retrain_default_model``), on the real API, PostgreSQL, Redis and Kafka;
the published TrainingRequest carries the type chosen."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pandas as pd
import pytest

from schemas.events import TrainingRequest
from stream_app.store import repository as repo

from .conftest import Api, keyed_api
from .registry_env import STEEL, TopicTail, registry_settings

pytestmark = pytest.mark.integration
URL = "/api/v1/training-jobs"


@dataclass
class Env:
    api: Api
    requests: TopicTail
    data_url: str
    tag: str


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    tmp: Path = tmp_path_factory.mktemp("training-defaults")
    data = tmp / "steel_1w.csv"
    pd.read_csv(STEEL, nrows=7 * 96).to_csv(data, index=False)
    settings = registry_settings(tmp, retrain_default_model="lsq")
    async with keyed_api(settings) as api:
        await api.resources.producer()  # creates the test's topics
        requests = await TopicTail(settings, "training-requests").start()
        try:
            yield Env(api, requests, data.as_uri(), settings.kafka.topic_prefix)
        finally:
            await requests.stop()


async def _published(env: Env, request_id: str) -> TrainingRequest:
    record = await env.requests.wait_for(
        lambda r: r.value is not None and orjson.loads(r.value)["request_id"] == request_id
    )
    assert record.value is not None
    return TrainingRequest.model_validate_json(record.value)


@pytest.mark.parametrize("extra", [{}, {"model_type": None}])
async def test_asset_and_data_url_alone_train_the_default_model_type(
    env: Env, extra: dict[str, None]
) -> None:
    asset = f"{env.tag}-default-{len(extra)}"
    body = {"asset_id": asset, "data_url": env.data_url, **extra}
    r = await env.api.client.post(URL, json=body, headers=env.api.auth("model"))
    assert r.status_code == 202, r.text
    job = r.json()["data"]
    assert job["model_type"] == "lsq" and job["asset_id"] == asset
    row = await repo.get_job(await env.api.resources.pool(), uuid.UUID(job["id"]))
    assert row.model_type == "lsq"
    assert (await _published(env, job["request_id"])).model_type == "lsq"
    # a retry without the type is the same request as one naming the default type
    key = {"Idempotency-Key": f"default-{uuid.uuid4()}"}
    asset2 = f"{asset}-retry"
    first = await env.api.client.post(
        URL, json={"asset_id": asset2, "data_url": env.data_url}, headers={**env.api.auth("model"), **key}
    )
    named = {"asset_id": asset2, "data_url": env.data_url, "model_type": "lsq"}
    again = await env.api.client.post(URL, json=named, headers={**env.api.auth("model"), **key})
    assert first.status_code == again.status_code == 202, again.text
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    assert again.headers["idempotent-replayed"] == "true"
    for made in (job["id"], first.json()["data"]["id"]):
        await env.api.client.post(f"/api/v1/jobs/{made}/cancel", headers=env.api.auth("model"))


async def test_a_default_the_trainer_does_not_know_is_422_on_model_type(tmp_path: Path) -> None:
    settings = registry_settings(tmp_path)  # default lightgbm; the test trainer knows only lsq
    async with keyed_api(settings) as api:
        body = {"asset_id": "default-unknown", "data_url": "history"}
        r = await api.client.post(URL, json=body, headers=api.auth("model"))
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["code"] == "VALIDATION_ERROR" and err["details"][0]["loc"] == ["body", "model_type"]
        assert "lsq" in err["details"][0]["msg"]
