"""An outage of PostgreSQL or Redis answers 503 SERVICE_UNAVAILABLE with Retry-After (never 500), and
the API recovers by itself when the service is back (same process, same pool and client).

These tests stop and start the services of this checkout (``kilowatch infra down/up --only``): run
them on an infrastructure of their own (the KILOWATCH_* ports of the environment), never beside other
tests.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from api.services import keystore
from stream_app.store import repository as repo

from .conftest import Api, api_settings, keyed_api

ROOT = Path(__file__).resolve().parents[3]
KILOWATCH = str(ROOT / ".venv" / "bin" / "kilowatch")


async def infra(action: str, service: str) -> None:
    def run() -> None:
        subprocess.run(
            [KILOWATCH, "infra", action, "--only", service],
            cwd=ROOT,
            env=os.environ.copy(),
            check=True,
            timeout=180,
            capture_output=True,
        )

    await asyncio.to_thread(run)


def assert_503(r: httpx.Response, service: str) -> None:
    assert r.status_code == 503, f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}"
    assert int(r.headers["retry-after"]) >= 1
    body = r.json()
    assert body["status"] == "error" and body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert service in body["error"]["message"] and "Traceback" not in r.text


async def until(ok: Callable[[], Awaitable[bool]], timeout_s: float = 60.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if await ok():
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise AssertionError(f"not recovered within {timeout_s} s")


async def _setup(api: Api) -> tuple[str, uuid.UUID]:
    asset = f"outage-{uuid.uuid4().hex[:8]}"
    r = await api.client.post(
        "/api/v1/assets", json={"asset_id": asset, "name": "o"}, headers=api.auth("model")
    )
    assert r.status_code == 201, r.text
    job, _ = await repo.create_job(
        await api.resources.pool(),
        request_id=uuid.uuid4(),
        asset_id=asset,
        model_type="lightgbm",
        params={},
        data_url=None,
    )
    for scope in ("read", "write", "model", "admin"):  # each key verified once: cached from now on
        r = await api.client.get("/api/v1/assets", headers=api.auth(scope))
        assert r.status_code == (200 if scope in ("read", "admin") else 403), r.text
    return asset, job.id


def _readings(asset: str) -> dict[str, object]:
    ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    return {"readings": [{"asset_id": asset, "timestamp": ts, "value": 2.0}]}


async def test_a_postgres_outage_is_503_with_retry_after_and_recovers() -> None:
    async with keyed_api(api_settings(api_key_cache_s=600)) as api:
        asset, job_id = await _setup(api)
        _rec, fresh = await keystore.create(await api.resources.pool(), "outage-fresh", ["read"])
        read, model, admin = api.auth("read"), api.auth("model"), api.auth("admin")
        calls: list[tuple[str, str, dict[str, str], object]] = [
            ("GET", "/api/v1/assets", read, None),  # registry
            ("GET", f"/api/v1/assets/{asset}", read, None),
            ("GET", f"/api/v1/assets/{asset}/models", read, None),
            ("GET", f"/api/v1/jobs/{job_id}", read, None),  # jobs
            ("GET", f"/api/v1/jobs?asset_id={asset}", read, None),
            ("GET", f"/api/v1/assets/{asset}/anomalies", read, None),  # queries
            ("GET", f"/api/v1/assets/{asset}/forecasts", read, None),
            ("GET", "/api/v1/api-keys", admin, None),
            ("POST", "/api/v1/training-jobs", model, {"asset_id": asset, "model_type": "lightgbm"}),
            ("GET", "/api/v1/assets", {"Authorization": f"Bearer {fresh}"}, None),  # auth (not cached)
        ]
        await infra("down", "postgres")
        try:
            for method, path, headers, body in calls:
                r = await api.client.request(method, path, headers=headers, json=body)
                assert_503(r, "PostgreSQL")
            # Ingestion does not need PostgreSQL: readings still reach Kafka.
            r = await api.client.post("/api/v1/readings", json=_readings(asset), headers=api.auth("write"))
            assert r.status_code == 202, r.text
        finally:
            await infra("up", "postgres")

        async def back() -> bool:
            r = await api.client.get("/api/v1/assets", headers=read)
            assert r.status_code in (200, 503), r.text
            return r.status_code == 200

        await until(back)
        for method, path, headers, body in calls:
            if method == "GET":
                r = await api.client.request(method, path, headers=headers, json=body)
                assert r.status_code == 200, (path, r.text)


async def test_a_redis_outage_is_503_where_redis_is_needed_and_recovers() -> None:
    settings = api_settings(api_sse_max_s=0.5, api_sse_keepalive_s=0.2)
    async with keyed_api(settings) as api:
        asset, job_id = await _setup(api)
        idle = f"{asset}-idle"  # an asset without an open job
        r = await api.client.post(
            "/api/v1/assets", json={"asset_id": idle, "name": "i"}, headers=api.auth("model")
        )
        assert r.status_code == 201, r.text
        stream = f"/api/v1/jobs/{job_id}/logs/stream"
        await infra("down", "redis")
        try:
            # Needs Redis: the job's live stream, queueing a training job.
            assert_503(await api.client.get(stream, headers=api.auth("read")), "Redis")
            r = await api.client.post(
                "/api/v1/training-jobs",
                json={"asset_id": idle, "model_type": "lightgbm"},
                headers=api.auth("model"),
            )
            assert_503(r, "Redis")
            # Does not need Redis (limits fail open): reads, a job's record, ingestion, a new key.
            for path in ("/api/v1/assets", f"/api/v1/jobs/{job_id}", f"/api/v1/assets/{asset}/models"):
                r = await api.client.get(path, headers=api.auth("read"))
                assert r.status_code == 200, (path, r.text)
            r = await api.client.post("/api/v1/readings", json=_readings(asset), headers=api.auth("write"))
            assert r.status_code == 202, r.text
            _rec, fresh = await keystore.create(await api.resources.pool(), "redis-fresh", ["read"])
            r = await api.client.get("/api/v1/assets", headers={"Authorization": f"Bearer {fresh}"})
            assert r.status_code == 200, r.text
        finally:
            await infra("up", "redis")

        async def back() -> bool:
            r = await api.client.get(stream, headers=api.auth("read"))
            assert r.status_code in (200, 503), r.text
            return r.status_code == 200

        await until(back)
