"""Train a model from the real console: an admin uploads a CSV of real readings (the Sceaux household,
re-dated to end now), starts a LightGBM job, follows it over SSE to 100 %, and sees the new version
active in the model table."""

from __future__ import annotations

import csv
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from stream_app.settings import Settings
from tests.browser.conftest import ConsoleServer, Screenshot, SignIn
from tests.integration.harness import KILOWATCH, ROOT

N_ROWS = 1200  # 50 days of hours: inside the history retention (60 days by default)


def household_csv(data_dir: Path, out: Path, n: int) -> Path:
    """The first n hourly values of the household, the last one an hour ago (kept by any retention)."""
    values: list[float] = []
    with (data_dir / "energy" / "household_sceaux_hourly.csv").open() as f:
        for rec in csv.DictReader(f):
            if rec["Global_active_power"]:
                values.append(float(rec["Global_active_power"]))
            if len(values) == n:
                break
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "value"])
        for i, v in enumerate(values):
            w.writerow([(end - timedelta(hours=n - 1 - i)).isoformat(), v])
    return out


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


def test_upload_train_follow_to_100_percent_and_activate(
    page: Page,
    console_server: ConsoleServer,
    sign_in: SignIn,
    screenshot: Screenshot,
    data_dir: Path,
    history_sink: None,
    tmp_path: Path,
) -> None:
    asset = f"browser-train-{uuid.uuid4().hex[:8]}"
    sign_in(page, "admin")
    page.goto(f"{console_server.base_url}/admin/asset?id={asset}")
    expect(page.get_by_role("heading", name="Training")).to_be_visible()
    page.get_by_label("Upload a CSV file (timestamp,value)").check()
    page.get_by_label("File", exact=True).set_input_files(
        str(household_csv(data_dir, tmp_path / "house.csv", N_ROWS))
    )
    expect(page.get_by_test_id("upload-status")).to_have_text(f"{N_ROWS} readings uploaded", timeout=60_000)
    # the job trains on the asset's stored readings: wait until the worker's history sink has them all
    url = f"{console_server.base_url}/api/v1/assets/{asset}/readings?max_points=100000"
    deadline = time.monotonic() + 120
    stored = 0
    while stored < N_ROWS:  # a condition polled with a deadline, not a fixed sleep
        r = page.request.get(url)
        stored = len(r.json()["data"]["values"]) if r.status == 200 else 0
        assert time.monotonic() < deadline, f"{stored} of {N_ROWS} readings stored after 120 s"
        if stored < N_ROWS:
            page.wait_for_timeout(500)

    page.get_by_label("Model type").select_option("lightgbm")
    page.get_by_label("Horizon").fill("24")
    page.get_by_role("button", name="Start training").click()
    job = page.get_by_test_id("job")
    expect(job).to_be_visible()
    try:
        expect(page.get_by_test_id("job-progress")).to_have_text("100 %", timeout=240_000)
    except AssertionError as exc:  # say where the job stopped
        jobs = page.request.get(f"{console_server.base_url}/api/v1/jobs?asset_id={asset}").text()
        raise AssertionError(f"{exc}\njob shown: {job.inner_text()}\njobs: {jobs[:2000]}") from None
    expect(page.get_by_test_id("job-status")).to_have_text("TRAINED")
    expect(page.get_by_test_id("job-log")).not_to_be_empty()

    # the new version is in the table; activated by the promotion, or here by the operator's click
    row = page.locator("[data-testid=models] tbody tr").first
    expect(row).to_have_attribute("data-version", "1", timeout=30_000)
    if row.get_attribute("data-status") != "active":
        row.get_by_role("button", name="Activate").click()
    expect(row).to_have_attribute("data-status", "active")
    expect(row.locator("td.metrics")).not_to_be_empty()
    screenshot(page, "asset-training")
