"""The harness and the server side of sign-in, in the real browser: the console is served by the real API,
each role signs in through the form, the session cookie is out of the page's reach, a state-changing call
without the CSRF header is refused, and sign-out ends the session."""

from __future__ import annotations

import re

from playwright.sync_api import Page

from .conftest import ConsoleServer, NewPage, SignIn


def test_the_api_serves_the_built_console_with_hashed_assets_cached(
    page: Page, console_server: ConsoleServer
) -> None:
    response = page.goto(console_server.console_url)
    assert response is not None and response.status == 200
    assert response.headers["cache-control"] == "no-cache"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assets = [
        r for r in page.context.request.get(console_server.console_url).text().split('"') if "/assets/" in r
    ]
    assert assets, "index.html names no hashed asset"
    asset = page.context.request.get(f"{console_server.base_url}{assets[0]}")
    assert asset.status == 200 and "immutable" in asset.headers["cache-control"]
    # a client route reloaded in the address bar is the application too
    deep = page.goto(f"{console_server.base_url}/admin/fleet")
    assert deep is not None and deep.status == 200
    page.locator("input[name=username]").wait_for()


def test_each_role_signs_in_and_the_session_cookie_is_out_of_the_pages_reach(
    new_page: NewPage, sign_in: SignIn
) -> None:
    for role in ("admin", "operator", "viewer"):
        page = new_page()
        sign_in(page, role)
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies["kw_session"]["httpOnly"] is True and cookies["kw_session"]["sameSite"] == "Strict"
        assert cookies["kw_csrf"]["httpOnly"] is False and cookies["kw_csrf"]["sameSite"] == "Strict"
        readable = page.evaluate("document.cookie")
        assert "kw_csrf=" in readable and "kw_session" not in readable


def test_a_state_changing_call_without_the_csrf_header_is_refused_then_sign_out_ends_the_session(
    page: Page, sign_in: SignIn
) -> None:
    sign_in(page, "admin")
    status = page.evaluate(
        """async () => (await fetch('/api/v1/users', {
             method: 'POST', headers: {'Content-Type': 'application/json'},
             body: JSON.stringify({username: 'csrf-probe', password: 'long enough pw', role: 'viewer'}),
           })).status"""
    )
    assert status == 403
    result = page.evaluate(
        """async () => {
             const csrf = document.cookie.split('; ').find((c) => c.startsWith('kw_csrf=')).slice(8);
             const headers = {'X-CSRF-Token': csrf};
             const out = await fetch('/api/v1/auth/logout', {method: 'POST', headers});
             const me = await fetch('/api/v1/auth/me');
             return [out.status, me.status, document.cookie];
           }"""
    )
    assert result[0] == 200 and result[1] == 401
    assert not re.search(r"kw_csrf=\S", result[2])
