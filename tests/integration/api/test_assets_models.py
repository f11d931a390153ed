"""Assets and model versions through the API on the real PostgreSQL, Kafka and artifact store:
CRUD with its 404/409/422 answers, activation and rollback announced on the model-updates topic (what
running workers hot-swap on), candidate deletion, and an asset's delete cascading to its versions,
jobs and bundles."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from stream_app.lifecycle.artifacts import LocalArtifactStore
from stream_app.store import repository as repo

from .conftest import Api, keyed_api
from .registry_env import TopicTail, registry_settings

pytestmark = pytest.mark.integration


@dataclass
class Env:
    api: Api
    updates: TopicTail
    store: LocalArtifactStore
    tmp: Path
    tag: str

    def asset(self, name: str) -> str:
        return f"{self.tag}-{name}"

    async def call(self, method: str, path: str, scope: str = "model", **kw: Any) -> httpx.Response:
        return await self.api.client.request(method, f"/api/v1{path}", headers=self.api.auth(scope), **kw)

    async def add_asset(self, name: str) -> str:
        asset = self.asset(name)
        r = await self.call("POST", "/assets", json={"asset_id": asset, "name": name})
        assert r.status_code == 201, r.text
        return asset

    async def add_version(self, asset: str) -> repo.ModelVersion:
        """A candidate as a training job registers it: a bundle in the store and its row."""
        src = self.tmp / uuid.uuid4().hex
        src.mkdir()
        (src / "metadata.json").write_text('{"model_type": "lsq"}')
        uri = await asyncio.to_thread(self.store.put_dir, src, asset)
        pool = await self.api.resources.pool()
        async with pool.acquire() as conn:
            return await repo.register_version(
                conn,
                asset_id=asset,
                model_type="lsq",
                params={"season": 96},
                metrics={"holdout": {"mase": 0.8}},
                artifact_uri=uri,
                job_id=None,
            )


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    tmp = tmp_path_factory.mktemp("models-api")
    settings = registry_settings(tmp)
    async with keyed_api(settings) as api:
        await api.resources.producer()  # creates the test's topics
        updates = await TopicTail(settings, "model-updates").start()
        try:
            yield Env(
                api,
                updates,
                LocalArtifactStore(settings.training.artifact_root),
                tmp,
                settings.kafka.topic_prefix,
            )
        finally:
            await updates.stop()


async def test_asset_lifecycle(env: Env) -> None:
    asset = env.asset("site-1/meter-7")  # '/' is allowed in asset ids and in the path
    body = {"asset_id": asset, "name": "Meter 7", "metadata": {"site": "north"}, "retrain_interval": "PT6H"}
    r = await env.call("POST", "/assets", json=body)
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    assert created["retrain_interval"] == 6 * 3600 and created["metadata"] == {"site": "north"}
    r = await env.call("POST", "/assets", json={"asset_id": asset})
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT"
    r = await env.call("GET", f"/assets/{asset}", scope="read")
    assert r.status_code == 200 and r.json()["data"] == created
    r = await env.call("GET", f"/assets/{asset.replace('/', '%2F')}", scope="read")
    assert r.status_code == 200 and r.json()["data"]["asset_id"] == asset

    r = await env.call("PATCH", f"/assets/{asset}", json={"name": "Meter 7b", "retrain_interval": 3600})
    changed = r.json()["data"]
    assert (changed["name"], changed["retrain_interval"], changed["metadata"]) == (
        "Meter 7b",
        3600,
        {"site": "north"},
    )
    assert changed["updated_at"] > created["updated_at"]
    r = await env.call("PATCH", f"/assets/{asset}", json={"retrain_interval": None, "metadata": {"k": 1}})
    assert r.json()["data"]["retrain_interval"] is None and r.json()["data"]["metadata"] == {"k": 1}
    pool = await env.api.resources.pool()
    assert (await repo.get_asset(pool, asset)).retrain_interval is None

    assert (await env.call("DELETE", f"/assets/{asset}")).status_code == 403  # admin only
    r = await env.call("DELETE", f"/assets/{asset}", scope="admin")
    assert r.status_code == 200 and r.json()["data"] == {
        "asset_id": asset,
        "versions_deleted": 0,
        "artifacts_deleted": 0,
    }
    for method, kw in (("GET", {}), ("PATCH", {"json": {"name": "x"}}), ("DELETE", {})):
        r = await env.call(method, f"/assets/{asset}", scope="admin", **kw)
        assert r.status_code == 404 and r.json()["error"]["code"] == "RESOURCE_NOT_FOUND", method


@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        ("POST", "/assets", {"asset_id": "bad id"}, ["body", "asset_id"]),
        ("POST", "/assets", {"asset_id": "ok-1", "retrain_interval": 30}, ["body", "retrain_interval"]),
        ("POST", "/assets", {"asset_id": "ok-1", "retrain_interval": "soon"}, ["body", "retrain_interval"]),
        ("POST", "/assets", {"asset_id": "ok-1", "metadata": {"x": "y" * 17_000}}, ["body", "metadata"]),
        ("POST", "/assets", {"asset_id": "ok-1", "owner": "me"}, ["body", "owner"]),
        ("PATCH", "/assets/{a}", {}, ["body"]),
        ("PATCH", "/assets/{a}", {"name": None}, ["body"]),
        ("PATCH", "/assets/{a}", {"retrain_interval": "P400D"}, ["body", "retrain_interval"]),
        ("GET", "/assets/bad%20id", None, ["path", "asset_id"]),
        ("GET", "/assets/{a}/models/0", None, ["path", "version"]),
        ("POST", "/assets/{a}/models/rollback", {"version": "two"}, ["body", "version"]),
    ],
)
async def test_invalid_asset_and_model_input_is_422(
    env: Env, method: str, path: str, body: dict[str, Any] | None, loc: list[str]
) -> None:
    asset = env.asset("valid")
    if (await env.call("GET", f"/assets/{asset}", scope="read")).status_code == 404:
        await env.add_asset("valid")
    r = await env.call(method, path.format(a=asset), scope="admin", json=body)
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert any(d["loc"][: len(loc)] == loc for d in details), details


async def test_assets_are_listed_page_by_page(env: Env) -> None:
    pool = await env.api.resources.pool()
    since = (await pool.fetchval("SELECT now()")).isoformat()
    made = [await env.add_asset(f"page-{i}") for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"from": since, "limit": 2, "sort": "created_at:asc"}
        if cursor:
            params["cursor"] = cursor
        r = await env.call("GET", "/assets", scope="read", params=params)
        assert r.status_code == 200, r.text
        seen += [a["asset_id"] for a in r.json()["data"]["items"]]
        cursor = r.json()["data"]["next_cursor"]
        if cursor is None:
            break
    assert seen == made


async def test_activation_and_rollback_are_announced_to_workers(env: Env) -> None:
    asset = await env.add_asset("models")
    v1, v2, v3 = [await env.add_version(asset) for _ in range(3)]
    r = await env.call("GET", f"/assets/{asset}/models", scope="read")
    assert [(m["version"], m["status"]) for m in r.json()["data"]["items"]] == [
        (3, "candidate"),
        (2, "candidate"),
        (1, "candidate"),
    ]
    r = await env.call("POST", f"/assets/{asset}/models/rollback")
    assert r.status_code == 409  # nothing was ever active
    assert (await env.call("POST", f"/assets/{asset}/models/1/activate", scope="read")).status_code == 403

    async def announced(version: int, action: str) -> None:
        event = await env.updates.json_for(
            asset, lambda v: v["model_version"] == str(version) and v["action"] == action
        )
        expected = {v1.version: v1, v2.version: v2, v3.version: v3}[version]
        assert event["artifact_uri"] == expected.artifact_uri and event["model_type"] == "lsq"

    for v in (v1, v2, v3):
        r = await env.call("POST", f"/assets/{asset}/models/{v.version}/activate")
        assert r.status_code == 200 and r.json()["data"]["status"] == "active", r.text
        await announced(v.version, "promoted")
    statuses = {
        m.version: m.status.value for m in await repo.list_versions(await env.api.resources.pool(), asset)
    }
    assert statuses == {1: "retired", 2: "retired", 3: "active"}

    # Rollback returns to the version active before the current one ...
    r = await env.call("POST", f"/assets/{asset}/models/rollback")
    assert (
        r.status_code == 200 and r.json()["data"]["version"] == 2 and r.json()["data"]["status"] == "active"
    )
    await announced(2, "rolled_back")
    # ... which, after a rollback, is the version rolled back from.
    r = await env.call("POST", f"/assets/{asset}/models/rollback")
    assert r.json()["data"]["version"] == 3
    # A chosen version:
    r = await env.call("POST", f"/assets/{asset}/models/rollback", json={"version": 1})
    assert r.status_code == 200 and r.json()["data"]["version"] == 1
    await announced(1, "rolled_back")
    r = await env.call("POST", f"/assets/{asset}/models/rollback", json={"version": 1})
    assert r.status_code == 409 and "already active" in r.json()["error"]["message"]
    r = await env.call("GET", f"/assets/{asset}/models/1", scope="read")
    assert r.json()["data"]["status"] == "active" and "rolled_back" in r.json()["data"]["reason"]

    # Paging through the versions.
    r = await env.call("GET", f"/assets/{asset}/models", scope="read", params={"limit": 2})
    page1 = r.json()
    assert [m["version"] for m in page1["data"]["items"]] == [3, 2] and page1["data"]["has_more"] is True
    r = await env.call(
        "GET",
        f"/assets/{asset}/models",
        scope="read",
        params={"limit": 2, "cursor": page1["data"]["next_cursor"]},
    )
    last = r.json()["data"]
    assert [m["version"] for m in last["items"]] == [1]
    assert last["next_cursor"] is None and last["has_more"] is False


async def test_only_candidates_are_deleted_with_their_bundle(env: Env) -> None:
    asset = await env.add_asset("delete-version")
    active, retired, candidate = [await env.add_version(asset) for _ in range(3)]
    await env.call("POST", f"/assets/{asset}/models/{retired.version}/activate")
    await env.call("POST", f"/assets/{asset}/models/{active.version}/activate")
    for v in (active, retired):
        r = await env.call("DELETE", f"/assets/{asset}/models/{v.version}")
        assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT", r.text
    bundle = env.store.get_dir(candidate.artifact_uri)
    assert bundle.is_dir()
    r = await env.call("DELETE", f"/assets/{asset}/models/{candidate.version}")
    assert r.status_code == 200 and r.json()["data"]["version"] == candidate.version
    assert not bundle.exists()
    r = await env.call("GET", f"/assets/{asset}/models/{candidate.version}", scope="read")
    assert r.status_code == 404
    assert (await env.call("DELETE", f"/assets/{asset}/models/{candidate.version}")).status_code == 404
    assert (await env.call("POST", f"/assets/{asset}/models/99/activate")).status_code == 404
    r = await env.call("GET", f"/assets/{env.asset('nobody')}/models", scope="read")
    assert r.status_code == 404


async def test_deleting_an_asset_removes_versions_jobs_and_bundles(env: Env) -> None:
    asset = await env.add_asset("delete-asset")
    versions = [await env.add_version(asset) for _ in range(2)]
    await env.call("POST", f"/assets/{asset}/models/{versions[0].version}/activate")
    bundles = [env.store.get_dir(v.artifact_uri) for v in versions]
    r = await env.call("POST", "/training-jobs", json={"asset_id": asset, "model_type": "lsq"})
    job_id = r.json()["data"]["id"]
    r = await env.call("DELETE", f"/assets/{asset}", scope="admin")
    assert r.status_code == 409 and "open training job" in r.json()["error"]["message"]
    assert (await env.call("POST", f"/jobs/{job_id}/cancel")).status_code == 200

    r = await env.call("DELETE", f"/assets/{asset}", scope="admin")
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"asset_id": asset, "versions_deleted": 2, "artifacts_deleted": 2}
    pool = await env.api.resources.pool()
    for table in ("model_versions", "training_jobs", "assets"):
        n = await pool.fetchval(f"SELECT count(*) FROM {table} WHERE asset_id = $1", asset)
        assert n == 0, table
    assert not any(b.exists() for b in bundles)
    assert (await env.call("GET", f"/jobs/{job_id}", scope="read")).status_code == 404
    # A tombstone lets compaction drop the asset's last ModelUpdated.
    tombstone = await env.updates.wait_for(lambda rec: rec.key == asset.encode() and rec.value is None)
    assert tombstone.value is None
