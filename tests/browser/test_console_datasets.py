"""Datasets page of the real console: an admin uploads a CSV of real readings with a progress bar and
sees it listed with its row count and interval (issue 17's dataset routes)."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import Screenshot, SignIn

N_ROWS = 500


def test_upload_a_dataset_with_progress_and_see_it_listed(
    page: Page, sign_in: SignIn, screenshot: Screenshot, data_dir: Path, tmp_path: Path
) -> None:
    name = f"house-{uuid.uuid4().hex[:8]}.csv"
    path = tmp_path / name
    with (data_dir / "energy" / "household_sceaux_hourly.csv").open() as f, path.open("w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["timestamp", "value"])
        n = 0
        for rec in csv.DictReader(f):
            if rec["Global_active_power"]:
                w.writerow([rec["datetime"], rec["Global_active_power"]])
                n += 1
            if n == N_ROWS:
                break
    sign_in(page, "admin")
    page.get_by_role("link", name="Datasets").click()
    page.get_by_label("Upload a dataset (CSV or Excel)").set_input_files(str(path))
    expect(page.get_by_test_id("dataset-progress")).to_have_text("100 %")
    row = page.locator(f"[data-testid=datasets] tbody tr[data-name='{name}']")
    expect(row).to_contain_text(str(N_ROWS))
    expect(row).to_contain_text("60 min")
    screenshot(page, "datasets")


def test_a_viewer_lists_datasets_but_cannot_upload(page: Page, sign_in: SignIn) -> None:
    sign_in(page, "viewer")
    page.get_by_role("link", name="Datasets").click()
    expect(page.get_by_role("heading", name="Datasets")).to_be_visible()
    expect(page.get_by_label("Upload a dataset (CSV or Excel)")).to_have_count(0)
