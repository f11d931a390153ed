"""Admin pages of the real console: the alert configuration form (checked like the API before it is
sent; saved and read back), and API keys (created and shown once, working, revoked, refused)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ConsoleServer, Screenshot, SignIn


def csrf(page: Page) -> dict[str, str]:
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "kw_csrf")
    return {"X-CSRF-Token": token}


@pytest.fixture
def admin_page(page: Page, sign_in: SignIn, console_server: ConsoleServer) -> Iterator[Page]:
    """Signed in as admin; the alert configuration found is put back afterwards."""
    sign_in(page, "admin")
    r = page.request.get(f"{console_server.base_url}/api/v1/alert-config")
    before = r.json()["data"] if r.status == 200 else None
    yield page
    if before is not None:
        body = {k: before[k] for k in ("email", "threshold", "frequency", "enabled")}
        body["anomaly_types"] = before.get("types", before.get("anomaly_types", []))
        r = page.request.put(f"{console_server.base_url}/api/v1/alert-config", data=body, headers=csrf(page))
        assert r.status == 200, r.text()


def test_alert_configuration_is_validated_saved_and_read_back(
    admin_page: Page, console_server: ConsoleServer, screenshot: Screenshot
) -> None:
    page = admin_page
    sent: list[str] = []
    page.on("request", lambda req: sent.append(req.method) if req.url.endswith("/alert-config") else None)
    page.get_by_role("link", name="Alerts").click()
    form = page.get_by_role("form", name="Alert configuration")
    email = f"ops-{uuid.uuid4().hex[:6]}@example.com"

    form.get_by_label("E-mail").fill("ops@example")
    form.locator("input[name=threshold]").fill("1.5")
    form.get_by_role("button", name="Save").click()
    expect(form.locator("[data-field=email]")).to_have_text("not an e-mail address")
    expect(form.locator("[data-field=threshold]")).to_have_text("a number from 0 to 1")
    assert "PUT" not in sent  # refused before a request was made

    form.get_by_label("E-mail").fill(email)
    form.locator("input[name=threshold]").fill("0.97")
    form.get_by_label("Frequency").select_option("hourly")
    types = ("spike", "dip", "sustained_high", "sustained_low", "pattern_shift", "flatline")
    for name in (f"type-{t}" for t in types):  # whatever was stored before: exactly spike and dip
        box = form.locator(f"input[name={name}]")
        if name in ("type-spike", "type-dip"):
            box.check()
        else:
            box.uncheck()
    form.get_by_role("button", name="Save").click()
    expect(form.get_by_test_id("saved")).to_be_visible()
    assert "PUT" in sent
    screenshot(page, "alerts")

    page.reload()
    form = page.get_by_role("form", name="Alert configuration")
    expect(form.get_by_label("E-mail")).to_have_value(email)
    expect(form.locator("input[name=threshold]")).to_have_value("0.97")
    expect(form.get_by_label("Frequency")).to_have_value("hourly")
    expect(form.locator("input[name=type-spike]")).to_be_checked()
    expect(form.locator("input[name=type-dip]")).to_be_checked()
    expect(form.locator("input[name=type-flatline]")).not_to_be_checked()
    r = page.request.get(f"{console_server.base_url}/api/v1/alert-config")
    stored = r.json()["data"]
    assert (stored["email"], stored["threshold"], stored["frequency"]) == (email, 0.97, "hourly")
    assert sorted(stored.get("types", stored.get("anomaly_types"))) == ["dip", "spike"]


def test_a_key_is_shown_once_works_and_stops_working_when_revoked(
    admin_page: Page, console_server: ConsoleServer, screenshot: Screenshot
) -> None:
    page = admin_page
    name = f"browser-{uuid.uuid4().hex[:8]}"
    page.get_by_role("link", name="Keys and users").click()
    form = page.get_by_role("form", name="Create key")
    form.get_by_label("Name").fill(name)
    form.locator("input[name=scope-read]").check()
    form.get_by_role("button", name="Create key").click()
    shown = page.get_by_test_id("new-key")
    expect(shown).to_contain_text("shown only once")
    key = shown.locator("pre").inner_text().strip()
    assert key.startswith("kw_")
    screenshot(page, "keys")

    assets = f"{console_server.base_url}/api/v1/assets"
    bearer = {"Authorization": f"Bearer {key}"}
    ctx = page.context.browser
    assert ctx is not None
    # a fresh context: the key alone, without the admin's session cookie
    other = ctx.new_context()
    try:
        assert other.request.get(assets, headers=bearer).status == 200
        row = page.locator("[data-testid=keys] tbody tr", has_text=name)
        row.get_by_role("button", name="Revoke").click()
        expect(row).to_have_attribute("data-revoked", "yes")
        expect(row).to_contain_text("Revoked")
        assert other.request.get(assets, headers=bearer).status == 401
    finally:
        other.close()
    # the key is not shown again after a reload
    page.reload()
    expect(page.get_by_test_id("new-key")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text(key)
