"""Users from the console (admin): create one with a role, who can then sign in with it; delete it, which
ends that user's open session at once."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.browser.conftest import ConsoleServer, NewPage, SignIn


def test_an_admin_creates_a_user_who_signs_in_then_deletes_them(
    new_page: NewPage, console_server: ConsoleServer, sign_in: SignIn
) -> None:
    admin = new_page()
    sign_in(admin, "admin")
    admin.get_by_role("link", name="Keys and users").click()
    name = f"new-viewer-{uuid.uuid4().hex[:6]}"
    password = f"pw-{uuid.uuid4().hex}"
    form = admin.get_by_role("form", name="Create user")
    form.get_by_label("Username").fill(name)
    form.get_by_label("Role").select_option("viewer")
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Create user").click()
    row = admin.locator("tr", has_text=name)
    expect(row).to_contain_text("viewer")

    # the new user signs in through the form, as a viewer
    other = new_page()
    other.goto(console_server.console_url)
    other.locator("input[name=username]").fill(name)
    other.locator("input[name=password]").fill(password)
    other.locator("button[type=submit]").click()
    other.locator("input[name=password]").wait_for(state="detached")
    me = other.request.get(f"{console_server.base_url}/api/v1/auth/me")
    assert me.status == 200 and me.json()["data"]["role"] == "viewer", me.text()
    expect(other.get_by_role("link", name="Keys and users")).to_have_count(0)  # not for a viewer

    row.get_by_role("button", name="Delete").click()
    expect(admin.locator("tr", has_text=name)).to_have_count(0)
    gone = other.request.get(f"{console_server.base_url}/api/v1/auth/me")
    assert gone.status == 401, gone.text()  # deleting the user ended their session at once
    users = admin.request.get(f"{console_server.base_url}/api/v1/users").json()["data"]["items"]
    assert name not in [u["username"] for u in users]
