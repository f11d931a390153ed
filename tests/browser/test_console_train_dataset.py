"""Train from a dataset in the real console (issue 18): a slice of the Sceaux household file is uploaded
as a dataset, an operator picks it in the training panel's "A dataset" source, starts a LightGBM job and
follows it over SSE to 100 %; the job's request names ``dataset:<id>``."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ConsoleServer, SignIn
from tests.browser.training_steps import expect_progress_100, open_training_panel, start_lightgbm

N_ROWS = 1200  # 50 days of hours


def _household_csv(data_dir: Path, rows: int) -> bytes:
    """The first ``rows`` hours of the household file with a reading, as timestamp,value."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["timestamp", "value"])
    n = 0
    with (data_dir / "energy" / "household_sceaux_hourly.csv").open() as f:
        for rec in csv.DictReader(f):
            if rec["Global_active_power"]:
                w.writerow([rec["datetime"], rec["Global_active_power"]])
                n += 1
            if n == rows:
                break
    return out.getvalue().encode()


@pytest.fixture
def dataset(api: httpx.Client, data_dir: Path) -> Iterator[dict[str, str]]:
    """A ready dataset of the household slice, uploaded through the API; deleted afterwards."""
    name = f"train-from-{uuid.uuid4().hex[:8]}.csv"
    r = api.post(
        "/api/v1/datasets",
        files={"file": (name, _household_csv(data_dir, N_ROWS), "text/csv")},
        data={"timezone": "Europe/Paris", "name": name},
    )
    assert r.status_code == 201, r.text
    made: dict[str, str] = r.json()["data"]
    yield made
    api.delete(f"/api/v1/datasets/{made['id']}")


def test_pick_a_dataset_train_lightgbm_and_follow_to_100_percent(
    page: Page, console_server: ConsoleServer, sign_in: SignIn, dataset: dict[str, str]
) -> None:
    asset = open_training_panel(page, console_server, sign_in, "operator", "browser-dataset")
    page.get_by_label("A dataset", exact=True).check()
    page.get_by_role("button", name="Start training").click()  # none chosen yet: refused in the form
    expect(page.get_by_text("choose a dataset")).to_be_visible()
    picker = page.locator("select[name=dataset_id]")
    expect(picker.locator(f"option[value='{dataset['id']}']")).to_have_count(1)
    picker.select_option(dataset["id"])
    job = start_lightgbm(page)
    expect_progress_100(page, console_server, asset, job)
    expect(page.get_by_test_id("job-status")).to_have_text("TRAINED")
    jobs = page.request.get(f"{console_server.base_url}/api/v1/jobs?asset_id={asset}").json()["data"]["items"]
    assert [(j["status"], j["training"]["data_url"]) for j in jobs] == [
        ("succeeded", f"dataset:{dataset['id']}")
    ], jobs
    row = page.locator("[data-testid=models] tbody tr").first
    expect(row).to_have_attribute("data-version", "1", timeout=30_000)
