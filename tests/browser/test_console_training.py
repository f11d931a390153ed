"""Train a model from the real console: an admin uploads a CSV of real readings (the Sceaux household,
re-dated to end now), starts a LightGBM job, follows it over SSE to 100 %, and sees the new version
active in the model table."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

N_ROWS = 1500
# An async predicate: the asset's stored readings (the worker's history sink) reached n.
STORED_JS = """async ([url, n]) => {
  const r = await fetch(url);
  if (!r.ok) return false;
  const body = await r.json();
  return body.data.values.length >= n;
}"""


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


def test_upload_train_follow_to_100_percent_and_activate(
    page: Page,
    console: Any,
    sign_in: Callable[[Page, str], None],
    screenshot: Callable[[Page, str], Path],
    data_dir: Path,
    tmp_path: Path,
) -> None:
    asset = f"browser-train-{uuid.uuid4().hex[:8]}"
    sign_in(page, "admin")
    page.goto(f"{console.url}/admin/asset?id={asset}")
    expect(page.get_by_role("heading", name="Training")).to_be_visible()
    page.get_by_label("Upload a CSV file (timestamp,value)").check()
    page.get_by_label("File", exact=True).set_input_files(
        str(household_csv(data_dir, tmp_path / "house.csv", N_ROWS))
    )
    expect(page.get_by_test_id("upload-status")).to_have_text(f"{N_ROWS} readings uploaded", timeout=60_000)
    # the job trains on the asset's stored readings: wait until the worker's history sink has them all
    page.wait_for_function(
        STORED_JS,
        arg=[f"/api/v1/assets/{asset}/readings?max_points=100000", N_ROWS],
        polling=500,
        timeout=120_000,
    )

    page.get_by_label("Model type").select_option("lightgbm")
    page.get_by_label("Horizon").fill("24")
    page.get_by_role("button", name="Start training").click()
    job = page.get_by_test_id("job")
    expect(job).to_be_visible()
    expect(page.get_by_test_id("job-progress")).to_have_text("100 %", timeout=240_000)
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
