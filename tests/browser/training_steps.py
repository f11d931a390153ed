"""Steps the training browser tests share: real household readings uploaded through the training
panel's CSV source (and waited for in the readings history), a LightGBM job started from the panel, and
the job followed to 100 % (a failure says where the job stopped)."""

from __future__ import annotations

import csv
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import ConsoleServer, SignIn


def open_training_panel(
    page: Page, console_server: ConsoleServer, sign_in: SignIn, role: str, prefix: str
) -> str:
    """Sign in as ``role`` and open the page of a new asset (``<prefix>-<8 hex>``) until its training
    panel shows; the asset's id."""
    asset = f"{prefix}-{uuid.uuid4().hex[:8]}"
    sign_in(page, role)
    page.goto(f"{console_server.base_url}/admin/asset?id={asset}")
    expect(page.get_by_role("heading", name="Training")).to_be_visible()
    # an asset with no readings yet is a notice pointing at the training panel, not an error
    expect(page.get_by_test_id("asset-not-yet")).to_have_text(
        "No readings for this asset yet: the page fills in when its first readings arrive. "
        "You can upload readings or train a model for it below."
    )
    expect(page.get_by_role("alert")).to_have_count(0)
    return asset


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


def upload_readings(
    page: Page, console_server: ConsoleServer, asset: str, data_dir: Path, tmp_path: Path, n_rows: int
) -> None:
    """Upload n_rows household readings in the training panel, then wait until the history sink has
    stored them all (the job trains on the asset's stored readings)."""
    page.get_by_label("Upload a CSV file (timestamp,value)").check()
    page.get_by_label("File", exact=True).set_input_files(
        str(household_csv(data_dir, tmp_path / "house.csv", n_rows))
    )
    expect(page.get_by_test_id("upload-status")).to_have_text(f"{n_rows} readings uploaded", timeout=60_000)
    url = f"{console_server.base_url}/api/v1/assets/{asset}/readings?max_points=100000"
    deadline = time.monotonic() + 120
    stored = 0
    while stored < n_rows:  # a condition polled with a deadline, not a fixed sleep
        r = page.request.get(url)
        stored = len(r.json()["data"]["values"]) if r.status == 200 else 0
        assert time.monotonic() < deadline, f"{stored} of {n_rows} readings stored after 120 s"
        if stored < n_rows:
            page.wait_for_timeout(500)


def start_lightgbm(page: Page) -> Locator:
    """Start a LightGBM job (horizon 24) from the training panel; the job shown, once visible."""
    page.get_by_label("Model type").select_option("lightgbm")
    page.get_by_label("Horizon").fill("24")
    page.get_by_role("button", name="Start training").click()
    job = page.get_by_test_id("job")
    expect(job).to_be_visible()
    return job


def expect_progress_100(page: Page, console_server: ConsoleServer, asset: str, job: Locator) -> None:
    """The shown job reaches 100 % within 240 s; otherwise the failure carries the job shown and the
    asset's jobs as the API lists them."""
    try:
        expect(page.get_by_test_id("job-progress")).to_have_text("100 %", timeout=240_000)
    except AssertionError as exc:  # say where the job stopped
        jobs = page.request.get(f"{console_server.base_url}/api/v1/jobs?asset_id={asset}").text()
        raise AssertionError(f"{exc}\njob shown: {job.inner_text()}\njobs: {jobs[:2000]}") from None
