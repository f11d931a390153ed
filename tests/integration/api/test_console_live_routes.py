"""The console's live routes on the real PostgreSQL and Redis: the fleet summary (one query, search,
paging), recent alert episodes, the anomaly stream pushed by PostgreSQL (LISTEN/NOTIFY through a real
uvicorn socket), and the sessions' idle timeout."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.services import sessions, users
from schemas.events import Anomaly
from stream_app.alerting import store as alert_store
from stream_app.alerting.hygiene import Episode
from stream_app.store import results

from .conftest import Api, api_settings, keyed_api
from .registry_env import parse_sse

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
async def live_api() -> AsyncIterator[Api]:
    tag = uuid.uuid4().hex[:8]
    # keep-alive every 0.2 s so the stream's heartbeat is seen quickly; idle timeout at its minimum
    async with keyed_api(
        api_settings(
            topic_prefix=f"kwlive{tag}",
            api_sse_keepalive_s=0.2,
            api_session_idle_s=60,
            # two streams at a time: the test opens more one after the other, so a stream whose client
            # went away must give its slot back (else 429)
            api_sse_streams_per_key=2,
        )
    ) as made:
        yield made


def anomaly(asset: str, ts: datetime, score: float = 0.9, kind: str = "spike") -> Anomaly:
    return Anomaly(
        event_id=uuid.uuid4(),
        asset_id=asset,
        timestamp=ts,
        value=250.0,
        expected=100.0,
        lower=80.0,
        upper=120.0,
        score=score,
        type=kind,
        reason="Exceeds predicted value by 150%",
        detector="test",
        model_version="v1",
        detected_at=datetime.now(UTC),
    )


async def register(api: Api, asset: str, name: str = "") -> None:
    r = await api.client.post(
        "/api/v1/assets", json={"asset_id": asset, "name": name}, headers=api.auth("model")
    )
    assert r.status_code == 201, r.text


async def test_fleet_gives_each_asset_its_last_reading_recent_anomalies_and_active_model(
    live_api: Api,
) -> None:
    tag = uuid.uuid4().hex[:8]
    a, b = f"fleet-{tag}-a", f"fleet-{tag}-b"
    await register(live_api, a, "Press hall")
    await register(live_api, b, f"Boiler {tag} 100%_x")
    pool = await live_api.resources.pool()
    now = datetime.now(UTC).replace(microsecond=0)
    await pool.executemany(
        "INSERT INTO readings_history (asset_id, ts, value) VALUES ($1, $2, $3)",
        [(a, now - timedelta(hours=2), 10.0), (a, now - timedelta(hours=1), 12.5)],
    )
    recent = [anomaly(a, now - timedelta(hours=h)) for h in (1, 3, 5)]
    old = [anomaly(a, now - timedelta(days=3))]
    await results.insert_anomalies(pool, recent + old)
    await pool.execute(
        "INSERT INTO model_versions (asset_id, version, model_type, artifact_uri, status, activated_at) "
        "VALUES ($1, 1, 'lightgbm', 'file:///none', 'retired', NULL), "
        "($1, 2, 'lightgbm', 'file:///none', 'active', now())",
        a,
    )
    r = await live_api.client.get("/api/v1/fleet", params={"q": tag.upper()}, headers=live_api.auth("read"))
    assert r.status_code == 200, r.text
    items = {i["asset_id"]: i for i in r.json()["data"]["items"]}
    assert set(items) == {a, b}
    assert list(items) == [b, a]  # newest registration first
    assert items[a]["last_value"] == 12.5
    assert datetime.fromisoformat(items[a]["last_reading_at"]) == now - timedelta(hours=1)
    assert items[a]["anomalies_24h"] == 3  # the one of three days ago is not counted
    assert (items[a]["active_model_type"], items[a]["active_version"]) == ("lightgbm", 2)
    assert items[b]["last_value"] is None and items[b]["anomalies_24h"] == 0
    assert items[b]["active_version"] is None
    # search: the name too, and % / _ are literal characters, not patterns
    r = await live_api.client.get(
        "/api/v1/fleet", params={"q": f"{tag} 100%_"}, headers=live_api.auth("read")
    )
    assert [i["asset_id"] for i in r.json()["data"]["items"]] == [b]
    r = await live_api.client.get(
        "/api/v1/fleet", params={"q": f"{tag} 100__"}, headers=live_api.auth("read")
    )
    assert r.json()["data"]["items"] == []
    # cursor paging like the other lists
    first = (
        await live_api.client.get(
            "/api/v1/fleet", params={"q": tag, "limit": 1}, headers=live_api.auth("read")
        )
    ).json()["data"]
    assert first["has_more"] and [i["asset_id"] for i in first["items"]] == [b]
    second = (
        await live_api.client.get(
            "/api/v1/fleet",
            params={"q": tag, "limit": 1, "cursor": first["next_cursor"]},
            headers=live_api.auth("read"),
        )
    ).json()["data"]
    assert [i["asset_id"] for i in second["items"]] == [a] and not second["has_more"]
    assert (await live_api.client.get("/api/v1/fleet")).status_code == 401
    for asset in (a, b):
        assert (
            await live_api.client.delete(f"/api/v1/assets/{asset}", headers=live_api.auth("admin"))
        ).is_success


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(max_size=140))
async def test_fleet_search_takes_any_text(live_api: Api, q: str) -> None:
    r = await live_api.client.get("/api/v1/fleet", params={"q": q, "limit": 5}, headers=live_api.auth("read"))
    if len(q) > 128 or "\x00" in q:
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"][0]["loc"] == ["query", "q"]
    else:
        assert r.status_code == 200, r.text


async def test_alert_episodes_newest_first_paged_and_filtered(live_api: Api) -> None:
    asset = f"episodes-{uuid.uuid4().hex[:8]}"
    pool = await live_api.resources.pool()
    t0 = time.time() - 3600
    made = []
    for i in range(3):
        ep = Episode(
            episode_id=uuid.uuid4(),
            asset_id=asset,
            opened_at=t0 + i * 600,
            last_at=t0 + i * 600 + 60,
            first_event_id=uuid.uuid4(),
            count=2 + i,
            max_score=0.9,
            types={"spike", "dip"} if i == 0 else {"spike"},
            alerted=i == 2,
            closed_at=None if i == 2 else t0 + i * 600 + 300,
        )
        await alert_store.save_episode(pool, ep)
        made.append(ep)
    h = live_api.auth("read")
    r = await live_api.client.get("/api/v1/alert-episodes", params={"asset_id": asset, "limit": 2}, headers=h)
    assert r.status_code == 200, r.text
    page = r.json()["data"]
    assert [i["episode_id"] for i in page["items"]] == [str(made[2].episode_id), str(made[1].episode_id)]
    top = page["items"][0]
    assert top["open"] is True and top["closed_at"] is None and top["alerted"] is True
    assert top["anomaly_count"] == 4 and top["types"] == ["spike"]
    rest = (
        await live_api.client.get(
            "/api/v1/alert-episodes", params={"asset_id": asset, "cursor": page["next_cursor"]}, headers=h
        )
    ).json()["data"]
    assert [i["episode_id"] for i in rest["items"]] == [str(made[0].episode_id)]
    assert rest["items"][0]["types"] == ["dip", "spike"] and rest["items"][0]["open"] is False
    r = await live_api.client.get(
        "/api/v1/alert-episodes", params={"asset_id": asset, "open": "true"}, headers=h
    )
    assert [i["episode_id"] for i in r.json()["data"]["items"]] == [str(made[2].episode_id)]
    r = await live_api.client.get("/api/v1/alert-episodes", params={"asset_id": "bad id"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["query", "asset_id"]
    assert (await live_api.client.get("/api/v1/alert-episodes")).status_code == 401
    await pool.execute("DELETE FROM alert_episodes WHERE asset_id = $1", asset)  # the database is shared


async def _served(api: Api) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(create_app(api.settings), log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    return server, task, f"http://127.0.0.1:{sock.getsockname()[1]}"


async def _events_until(r: httpx.Response, done: object, seen: list[dict[str, str]], limit_s: float) -> None:
    buffer = ""
    async with asyncio.timeout(limit_s):
        async for chunk in r.aiter_text():
            buffer += chunk
            *complete, buffer = buffer.split("\n\n")
            for block in complete:
                seen.extend(parse_sse(block + "\n\n"))
            if callable(done) and done(seen):
                return


async def listening(pool: object, asset: str) -> int:
    """Connections listening for this asset's anomalies (its streams, in any API process)."""
    n: int = await pool.fetchval(  # type: ignore[attr-defined]
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", f"kw-anomaly-stream {asset}"
    )
    return n


async def test_the_anomaly_stream_pushes_a_stored_anomaly_of_its_asset_only(live_api: Api) -> None:
    tag = uuid.uuid4().hex[:8]
    asset, other = f"stream-{tag}", f"stream-{tag}-other"
    await register(live_api, asset)
    pool = await live_api.resources.pool()
    server, task, base = await _served(live_api)
    now = datetime.now(UTC)
    mine, theirs = anomaly(asset, now), anomaly(other, now)
    seen: list[dict[str, str]] = []
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            url = f"/api/v1/assets/{asset}/anomalies/stream"
            async with client.stream("GET", url, headers=live_api.auth("read")) as r:
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")

                stored: list[asyncio.Task[int]] = []

                def keepalive_then_anomaly(events: list[dict[str, str]]) -> bool:
                    # The stream is open and idle (a heartbeat, no data): now the sink stores two.
                    idle = any(e.get("comment") == "keep-alive" for e in events)
                    if idle and not stored:
                        stored.append(asyncio.create_task(results.insert_anomalies(pool, [theirs, mine])))
                    return any(e.get("event") == "anomaly" for e in events)

                await _events_until(r, keepalive_then_anomaly, seen, 20)
                assert "kilowatch_api_anomaly_streams 1.0" in (await client.get("/metrics")).text
            got = [e for e in seen if e.get("event") == "anomaly"]
            assert len(got) == 1 and got[0]["id"] == str(mine.event_id)
            assert (
                '"expected":100.0' in got[0]["data"]
                and '"reason":"Exceeds predicted value by 150%"' in got[0]["data"]
            )
            # resume after an earlier anomaly: the ones stored since come first (the backlog)
            later = anomaly(asset, now + timedelta(minutes=15), kind="dip")
            await results.insert_anomalies(pool, [later])
            seen = []
            async with client.stream(
                "GET", url, headers={**live_api.auth("read"), "Last-Event-ID": str(mine.event_id)}
            ) as r:
                await _events_until(r, lambda ev: any(e.get("event") == "anomaly" for e in ev), seen, 20)
            assert [e["id"] for e in seen if e.get("event") == "anomaly"] == [str(later.event_id)]
            for _ in range(100):  # every stream closed counts down (once the server saw the client go)
                if "kilowatch_api_anomaly_streams 0.0" in (await client.get("/metrics")).text:
                    break
                await asyncio.sleep(0.1)
            assert "kilowatch_api_anomaly_streams 0.0" in (await client.get("/metrics")).text
            # the stream's PostgreSQL connection is lost: the server ends the stream (EventSource reconnects)
            killed = False
            async with client.stream("GET", url, headers=live_api.auth("read")) as r, asyncio.timeout(15):
                async for chunk in r.aiter_text():  # (returning from inside would close the stream)
                    if "keep-alive" in chunk and not killed:
                        assert await listening(pool, asset) == 1
                        await pool.execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = $1",
                            f"kw-anomaly-stream {asset}",
                        )
                        killed = True
            assert killed  # and the loop ended: the server closed the stream by itself
            bad = await client.get(url, headers={**live_api.auth("read"), "Last-Event-ID": "yesterday"})
            assert bad.status_code == 400
            assert bad.json()["error"]["details"][0]["loc"] == ["header", "Last-Event-ID"]
            missing = await client.get(
                f"/api/v1/assets/nobody-{tag}/anomalies/stream", headers=live_api.auth("read")
            )
            assert missing.status_code == 404
            assert (await client.get(url)).status_code == 401
        # every stream gave its listening connection back when the client went away
        for _ in range(100):
            if not await listening(pool, asset):
                break
            await asyncio.sleep(0.1)
        assert await listening(pool, asset) == 0
    finally:
        server.should_exit = True
        await task
        await pool.execute("DELETE FROM anomalies WHERE asset_id = ANY($1::text[])", [asset, other])
        await pool.execute("DELETE FROM assets WHERE asset_id = $1", asset)


async def test_an_idle_session_ends_and_use_slides_it(live_api: Api) -> None:
    pool = await live_api.resources.pool()
    name = f"idle-{uuid.uuid4().hex[:8]}"
    await users.create(pool, name, "viewer", PASSWORD)
    try:
        c = live_api.client
        r = await c.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        token = r.cookies["kw_session"]
        cookie = {"Cookie": f"kw_session={token}"}
        key = sessions.digest(token)
        # used 50 s ago (idle limit 60 s): still valid, and the use moves the mark to now
        await pool.execute(
            "UPDATE console_sessions SET last_seen_at = now() - interval '50 seconds' WHERE token_hash = $1",
            key,
        )
        assert (await c.get("/api/v1/auth/me", headers=cookie)).status_code == 200
        age = await pool.fetchval(
            "SELECT extract(epoch FROM now() - last_seen_at) FROM console_sessions WHERE token_hash = $1", key
        )
        assert age < 5
        # unused for longer than the idle limit: refused although its expires_at (8 h) is far away
        await pool.execute(
            "UPDATE console_sessions SET last_seen_at = now() - interval '61 seconds' WHERE token_hash = $1",
            key,
        )
        r = await c.get("/api/v1/auth/me", headers=cookie)
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    finally:
        await pool.execute("DELETE FROM console_users WHERE username = $1", name)
        c.cookies.clear()
