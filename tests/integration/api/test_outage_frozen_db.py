"""A frozen PostgreSQL (every server process SIGSTOP'd: connections stay open, nothing answers) is an
outage too: the database routes answer 503 with Retry-After within ``api_db_timeout_s`` (plus the
release of the timed-out connection), never hang; after SIGCONT the same process answers 200 again.

Signals this checkout's own PostgreSQL (pid file under KILOWATCH_STATE_DIR): run on an
infrastructure of its own, never beside other tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from pathlib import Path

from api.services import keystore
from stream_app.store import repository as repo

from .conftest import api_settings, keyed_api
from .test_outage_503 import assert_503, until

DB_TIMEOUT_S = 1.5
# What one request may take while PostgreSQL is frozen: the statement's timeout, then at most 1 s
# for the timed-out connection's release; the fault-injection probe gives up after 5 s.
WITHIN_S = DB_TIMEOUT_S + 1.0 + 0.5


def postgres_processes(state_dir: Path) -> list[int]:
    """The postmaster and its backends (each backend is its own process group)."""
    pid = int(json.loads((state_dir / "infra" / "pids" / "postgres.json").read_text())["pid"])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return [pid, *children]


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue


async def test_a_frozen_postgres_is_503_within_the_db_timeout_and_recovers() -> None:
    settings = api_settings(api_db_timeout_s=DB_TIMEOUT_S, api_key_cache_s=600)
    async with keyed_api(settings) as api:
        pool = await api.resources.pool()
        asset = f"frozen-{uuid.uuid4().hex[:8]}"
        r = await api.client.post(
            "/api/v1/assets", json={"asset_id": asset, "name": "f"}, headers=api.auth("model")
        )
        assert r.status_code == 201, r.text
        job, _ = await repo.create_job(
            pool, request_id=uuid.uuid4(), asset_id=asset, model_type="lightgbm", params={}, data_url=None
        )
        _rec, fresh = await keystore.create(pool, "frozen-fresh", ["read"])
        read = api.auth("read")
        unknown = {"Authorization": f"Bearer kw_{uuid.uuid4().hex[:8]}_{uuid.uuid4().hex}"}
        calls = [  # the routes the fault-injection probe found hanging, and a key not yet verified
            ("/api/v1/assets", read),
            (f"/api/v1/assets/{asset}/anomalies", read),
            (f"/api/v1/assets/{asset}/models", read),
            (f"/api/v1/jobs?asset_id={asset}", read),
            (f"/api/v1/jobs/{job.id}", read),
            ("/api/v1/jobs?limit=1", unknown),
            ("/api/v1/assets", {"Authorization": f"Bearer {fresh}"}),
        ]
        r = await api.client.get("/api/v1/assets", headers=read)  # the read key verified and cached
        assert r.status_code == 200, r.text

        pids = postgres_processes(settings.state_dir)
        signal_all(pids, signal.SIGSTOP)  # the postmaster first: it starts no backend while stopped
        try:
            for path, headers in calls:
                started = time.monotonic()
                # Without the bounds this waits for the 30 s statement timeout (or forever).
                r = await asyncio.wait_for(api.client.get(path, headers=headers), 10.0)
                took = time.monotonic() - started
                assert_503(r, "PostgreSQL")
                assert took < WITHIN_S, f"{path}: 503 after {took:.2f} s"
        finally:
            signal_all(list(reversed(pids)), signal.SIGCONT)

        async def back() -> bool:
            r = await api.client.get("/api/v1/assets", headers=read)
            assert r.status_code in (200, 503), r.text
            return r.status_code == 200

        await until(back, 30.0)
        for path, headers in calls:
            r = await api.client.get(path, headers=headers)
            assert r.status_code == (401 if headers is unknown else 200), (path, r.text)
