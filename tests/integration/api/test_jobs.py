"""Training jobs through the API on the real PostgreSQL, Redis and Kafka: the request reaches the
training-requests topic, a real TrainingService (what the worker's agent runs) trains from it, and the
job's status, logs, live event stream, result and cancellation are served.

Training uses ``tests.integration.lsq_backend`` (a real least-squares model) on three weeks of the real
steel-plant data, so a job takes a second or two.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pandas as pd
import pytest
import uvicorn

from api.app import create_app
from schemas.events import TrainingRequest
from schemas.jobs import JobStatus
from stream_app.lifecycle.service import TrainingService
from stream_app.store import repository as repo

from .conftest import Api, keyed_api
from .registry_env import (
    STEEL,
    TopicTail,
    parse_sse,
    registry_settings,
    wait_event,
    wait_status,
    worker_service,
)

pytestmark = pytest.mark.integration


@dataclass
class Env:
    api: Api
    worker: TrainingService
    requests: TopicTail
    updates: TopicTail
    data_url: str
    tag: str

    def asset(self, name: str) -> str:
        return f"{self.tag}-{name}"

    async def post(self, asset: str, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
        payload = {"asset_id": asset, "model_type": "lsq", "data_url": self.data_url, **body}
        return await self.api.client.post(
            "/api/v1/training-jobs", json=payload, headers={**self.api.auth("model"), **(headers or {})}
        )

    async def request_of(self, job: dict[str, Any]) -> TrainingRequest:
        """The TrainingRequest the API published for ``job``, read back from the topic."""
        record = await self.requests.wait_for(
            lambda r: r.value is not None and orjson.loads(r.value)["request_id"] == job["request_id"]
        )
        assert record.key == job["asset_id"].encode() and record.value is not None
        return TrainingRequest.model_validate_json(record.value)

    async def job(self, job_id: str) -> dict[str, Any]:
        r = await self.api.client.get(f"/api/v1/jobs/{job_id}", headers=self.api.auth("read"))
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()["data"]
        return data


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    tmp = tmp_path_factory.mktemp("jobs-api")
    data = tmp / "steel_3w.csv"
    pd.read_csv(STEEL, nrows=3 * 7 * 96).to_csv(data, index=False)
    settings = registry_settings(tmp)
    async with keyed_api(settings) as api, worker_service(settings, api.resources) as worker:
        await api.resources.producer()  # creates the test's topics
        requests = await TopicTail(settings, "training-requests").start()
        updates = await TopicTail(settings, "model-updates").start()
        try:
            yield Env(api, worker, requests, updates, data.as_uri(), settings.kafka.topic_prefix)
        finally:
            await requests.stop()
            await updates.stop()


async def test_a_training_job_is_stored_pending_and_its_request_published(env: Env) -> None:
    asset = env.asset("accept")
    r = await env.post(asset, params={"season": 96, "horizon": 12})
    assert r.status_code == 202, r.text
    job = r.json()["data"]
    assert job["status"] == "PENDING" and job["asset_id"] == asset and job["progress"] == 0
    row = await repo.get_job(await env.api.resources.pool(), uuid.UUID(job["id"]))
    assert row.status is JobStatus.PENDING and str(row.request_id) == job["request_id"]
    req = await env.request_of(job)
    assert (req.asset_id, req.model_type, req.params, req.data_url) == (
        asset,
        "lsq",
        {"season": 96, "horizon": 12},
        env.data_url,
    )
    # One open job per asset: a second one is refused until the first ends.
    again = await env.post(asset)
    assert again.status_code == 409 and again.json()["error"]["code"] == "CONFLICT"
    assert job["id"] in again.json()["error"]["message"]
    r = await env.api.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=env.api.auth("model"))
    assert r.status_code == 200 and r.json()["data"] == {"canceled": True}
    shown = await env.job(job["id"])
    assert (shown["type"], shown["status"], shown["stage"], shown["progress"]) == (
        "training",
        "canceled",
        "CANCELED",
        0,
    )


async def test_retries_with_the_same_key_or_request_id_make_one_job(env: Env) -> None:
    asset = env.asset("retry")
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    first = await env.post(asset, headers=key)
    second = await env.post(asset, headers=key)
    assert first.status_code == second.status_code == 202
    assert first.json()["data"]["id"] == second.json()["data"]["id"]
    assert second.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    pool = await env.api.resources.pool()
    count = await pool.fetchval("SELECT count(*) FROM training_jobs WHERE asset_id = $1", asset)
    assert count == 1
    # The same key for another request is a client error, not a silent replay.
    other = await env.post(asset, headers=key, params={"season": 48})
    assert other.status_code == 409 and "different training request" in other.json()["error"]["message"]
    # Another API key's identical Idempotency-Key is a different request.
    admin_headers = {**env.api.auth("admin"), **key}
    body = {"asset_id": env.asset("retry-2"), "model_type": "lsq"}
    r = await env.api.client.post("/api/v1/training-jobs", json=body, headers=admin_headers)
    assert r.status_code == 202 and r.json()["data"]["id"] != first.json()["data"]["id"]
    # Concurrent retries: one job, one message.
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    racing = await asyncio.gather(*(env.post(env.asset("retry-4"), headers=key) for _ in range(6)))
    assert {b.status_code for b in racing} == {202} and len({b.json()["data"]["id"] for b in racing}) == 1
    rid = racing[0].json()["data"]["request_id"]
    sent = [m for m in await env.requests.drain() if m.value and orjson.loads(m.value)["request_id"] == rid]
    assert len(sent) == 1
    # A body request_id works the same way.
    rid = str(uuid.uuid4())
    a = await env.post(env.asset("retry-3"), request_id=rid)
    b = await env.post(env.asset("retry-3"), request_id=rid)
    assert a.status_code == b.status_code == 202
    assert a.json()["data"]["id"] == b.json()["data"]["id"] and a.json()["data"]["request_id"] == rid
    for job in (first, r, a, racing[0]):
        jid = job.json()["data"]["id"]
        assert (
            await env.api.client.post(f"/api/v1/jobs/{jid}/cancel", headers=env.api.auth("model"))
        ).is_success


@pytest.mark.parametrize(
    ("body", "headers", "loc", "text"),
    [
        ({"model_type": "prophet"}, {}, ["body", "model_type"], "unknown model type"),
        ({"params": {"season": -1}}, {}, ["body", "params"], "season must be a positive integer"),
        ({"params": {"x": "y" * 20_000}}, {}, ["body", "params"], "at most 16384 bytes"),
        ({"data_url": "ftp://example.org/a.csv"}, {}, ["body", "data_url"], "http://, https://, file://"),
        ({"data_url": "https:///no-host.csv"}, {}, ["body", "data_url"], "needs a host"),
        ({"data_url": "file:///etc/passwd"}, {}, ["body", "data_url"], "outside the allowed data folders"),
        ({"asset_id": "bad asset id!"}, {}, ["body", "asset_id"], "pattern"),
        ({"priority": 1}, {}, ["body", "priority"], "Extra inputs"),
        ({"request_id": "not-a-uuid"}, {}, ["body", "request_id"], "UUID"),
        (
            {"request_id": str(uuid.uuid4())},
            {"Idempotency-Key": "k1"},
            ["header", "Idempotency-Key"],
            "not both",
        ),
    ],
)
async def test_invalid_training_jobs_are_422_with_the_field(
    env: Env, body: dict[str, Any], headers: dict[str, str], loc: list[str], text: str
) -> None:
    payload = {"asset_id": env.asset("invalid"), "model_type": "lsq", **body}
    r = await env.api.client.post(
        "/api/v1/training-jobs", json=payload, headers={**env.api.auth("model"), **headers}
    )
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "VALIDATION_ERROR"
    assert any(d["loc"] == loc and text in d["msg"] for d in err["details"]), err["details"]
    pool = await env.api.resources.pool()
    assert (
        await pool.fetchval("SELECT count(*) FROM training_jobs WHERE asset_id = $1", payload["asset_id"])
        == 0
    )


@pytest.mark.parametrize(
    ("model_type", "params", "loc", "text"),
    [
        ("lsq", {}, ["body", "model_type"], "choose one of lightgbm"),
        ("lightgbm", {"n_trees": 5}, ["body", "params", "n_trees"], "unknown params for lightgbm: ['n_t"),
        ("lightgbm", {"horizon": 0}, ["body", "params"], "horizon must be an integer in 1..1000"),
        ("tide", {"quantile": "high"}, ["body", "params"], "not supported"),
    ],
)
async def test_the_configured_trainer_checks_model_types_and_params(
    api: Api, model_type: str, params: dict[str, Any], loc: list[str], text: str
) -> None:
    """With the default backend (trainers.backend), as the worker would check them before training."""
    body = {"asset_id": "validation-only", "model_type": model_type, "params": params}
    r = await api.client.post("/api/v1/training-jobs", json=body, headers=api.auth("model"))
    assert r.status_code == 422, r.text
    assert any(d["loc"] == loc and text in d["msg"] for d in r.json()["error"]["details"]), r.text


async def test_data_url_credentials_and_query_are_not_shown(env: Env) -> None:
    url = "https://reader:s3cret@data.example.org:8443/meters/a.csv?token=t0ken#frag"
    r = await env.post(env.asset("secret"), data_url=url)
    assert r.status_code == 202, r.text
    job = r.json()["data"]
    assert job["data_url"] == "https://data.example.org:8443/meters/a.csv"
    shown = await env.api.client.get(f"/api/v1/jobs/{job['id']}", headers=env.api.auth("read"))
    listed = await env.api.client.get(
        "/api/v1/jobs", params={"asset_id": job["asset_id"]}, headers=env.api.auth("read")
    )
    for text in (r.text, shown.text, listed.text):
        assert "s3cret" not in text and "t0ken" not in text
    assert (await env.request_of(job)).data_url == url  # the worker gets the whole URL
    await env.api.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=env.api.auth("model"))


async def test_a_retry_sends_the_request_a_failed_attempt_did_not(env: Env) -> None:
    """The row exists but nothing was queued (the first attempt stopped in between): the retry with
    the same request_id queues it."""
    asset, rid = env.asset("resend"), uuid.uuid4()
    pool = await env.api.resources.pool()
    row, _ = await repo.create_job(
        pool, request_id=rid, asset_id=asset, model_type="lsq", params={}, data_url=env.data_url
    )
    r = await env.post(asset, request_id=str(rid))
    assert r.status_code == 202 and r.json()["data"]["id"] == str(row.id)
    assert r.headers["idempotent-replayed"] == "true"
    req = await env.request_of(r.json()["data"])
    assert req.request_id == rid and req.data_url == env.data_url
    assert (await env.worker.channel.state(row.id))["status"] == "PENDING"
    await env.api.client.post(f"/api/v1/jobs/{row.id}/cancel", headers=env.api.auth("model"))


async def test_starting_a_job_needs_the_write_scope(env: Env) -> None:
    body = {"asset_id": env.asset("scope"), "model_type": "lsq"}
    r = await env.api.client.post("/api/v1/training-jobs", json=body, headers=env.api.auth("read"))
    assert r.status_code == 403


async def test_a_job_trains_from_the_topic_and_reports_its_result(env: Env) -> None:
    asset = env.asset("e2e")
    job = (await env.post(asset)).json()["data"]
    done = await env.worker.handle(await env.request_of(job))  # what the retraining agent does
    assert done.status is JobStatus.TRAINED, done.error
    assert str(done.id) == job["id"]  # the agent ran the API's row, no second job

    shown = await env.job(job["id"])
    assert (shown["type"], shown["status"], shown["stage"], shown["progress"]) == (
        "training",
        "succeeded",
        "TRAINED",
        1,
    )
    assert shown["started_at"] and shown["finished_at"] and shown["training"]["duration_s"] > 0
    assert shown["result_id"] == 1 and shown["training"]["promoted"] is True and shown["error"] is None
    assert shown["training"]["asset_id"] == asset and shown["training"]["model_type"] == "lsq"
    r = await env.api.client.get(f"/api/v1/jobs/{job['id']}/result", headers=env.api.auth("read"))
    assert r.status_code == 200
    result = r.json()["data"]
    assert result["version"] == 1 and result["promoted"] and 0 < result["metrics"]["holdout"]["mase"] < 5
    r = await env.api.client.get(f"/api/v1/jobs/{job['id']}/logs", headers=env.api.auth("read"))
    lines = r.json()["data"]["lines"]
    assert any("registered version 1" in line for line in lines), lines
    r = await env.api.client.get(f"/api/v1/assets/{asset}/models", headers=env.api.auth("read"))
    assert [(m["version"], m["status"]) for m in r.json()["data"]["items"]] == [(1, "active")]
    update = await env.updates.json_for(asset, lambda v: v["model_version"] == "1")
    assert update["action"] == "promoted" and update["model_type"] == "lsq"
    # A finished job cannot be canceled.
    r = await env.api.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=env.api.auth("model"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT"

    # The event stream of a finished job: its whole history, then `end`.
    url = f"/api/v1/jobs/{job['id']}/logs/stream"
    r = await env.api.client.get(url, headers=env.api.auth("read"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [e for e in parse_sse(r.text) if "data" in e]
    status_events = [orjson.loads(e["data"]) for e in events if e.get("event") == "status"]
    assert [e["stage"] for e in status_events] == ["PENDING", "PREPARING", "TRAINING", "TRAINED"]
    assert [e["status"] for e in status_events] == ["queued", "running", "running", "succeeded"]
    end = orjson.loads(events[-1]["data"])
    assert events[-1]["event"] == "end" and (end["status"], end["stage"], end["result_id"]) == (
        "succeeded",
        "TRAINED",
        1,
    )
    ids = [e["id"] for e in events[:-1]]
    assert len(ids) == len(set(ids)) > 4
    # Resuming after an event sends only what followed it.
    cut = 2
    resumed = await env.api.client.get(url, headers={**env.api.auth("read"), "Last-Event-ID": ids[cut]})
    again = [e for e in parse_sse(resumed.text) if "data" in e]
    assert [e.get("id") for e in again[:-1]] == ids[cut + 1 :] and again[-1]["event"] == "end"
    metrics = (await env.api.client.get("/metrics")).text
    assert "kilowatch_api_sse_streams 0.0" in metrics  # every stream closed counts down
    bad = await env.api.client.get(url, headers={**env.api.auth("read"), "Last-Event-ID": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["loc"] == ["header", "Last-Event-ID"]


@asynccontextmanager
async def served(api: Api) -> AsyncIterator[str]:
    """The app on a real socket (httpx's in-process transport buffers streamed responses). The socket
    listens before the server task starts, so requests can be made at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(create_app(api.settings), log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_the_log_stream_follows_a_running_job_live_until_it_ends(env: Env) -> None:
    asset = env.asset("live")
    job = (await env.post(asset, params={"stage_sleep_s": 0.3})).json()["data"]
    req = await env.request_of(job)
    events: list[dict[str, str]] = []
    training: asyncio.Task[repo.Job] | None = None
    async with served(env.api) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        url = f"/api/v1/jobs/{job['id']}/logs/stream"
        async with client.stream("GET", url, headers=env.api.auth("read")) as r:
            assert r.status_code == 200
            buffer = ""
            async for chunk in r.aiter_text():
                buffer += chunk
                *complete, buffer = buffer.split("\n\n")
                for block in complete:
                    events.extend(parse_sse(block + "\n\n"))
                if training is None and any(e.get("event") == "status" for e in events):
                    # The stream is open and has sent the backlog (PENDING): now the worker runs it.
                    training = asyncio.create_task(env.worker.handle(req))
    assert training is not None
    assert (await training).status is JobStatus.TRAINED
    kinds = [e.get("event") for e in events if "data" in e]
    assert kinds[0] == "status" and kinds[-1] == "end" and "progress" in kinds and "log" in kinds
    assert any(e.get("comment") == "keep-alive" for e in events)  # idle gaps between stages
    stages = [orjson.loads(e["data"])["stage"] for e in events if e.get("event") == "status"]
    assert stages == ["PENDING", "PREPARING", "TRAINING", "TRAINED"]
    progress = [float(orjson.loads(e["data"])["progress"]) for e in events if e.get("event") == "progress"]
    assert progress == sorted(progress) and progress[-1] == 1.0 and 0 < progress[0] < 1


async def test_canceling_a_pending_job_ends_it_and_the_worker_skips_it(env: Env) -> None:
    asset = env.asset("cancel-pending")
    job = (await env.post(asset)).json()["data"]
    url = f"/api/v1/jobs/{job['id']}"
    r = await env.api.client.post(f"{url}/cancel", headers=env.api.auth("model"))
    assert r.status_code == 200 and r.json()["data"] == {"canceled": True}
    canceled = await env.job(job["id"])
    assert (canceled["status"], canceled["stage"], canceled["error"]) == ("canceled", "CANCELED", None)
    assert canceled["training"]["message"] == "canceled before it started"
    assert canceled["finished_at"] is not None and canceled["training"]["cancel_requested"] is False
    again = await env.api.client.post(f"{url}/cancel", headers=env.api.auth("model"))
    assert again.status_code == 200 and again.json()["data"] == {"canceled": True}
    assert (await env.job(job["id"]))["finished_at"] == canceled["finished_at"]
    r = await env.api.client.get(f"{url}/result", headers=env.api.auth("read"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "JOB_CANCELED"
    # The request is still on the topic; the worker finds the job ended and runs nothing.
    skipped = await env.worker.handle(await env.request_of(job))
    assert skipped.status is JobStatus.CANCELED
    assert await repo.list_versions(await env.api.resources.pool(), asset) == []
    assert (await env.job(job["id"]))["stage"] == "CANCELED"


async def test_canceling_a_running_job_stops_its_training(env: Env) -> None:
    asset = env.asset("cancel-running")
    job = (await env.post(asset, params={"stage_sleep_s": 2.0})).json()["data"]
    training = asyncio.create_task(env.worker.handle(await env.request_of(job)))
    try:
        job_id = uuid.UUID(job["id"])
        await wait_status(env.worker.channel, job_id, "TRAINING")
        await wait_event(env.worker.channel, job_id, lambda f: f.get("message") == "training")
        shown = await env.job(job["id"])  # live state from Redis merged into the record
        assert (shown["status"], shown["stage"], shown["progress"], shown["training"]["message"]) == (
            "running",
            "TRAINING",
            0.05,
            "training",
        )
        r = await env.api.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=env.api.auth("model"))
        assert r.status_code == 202 and r.json()["data"] == {"canceled": True}, r.text
        asked = await env.job(job["id"])
        assert asked["stage"] == "TRAINING" and asked["training"]["cancel_requested"] is True
        ended = await asyncio.wait_for(asyncio.shield(training), 30)
    finally:
        if not training.done():
            training.cancel()
    assert ended.status is JobStatus.CANCELED and ended.error == "training canceled"
    assert ended.duration_s is not None and ended.duration_s < 15  # not the 20 s the stages would take
    shown = await env.job(job["id"])
    assert shown["status"] == "canceled" and shown["training"]["cancel_requested"] is False
    r = await env.api.client.get(f"/api/v1/jobs/{job['id']}/result", headers=env.api.auth("read"))
    assert r.json()["error"]["code"] == "JOB_CANCELED"
    r = await env.api.client.get(f"/api/v1/jobs/{job['id']}/logs/stream", headers=env.api.auth("read"))
    events = [e for e in parse_sse(r.text) if "data" in e]
    assert orjson.loads(events[-1]["data"])["status"] == "canceled" and events[-1]["event"] == "end"
    assert await repo.list_versions(await env.api.resources.pool(), asset) == []


async def test_jobs_are_listed_by_asset_and_status_page_by_page(env: Env) -> None:
    asset = env.asset("list")
    ids = []
    for _ in range(3):
        job = (await env.post(asset)).json()["data"]
        r = await env.api.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=env.api.auth("model"))
        assert r.status_code == 200
        ids.append(job["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"asset_id": asset, "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await env.api.client.get("/api/v1/jobs", params=params, headers=env.api.auth("read"))
        assert r.status_code == 200, r.text
        seen += [j["id"] for j in r.json()["data"]["items"]]
        cursor = r.json()["meta"]["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]  # newest first, each once
    for status in ("TRAINED", "succeeded", "queued", "running"):
        r = await env.api.client.get(
            "/api/v1/jobs", params={"asset_id": asset, "status": status}, headers=env.api.auth("read")
        )
        assert r.json()["data"]["items"] == [], status
    for status in ("CANCELED", "canceled"):  # a training stage or the generic state
        r = await env.api.client.get(
            "/api/v1/jobs",
            params={"asset_id": asset, "status": status, "sort": "created_at:asc"},
            headers=env.api.auth("read"),
        )
        items = r.json()["data"]["items"]
        assert [j["id"] for j in items] == ids and {j["type"] for j in items} == {"training"}
    # Without a filter, the list holds both kinds of job (one order, one cursor).
    r = await env.api.client.get("/api/v1/jobs", params={"limit": 1000}, headers=env.api.auth("read"))
    listed = r.json()["data"]["items"]
    assert set(ids) <= {j["id"] for j in listed}
    stamps = [(j["created_at"], j["id"]) for j in listed]
    assert [pd.Timestamp(t) for t, _ in stamps] == sorted((pd.Timestamp(t) for t, _ in stamps), reverse=True)
    r = await env.api.client.get("/api/v1/jobs", params={"status": "DONE"}, headers=env.api.auth("read"))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["query", "status"]
    r = await env.api.client.get(f"/api/v1/jobs/{uuid.uuid4()}", headers=env.api.auth("read"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
    r = await env.api.client.get("/api/v1/jobs/not-a-uuid", headers=env.api.auth("read"))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["path", "job_id"]
    for sub in ("logs", "logs/stream", "result"):
        r = await env.api.client.get(f"/api/v1/jobs/{uuid.uuid4()}/{sub}", headers=env.api.auth("read"))
        assert r.status_code == 404, sub


async def test_without_redis_a_job_is_not_started_and_leaves_nothing(env: Env) -> None:
    """A real outage (nothing listens on the Redis port): 503, no job row, no request on the topic.
    (Each Redis call there takes ~4 s of client retries, so this test makes one request.)"""
    down = env.api.settings.with_changes(redis_port=1, redis_timeout_s=1.0)
    asset = env.asset("no-redis")
    async with keyed_api(down) as api:
        body = {"asset_id": asset, "model_type": "lsq", "data_url": env.data_url}
        r = await api.client.post("/api/v1/training-jobs", json=body, headers=api.auth("model"))
        assert r.status_code == 503 and r.json()["error"]["code"] == "SERVICE_UNAVAILABLE", r.text
    pool = await env.api.resources.pool()
    assert await pool.fetchval("SELECT count(*) FROM training_jobs WHERE asset_id = $1", asset) == 0
    assert [m for m in await env.requests.drain() if m.key == asset.encode()] == []
