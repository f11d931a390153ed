"""Datasets pages of the real console (issue 17's routes, issue 18's pages) against a real API, job runner,
PostgreSQL, Redis and Kafka: upload a slice of the real household file with a progress bar, open its page,
preprocess it (the form refuses what the API would refuse before sending), statistics with tariff hours and
prices (an overlap named on its field), load patterns with their centroid chart, anomalies, the dashboard's
charts, and PDF / XLSX reports downloaded and checked by their bytes; at phone width in Chinese, the load
pattern names in Chinese and a viewer without the preprocess form."""

from __future__ import annotations

import csv
import re
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import ConsoleServer, NewPage, Screenshot, SignIn

N_ROWS = 500
DAYS = 60  # hourly rows: enough complete days for k-means with k = 4
JOB_TIMEOUT_MS = 120_000  # a job on the shared 2-core machine (the report's PDF takes ~10 s there)
ZH_PATTERN_NAMES = ("日间用电型", "夜间用电型", "均衡用电型", "上班族型", "居家办公型", "节能型", "高耗能型")


def _household_slice(data_dir: Path, path: Path, rows: int) -> Path:
    """The first ``rows`` hours of the household file with a reading, as timestamp,value."""
    with (data_dir / "energy" / "household_sceaux_hourly.csv").open() as f, path.open("w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["timestamp", "value"])
        n = 0
        for rec in csv.DictReader(f):
            if rec["Global_active_power"]:
                w.writerow([rec["datetime"], rec["Global_active_power"]])
                n += 1
            if n == rows:
                break
    return path


def _upload(page: Page, path: Path) -> Locator:
    """Uploads as docs/analytics.md says the household file is read: Paris local time, and
    Global_active_power (the hour's sum of minute-average kW) times 1/60 is kWh."""
    page.get_by_role("link", name="Datasets", exact=True).click()
    page.locator("input[name=upload-timezone]").fill("Europe/Paris")
    page.locator("input[name=upload-scale]").fill("1/60")
    page.get_by_label("Upload a dataset (CSV or Excel)").set_input_files(str(path))
    expect(page.get_by_test_id("dataset-progress")).to_have_text("100 %")
    row = page.locator(f"[data-testid=datasets] tbody tr[data-name='{path.name}']")
    expect(row).to_be_visible()
    return row


@pytest.fixture
def uploaded(api: httpx.Client) -> Iterator[list[str]]:
    """Names of the datasets a test uploads: deleted afterwards (their readings, jobs and results go
    with them), so the shared database does not fill up run after run."""
    names: list[str] = []
    yield names
    listed = api.get("/api/v1/datasets", params={"limit": 200})
    listed.raise_for_status()
    for d in listed.json()["data"]["items"]:
        if d["name"] in names:
            api.delete(f"/api/v1/datasets/{d['id']}").raise_for_status()


def _wait_job(page: Page, test_id: str) -> None:
    expect(page.get_by_test_id(test_id)).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT_MS)


def test_upload_a_dataset_with_progress_and_see_it_listed(
    page: Page,
    sign_in: SignIn,
    screenshot: Screenshot,
    data_dir: Path,
    tmp_path: Path,
    uploaded: list[str],
) -> None:
    path = _household_slice(data_dir, tmp_path / f"house-{uuid.uuid4().hex[:8]}.csv", N_ROWS)
    uploaded.append(path.name)
    sign_in(page, "admin")
    page.get_by_role("link", name="Datasets", exact=True).click()
    page.locator("input[name=upload-scale]").fill("0")  # refused in the form: nothing is sent
    page.get_by_label("Upload a dataset (CSV or Excel)").set_input_files(str(path))
    expect(page.locator(".field-error[data-field=scale]")).to_contain_text("a number above 0")
    expect(page.get_by_test_id("dataset-progress")).to_have_count(0)
    row = _upload(page, path)
    expect(row).to_contain_text(str(N_ROWS))
    expect(row).to_contain_text("60 min")
    expect(row).to_have_attribute("data-status", "ready")
    screenshot(page, "datasets")


def test_a_viewer_lists_datasets_but_cannot_upload(page: Page, sign_in: SignIn) -> None:
    sign_in(page, "viewer")
    page.get_by_role("link", name="Datasets", exact=True).click()
    expect(page.get_by_role("heading", name="Datasets")).to_be_visible()
    expect(page.get_by_label("Upload a dataset (CSV or Excel)")).to_have_count(0)


@pytest.fixture
def household_page(page: Page, sign_in: SignIn, data_dir: Path, tmp_path: Path, uploaded: list[str]) -> Page:
    """An admin on the page of a freshly uploaded 60-day household slice."""
    path = _household_slice(data_dir, tmp_path / f"house60-{uuid.uuid4().hex[:8]}.csv", 24 * DAYS)
    uploaded.append(path.name)
    sign_in(page, "admin")
    _upload(page, path).get_by_role("link", name=path.name).click()
    expect(page.get_by_test_id("dataset-name")).to_have_text(path.name)
    expect(page.get_by_test_id("dataset-facts")).to_contain_text("Europe/Paris")
    return page


def test_dataset_page_preprocess_statistics_patterns_anomalies_dashboard_reports(
    household_page: Page, screenshot: Screenshot, tmp_path: Path
) -> None:
    page = household_page
    assert "/admin/dataset?id=" in page.url
    expect(page.get_by_test_id("dataset-status")).to_have_text("ready")
    readings = page.get_by_test_id("readings-chart-wrap")
    expect(readings).to_have_attribute("data-series", "raw")
    expect(readings).to_have_attribute("data-points", "1000")  # the last 1,000 of the 1,440
    expect(readings.locator("canvas")).to_have_count(1)

    # Preprocess: a finer interval than the data's hour is refused in the form, nothing sent.
    pre = page.get_by_role("form", name="Preprocess")
    pre.locator("select[name=resample]").select_option("15min")
    pre.get_by_role("button", name="Preprocess").click()
    expect(pre.locator(".field-error[data-field=resample]")).to_have_text(
        "only an interval coarser than the dataset's"
    )
    expect(page.get_by_test_id("preprocess-job")).to_have_count(0)
    pre.locator("select[name=resample]").select_option("")
    pre.locator("input[name=outlier_k]").fill("4")
    pre.get_by_role("button", name="Preprocess").click()
    _wait_job(page, "preprocess-job")
    expect(page.get_by_test_id("dataset-status")).to_have_text("processed")
    expect(page.get_by_test_id("dataset-processed")).to_contain_text(f"rows_out {24 * DAYS}")
    expect(readings).to_have_attribute("data-series", "processed")
    page.get_by_role("button", name="as uploaded").click()
    expect(readings).to_have_attribute("data-series", "raw")

    # Statistics: peak and valley sharing hour 8 is named on the valley field, as the API names it.
    stats = page.get_by_role("form", name="Statistics")
    stats.locator("input[name=stats-valley_hours]").fill("0-8")
    stats.get_by_role("button", name="Run").click()
    valley_error = stats.locator(".field-error[data-field=valley_hours]")
    expect(valley_error).to_have_text("hours both peak and valley: 8")
    stats.locator("input[name=stats-valley_hours]").fill("23-6")
    stats.locator("input[name=stats-price-peak]").fill("0.3")
    stats.locator("input[name=stats-price-valley]").fill("0.1")
    stats.locator("input[name=stats-price-flat]").fill("0.2")
    stats.locator("input[name=stats-price-currency]").fill("EUR")
    stats.get_by_role("button", name="Run").click()
    _wait_job(page, "stats-job")
    expect(page.get_by_test_id("stats-periods").locator("tbody tr")).to_have_count(3)
    expect(page.get_by_test_id("stats-cost")).to_contain_text("EUR")
    expect(page.get_by_test_id("stats-total")).to_contain_text("kWh")

    # Load patterns: k-means with k = 4, a row per pattern and their 24-hour centroids drawn.
    pat = page.get_by_role("form", name="Load patterns")
    pat.locator("input[name=pattern-k]").fill("7")
    pat.get_by_role("button", name="Run").click()
    expect(pat.locator(".field-error[data-field=k]")).to_have_text("an integer from 2 to 5")
    pat.locator("input[name=pattern-k]").fill("4")
    pat.get_by_role("button", name="Run").click()
    _wait_job(page, "patterns-job")
    expect(page.get_by_test_id("patterns").locator("tbody tr")).to_have_count(4)
    expect(page.get_by_test_id("patterns-chart").locator("canvas")).to_have_count(1)

    # Anomalies (the stream's detector), then the dashboard lists the newest of them.
    ano = page.get_by_role("form", name="Anomalies")
    ano.get_by_role("button", name="Run").click()
    _wait_job(page, "anomalies-job")
    total = int(page.get_by_test_id("anomalies-total").inner_text())
    board = page.get_by_test_id("dashboard")
    if total:
        expect(board.get_by_test_id("dashboard-anomalies").locator("tbody tr")).to_have_count(min(total, 10))
    else:
        expect(board).to_contain_text("No anomaly run yet")  # the dashboard's empty list
    for chart in ("chart-load-curve", "chart-periods", "chart-daily"):
        expect(board.get_by_test_id(chart).locator("canvas")).to_have_count(1)
    # The pie by hours of one's own: a gap is named on flat_hours, then the shares follow the new hours.
    peak_share = board.get_by_test_id("period-shares").locator("li[data-period=peak]")
    expect(peak_share).to_contain_text("(8-10, 18-20)")
    pie = board.get_by_test_id("pie-hours")
    pie.locator("summary").click()
    pie.locator("input[name=pie-peak_hours]").fill("17-21")
    pie.locator("input[name=pie-valley_hours]").fill("0-6")
    pie.locator("input[name=pie-flat_hours]").fill("7-16")
    pie.get_by_role("button", name="Apply").click()
    expect(pie.locator(".field-error[data-field=flat_hours]")).to_have_text("hours in no period: 22-23")
    pie.locator("input[name=pie-flat_hours]").fill("7-16, 22-23")
    pie.get_by_role("button", name="Apply").click()
    expect(peak_share).to_contain_text("(17-21)")
    recommendations = board.get_by_test_id("recommendations").locator("li")
    expect(recommendations.first).to_be_visible()
    page.get_by_label("Language", exact=True).select_option("zh-CN")  # read again in the UI's new language
    expect(recommendations.first).to_contain_text(re.compile("[\u4e00-\u9fff]"))
    page.get_by_label("语言", exact=True).select_option("en-US")
    expect(recommendations.first).not_to_contain_text(re.compile("[\u4e00-\u9fff]"))

    # Reports: a Chinese PDF and an English workbook, downloaded and read by their bytes.
    rep = page.get_by_role("form", name="Report")
    rep.locator("select[name=report-language]").select_option("zh-CN")
    rep.get_by_role("button", name="Make the report").click()
    _wait_job(page, "report-job")
    with page.expect_download() as dl:
        page.get_by_test_id("report-download").click()
    pdf = Path(dl.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-"), pdf[:16]
    assert dl.value.suggested_filename.endswith("-zh-CN.pdf"), dl.value.suggested_filename

    rep.locator("select[name=report-format]").select_option("xlsx")
    rep.locator("select[name=report-language]").select_option("en-US")
    rep.get_by_role("button", name="Make the report").click()
    expect(page.get_by_test_id("report-download")).to_contain_text(".xlsx", timeout=JOB_TIMEOUT_MS)
    with page.expect_download() as dl:
        page.get_by_test_id("report-download").click()
    saved = tmp_path / dl.value.suggested_filename
    dl.value.save_as(saved)
    assert saved.name.endswith("-en-US.xlsx"), saved.name
    with zipfile.ZipFile(saved) as z:  # an OOXML workbook: a ZIP holding xl/workbook.xml
        assert "xl/workbook.xml" in z.namelist()
    screenshot(page, "dataset")

    # Opened again, each section shows the dataset's latest job of its type and its result.
    page.reload()
    expect(page.get_by_test_id("stats-cost")).to_contain_text("EUR")
    expect(page.get_by_test_id("patterns").locator("tbody tr")).to_have_count(4)
    expect(page.get_by_test_id("anomalies-total")).to_have_text(str(total))
    expect(page.get_by_test_id("report-download")).to_contain_text("-en-US.xlsx")


def test_dataset_page_at_phone_width_in_chinese_for_a_viewer(
    household_page: Page,
    new_page: NewPage,
    sign_in: SignIn,
    screenshot: Screenshot,
    console_server: ConsoleServer,
) -> None:
    dataset_url = household_page.url
    phone = new_page(width=390, height=844, locale="zh-CN")
    sign_in(phone, "viewer")
    phone.goto(dataset_url)
    expect(phone.get_by_test_id("dataset-status")).to_have_text("已上传")
    expect(phone.get_by_role("form", name="预处理")).to_have_count(0)  # preprocessing needs write
    form = phone.get_by_role("form", name="用电模式")
    form.locator("select[name=pattern-method]").select_option("rules")
    form.get_by_role("button", name="运行").click()
    expect(phone.get_by_test_id("patterns-job")).to_have_attribute(
        "data-status", "succeeded", timeout=JOB_TIMEOUT_MS
    )
    first = phone.get_by_test_id("patterns").locator("tbody tr").first.locator("b")
    expect(first).to_be_visible()
    assert any(name in first.inner_text() for name in ZH_PATTERN_NAMES), first.inner_text()
    expect(phone.get_by_test_id("patterns-chart").locator("canvas")).to_have_count(1)
    expect(phone.get_by_test_id("chart-load-curve").locator("canvas")).to_have_count(1)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width} px)"
    screenshot(phone, "dataset-phone")


def test_rename_rezone_and_delete_a_dataset(household_page: Page, uploaded: list[str]) -> None:
    page = household_page
    manage = page.get_by_test_id("dataset-manage")
    manage.locator("summary").click()
    form = manage.get_by_role("form")
    form.locator("input[name=dataset-timezone]").fill("Paris")  # no IANA name: refused in the form
    form.get_by_role("button", name="Save").click()
    zone_error = form.locator(".field-error[data-field=timezone]")
    expect(zone_error).to_have_text("an IANA zone such as Europe/Paris")

    new_name = f"renamed-{uuid.uuid4().hex[:8]}"
    uploaded.append(new_name)
    form.locator("input[name=dataset-name]").fill(new_name)
    form.locator("input[name=dataset-timezone]").fill("America/New_York")
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("dataset-name")).to_have_text(new_name)
    expect(page.get_by_test_id("dataset-facts")).to_contain_text("America/New_York")

    manage = page.get_by_test_id("dataset-manage")  # the page's sections were drawn afresh
    manage.locator("summary").click()
    manage.get_by_role("button", name="Delete the dataset").click()
    manage.get_by_role("button", name="Delete it with its readings, jobs, results and reports").click()
    expect(page.get_by_role("heading", name="Datasets")).to_be_visible()
    assert page.url.endswith("/admin/datasets")
    expect(page.locator(f"[data-testid=datasets] tbody tr[data-name='{new_name}']")).to_have_count(0)


def test_the_list_pages_by_25_and_filters_by_status(
    page: Page, sign_in: SignIn, api: httpx.Client, uploaded: list[str]
) -> None:
    tag = uuid.uuid4().hex[:6]
    rows = "".join(f"2024-01-01T{h:02d}:00:00Z,{h / 10}\n" for h in range(24))
    for i in range(26):  # more than a page, whatever else the shared database holds
        name = f"page-{tag}-{i:02d}.csv"
        uploaded.append(name)
        r = api.post(
            "/api/v1/datasets",
            files={"file": (name, f"timestamp,value\n{rows}", "text/csv")},
            data={"name": name},
        )
        assert r.status_code == 201, r.text
    sign_in(page, "viewer")
    page.get_by_role("link", name="Datasets", exact=True).click()
    table = page.get_by_test_id("datasets").locator("tbody tr")
    expect(table).to_have_count(25)
    mine = page.locator(f"[data-testid=datasets] tbody tr[data-name^='page-{tag}-']")
    page.get_by_role("button", name="More").click()
    expect(mine).to_have_count(26)  # the next page appended to the first

    status = page.locator("select[name=dataset-status]")
    status.select_option("processed")
    expect(mine).to_have_count(0)
    expect(page.locator("[data-testid=datasets] tbody tr:not([data-status=processed])")).to_have_count(0)
    status.select_option("ready")
    expect(table).to_have_count(25)
    expect(page.locator("[data-testid=datasets] tbody tr:not([data-status=ready])")).to_have_count(0)


def test_upload_naming_the_value_column(
    page: Page, sign_in: SignIn, api: httpx.Client, tmp_path: Path, uploaded: list[str]
) -> None:
    """Two meters in one file: the value column is named; a column the file lacks is refused by the API
    on that field."""
    path = tmp_path / f"two-meters-{uuid.uuid4().hex[:8]}.csv"
    uploaded.append(path.name)
    path.write_text(
        "when,meter_a,meter_b\n" + "".join(f"2024-01-01T{h:02d}:00:00Z,1.0,2.5\n" for h in range(24))
    )
    sign_in(page, "admin")
    page.get_by_role("link", name="Datasets", exact=True).click()
    page.locator("input[name=upload-value_column]").fill("meter_c")
    page.get_by_label("Upload a dataset (CSV or Excel)").set_input_files(str(path))
    expect(page.locator(".field-error[data-field=value_column]")).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text="FILE_FORMAT_ERROR")).to_be_visible()

    page.locator("input[name=upload-value_column]").fill("meter_b")
    page.get_by_label("Upload a dataset (CSV or Excel)").set_input_files(str(path))
    expect(page.get_by_test_id("dataset-progress")).to_have_text("100 %")
    expect(page.locator(f"[data-testid=datasets] tbody tr[data-name='{path.name}']")).to_contain_text("24")
    listed = api.get("/api/v1/datasets", params={"limit": 50}).json()["data"]["items"]
    dataset_id = next(d["id"] for d in listed if d["name"] == path.name)
    data = api.get(f"/api/v1/datasets/{dataset_id}/data", params={"format": "compact"}).json()["data"]
    assert [v for _, v in data["items"]] == [2.5] * 24
