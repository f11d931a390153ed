"""Issue 14, the API's limits on the real PostgreSQL, Redis and Kafka: the model scope, the new-asset
cap per key, SSE streams per key, the failed-key limiter (per prefix as well as per address, behind
trusted proxies only) and training params out of range (422 on the param)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from api.app import create_app
from api.services import keystore
from api.services.resources import Resources
from stream_app.store import repository as repo

from .conftest import Api, api_settings, keyed_api


def _readings(assets: list[str]) -> dict[str, Any]:
    ts = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    return {"readings": [{"asset_id": a, "timestamp": ts, "value": 1.0} for a in assets]}


async def test_the_write_scope_is_ingestion_only_and_the_model_scope_controls_models(api: Api) -> None:
    tag = uuid.uuid4().hex[:8]
    asset = f"scope-{tag}"
    body = {"asset_id": asset, "name": "scope"}
    r = await api.client.post("/api/v1/assets", json=body, headers=api.auth("write"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    r = await api.client.post("/api/v1/assets", json=body, headers=api.auth("model"))
    assert r.status_code == 201, r.text
    job = {"asset_id": asset, "model_type": "lightgbm", "params": {}}
    for path, payload in (
        ("/api/v1/training-jobs", job),
        (f"/api/v1/jobs/{uuid.uuid4()}/cancel", None),
        (f"/api/v1/assets/{asset}/models/1/activate", None),
        (f"/api/v1/assets/{asset}/models/rollback", None),
    ):
        r = await api.client.post(path, json=payload, headers=api.auth("write"))
        assert r.status_code == 403, (path, r.text)
        r = await api.client.post(path, json=payload, headers=api.auth("model"))
        assert r.status_code != 403, (path, r.text)
    r = await api.client.delete(f"/api/v1/assets/{asset}/models/1", headers=api.auth("write"))
    assert r.status_code == 403
    assert (await api.client.get("/api/v1/assets", headers=api.auth("model"))).status_code == 403
    r = await api.client.post("/api/v1/readings", json=_readings([asset]), headers=api.auth("write"))
    assert r.status_code == 202, r.text
    r = await api.client.post("/api/v1/readings", json=_readings([asset]), headers=api.auth("model"))
    assert r.status_code == 403


async def test_absurd_training_params_are_422_on_the_param(api: Api) -> None:
    asset = f"params-{uuid.uuid4().hex[:8]}"
    for model_type, param, value in (
        ("tide", "hidden_size", 10**9),
        ("tide", "n_epochs", 10**7),
        ("lightgbm", "threads", 4096),
        ("lightgbm", "window_hours", 1e9),
        ("lstm", "batch_size", 10**8),
        ("tft", "lr", 50.0),
        ("lightgbm", "input_length", 10**9),
        ("tide", "loss", "mse"),  # a point forecast: backtests only, a served model needs quantiles
        ("lstm", "loss", "huber"),
        ("lightgbm", "loss", "quantile"),  # a torch-only param
    ):
        body = {"asset_id": asset, "model_type": model_type, "params": {param: value}}
        r = await api.client.post("/api/v1/training-jobs", json=body, headers=api.auth("model"))
        assert r.status_code == 422, (param, r.text)
        detail = r.json()["error"]["details"][0]
        assert detail["loc"] == ["body", "params", param] and param in detail["msg"]


async def test_new_asset_ids_per_key_are_capped_per_hour() -> None:
    async with keyed_api(api_settings(api_new_assets_per_hour=5)) as api:
        tag = uuid.uuid4().hex[:8]
        first = [f"cap-{tag}-{i}" for i in range(4)]
        r = await api.client.post("/api/v1/readings", json=_readings(first), headers=api.auth("write"))
        assert r.status_code == 202, r.text
        # Known ids cost nothing; 2 new ones would make 6 > 5: the whole batch is refused.
        batch = [*first, f"cap-{tag}-4", f"cap-{tag}-5"]
        r = await api.client.post("/api/v1/readings", json=_readings(batch), headers=api.auth("write"))
        assert r.status_code == 429, r.text
        assert 1 <= int(r.headers["retry-after"]) <= 3600
        err = r.json()["error"]
        assert err["code"] == "RATE_LIMITED" and err["details"][0]["loc"] == ["body", "readings"]
        r = await api.client.post("/api/v1/readings", json=_readings(first), headers=api.auth("write"))
        assert r.status_code == 202, r.text
        r = await api.client.post(
            "/api/v1/readings", json=_readings([*first, f"cap-{tag}-4"]), headers=api.auth("write")
        )
        assert r.status_code == 202, r.text  # exactly the cap
        # Another key has its own cap; an id another key introduced is no longer new.
        r = await api.client.post(
            "/api/v1/readings", json=_readings([f"cap-{tag}-4", f"cap-{tag}-9"]), headers=api.auth("admin")
        )
        assert r.status_code == 202, r.text


async def test_sse_streams_per_key_are_bounded_and_given_back() -> None:
    settings = api_settings(api_sse_streams_per_key=2, api_sse_max_s=4.0, api_sse_keepalive_s=0.2)
    async with keyed_api(settings) as api:
        asset = f"sse-{uuid.uuid4().hex[:8]}"
        r = await api.client.post(
            "/api/v1/assets", json={"asset_id": asset, "name": "sse"}, headers=api.auth("model")
        )
        assert r.status_code == 201, r.text
        pool = await api.resources.pool()
        job, _ = await repo.create_job(
            pool, request_id=uuid.uuid4(), asset_id=asset, model_type="lightgbm", params={}, data_url=None
        )
        url = f"/api/v1/jobs/{job.id}/logs/stream"
        # Two streams are open (each until api_sse_max_s) ...
        streams = [asyncio.create_task(api.client.get(url, headers=api.auth("read"))) for _ in range(2)]
        await _until_slots_held(api, settings.kafka.topic_prefix, 2)
        # ... so a third of the same key is refused; another key's is not.
        r = await api.client.get(url, headers=api.auth("read"))
        assert r.status_code == 429, r.text
        assert r.headers["retry-after"] == "10" and r.json()["error"]["code"] == "RATE_LIMITED"
        other = asyncio.create_task(api.client.get(url, headers=api.auth("admin")))
        for done in await asyncio.gather(*streams, other):
            assert done.status_code == 200 and done.headers["content-type"].startswith("text/event-stream")
        # The slots were given back when the streams ended.
        r = await api.client.get(url, headers=api.auth("read"))
        assert r.status_code == 200


async def _until_slots_held(api: Api, prefix: str, n: int, timeout_s: float = 3.0) -> None:
    """Until one key holds ``n`` stream slots in Redis (a loaded machine takes a while to open them)."""
    redis = api.resources.redis
    deadline = time.monotonic() + timeout_s
    while True:
        held = [await redis.zcard(k) for k in await redis.keys(f"{prefix}:sse:*")]
        if n in held:
            return
        assert time.monotonic() < deadline, f"stream slots held: {held}"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def _client(resources: Resources, address: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(resources.settings)
    app.state.resources = resources
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://kilowatch.test") as client:
        yield client


def _address() -> str:
    return f"198.51.{random.randrange(256)}.{random.randrange(1, 255)}"


async def test_failed_verifications_are_limited_per_key_prefix_across_addresses() -> None:
    settings = api_settings(api_verifications_per_minute=3, api_key_cache_s=0)
    resources = Resources(settings)
    try:
        pool = await resources.pool()
        _rec, key = await keystore.create(pool, f"victim-{uuid.uuid4().hex[:6]}", ["read"])
        prefix = key.split("_")[1]
        codes = []
        for i in range(5):  # one wrong secret per address: the per-address limit never trips
            async with _client(resources, _address()) as client:
                wrong = f"kw_{prefix}_{'x' * 39}{i}"
                r = await client.get("/api/v1/assets", headers={"Authorization": f"Bearer {wrong}"})
                codes.append(r.status_code)
        assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429], codes
        assert int(r.headers["retry-after"]) >= 1
    finally:
        await resources.close()


async def _verifications(resources: Resources, peer: str, forwarded: str, n: int) -> list[int]:
    codes = []
    async with _client(resources, peer) as client:
        for _ in range(n):  # unknown prefixes: only the per-address limit applies
            fake = f"kw_{uuid.uuid4().hex[:8]}_{'y' * 40}"
            r = await client.get(
                "/api/v1/assets", headers={"Authorization": f"Bearer {fake}", "X-Forwarded-For": forwarded}
            )
            codes.append(r.status_code)
    return codes


async def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    proxy = "127.0.0.1"
    trusted = Resources(api_settings(api_verifications_per_minute=3, api_trusted_proxies=[proxy]))
    try:
        first, second = _address(), _address()
        assert await _verifications(trusted, proxy, first, 4) == [401, 401, 401, 429]
        assert await _verifications(trusted, proxy, second, 1) == [401]  # another client behind the proxy
        # A client that is not a trusted proxy cannot choose its address by the header.
        direct = _address()
        codes = await _verifications(trusted, direct, _address(), 3) + await _verifications(
            trusted, direct, _address(), 1
        )
        assert codes == [401, 401, 401, 429]
    finally:
        await trusted.close()
    untrusting = Resources(api_settings(api_verifications_per_minute=3))
    try:
        peer = _address()  # no trusted proxies: the header is ignored, the peer is the client
        codes = await _verifications(untrusting, peer, _address(), 3)
        codes += await _verifications(untrusting, peer, _address(), 1)
        assert codes == [401, 401, 401, 429]
    finally:
        await untrusting.close()
