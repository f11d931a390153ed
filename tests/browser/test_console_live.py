"""An asset whose readings flow through the real worker: a spike posted while the asset page is open
appears as an anomaly (table row and chart marker) without reloading the page."""

from __future__ import annotations

import csv
import re
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from stream_app.settings import Settings
from tests.browser.conftest import ConsoleServer, Screenshot, SignIn
from tests.integration.harness import KILOWATCH, ROOT

N_WARM = 400
STEP = timedelta(minutes=15)


def csrf(page: Page) -> dict[str, str]:
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "kw_csrf")
    return {"X-CSRF-Token": token}


def steel(data_dir: Path, n: int) -> list[float]:
    out: list[float] = []
    with (data_dir / "energy" / "steel_industry_2018_15min.csv").open() as f:
        for rec in csv.DictReader(f):
            out.append(float(rec["Usage_kWh"]))
            if len(out) == n:
                break
    return out


def post(page: Page, base: str, readings: list[dict[str, Any]]) -> None:
    r = page.request.post(f"{base}/api/v1/readings", data={"readings": readings}, headers=csrf(page))
    assert r.status == 202, r.text()


@pytest.fixture(scope="module")
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


def test_a_spike_appears_on_the_open_asset_page_without_reload(
    page: Page,
    console_server: ConsoleServer,
    sign_in: SignIn,
    screenshot: Screenshot,
    data_dir: Path,
    history_sink: None,
) -> None:
    asset = f"browser-live-{uuid.uuid4().hex[:8]}"
    values = steel(data_dir, N_WARM)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - STEP * (N_WARM + 2)
    sign_in(page, "admin")  # admin: its role holds the ingestion scope too
    post(
        page,
        console_server.base_url,
        [
            {"asset_id": asset, "timestamp": (start + STEP * i).isoformat(), "value": v}
            for i, v in enumerate(values)
        ],
    )
    page.goto(f"{console_server.base_url}/admin/asset?id={asset}&range=7d")
    chart = page.get_by_test_id("asset-chart")
    expect(chart).to_have_attribute("data-readings", str(N_WARM), timeout=120_000)
    before = page.locator("[data-testid=anomalies] tbody tr").count()

    spike_at = start + STEP * N_WARM
    post(
        page,
        console_server.base_url,
        [{"asset_id": asset, "timestamp": spike_at.isoformat(), "value": max(values) * 10}],
    )
    when = spike_at.strftime("%Y-%m-%d %H:%M")
    row = page.locator("[data-testid=anomalies] tbody tr", has_text=when)
    expect(row).to_have_attribute("data-type", "spike", timeout=120_000)
    expect(row).to_contain_text("Exceeds predicted value by")
    expect(chart).to_have_attribute("data-readings", str(N_WARM + 1))
    expect(chart).to_have_attribute("data-anomalies", re.compile(r"(^|,)spike:\d+"))
    assert page.locator("[data-testid=anomalies] tbody tr").count() >= before + 1

    screenshot(page, "asset-live-spike")
