"""Browser tests of the console: a real API serving the built console, the real PostgreSQL, Redis and
Kafka (``scripts/with-infra``), a real worker, one user per role, and headless Debian Chromium driven by
Python Playwright.

Why Playwright: its locators wait for conditions by themselves (visible, enabled, text present), so the
tests need no sleeps; it drives the Chromium that Debian installs through ``executable_path`` (no browser
download, which is unreachable here), over the DevTools protocol, so no driver binary has to match the
browser's version as Selenium's chromedriver must. Every fixture here is synchronous (Playwright's sync
API): the tests are plain ``def`` functions and never share an event loop with pytest-asyncio.

What a test gets:
- ``console_server``: the API's base URL (``/admin/`` is the console), an admin API key, log paths.
- ``accounts``: role -> :class:`Account` (user name, password), created with ``kilowatch create-user``.
- ``page``: a new 1280x800 page in a fresh browser context (its own cookies), en-US;
  ``new_page(width=390, height=844, locale="zh-CN")`` for other sizes and languages.
- ``sign_in(page, "viewer")``: signs in through the console's form and waits until the session works.
- ``screenshot(page, "fleet")``: saves ``docs/img/console/fleet.png`` (the full page).
- ``api``: an ``httpx.Client`` on the same server with the admin key, for seeding data.
- ``worker_settings``: the Settings (topic prefix, ...) the API and the worker share.
- ``history_sink``: a ``kilowatch history-sink`` process for the session (the asset chart and
  history-based training read the readings it stores).
- ``csrf(page)``: the ``X-CSRF-Token`` header of the page's session, for ``page.request`` calls that
  change something.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from stream_app.settings import Settings
from tests.integration.harness import KILOWATCH, ROOT, Worker, isolated_settings, wait_for_members

SCREENSHOTS = ROOT / "docs" / "img" / "console"
CONSOLE_DIST = ROOT / "console" / "dist"
START_TIMEOUT_S = 120.0
ROLES = ("admin", "operator", "viewer")


@dataclass(frozen=True)
class Account:
    role: str
    username: str
    password: str


@dataclass(frozen=True)
class ConsoleServer:
    base_url: str  # http://127.0.0.1:<port>
    admin_key: str
    api_log: Path
    worker_log: Path

    @property
    def console_url(self) -> str:
        return f"{self.base_url}/admin/"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed browser test's report carries the tails of the API's and the worker's logs."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    server = getattr(item, "funcargs", {}).get("console_server")
    if report.failed and isinstance(server, ConsoleServer):
        report.sections.append(("kilowatch api log (tail)", _tail(server.api_log, 60)))
        report.sections.append(("kilowatch worker log (tail)", _tail(server.worker_log, 60)))


def _tail(path: Path, n: int = 40) -> str:
    if not path.exists():
        return f"({path} not written)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def chromium_path() -> str:
    found = os.environ.get("KW_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium not found: `make chromium` installs Debian's package (or set KW_CHROMIUM)")
    return found


@pytest.fixture(scope="session")
def console_dist() -> Path:
    if not (CONSOLE_DIST / "index.html").is_file():
        pytest.fail(f"the console is not built ({CONSOLE_DIST}/index.html missing): run `make console`")
    return CONSOLE_DIST


@pytest.fixture(scope="session")
def worker_env(
    tmp_path_factory: pytest.TempPathFactory, console_dist: Path
) -> tuple[Settings, dict[str, str]]:
    """Settings and environment shared by the API and the worker: topics, group and state of their own."""
    tmp = tmp_path_factory.mktemp("browser")
    settings, env = isolated_settings(
        tmp,
        api_console_dir=str(console_dist),
        api_verifications_per_minute=10_000,
        api_rate_limit_per_minute=100_000,
        api_sse_streams_per_key=16,
        alerting_enabled=True,  # the worker groups anomalies into the episodes the Alerts page lists
    )
    env["KILOWATCH_LOG_FORMAT"] = env.get("KILOWATCH_LOG_FORMAT", "text")
    return settings, env


@pytest.fixture(scope="session")
def worker_settings(worker_env: tuple[Settings, dict[str, str]]) -> Settings:
    return worker_env[0]


def _run_cli(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    res = subprocess.run(
        [KILOWATCH, *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if res.returncode != 0:
        raise AssertionError(f"kilowatch {args[0]} failed ({res.returncode}): {res.stderr.strip()[-800:]}")
    return res.stdout


@pytest.fixture(scope="session")
def console_server(
    worker_env: tuple[Settings, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleServer]:
    """A real worker and a real ``kilowatch api`` on a free loopback port, serving the built console."""
    settings, env = worker_env
    logs = tmp_path_factory.mktemp("browser-logs")
    _run_cli(["db", "upgrade"], env)
    tag = uuid.uuid4().hex[:6]
    admin_key = _run_cli(["create-api-key", f"browser-admin-{tag}", "--scope", "admin"], env).strip()
    worker = Worker(env, f"browser-{tag}", logs)
    port = _free_port()
    api_log = logs / "api.log"
    with open(api_log, "ab") as out:
        api = subprocess.Popen(
            [KILOWATCH, "api", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # wait on a condition: the API answers /readyz with every service up
            if api.poll() is not None:
                raise AssertionError(f"kilowatch api exited ({api.returncode}):\n{_tail(api_log)}")
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"kilowatch api not ready in {START_TIMEOUT_S:.0f} s:\n{_tail(api_log)}")
            time.sleep(0.2)
        wait_for_members(settings, 1, timeout=START_TIMEOUT_S)
        yield ConsoleServer(base, admin_key, api_log, worker.log_path)
    finally:
        if api.poll() is None:
            api.terminate()
            try:
                api.wait(20)
            except subprocess.TimeoutExpired:
                api.kill()
                api.wait(10)
        worker.stop()
        _run_cli(["revoke-api-key", admin_key.split("_")[1]], env)


@pytest.fixture(scope="session")
def history_sink(
    worker_env: tuple[Settings, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """The readings history the asset chart reads (and history-based training takes) is written by the
    history sink, off in the worker by default: run it as its own process, as a deployment does
    (``kilowatch history-sink``, same settings as the worker)."""
    _settings, env = worker_env
    log = tmp_path_factory.mktemp("history-sink") / "history-sink.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [KILOWATCH, "history-sink"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def csrf(page: Page) -> dict[str, str]:
    """The CSRF header of the page's console session (state-changing ``page.request`` calls need it)."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "kw_csrf")
    return {"X-CSRF-Token": token}


@pytest.fixture(scope="session")
def api(console_server: ConsoleServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=console_server.base_url,
        headers={"Authorization": f"Bearer {console_server.admin_key}"},
        timeout=30,
    ) as client:
        yield client


@pytest.fixture(scope="session")
def accounts(
    console_server: ConsoleServer, worker_env: tuple[Settings, dict[str, str]], api: httpx.Client
) -> Iterator[dict[str, Account]]:
    """One user per role, made the way an operator makes the first admin (``kilowatch create-user``)."""
    _settings, env = worker_env
    tag = uuid.uuid4().hex[:6]
    made: dict[str, Account] = {}
    for role in ROLES:
        account = Account(role, f"{role}-{tag}", f"pw-{uuid.uuid4().hex}")
        _run_cli(
            ["create-user", account.username, "--role", role, "--password-stdin"],
            env,
            account.password + "\n",
        )
        made[role] = account
    yield made
    for account in made.values():
        api.delete(f"/api/v1/users/{account.username}")


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright, chromium_path: str) -> Iterator[Browser]:
    b = playwright_instance.chromium.launch(executable_path=chromium_path, headless=True)
    yield b
    b.close()


NewPage = Callable[..., Page]


@pytest.fixture
def new_page(browser: Browser, console_server: ConsoleServer) -> Iterator[NewPage]:
    """Pages in fresh contexts (own cookies): ``new_page(width=390, height=844, locale="zh-CN")``."""
    contexts = []

    def make(width: int = 1280, height: int = 800, locale: str = "en-US") -> Page:
        context = browser.new_context(
            base_url=console_server.base_url, viewport={"width": width, "height": height}, locale=locale
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: NewPage) -> Page:
    return new_page()


SignIn = Callable[[Page, str], Account]


@pytest.fixture
def sign_in(accounts: dict[str, Account], console_server: ConsoleServer) -> SignIn:
    """Signs in through the console's form as the role's user; returns once the session answers /auth/me
    (the page has the kw_session cookie) and the form is gone."""

    def do(page: Page, role: str) -> Account:
        account = accounts[role]
        page.goto(console_server.console_url)
        page.locator("input[name=username]").fill(account.username)
        page.locator("input[name=password]").fill(account.password)
        page.locator("button[type=submit]").click()
        page.locator("input[name=password]").wait_for(state="detached")
        me = page.request.get(f"{console_server.base_url}/api/v1/auth/me")
        assert me.status == 200, me.text()
        assert me.json()["data"]["role"] == role
        return account

    return do


Screenshot = Callable[[Page, str], Path]


@pytest.fixture(scope="session")
def screenshot() -> Screenshot:
    """Saves the page's full screenshot as docs/img/console/<name>.png (committed, linked from the docs)."""

    def save(page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
