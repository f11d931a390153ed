"""Console sign-in on the real PostgreSQL and Redis: cookies and their flags, CSRF (double submit), expiry,
sign-out, roles mapped onto scopes, users management, and API keys working as before."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.services import keystore, users
from api.services.resources import Resources
from stream_app.store import audit
from stream_app.store import users as user_rows

from .conftest import api_settings

PASSWORD = "correct horse battery"


@dataclass
class Console:
    resources: Resources
    client: Callable[..., httpx.AsyncClient]  # a fresh client (its own cookie jar)
    names: dict[str, str]  # role -> username
    admin_key: str
    viewer_key: str

    async def login(self, role: str) -> httpx.AsyncClient:
        c = self.client()
        r = await c.post("/api/v1/auth/login", json={"username": self.names[role], "password": PASSWORD})
        assert r.status_code == 200, r.text
        return c


@pytest.fixture(scope="module")
async def console() -> AsyncIterator[Console]:
    tag = uuid.uuid4().hex[:8]
    # A topic prefix of its own: this module's rate-limit buckets in Redis are its own too.
    settings_ = api_settings(topic_prefix=f"kwauth{tag}", api_trusted_proxies=["127.0.0.1"])
    app = create_app(settings_)
    resources = Resources(settings_)
    app.state.resources = resources
    pool = await resources.pool()
    names: dict[str, str] = {}
    for role in users.ROLES:
        names[role] = f"{role}-{tag}"
        await users.create(pool, names[role], role, PASSWORD)
    _rec, admin_key = await keystore.create(pool, f"auth-admin-{tag}", ["admin"], rate_limit=100_000)
    _rec, viewer_key = await keystore.create(pool, f"auth-read-{tag}", ["read"], rate_limit=100_000)
    made: list[httpx.AsyncClient] = []

    def client(**kw: object) -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kilowatch.test", **kw)  # type: ignore[arg-type]
        made.append(c)
        return c

    try:
        yield Console(resources, client, names, admin_key, viewer_key)
    finally:
        for c in made:
            await c.aclose()
        for name in names.values():
            await pool.execute("DELETE FROM console_users WHERE username = $1", name)
        await resources.close()


def _set_cookies(r: httpx.Response) -> dict[str, SimpleCookie]:
    out = {}
    for header in r.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name in jar:
            out[name] = jar
    return out


def _csrf(c: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRF-Token": c.cookies["kw_csrf"]}


async def test_login_sets_a_httponly_strict_session_cookie_and_a_readable_csrf_cookie(
    console: Console,
) -> None:
    c = console.client()
    r = await c.post("/api/v1/auth/login", json={"username": console.names["operator"], "password": PASSWORD})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["username"] == console.names["operator"] and data["role"] == "operator"
    assert data["scopes"] == ["read", "model"] and data["expires_at"]
    cookies = _set_cookies(r)
    session = cookies["kw_session"]["kw_session"]
    assert session["httponly"] is True and session["samesite"] == "strict" and session["path"] == "/"
    assert int(session["max-age"]) == int(api_settings().api.session_ttl_s)
    csrf = cookies["kw_csrf"]["kw_csrf"]
    assert not csrf["httponly"] and csrf["samesite"] == "strict" and csrf["path"] == "/"
    assert session.value != csrf.value and len(session.value) == 43
    assert session.value not in r.text  # the token is only in the cookie
    me = await c.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["data"]["username"] == console.names["operator"]


async def test_wrong_password_and_unknown_user_get_the_same_401(console: Console) -> None:
    c = console.client()
    for body in (
        {"username": console.names["admin"], "password": PASSWORD + "x"},
        {"username": "nobody-" + uuid.uuid4().hex[:6], "password": PASSWORD},
    ):
        r = await c.post("/api/v1/auth/login", json=body)
        assert r.status_code == 401, r.text
        assert r.json()["error"] == {
            "code": "UNAUTHORIZED",
            "message": "Wrong user name or password.",
            "details": None,
        }
        assert "set-cookie" not in r.headers
    r = await c.post(
        "/api/v1/auth/login?lang=zh-CN", json={"username": console.names["admin"], "password": "nope"}
    )
    assert r.status_code == 401 and r.json()["error"]["message"] == "用户名或密码错误。"


async def test_roles_map_onto_scopes(console: Console) -> None:
    viewer, operator, admin = [await console.login(r) for r in ("viewer", "operator", "admin")]
    for c in (viewer, operator, admin):
        assert (await c.get("/api/v1/assets")).status_code == 200
    # keys and users: admin only
    for c, want in ((viewer, 403), (operator, 403), (admin, 200)):
        assert (await c.get("/api/v1/api-keys")).status_code == want
        assert (await c.get("/api/v1/users")).status_code == want
    # model control (scope "model"): operator and admin, not viewer; a nonexistent job is 404 past the scope
    job = f"/api/v1/jobs/{uuid.uuid4()}/cancel"
    r = await viewer.post(job, headers=_csrf(viewer))
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    for c in (operator, admin):
        r = await c.post(job, headers=_csrf(c))
        assert r.status_code == 404, r.text
    # ingestion (scope "write") is not the operator's
    r = await operator.post("/api/v1/readings", json={"readings": []}, headers=_csrf(operator))
    assert r.status_code == 403, r.text


async def test_state_changing_calls_with_the_cookie_need_the_csrf_header(console: Console) -> None:
    admin = await console.login("admin")
    name = f"csrf-{uuid.uuid4().hex[:6]}"
    body = {"username": name, "password": PASSWORD, "role": "viewer"}
    real = admin.cookies["kw_csrf"]
    forged = "A" * 43
    for headers, cookie in (
        ({}, real),  # no header
        ({"X-CSRF-Token": forged}, real),  # header differs from the cookie
        ({"X-CSRF-Token": forged}, forged),  # header equals a planted cookie, not the session's token
        ({"X-CSRF-Token": ""}, real),
    ):
        admin.cookies.set("kw_csrf", cookie, domain="kilowatch.test")
        r = await admin.post("/api/v1/users", json=body, headers=headers)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "FORBIDDEN" and "X-CSRF-Token" in r.json()["error"]["message"]
    admin.cookies.set("kw_csrf", real, domain="kilowatch.test")
    r = await admin.post("/api/v1/users", json=body, headers={"X-CSRF-Token": real})
    assert r.status_code == 201, r.text
    assert r.json()["data"] == {**r.json()["data"], "username": name, "role": "viewer", "scopes": ["read"]}
    assert "password" not in r.text and PASSWORD not in r.text
    # reads need no CSRF header
    assert (await admin.get("/api/v1/users")).status_code == 200
    r = await admin.delete(f"/api/v1/users/{name}", headers={"X-CSRF-Token": real})
    assert r.status_code == 200, r.text
    # both are on the audit log, by the signed-in admin
    pool = await console.resources.pool()
    logged = await audit.entries(pool, name)
    assert [(e["action"], e["actor"]) for e in logged] == [
        ("user.delete", f"user:{console.names['admin']}"),
        ("user.create", f"user:{console.names['admin']}"),
    ]
    assert PASSWORD not in str(logged)


async def test_sign_out_ends_the_session_and_clears_the_cookies(console: Console) -> None:
    c = await console.login("viewer")
    token = c.cookies["kw_session"]
    r = await c.post("/api/v1/auth/logout")
    assert r.status_code == 403  # sign-out changes state: it needs the CSRF header too
    r = await c.post("/api/v1/auth/logout", headers=_csrf(c))
    assert r.status_code == 200 and r.json()["data"] == {"signed_out": True}
    cleared = _set_cookies(r)
    assert int(cleared["kw_session"]["kw_session"]["max-age"]) == 0
    assert int(cleared["kw_csrf"]["kw_csrf"]["max-age"]) == 0
    replay = console.client()
    r = await replay.get("/api/v1/auth/me", headers={"Cookie": f"kw_session={token}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"


async def test_an_expired_session_is_refused(console: Console) -> None:
    c = await console.login("viewer")
    assert (await c.get("/api/v1/auth/me")).status_code == 200
    pool = await console.resources.pool()
    from api.services.sessions import digest

    await pool.execute(
        "UPDATE console_sessions SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
        digest(c.cookies["kw_session"]),
    )
    r = await c.get("/api/v1/auth/me")
    assert r.status_code == 401, r.text
    assert r.json()["error"]["message"].startswith("Your session has ended")


async def test_api_keys_work_as_before_and_win_over_a_cookie(console: Console) -> None:
    c = console.client()
    key = {"Authorization": f"Bearer {console.admin_key}"}
    r = await c.get("/api/v1/api-keys", headers=key)
    assert r.status_code == 200
    me = (await c.get("/api/v1/auth/me", headers=key)).json()["data"]
    assert me["role"] is None and me["expires_at"] is None and "admin" in me["scopes"]
    # a key needs no CSRF header (browsers never add Authorization by themselves)
    name = f"bykey-{uuid.uuid4().hex[:6]}"
    r = await c.post(
        "/api/v1/users", json={"username": name, "password": PASSWORD, "role": "viewer"}, headers=key
    )
    assert r.status_code == 201, r.text
    assert (await c.delete(f"/api/v1/users/{name}", headers=key)).status_code == 200
    # with both, the key decides: an admin session does not lift a read key to admin
    admin = await console.login("admin")
    r = await admin.get("/api/v1/api-keys", headers={"Authorization": f"Bearer {console.viewer_key}"})
    assert r.status_code == 403
    # a malformed key is not rescued by the cookie either
    r = await admin.get("/api/v1/api-keys", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


async def test_users_management_rules(console: Console) -> None:
    admin = await console.login("admin")
    h = _csrf(admin)
    r = await admin.post(
        "/api/v1/users",
        json={"username": console.names["viewer"], "password": PASSWORD, "role": "viewer"},
        headers=h,
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT"
    for body, field in (
        ({"username": "bad name", "password": PASSWORD, "role": "viewer"}, "username"),
        ({"username": "short-pw", "password": "short", "role": "viewer"}, "password"),
        ({"username": "role-x", "password": PASSWORD, "role": "root"}, "role"),
        ({"username": "blank-pw", "password": " " * 12, "role": "viewer"}, "password"),
        ({"username": "extra", "password": PASSWORD, "role": "viewer", "admin": True}, "admin"),
    ):
        r = await admin.post("/api/v1/users", json=body, headers=h)
        assert r.status_code == 422, r.text
        assert [d["loc"][-1] for d in r.json()["error"]["details"]] == [field], r.text
    assert (await admin.delete("/api/v1/users/nobody-at-all", headers=h)).status_code == 404
    # deleting a user ends their sessions at once
    victim = await console.login("operator")
    assert (await victim.get("/api/v1/auth/me")).status_code == 200
    pool = await console.resources.pool()
    row = await user_rows.get_user(pool, console.names["operator"])
    assert row is not None
    r = await admin.delete(f"/api/v1/users/{console.names['operator']}", headers=h)
    assert r.status_code == 200, r.text
    assert (await victim.get("/api/v1/auth/me")).status_code == 401
    await user_rows.insert_user(pool, row.username, row.role, row.password_hash)  # back for other tests


class _Rollback(Exception):
    pass


async def test_the_last_admin_cannot_be_deleted(console: Console) -> None:
    pool = await console.resources.pool()
    lone = console.names["admin"]
    with pytest.raises(_Rollback):
        async with pool.acquire() as conn, conn.transaction():  # rolled back: other admins stay
            await conn.execute("DELETE FROM console_users WHERE role = 'admin' AND username <> $1", lone)
            with pytest.raises(user_rows.LastAdmin):
                await user_rows.delete_user(conn, lone)
            assert await user_rows.get_user(conn, lone) is not None
            raise _Rollback
    assert await user_rows.get_user(pool, lone) is not None


async def test_sign_in_attempts_are_rate_limited_per_address(console: Console) -> None:
    address = f"10.9.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    tag = uuid.uuid4().hex[:8]
    s = api_settings(
        topic_prefix=f"kwauthrl{tag}", api_verifications_per_minute=3, api_trusted_proxies=["127.0.0.1"]
    )
    app = create_app(s)
    resources = Resources(s)
    app.state.resources = resources
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://k.test") as rl:
            codes = []
            for _ in range(5):
                r = await rl.post(
                    "/api/v1/auth/login",
                    json={"username": console.names["viewer"], "password": "wrong password"},
                    headers={"X-Forwarded-For": address},
                )
                codes.append(r.status_code)
            assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429], codes
            assert r.headers["retry-after"]
            # the user name is limited too: another address gets no more guesses at it this minute
            r = await rl.post(
                "/api/v1/auth/login",
                json={"username": console.names["viewer"], "password": PASSWORD},
                headers={"X-Forwarded-For": "10.8.0.1"},
            )
            assert r.status_code == 429
    finally:
        await resources.close()


_text = st.text(max_size=80)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_bodies = st.one_of(
    st.fixed_dictionaries({"username": _json, "password": _json}),
    st.fixed_dictionaries({"username": st.text(max_size=100), "password": st.text(max_size=300)}),
    st.dictionaries(_text, _json, max_size=4),
    _json,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies)
async def test_any_login_body_gets_401_or_a_422_naming_the_field(console: Console, body: object) -> None:
    c = console.client()
    r = await c.post("/api/v1/auth/login", json=body)
    assert r.status_code in (401, 422), (body, r.status_code, r.text)
    err = r.json()["error"]
    if r.status_code == 422:
        assert err["code"] == "VALIDATION_ERROR" and err["details"], r.text
        assert all(d["loc"] and d["loc"][0] == "body" for d in err["details"])
    else:
        assert err["code"] == "UNAUTHORIZED"
    assert "set-cookie" not in r.headers
    await c.aclose()


async def test_create_user_command_makes_a_user_who_can_sign_in_and_reset_ends_their_sessions(
    console: Console,
) -> None:
    import asyncio
    import sys
    from pathlib import Path

    kilowatch = str(Path(sys.executable).parent / "kilowatch")
    name = f"cli-{uuid.uuid4().hex[:6]}"

    async def run(*args: str, password: str = PASSWORD) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            kilowatch,
            "create-user",
            name,
            *args,
            "--password-stdin",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate((password + "\n").encode())
        return proc.returncode or 0, out.decode()

    code, out = await run("--role", "operator")
    assert code == 0 and PASSWORD not in out, out
    console.names[f"cli-{name}"] = name  # removed with the module's users
    c = console.client()
    r = await c.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200 and r.json()["data"]["role"] == "operator"
    code, out = await run("--role", "operator")
    assert code != 0 and "exists already" in out and "Traceback" not in out
    code, out = await run("--role", "viewer", "--reset", password=PASSWORD + "!")
    assert code == 0, out
    assert (await c.get("/api/v1/auth/me")).status_code == 401  # the reset ended the open session
    r = await c.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD + "!"})
    assert r.status_code == 200 and r.json()["data"]["role"] == "viewer"
    logged = await audit.entries(await console.resources.pool(), name)
    assert [e["action"] for e in logged] == ["user.reset", "user.create"]
    assert all(e["actor"].startswith("cli:") for e in logged)


async def test_sign_in_from_another_origin_is_refused(console: Console) -> None:
    c = console.client()
    body = {"username": console.names["viewer"], "password": PASSWORD}
    for origin in ("https://evil.example", "http://kilowatch.test.evil.example", "null"):
        r = await c.post("/api/v1/auth/login", json=body, headers={"Origin": origin})
        assert r.status_code == 403, (origin, r.text)
        assert r.json()["error"]["code"] == "FORBIDDEN" and "set-cookie" not in r.headers
    r = await c.post("/api/v1/auth/login", json=body, headers={"Origin": "http://kilowatch.test"})
    assert r.status_code == 200, r.text
