"""Sign in to the real console as each role: what each sees (a viewer: no keys, no activate, no
training), the API's own error for a bad password, and sign-out."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Account, ConsoleServer, NewPage, Screenshot, SignIn


def csrf(page: Page) -> dict[str, str]:
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "kw_csrf")
    return {"X-CSRF-Token": token}


def make_asset(page: Page, base: str, name: str) -> str:
    asset = f"browser-{uuid.uuid4().hex[:8]}/meter.1"
    r = page.request.post(f"{base}/api/v1/assets", data={"asset_id": asset, "name": name}, headers=csrf(page))
    assert r.status == 201, r.text()
    return asset


def test_a_bad_password_shows_the_apis_message(
    page: Page, console_server: ConsoleServer, accounts: dict[str, Account]
) -> None:
    page.goto(console_server.base_url + "/admin/")
    name = accounts["viewer"].username
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", "not the password at all")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("UNAUTHORIZED")
    expect(page.locator("[data-testid=who]")).to_have_count(0)


@pytest.mark.parametrize("role", ["admin", "operator", "viewer"])
def test_each_role_sees_what_its_scopes_allow(
    page: Page,
    console_server: ConsoleServer,
    sign_in: SignIn,
    screenshot: Screenshot,
    role: str,
) -> None:
    sign_in(page, "admin")
    asset = make_asset(page, console_server.base_url, f"seen by {role}")
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("input[name=username]")).to_be_visible()

    sign_in(page, role)
    expect(page.locator("[data-testid=who]")).to_contain_text(role)
    keys_link = page.get_by_role("link", name="Keys and users")
    expect(keys_link).to_have_count(1 if role == "admin" else 0)
    page.get_by_role("searchbox").fill(asset.split("/")[0])
    expect(page.locator("[data-testid=fleet] tbody tr")).to_have_count(1)
    if role == "admin":
        screenshot(page, "fleet")
    page.get_by_role("link", name=asset).click()
    expect(page.locator("[data-testid=asset-title]")).to_have_text(asset)
    expect(page.get_by_role("heading", name="Model versions")).to_be_visible()
    training = page.get_by_role("heading", name="Training")
    if role == "viewer":
        expect(page.get_by_text("Read-only: your role cannot change models.")).to_be_visible()
        expect(training).to_have_count(0)
        expect(page.get_by_role("button", name="Activate")).to_have_count(0)
        expect(page.get_by_role("button", name="Roll back")).to_have_count(0)
        # the keys page is not reachable by URL either: the fleet is shown instead
        page.goto(console_server.base_url + "/admin/keys")
        expect(page.get_by_role("heading", name="Fleet")).to_be_visible()
        expect(page.get_by_role("heading", name="API keys")).to_have_count(0)
        # and the API refuses a viewer's model call whatever the page shows
        rollback = f"{console_server.base_url}/api/v1/assets/{asset}/models/rollback"
        r = page.request.post(rollback, headers=csrf(page), data={})
        assert r.status == 403, r.text()
        screenshot(page, "viewer-fleet")
    else:
        expect(training).to_be_visible()
        if role == "operator":
            screenshot(page, "asset-operator")

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("input[name=username]")).to_be_visible()
    r = page.request.get(f"{console_server.base_url}/api/v1/auth/me")
    assert r.status == 401


def test_language_follows_the_switch_and_sticks(
    page: Page, console_server: ConsoleServer, sign_in: SignIn, screenshot: Screenshot
) -> None:
    sign_in(page, "viewer")
    page.get_by_label("Language").select_option("zh-CN")
    expect(page.get_by_role("heading", name="设备总览")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="设备总览")).to_be_visible()
    # an asset with no readings yet: the page's own notice, in the chosen language (not an error)
    page.goto(console_server.base_url + "/admin/asset?id=" + "never-" + uuid.uuid4().hex)
    expect(page.get_by_test_id("asset-not-yet")).to_contain_text("该资产尚无读数")
    expect(page.get_by_role("alert")).to_have_count(0)
    # the API answers in the chosen language too (Accept-Language): a dataset that does not exist
    page.goto(console_server.base_url + "/admin/dataset?id=" + str(uuid.uuid4()))
    expect(page.get_by_role("alert").first).to_contain_text("RESOURCE_NOT_FOUND")
    screenshot(page, "zh-cn-error")
    page.get_by_label("语言").select_option("en-US")
    expect(page.get_by_role("link", name="Fleet", exact=True)).to_be_visible()


def test_phone_width_fits_without_sideways_scrolling(
    new_page: NewPage,
    console_server: ConsoleServer,
    api: httpx.Client,
    sign_in: SignIn,
    screenshot: Screenshot,
) -> None:
    asset = f"browser-phone-{uuid.uuid4().hex[:8]}"
    assert api.post("/api/v1/assets", json={"asset_id": asset, "name": "phone"}).status_code == 201
    page = new_page(width=390, height=844)
    sign_in(page, "operator")
    expect(page.get_by_role("heading", name="Fleet")).to_be_visible()
    page.get_by_role("searchbox").fill(asset)
    expect(page.locator("[data-testid=fleet] tbody tr")).to_have_count(1)
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths  # wide tables scroll inside their own box
    screenshot(page, "fleet-phone")
    page.get_by_role("link", name=asset).click()
    expect(page.get_by_test_id("asset-title")).to_have_text(asset)
    expect(page.get_by_text("No readings in this range.")).to_be_visible()
    expect(page.get_by_role("heading", name="Training")).to_be_visible()
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths
    screenshot(page, "asset-phone")
