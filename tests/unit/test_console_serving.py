"""The console under /admin (files, cache headers, SPA fallback, the 503 page), the pure parts of sign-in
(roles, CSRF comparison, token shapes), the body gate for sessions and the create-user command."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from api import cli
from api.app import create_app
from api.http.body_limits import BodyLimitMiddleware, BodyLimits
from api.http.errors import ApiError
from api.services import console, keys, sessions, users
from api.services.keys import Principal
from stream_app.settings import Settings


def _dist(root: Path) -> Path:
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><div id=root></div>")
    (root / "assets" / "index-3f9a1c.js").write_text("console.log(1)")
    (root / "favicon.svg").write_text("<svg/>")
    (root.parent / "secret.txt").write_text("outside")
    (root / ".env").write_text("hidden")
    return root


def test_resolve_picks_files_cache_policy_and_the_spa_fallback(tmp_path: Path) -> None:
    root = _dist(tmp_path / "dist")
    js = console.resolve(root, "assets/index-3f9a1c.js")
    assert js is not None and js.path.name == "index-3f9a1c.js" and js.cache_control == console.IMMUTABLE
    fav = console.resolve(root, "favicon.svg")
    assert fav is not None and fav.cache_control == console.REVALIDATE
    for client_route in ("", "assets/x/y", "fleet", "assets-page/meter-1", "users"):
        found = console.resolve(root, client_route)
        assert found is not None and found.path == root / "index.html", client_route
        assert found.cache_control == console.REVALIDATE
    for refused in (
        "assets/gone.js",
        "../secret.txt",
        "assets/../../secret.txt",
        ".env",
        "a/../.env",
        "x.css",
    ):
        assert console.resolve(root, refused) is None, refused


def test_a_symlink_out_of_the_console_folder_is_not_served(tmp_path: Path) -> None:
    root = _dist(tmp_path / "dist")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    assert console.resolve(root, "link.txt") is None


@given(sub=st.text(max_size=60))
def test_resolve_never_leaves_the_console_folder(tmp_path_factory: pytest.TempPathFactory, sub: str) -> None:
    root = tmp_path_factory.getbasetemp() / "dist-prop"
    if not root.exists():
        _dist(root)
    found = console.resolve(root, sub)
    if found is not None:
        assert found.path.resolve().is_relative_to(root.resolve()) and found.path.is_file()


async def _get(settings: Settings, path: str) -> httpx.Response:
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://k.test") as c:
        return await c.get(path)


async def test_admin_serves_the_built_console_with_cache_and_security_headers(tmp_path: Path) -> None:
    s = Settings(api_console_dir=_dist(tmp_path / "dist"))
    r = await _get(s, "/admin")
    assert r.status_code == 308 and r.headers["location"] == "/admin/"
    for path in ("/admin/", "/admin/fleet", "/admin/assets/meter-7"):
        r = await _get(s, path)
        assert r.status_code == 200 and "id=root" in r.text, path
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
    r = await _get(s, "/admin/assets/index-3f9a1c.js")
    assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "javascript" in r.headers["content-type"]
    r = await _get(s, "/admin/assets/index-old.js")
    assert r.status_code == 404 and "id=root" not in r.text
    r = await _get(s, "/admin/..%2Fsecret.txt")
    assert r.status_code == 404 and "outside" not in r.text
    # not in the OpenAPI document (the console is not an API route)
    assert not any(p.startswith("/admin") for p in create_app(s).openapi()["paths"])


async def test_admin_without_a_built_console_is_a_clear_503_page(tmp_path: Path) -> None:
    r = await _get(Settings(api_console_dir=tmp_path / "nothing"), "/admin/fleet")
    assert r.status_code == 503 and r.headers["retry-after"]
    assert "make console" in r.text and "not built" in r.text and r.headers["cache-control"] == "no-store"


def test_roles_map_onto_existing_scopes() -> None:
    def may(role: str, scope: keys.Scope) -> bool:
        return keys.grants(frozenset(users.scopes_of(role)), scope)

    assert [s for s in keys.SCOPES if may("admin", s)] == ["read", "write", "model", "admin"]
    assert [s for s in keys.SCOPES if may("operator", s)] == ["read", "model"]
    assert [s for s in keys.SCOPES if may("viewer", s)] == ["read"]
    assert users.scopes_of("root") == ()  # an unknown role (a hand-edited row) gets nothing


def _session(csrf: str) -> sessions.Session:
    p = Principal(users.principal_id("u"), "user:u", "session", frozenset({"read"}), None)
    from datetime import UTC, datetime

    return sessions.Session(p, "u", "viewer", sessions.digest(csrf), datetime.now(UTC))


def test_csrf_needs_header_equal_to_cookie_and_to_the_sessions_token() -> None:
    token = "t" * 43
    s = _session(token)
    assert sessions.csrf_ok(s, token, token)
    assert not sessions.csrf_ok(s, token, None)
    assert not sessions.csrf_ok(s, None, token)
    assert not sessions.csrf_ok(s, token, token[:-1] + "u")
    other = "o" * 43
    assert not sessions.csrf_ok(s, other, other)  # a planted cookie echoed: not this session's


@given(header=st.text(max_size=60), cookie=st.text(max_size=60))
def test_csrf_refuses_anything_but_the_token(header: str, cookie: str) -> None:
    token = "k" * 43
    assert sessions.csrf_ok(_session(token), cookie, header) == (header == cookie == token)


def test_token_shape_and_password_rules() -> None:
    import secrets

    assert sessions.well_formed(secrets.token_urlsafe(32))
    for bad in ("", "x" * 42, "x" * 44, "x" * 42 + "!", "é" * 43):
        assert not sessions.well_formed(bad)
    assert users.password_problem("x" * 9) is not None
    assert users.password_problem("x" * 10) is None
    assert users.password_problem("x" * 257) is not None
    assert users.principal_id("alice") == users.principal_id("alice") != users.principal_id("bob")


async def _gate(headers: list[tuple[bytes, bytes]], path: str = "/api/v1/users") -> int:
    """The status the body gate answers a POST with a small body (200: it let the request through)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    statuses: list[int] = []

    async def reply(scope: Any, send: Any, err: ApiError) -> None:
        statuses.append(err.status)

    gate = BodyLimitMiddleware(
        app,
        BodyLimits(bulk=10_000, small=1_000),
        key_ok=lambda k: keys.parse(k) is not None,
        reply=reply,
        session_cookie=sessions.SESSION_COOKIE,
        session_ok=sessions.well_formed,
        open_paths=frozenset({"/api/v1/auth/login"}),
    )

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def receive() -> Any:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    scope = {"type": "http", "method": "POST", "path": path, "headers": [(b"content-length", b"2"), *headers]}
    await gate(scope, receive, send)
    return statuses[0]


async def test_the_body_gate_lets_sessions_and_sign_in_through_and_nothing_else() -> None:
    token = "s" * 43
    assert await _gate([]) == 401
    assert await _gate([(b"cookie", f"kw_session={token}; kw_csrf=x".encode())]) == 200
    assert await _gate([(b"cookie", b"kw_session=short")]) == 401
    assert await _gate([(b"cookie", f"other={token}".encode())]) == 401
    assert await _gate([], path="/api/v1/auth/login") == 200
    # a bad Authorization header is not rescued by a cookie (the key decides when one is sent)
    assert (
        await _gate([(b"authorization", b"Bearer nope"), (b"cookie", f"kw_session={token}".encode())]) == 401
    )


def _create_user_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    return parser.parse_args(["create-user", *argv])


def test_create_user_takes_the_password_from_env_or_stdin_never_an_argument(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(SystemExit):
        _create_user_args(["alice", "--password", "x"])  # no such option: it would show in ps
    monkeypatch.setenv(cli.CREATE_USER_ENV, "from the environment")
    assert cli.read_password(_create_user_args(["alice"])) == "from the environment"
    monkeypatch.delenv(cli.CREATE_USER_ENV)
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin\nsecond line\n"))
    assert cli.read_password(_create_user_args(["alice", "--password-stdin"])) == "from stdin"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(SystemExit, match="no password"):
        cli.read_password(_create_user_args(["alice"]))  # no terminal to ask on


def test_create_user_refuses_bad_names_and_short_passwords_before_any_connection(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    s = Settings(postgres_port=1)  # nothing listens there: a connection attempt would fail loudly
    monkeypatch.setenv(cli.CREATE_USER_ENV, "long enough password")
    for bad in ("bad name", "alice\n", "_lead", "x" * 65):
        assert cli.run_create_user(_create_user_args([bad]), s) == 2, bad
    monkeypatch.setenv(cli.CREATE_USER_ENV, "short")
    assert cli.run_create_user(_create_user_args(["alice", "--role", "admin"]), s) == 2
    assert "password refused" in capsys.readouterr().err
