"""Train a model from the real console: an admin uploads a CSV of real readings (the Sceaux household,
re-dated to end now), starts a LightGBM job, follows it over SSE to 100 %, and sees the new version
active in the model table; then cancels a running training, trains a second version and rolls back
to the first."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import ConsoleServer, Screenshot, SignIn
from tests.browser.training_steps import (
    expect_progress_100,
    open_training_panel,
    start_lightgbm,
    upload_readings,
)

N_ROWS = 1200  # 50 days of hours: inside the history retention (60 days by default)


def test_upload_train_follow_to_100_percent_and_activate(
    page: Page,
    console_server: ConsoleServer,
    sign_in: SignIn,
    screenshot: Screenshot,
    data_dir: Path,
    history_sink: None,
    tmp_path: Path,
) -> None:
    # admin: the upload needs the write scope (an operator trains, but cannot ingest)
    asset = open_training_panel(page, console_server, sign_in, "admin", "browser-train")
    # the job trains on the asset's stored readings: wait until the worker's history sink has them all
    upload_readings(page, console_server, asset, data_dir, tmp_path, N_ROWS)

    job = start_lightgbm(page)
    expect_progress_100(page, console_server, asset, job)
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

    # cancel a running training: a TFT (torch) job runs long enough to be caught while it trains
    page.get_by_label("The asset's stored readings").check()
    page.get_by_label("Model type").select_option("tft")
    page.get_by_role("button", name="Start training").click()
    expect(job).not_to_have_attribute("data-stage", "TRAINED")
    expect(page.get_by_test_id("job-status")).to_have_text("TRAINING", timeout=120_000)
    job.get_by_role("button", name="Cancel").click()
    expect(page.get_by_test_id("job-status")).to_have_text("CANCELED", timeout=60_000)
    expect(job.get_by_role("button", name="Cancel")).to_have_count(0)
    jobs = page.request.get(f"{console_server.base_url}/api/v1/jobs?asset_id={asset}").json()["data"]["items"]
    shapes = sorted((j["type"], j["status"], j["stage"]) for j in jobs)  # the one job shape
    assert shapes == [("training", "canceled", "CANCELED"), ("training", "succeeded", "TRAINED")], jobs
    screenshot(page, "asset-training-canceled")

    # a second version (seasonal naive: quick), made active, then rolled back to the first
    page.get_by_label("Model type").select_option("seasonal_naive")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_test_id("job-status")).to_have_text("TRAINED", timeout=240_000)
    v1, v2 = version_row(page, 1), version_row(page, 2)
    expect(v2).to_be_visible(timeout=30_000)
    if v2.get_attribute("data-status") != "active":  # not promoted: the operator activates it
        v2.get_by_role("button", name="Activate").click()
    expect(v2).to_have_attribute("data-status", "active")
    expect(v1).to_have_attribute("data-status", "retired")
    page.get_by_role("button", name="Roll back").click()
    expect(v1).to_have_attribute("data-status", "active")
    expect(v2).not_to_have_attribute("data-status", "active")
    active = page.request.get(f"{console_server.base_url}/api/v1/assets/{asset}/models").json()["data"]
    items = active["items"] if isinstance(active, dict) else active
    assert [m["version"] for m in items if m["status"] == "active"] == [1]
    screenshot(page, "asset-rolled-back")


def version_row(page: Page, version: int) -> Locator:
    return page.locator(f"[data-testid=models] tbody tr[data-version='{version}']")
