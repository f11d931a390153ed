"""An asset whose readings flow through the real worker: a spike posted while the asset page is open
appears as an anomaly (table row and chart marker) without reloading the page, pushed over the anomaly
stream (Server-Sent Events: the page asks the anomalies list nothing meanwhile), and hovering its marker
shows the expected value and the reason."""

from __future__ import annotations

import csv
import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, Request, expect

from tests.browser.conftest import ConsoleServer, Screenshot, SignIn, csrf

N_WARM = 400
STEP = timedelta(minutes=15)


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
    made = page.request.post(
        f"{console_server.base_url}/api/v1/assets",
        data={"asset_id": asset, "name": "Steel plant (live test)"},
        headers=csrf(page),
    )
    assert made.status == 201, made.text()  # registered: the fleet lists registered assets
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
    expect(page.get_by_test_id("live-state")).to_have_attribute("data-state", "open")
    before = page.locator("[data-testid=anomalies] tbody tr").count()
    asked: list[str] = []  # anomaly list requests from now on (the stream must bring the spike)

    def on_request(req: Request) -> None:
        if "/anomalies" in req.url and "/anomalies/stream" not in req.url:
            asked.append(req.url)

    page.on("request", on_request)

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
    assert asked == [], f"the anomaly came by polling, not by the stream: {asked}"
    expect(chart).to_have_attribute("data-readings", str(N_WARM + 1))
    expect(chart).to_have_attribute("data-anomalies", re.compile(r"(^|,)spike:\d+"))
    assert page.locator("[data-testid=anomalies] tbody tr").count() >= before + 1

    # hover the spike's marker (the rightmost: it is the newest reading): the tooltip shows the
    # expected value and the reason, as the table row does
    expected_cell = row.locator("td").nth(3).inner_text()
    expect(chart).to_have_attribute("data-markers", re.compile(r"\[\[\d"))
    markers = json.loads(chart.get_attribute("data-markers") or "[]")
    x, y = max(markers, key=lambda p: p[0])
    box = chart.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + x, box["y"] + y)
    tooltip = chart.locator("div", has_text="Exceeds predicted value by").last
    expect(tooltip).to_be_visible()
    expect(tooltip).to_contain_text(f"expected: {expected_cell}")
    expect(tooltip).to_contain_text("spike")

    screenshot(page, "asset-live-spike")

    # the worker's alerting grouped the spike into an episode: the Alerts page lists it
    url = f"{console_server.base_url}/api/v1/alert-episodes?asset_id={asset}"
    deadline = time.monotonic() + 60
    while not page.request.get(url).json()["data"]["items"]:  # a condition polled with a deadline
        assert time.monotonic() < deadline, "no alert episode stored for the spike in 60 s"
        page.wait_for_timeout(500)
    page.get_by_role("link", name="Alerts").click()
    episode = page.locator("[data-testid=episodes] tbody tr", has_text=asset)
    expect(episode).to_contain_text("spike")
    expect(episode).to_have_attribute("data-open", re.compile("true|false"))
    screenshot(page, "alerts-episodes")

    # the fleet (one GET /fleet) shows the asset's last reading (the spike) and its anomalies of 24 h
    page.get_by_role("link", name="Fleet").click()
    page.get_by_role("searchbox").fill(asset)
    fleet_row = page.locator(f"[data-testid=fleet] tbody tr[data-asset='{asset}']")
    expect(fleet_row.locator("td").nth(2)).to_contain_text(spike_at.strftime("%Y-%m-%d %H:%M"))
    expect(fleet_row.locator("td").nth(3)).to_have_class("hot")
    assert int(fleet_row.locator("td").nth(3).inner_text()) >= 1
    expect(fleet_row.locator("td").nth(4)).to_have_text("none")
    expect(page.locator("[data-testid=fleet] tbody tr")).to_have_count(1)
    screenshot(page, "fleet-live")
