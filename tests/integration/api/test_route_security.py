"""Every route is checked: 401 without a key, 403 with a key lacking its scope; only health, readiness,
metrics and the docs are open. The routes are read from the app, so a route added later is covered."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.routing import APIRoute

from api.app import API_PREFIX, ROOT, create_app
from api.app import V1 as V1_ROUTERS
from api.services import keystore

from .conftest import Api, api_settings

OPEN_PATHS = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "/api/v1/auth/login",  # console sign-in: a password instead of a key (test_console_auth.py)
}
# A key holding every scope except the one a route needs.
WRONG_SCOPES = {
    "read": ["write", "model"],
    "write": ["read", "model"],
    "model": ["read", "write"],
    "admin": ["read", "write", "model"],
}


def _scope_of(route: APIRoute) -> str | None:
    """The scope the route's dependencies require (require_<scope>), if any."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        name = getattr(dep.call, "__name__", "")
        if name.startswith("require_"):
            return name.removeprefix("require_")
        stack.extend(dep.dependencies)
    return None


def _routes() -> list[tuple[str, str, str | None]]:
    """(method, full path, scope) of every route the app mounts (from the routers it lists)."""
    out = []
    for prefix, routers in (("", ROOT), (API_PREFIX, V1_ROUTERS)):
        for router in routers:
            for route in router.routes:
                if isinstance(route, APIRoute):
                    for method in sorted(route.methods - {"HEAD"}):
                        path = re.sub(r":\w+}", "}", prefix + route.path)  # {asset_id:path} -> {asset_id}
                        out.append((method, path, _scope_of(route)))
    openapi = create_app(api_settings()).openapi()["paths"]
    assert {p for _m, p, _s in out} == set(openapi) - {"/openapi.json"}, "routes and OpenAPI disagree"
    return out


ROUTES = _routes()
V1 = [r for r in ROUTES if r[1].startswith("/api/v1/") and r[1] not in OPEN_PATHS]


def _fill(path: str) -> str:
    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        if name.endswith("_id") and name != "asset_id":
            return str(uuid.uuid4())
        return "1" if name == "version" else "security-probe"

    return re.sub(r"{([^}]+)}", value, path)


def test_every_route_is_open_on_purpose_or_needs_a_scope() -> None:
    assert V1, "no /api/v1 routes found"
    for method, path, scope in ROUTES:
        if path in OPEN_PATHS:
            assert scope is None, f"{method} {path} is meant to be open"
        else:
            assert path.startswith("/api/v1/"), f"{method} {path} is outside /api/v1"
            assert scope in WRONG_SCOPES, f"{method} {path} has no key requirement"


@pytest.mark.parametrize(("method", "path", "scope"), V1, ids=[f"{m} {p}" for m, p, _ in V1])
async def test_route_needs_a_key_and_its_scope(api: Api, method: str, path: str, scope: str) -> None:
    url = _fill(path)
    r = await api.client.request(method, url, json={})
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "UNAUTHORIZED"
    pool = await api.resources.pool()
    _rec, key = await keystore.create(pool, f"wrong-scope-{scope}", WRONG_SCOPES[scope], rate_limit=100_000)
    r = await api.client.request(method, url, json={}, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "FORBIDDEN"
