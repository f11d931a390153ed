"""Keys, scopes, rate limits, request ids, languages and health — on the real PostgreSQL and Redis."""

from __future__ import annotations

import time
import uuid

import pytest

from api.services import keystore

from .conftest import Api, api_settings, open_api


async def test_health_needs_no_key_and_readiness_checks_every_service(api: Api) -> None:
    r = await api.client.get("/healthz")
    assert r.status_code == 200 and r.json()["data"] == {"status": "ok"}
    r = await api.client.get("/readyz")
    assert r.status_code == 200, r.text
    checks = {c["name"]: c["ok"] for c in r.json()["data"]["checks"]}
    assert checks == {"kafka": True, "postgres": True, "redis": True}
    r = await api.client.get("/metrics")
    assert r.status_code == 200 and "kilowatch_api_requests_total" in r.text


async def test_readiness_reports_a_service_that_is_down() -> None:
    client, resources = await open_api(api_settings(redis_port=1, redis_timeout_s=1.0))
    try:
        r = await client.get("/readyz")
        assert r.status_code == 503
        checks = {c["name"]: c for c in r.json()["data"]["checks"]}
        assert checks["redis"]["ok"] is False and checks["postgres"]["ok"] is True
    finally:
        await client.aclose()
        await resources.close()


async def test_missing_malformed_and_unknown_keys_are_401(api: Api) -> None:
    for headers in (
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": f"Bearer kw_AAAAAAAA_{'x' * 43}"},
        {"Authorization": f"Bearer {api.keys['admin'][:-2]}zz"},  # right prefix, wrong secret
    ):
        r = await api.client.get("/api/v1/api-keys", headers=headers)
        assert r.status_code == 401, (headers, r.text)
        body = r.json()
        assert body["status"] == "error" and body["error"]["code"] == "UNAUTHORIZED"
        assert body["request_id"] == r.headers["x-request-id"]
        assert r.headers["www-authenticate"] == "Bearer"


async def test_scopes_are_enforced_and_admin_grants_all(api: Api) -> None:
    for scope in ("read", "write", "model"):
        r = await api.client.get("/api/v1/api-keys", headers=api.auth(scope))
        assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    r = await api.client.get("/api/v1/api-keys", headers=api.auth("admin"))
    assert r.status_code == 200 and r.json()["status"] == "success"


async def test_created_key_is_shown_once_stored_hashed_and_revocable(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/api-keys", json={"name": "dashboard", "scopes": ["read"]}, headers=api.auth("admin")
    )
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    key = created["key"]
    assert key.startswith(f"kw_{created['prefix']}_")
    pool = await api.resources.pool()
    row = await pool.fetchrow("SELECT * FROM api_keys WHERE id = $1", uuid.UUID(created["id"]))
    assert row["key_hash"].startswith("$argon2id$") and key not in row["key_hash"]
    # the list shows prefixes, never keys or hashes
    listed = (await api.client.get("/api/v1/api-keys?limit=1000", headers=api.auth("admin"))).text
    assert created["prefix"] in listed and key not in listed and row["key_hash"] not in listed
    # the new key works for what its scope allows ...
    headers = {"Authorization": f"Bearer {key}"}
    assert (await api.client.get("/api/v1/api-keys", headers=headers)).status_code == 403
    # ... and stops at once after revocation in this process, though it was cached
    r = await api.client.delete(f"/api/v1/api-keys/{created['id']}", headers=api.auth("admin"))
    assert r.status_code == 200 and r.json()["data"]["revoked_at"] is not None
    assert (await api.client.get("/api/v1/api-keys", headers=headers)).status_code == 401


async def test_revocation_in_the_database_reaches_a_process_without_cache() -> None:
    client, resources = await open_api(api_settings(api_key_cache_s=0))
    try:
        pool = await resources.pool()
        rec, key = await keystore.create(pool, "short-lived", ["admin"])
        headers = {"Authorization": f"Bearer {key}"}
        assert (await client.get("/api/v1/api-keys", headers=headers)).status_code == 200
        await keystore.revoke_prefix(pool, rec.prefix)
        assert (await client.get("/api/v1/api-keys", headers=headers)).status_code == 401
    finally:
        await client.aclose()
        await resources.close()


async def test_rate_limit_answers_429_with_retry_after(api: Api) -> None:
    pool = await api.resources.pool()
    _rec, key = await keystore.create(pool, "limited", ["admin"], rate_limit=3)
    headers = {"Authorization": f"Bearer {key}"}
    codes = [(await api.client.get("/api/v1/api-keys", headers=headers)).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    r = await api.client.get("/api/v1/api-keys", headers=headers)
    assert r.json()["error"]["code"] == "RATE_LIMITED"
    # 3/min: one request per 20 s; the burst of 3 is spent, so the next slot is ~20 s away
    assert int(r.headers["retry-after"]) in (19, 20)
    # other keys are not affected
    assert (await api.client.get("/api/v1/api-keys", headers=api.auth("admin"))).status_code == 200


async def test_key_guessing_from_one_address_is_rate_limited_before_hashing() -> None:
    settings = api_settings(
        api_verifications_per_minute=3, api_key_cache_s=0, topic_prefix=f"kwv{uuid.uuid4().hex[:8]}"
    )
    client, resources = await open_api(settings)
    try:
        guesses = [f"Bearer kw_{uuid.uuid4().hex[:8]}_{'g' * 43}" for _ in range(5)]
        codes = [
            (await client.get("/api/v1/api-keys", headers={"Authorization": g})).status_code for g in guesses
        ]
        assert codes == [401, 401, 401, 429, 429]
    finally:
        await client.aclose()
        await resources.close()


@pytest.mark.parametrize(
    ("params", "headers", "expected"),
    [
        ({}, {}, "A valid API key"),
        ({"lang": "zh-CN"}, {}, "需要有效的"),
        ({}, {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}, "需要有效的"),
        ({}, {"Accept-Language": "fr-FR, en;q=0.5"}, "A valid API key"),
        ({"lang": "en-US"}, {"Accept-Language": "zh-CN"}, "A valid API key"),
    ],
)
async def test_messages_follow_lang_and_accept_language(
    api: Api, params: dict[str, str], headers: dict[str, str], expected: str
) -> None:
    r = await api.client.get("/api/v1/api-keys", params=params, headers=headers)
    assert expected in r.json()["error"]["message"]


async def test_request_id_is_taken_from_the_caller_or_made(api: Api) -> None:
    r = await api.client.get("/healthz", headers={"X-Request-ID": "abc-12345-trace"})
    assert r.headers["x-request-id"] == "abc-12345-trace"
    r = await api.client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces" and len(r.headers["x-request-id"]) == 32


async def test_validation_errors_are_422_with_field_details(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/api-keys", json={"name": "", "scopes": ["root"]}, headers=api.auth("admin")
    )
    assert r.status_code == 422
    body = r.json()
    assert body["error"]["code"] == "VALIDATION_ERROR"
    locs = {tuple(d["loc"]) for d in body["error"]["details"]}
    assert ("body", "name") in locs and ("body", "scopes", 0) in locs
    r = await api.client.get("/api/v1/api-keys?cursor=%%%", headers=api.auth("admin"))
    assert r.status_code == 400 and r.json()["error"]["details"][0]["loc"] == ["query", "cursor"]


async def test_body_over_the_limit_is_413(api: Api) -> None:
    big = b"{" + b" " * (api.settings.api.max_body_bytes + 10) + b"}"
    r = await api.client.post(
        "/api/v1/api-keys",
        content=big,
        headers={**api.auth("admin"), "Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "FILE_TOO_LARGE"


async def test_unknown_route_is_404_in_the_envelope(api: Api) -> None:
    r = await api.client.get("/api/v1/nothing-here", headers=api.auth("admin"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "RESOURCE_NOT_FOUND"


async def test_key_pages_are_stable_and_complete(api: Api) -> None:
    pool = await api.resources.pool()
    tag = uuid.uuid4().hex[:6]
    for i in range(5):
        await keystore.create(pool, f"page-{tag}-{i}", ["read"])
    seen: list[str] = []
    ids: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        body = (await api.client.get("/api/v1/api-keys", params=params, headers=api.auth("admin"))).json()
        page = body["data"]  # data: {items, next_cursor, has_more}; meta repeats the paging fields
        seen += [k["name"] for k in page["items"]]
        ids += [k["id"] for k in page["items"]]
        assert body["meta"] == {"next_cursor": page["next_cursor"], "has_more": page["has_more"]}
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    mine = [n for n in seen if n.startswith(f"page-{tag}-")]
    assert mine == [f"page-{tag}-{i}" for i in reversed(range(5))]  # newest first, none twice
    assert len(ids) == len(set(ids))


async def test_cors_allows_only_the_configured_origins() -> None:
    client, resources = await open_api(api_settings(api_cors_origins=("https://grafana.example",)))
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    try:
        r = await client.options(
            "/api/v1/api-keys", headers={"Origin": "https://grafana.example", **preflight}
        )
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://grafana.example"
        r = await client.options("/api/v1/api-keys", headers={"Origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in r.headers
    finally:
        await client.aclose()
        await resources.close()


async def test_no_cross_origin_access_by_default(api: Api) -> None:
    r = await api.client.get("/healthz", headers={"Origin": "https://grafana.example"})
    assert "access-control-allow-origin" not in r.headers


async def test_text_postgresql_cannot_store_is_a_422_not_a_500(api: Api) -> None:
    body = {"asset_id": f"nul-{uuid.uuid4().hex[:6]}", "name": "meter\u0000one"}
    r = await api.client.post("/api/v1/assets", json=body, headers=api.auth("admin"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "VALIDATION_ERROR"
    r = await api.client.post(
        "/api/v1/assets", json={**body, "name": "ok", "metadata": {"n": 2**70}}, headers=api.auth("admin")
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", "metadata"]


async def test_rate_limiting_fails_open_and_fast_while_redis_is_down() -> None:
    client, resources = await open_api(api_settings(redis_port=1, redis_timeout_s=1.0))
    try:
        _rec, key = await keystore.create(await resources.pool(), "redis-down", ["admin"], rate_limit=1)
        headers = {"Authorization": f"Bearer {key}"}
        started = time.perf_counter()
        codes = [(await client.get("/api/v1/api-keys", headers=headers)).status_code for _ in range(5)]
        assert codes == [200] * 5  # a limit of 1/min is not enforced without Redis: availability first
        assert time.perf_counter() - started < 5.0  # one failed check, then the limiter is paused
    finally:
        await client.aclose()
        await resources.close()


async def test_leased_rate_limit_never_lets_more_through_than_the_limit(api: Api) -> None:
    pool = await api.resources.pool()
    _rec, key = await keystore.create(pool, "leased", ["admin"], rate_limit=300)  # 5 per lease
    headers = {"Authorization": f"Bearer {key}"}
    started = time.monotonic()
    codes = [
        (await api.client.get("/api/v1/api-keys?limit=1", headers=headers)).status_code for _ in range(330)
    ]
    refill = (time.monotonic() - started) * 300 / 60  # GCRA refills continuously: 5 per second
    assert codes.count(200) <= 300 + refill + 1 and codes[-1] == 429
    assert codes.count(200) >= 295  # at most one lease's worth is lost
