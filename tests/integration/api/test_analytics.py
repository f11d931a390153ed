"""Analytics on the real API, PostgreSQL and job runner with the household and steel files: statistics whose
totals equal pandas on the same rows, load patterns with stable labels, anomalies (both methods), the
dashboard, reports (PDF rendered to PNG pages, XLSX opened with openpyxl), bad rules refused before any
job exists, scopes."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openpyxl
import pandas as pd
import pypdfium2 as pdfium
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stream_app.core import recommendations as rec
from stream_app.jobs.runner import INTERNAL, JobRunner
from tests.integration.api.conftest import Api

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "energy"
HOUSEHOLD = DATA / "household_sceaux_hourly.csv"
STEEL = DATA / "steel_industry_2018_15min.csv"
PERIODS = {
    "peak_hours": [17, 18, 19, 20, 21],
    "valley_hours": [0, 1, 2, 3, 4, 5, 6, 22, 23],
    "flat_hours": [7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
}
PRICES = {"peak": 0.27, "valley": 0.12, "flat": 0.18, "currency": "EUR"}


@pytest.fixture
async def runner(api: Api) -> AsyncIterator[JobRunner]:
    """A real job runner on the test database (the API's lifespan starts these; the test client has none)."""
    r = JobRunner(api.resources.pool, lease_s=5.0, poll_s=0.1)
    task = asyncio.create_task(r.run_forever())
    yield r
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _upload(api: Api, content: bytes, filename: str, **form: Any) -> dict[str, Any]:
    files = {"file": (filename, content, "application/octet-stream")}
    data = {k: str(v) for k, v in form.items()}
    r = await api.client.post("/api/v1/datasets", files=files, data=data, headers=api.auth("write"))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()["data"]
    return body


@pytest.fixture(scope="module")
async def household(api: Api) -> dict[str, Any]:
    return await _upload(api, HOUSEHOLD.read_bytes(), "house.csv", timezone="Europe/Paris", scale=1 / 60)


def household_kwh() -> pd.Series:
    """The rows the API keeps (local Paris times; those that do not exist or are ambiguous dropped), kWh."""
    frame = pd.read_csv(HOUSEHOLD)
    idx = pd.DatetimeIndex(pd.to_datetime(frame["datetime"])).tz_localize(
        "Europe/Paris", ambiguous="NaT", nonexistent="NaT"
    )
    kwh = pd.Series(frame["Global_active_power"].to_numpy() / 60, index=idx)
    return kwh[kwh.index.notna()]


async def _run(api: Api, path: str, body: dict[str, Any], timeout_s: float = 180.0) -> dict[str, Any]:
    """POST a job, wait for it, return its result's data (the job must succeed)."""
    r = await api.client.post(f"/api/v1{path}", json=body, headers=api.auth("read"))
    assert r.status_code == 202, r.text
    job = r.json()["data"]
    assert r.headers["Location"].endswith(job["id"])
    deadline = time.monotonic() + timeout_s
    while job["status"] not in ("succeeded", "failed", "canceled"):
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.2)
        job = (await api.client.get(f"/api/v1/jobs/{job['id']}", headers=api.auth("read"))).json()["data"]
    assert job["status"] == "succeeded" and job["progress"] == 1, job
    res = await api.client.get(f"/api/v1/jobs/{job['id']}/result", headers=api.auth("read"))
    assert res.status_code == 200, res.text
    data: dict[str, Any] = res.json()["data"]["data"]
    return data


async def _job_count(api: Api) -> int:
    pool = await api.resources.pool()
    return int(await pool.fetchval("SELECT count(*) FROM jobs"))


async def test_household_statistics_equal_pandas_on_the_same_rows(
    api: Api, runner: JobRunner, household: dict[str, Any]
) -> None:
    kwh = household_kwh()
    assert household["row_count"] == len(kwh)
    stats = await _run(api, f"/datasets/{household['id']}/statistics", {"periods": PERIODS, "prices": PRICES})
    assert stats["points"] == len(kwh)
    assert stats["total_kwh"] == pytest.approx(kwh.sum(), rel=1e-9)
    assert stats["days"] == kwh.index.normalize().nunique()
    assert stats["daily_average_kwh"] == pytest.approx(kwh.sum() / stats["days"], rel=1e-9)
    assert pd.Timestamp(stats["peak_load"]["timestamp"]) == kwh.idxmax()
    by = {p["period"]: p for p in stats["periods"]}
    hours = kwh.index.hour
    for name in ("peak", "valley", "flat"):
        want = kwh[np.isin(hours, PERIODS[f"{name}_hours"])].sum()
        assert by[name]["kwh"] == pytest.approx(want, rel=1e-9)
        assert by[name]["cost"] == pytest.approx(want * PRICES[name], rel=1e-9)
    assert stats["cost"]["total"] == pytest.approx(sum(p["cost"] for p in stats["periods"]))
    assert stats["trend"]["test"] == "mann_kendall"
    assert stats["trend"]["direction"] in ("increasing", "stable", "decreasing")


async def test_overlapping_rules_are_refused_before_a_job_exists(api: Api, household: dict[str, Any]) -> None:
    before = await _job_count(api)
    bad = {**PERIODS, "valley_hours": [*PERIODS["valley_hours"], 17]}
    r = await api.client.post(
        f"/api/v1/datasets/{household['id']}/statistics", json={"periods": bad}, headers=api.auth("read")
    )
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "VALIDATION_ERROR"
    assert ["body", "periods", "valley_hours"] in [d["loc"] for d in err["details"]]
    gap = {**PERIODS, "flat_hours": PERIODS["flat_hours"][1:]}
    r = await api.client.post(
        f"/api/v1/datasets/{household['id']}/statistics", json={"periods": gap}, headers=api.auth("read")
    )
    assert r.status_code == 422 and ["body", "periods", "flat_hours"] in [
        d["loc"] for d in r.json()["error"]["details"]
    ]
    r = await api.client.post(
        f"/api/v1/datasets/{household['id']}/load-patterns", json={"k": 9}, headers=api.auth("read")
    )
    assert r.status_code == 422 and ["body", "k"] in [d["loc"] for d in r.json()["error"]["details"]]
    assert await _job_count(api) == before


async def test_load_patterns_are_stable(api: Api, runner: JobRunner, household: dict[str, Any]) -> None:
    path = f"/datasets/{household['id']}/load-patterns"
    first = await _run(api, path, {"k": 4})
    again = await _run(api, path, {"k": 4})
    labels = [(p["label"], p["days"]) for p in first["patterns"]]
    assert labels == [(p["label"], p["days"]) for p in again["patterns"]]
    assert first["assignments"] == again["assignments"]
    assert len(first["patterns"]) == 4
    for p in first["patterns"]:
        assert set(p["display_name"]) == {"zh-CN", "en-US"} and len(p["profile"]) == 24
    rules = await _run(api, path, {"method": "rules"})
    assert rules["method"] == "rules" and sum(p["days"] for p in rules["patterns"]) == rules["days_used"]


async def test_anomalies_both_methods_and_the_dashboard(
    api: Api, runner: JobRunner, household: dict[str, Any]
) -> None:
    ds = household["id"]
    ae = await _run(api, f"/datasets/{ds}/anomalies", {"window_hours": 24})
    assert ae["method"] == "autoencoder" and ae["threshold"] == 0.85 and ae["anomalies_total"] > 0
    stream = await _run(api, f"/datasets/{ds}/anomalies", {"method": "streaming"})
    assert stream["method"] == "streaming" and stream["points_scored"] == household["row_count"]
    for a in ae["anomalies"] + stream["anomalies"]:
        assert set(a["type_display"]) == {"zh-CN", "en-US"}
        assert a["score"] >= (ae if a in ae["anomalies"] else stream)["threshold"]

    r = await api.client.get(f"/api/v1/dashboards/{ds}", headers=api.auth("read"))
    assert r.status_code == 200, r.text
    board = r.json()["data"]
    kwh = household_kwh()
    assert board["summary"]["total_kwh"] == pytest.approx(kwh.sum(), rel=1e-9)
    assert len(board["load_curve"]) == 24 and len(board["daily_trend"]) == 90
    assert [p["period"] for p in board["period_distribution"]] == ["peak", "valley", "flat"]
    assert board["recent_anomalies"] == stream["anomalies"][:10]  # the latest anomalies job

    mine = await api.client.get(f"/api/v1/dashboards/{ds}", params=PERIODS, headers=api.auth("read"))
    assert mine.status_code == 200, mine.text
    shares = {p["period"]: p for p in mine.json()["data"]["period_distribution"]}
    assert shares["peak"]["hours"] == PERIODS["peak_hours"]
    assert shares["peak"]["kwh"] == pytest.approx(kwh[np.isin(kwh.index.hour, PERIODS["peak_hours"])].sum())
    half = {"peak_hours": [8, 9], "valley_hours": [8]}
    bad = await api.client.get(f"/api/v1/dashboards/{ds}", params=half, headers=api.auth("read"))
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"] == ["query", "valley_hours"]

    missing = await api.client.get(
        "/api/v1/dashboards/00000000-0000-4000-8000-000000000000", headers=api.auth("read")
    )
    assert missing.status_code == 404
    assert (await api.client.get(f"/api/v1/dashboards/{ds}")).status_code == 401


async def _report(api: Api, ds: str, body: dict[str, Any]) -> tuple[dict[str, Any], httpx.Response]:
    r = await api.client.post(f"/api/v1/datasets/{ds}/reports", json=body, headers=api.auth("read"))
    assert r.status_code == 202, r.text
    rid = r.json()["data"]["id"]
    assert r.headers["Location"] == f"/api/v1/reports/{rid}"
    deadline = time.monotonic() + 180
    while True:
        status = (await api.client.get(f"/api/v1/reports/{rid}", headers=api.auth("read"))).json()["data"]
        if status["status"] not in ("queued", "running"):
            break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    assert status["status"] == "succeeded", status
    assert status["download_url"] == f"/api/v1/reports/{rid}/download"
    got = await api.client.get(status["download_url"], headers=api.auth("read"))
    assert got.status_code == 200
    assert got.headers["content-type"] == status["content_type"]
    assert got.headers["content-disposition"] == f'attachment; filename="{status["filename"]}"'
    assert len(got.content) == status["size_bytes"]
    return status, got


async def test_reports_pdf_and_xlsx(api: Api, runner: JobRunner, household: dict[str, Any]) -> None:
    status, got = await _report(
        api, household["id"], {"format": "pdf", "language": "zh-CN", "prices": PRICES}
    )
    assert status["content_type"] == "application/pdf" and got.content[:5] == b"%PDF-"
    doc = pdfium.PdfDocument(got.content)
    assert len(doc) == 3
    texts = []
    for i in range(len(doc)):
        image = np.asarray(doc[i].render(scale=1).to_pil().convert("L"))
        assert (image < 250).mean() > 0.05  # a drawn page
        texts.append(doc[i].get_textpage().get_text_range())
    assert "用电分析报告" in texts[0] and "每日用电热力图" in texts[2]

    status, got = await _report(api, household["id"], {"format": "xlsx", "language": "en-US"})
    assert status["content_type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    wb = openpyxl.load_workbook(io.BytesIO(got.content))
    kinds = sorted(type(c).__name__ for ws in wb.worksheets for c in ws._charts)
    assert kinds == ["BarChart", "LineChart", "LineChart", "PieChart"]
    assert wb.worksheets[5].conditional_formatting  # the heatmap's colour scale

    bad = await api.client.get(
        "/api/v1/reports/00000000-0000-4000-8000-000000000000", headers=api.auth("read")
    )
    assert bad.status_code == 404


async def test_a_report_not_made_is_409_and_a_canceled_one_says_so(
    api: Api, household: dict[str, Any]
) -> None:
    # no runner here: the job stays queued
    r = await api.client.post(
        f"/api/v1/datasets/{household['id']}/reports", json={"format": "xlsx"}, headers=api.auth("read")
    )
    rid = r.json()["data"]["id"]
    early = await api.client.get(f"/api/v1/reports/{rid}/download", headers=api.auth("read"))
    assert early.status_code == 409 and early.json()["error"]["code"] == "CONFLICT"
    status = (await api.client.get(f"/api/v1/reports/{rid}", headers=api.auth("read"))).json()["data"]
    assert status["status"] == "queued" and status["download_url"] is None and status["format"] == "xlsx"
    cancel = await api.client.post(f"/api/v1/jobs/{rid}/cancel", headers=api.auth("model"))
    assert cancel.status_code in (200, 202), cancel.text
    gone = await api.client.get(f"/api/v1/reports/{rid}/download", headers=api.auth("read"))
    assert gone.status_code == 409 and gone.json()["error"]["code"] == "JOB_CANCELED"


async def test_steel_statistics_and_patterns(api: Api, runner: JobRunner) -> None:
    ds = await _upload(api, STEEL.read_bytes(), "steel.csv")
    steel = pd.read_csv(STEEL)
    assert ds["row_count"] == len(steel)
    stats = await _run(api, f"/datasets/{ds['id']}/statistics", {})
    assert stats["total_kwh"] == pytest.approx(steel["Usage_kWh"].sum(), rel=1e-9)
    assert stats["interval_minutes"] == 15
    assert stats["peak_load"]["kw"] == pytest.approx(steel["Usage_kWh"].max() * 4)
    patterns = await _run(api, f"/datasets/{ds['id']}/load-patterns", {"k": 2})
    assert len(patterns["patterns"]) == 2 and patterns["days_used"] >= 360


@pytest.fixture(scope="module")
async def three_weeks(api: Api) -> dict[str, Any]:
    head = pd.read_csv(HOUSEHOLD, nrows=24 * 21).to_csv(index=False).encode()
    return await _upload(api, head, "head.csv", timezone="Europe/Paris", scale=1 / 60)


_HOURS = st.lists(st.integers(-2, 25), max_size=26)
_STAMP = st.sampled_from(
    ["2006-12-20T00:00:00Z", "2006-12-25T00:00:00+01:00", "2007-06-01T00:00:00Z", "2006-12-20T00:00:00", "x"]
)
_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "periods": st.one_of(
            st.just(PERIODS),
            st.fixed_dictionaries({"peak_hours": _HOURS, "valley_hours": _HOURS, "flat_hours": _HOURS}),
        ),
        "prices": st.fixed_dictionaries(
            {
                "peak": st.floats(-1, 2e6, allow_nan=False),
                "valley": st.floats(0, 1),
                "flat": st.floats(0, 1),
            },
            optional={"currency": st.sampled_from(["EUR", "CNY", "eur", "€"])},
        ),
        "start": _STAMP,
        "end": _STAMP,
        "k": st.integers(-1, 8),
        "method": st.sampled_from(["kmeans", "rules", "autoencoder", "streaming", "lstm"]),
        "threshold": st.floats(-0.5, 1.5, allow_nan=False),
        "window_hours": st.integers(0, 400),
        "format": st.sampled_from(["pdf", "xlsx", "docx"]),
        "language": st.sampled_from(["zh-CN", "en-US", "fr-FR"]),
        "title": st.text(max_size=210),
    },
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(["statistics", "load-patterns", "anomalies", "reports"]),
    body=_BODIES,
)
@example(route="statistics", body={"start": "2007-06-01T00:00:00Z"})  # nothing in range: explained
@example(route="load-patterns", body={"k": 5, "end": "2006-12-20T00:00:00Z"})  # 3 days for 5 clusters
@example(route="anomalies", body={"window_hours": 168, "end": "2006-12-20T00:00:00Z"})  # window too long
@example(route="reports", body={"format": "xlsx", "language": "zh-CN", "title": "家庭用电"})
async def test_any_body_is_a_job_that_ends_explained_or_a_422(
    api: Api, runner: JobRunner, three_weeks: dict[str, Any], route: str, body: dict[str, Any]
) -> None:
    r = await api.client.post(
        f"/api/v1/datasets/{three_weeks['id']}/{route}", json=body, headers=api.auth("read")
    )
    assert r.status_code in (202, 422), (r.status_code, r.text)
    if r.status_code == 422:
        details = r.json()["error"]["details"]
        assert details and all(d["loc"][0] == "body" for d in details), r.text
        return
    job = r.json()["data"]
    deadline = time.monotonic() + 120
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.1)
        job = (await api.client.get(f"/api/v1/jobs/{job['id']}", headers=api.auth("read"))).json()["data"]
    assert job["status"] in ("succeeded", "failed"), job
    if job["status"] == "failed":  # a reason the caller can read, never the internal-error message
        assert job["error"]["code"] == "PROCESSING_ERROR" and job["error"]["message"] != INTERNAL, job


async def test_dashboard_recommendations_on_the_household(api: Api, runner: JobRunner) -> None:
    """The rules on the real household: their figures equal pandas on the same rows, each fires exactly
    when its figures pass its threshold, the text follows the request's language. (A dataset of its own:
    the module's is preprocessed by other tests, and the dashboard reads the processed series.)"""
    household = await _upload(api, HOUSEHOLD.read_bytes(), "house.csv", timezone="Europe/Paris", scale=1 / 60)
    ds = household["id"]
    await _run(api, f"/datasets/{ds}/statistics", {"prices": PRICES})  # the dataset's tariff
    patterns = await _run(api, f"/datasets/{ds}/load-patterns", {"k": 4})
    anomalies = await _run(api, f"/datasets/{ds}/anomalies", {"method": "streaming"})
    boards = {}
    for lang in ("en-US", "zh-CN"):
        r = await api.client.get(
            f"/api/v1/dashboards/{ds}", headers={**api.auth("read"), "Accept-Language": lang}
        )
        assert r.status_code == 200, r.text
        boards[lang] = r.json()["data"]
    got = {r["id"]: r for r in boards["en-US"]["recommendations"]}
    zh = {r["id"]: r for r in boards["zh-CN"]["recommendations"]}
    assert list(got) == list(zh) and all(r["language"] == "zh-CN" for r in zh.values())
    assert [r["severity"] for r in got.values()] == sorted(
        (r["severity"] for r in got.values()), key=lambda s: s != "warning"
    )

    kwh = household_kwh()
    end = kwh.index[-1]
    # Peak share (default periods: 6 peak hours) against its time share.
    peak_hours = [8, 9, 10, 18, 19, 20]
    peak = kwh[np.isin(kwh.index.hour, peak_hours)].sum()
    excess = (peak / kwh.sum()) / (len(peak_hours) / 24)
    assert ("shift_peak_load" in got) == (excess >= rec.PEAK_EXCESS)
    if "shift_peak_load" in got:
        f = got["shift_peak_load"]["figures"]
        assert f["excess"] == pytest.approx(excess, rel=1e-9)
        saving = 0.1 * peak * (0.27 - 0.12)  # PRICES: peak - valley
        assert f["saving_if_10pct_shifted"] == pytest.approx(saving, rel=1e-9) and f["currency"] == "EUR"
        assert got["shift_peak_load"]["title"] == "Shift load out of peak hours"
        assert zh["shift_peak_load"]["title"] == "将用电转移出峰时段"
        assert f"{f['peak_share_pct']:.3g}%" in got["shift_peak_load"]["text"]
    # Night baseline over the last 30 days' mean hourly load.
    recent = kwh[kwh.index > end - pd.Timedelta(days=30)]
    hourly = recent.groupby([recent.index.normalize(), recent.index.hour]).sum()
    curve = hourly.groupby(level=1).mean().reindex(range(24), fill_value=0.0)
    night_share = curve[list(rec.NIGHT_HOURS)].mean() / curve.mean()
    assert ("standby_loads" in got) == (night_share >= rec.NIGHT_SHARE)
    # Anomalies of the latest anomalies job in the data's last week.
    week = [a for a in anomalies["anomalies"] if pd.Timestamp(a["end"]) >= end - pd.Timedelta(days=7)]
    assert ("check_appliance" in got) == bool(week)
    if week:
        assert got["check_appliance"]["figures"]["recent_count"] == len(week)
    assert ("rising_consumption" in got) == (boards["en-US"]["summary"]["trend"] == "increasing")
    high = sum(p["share"] for p in patterns["patterns"] if p["label"] == "high_consumption")
    assert ("high_consumption_days" in got) == (high >= rec.HIGH_DAYS_SHARE)
    print("household recommendations:", {k: (v["severity"], v["figures"]) for k, v in got.items()})
    print(f"peak excess {excess:.3f}, night share {night_share:.3f}, anomalies {len(week)}, high {high:.3f}")
    await api.client.delete(f"/api/v1/datasets/{ds}", headers=api.auth("write"))
