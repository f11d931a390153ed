"""Datasets and generic jobs on the real API, PostgreSQL and job runner, with the household and steel files.

Upload (CSV and an Excel workbook made from the steel file), detection, preprocessing as a job, paging
of readings, delete with everything derived; bad files refused with the right code and field and nothing
stored; cancel; a job whose runner died is finished by another runner.
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import openpyxl
import pandas as pd
import pytest
from pydantic import BaseModel

from stream_app.jobs import registry
from stream_app.jobs.runner import JobRunner
from stream_app.store import jobs as job_store
from tests.conftest import DATA_DIR
from tests.integration.api.conftest import Api

DATA = DATA_DIR / "energy"
HOUSEHOLD = DATA / "household_sceaux_hourly.csv"
STEEL = DATA / "steel_industry_2018_15min.csv"


@pytest.fixture
async def runner(api: Api) -> AsyncIterator[JobRunner]:
    """A real job runner on the test database (the API's lifespan starts these; the test client has none)."""
    r = JobRunner(api.resources.pool, lease_s=3.0, poll_s=0.1)
    task = asyncio.create_task(r.run_forever())
    yield r
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def upload(api: Api, content: bytes, filename: str, **form: Any) -> httpx.Response:
    files = {"file": (filename, content, "application/octet-stream")}
    data = {k: str(v) for k, v in form.items()}
    return await api.client.post("/api/v1/datasets", files=files, data=data, headers=api.auth("write"))


async def wait_job(api: Api, job_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        r = await api.client.get(f"/api/v1/jobs/{job_id}", headers=api.auth("read"))
        assert r.status_code == 200, r.text
        job: dict[str, Any] = r.json()["data"]
        if job["status"] in ("succeeded", "failed", "canceled"):
            return job
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.1)


async def count_datasets(api: Api) -> int:
    pool = await api.resources.pool()
    return int(await pool.fetchval("SELECT count(*) FROM datasets"))


async def test_household_csv_upload_preprocess_daily_totals_match_pandas(api: Api, runner: JobRunner) -> None:
    raw = HOUSEHOLD.read_bytes()
    r = await upload(api, raw, "house.csv", timezone="Europe/Paris", scale=1 / 60, name="Sceaux")
    assert r.status_code == 201, r.text
    ds = r.json()["data"]
    det = ds["detection"]
    assert (det["timestamp_column"], det["value_column"]) == ("datetime", "Global_active_power")
    assert ds["timezone"] == "Europe/Paris" and det["timezone_source"] == "override"
    assert ds["interval_s"] == 3600 and ds["file_format"] == "csv" and ds["status"] == "ready"
    # Naive local times that do not exist or are ambiguous at the clock changes are dropped (counted).
    assert ds["row_count"] == 34_589 - det["dst_dropped"] and det["dst_dropped"] > 0

    # The same rows in pandas: local times in Europe/Paris, kWh = value / 60.
    frame = pd.read_csv(HOUSEHOLD)
    idx = pd.DatetimeIndex(pd.to_datetime(frame["datetime"])).tz_localize(
        "Europe/Paris", ambiguous="NaT", nonexistent="NaT"
    )
    kwh = pd.Series(frame["Global_active_power"].to_numpy() / 60, index=idx)
    kwh = kwh[kwh.index.notna()]
    assert len(kwh) == ds["row_count"]

    # Preprocess with nothing changed but the daily sums: they must equal pandas' daily sums.
    body = {"missing": "drop", "outliers": "none", "resample": "1d"}
    r = await api.client.post(f"/api/v1/datasets/{ds['id']}/preprocess", json=body, headers=api.auth("write"))
    assert r.status_code == 202, r.text
    queued = r.json()["data"]
    assert queued["type"] == "preprocess" and queued["status"] == "queued" and queued["progress"] == 0
    job = await wait_job(api, queued["id"])
    assert job["status"] == "succeeded" and job["progress"] == 1 and job["result_id"], job
    res = await api.client.get(f"/api/v1/jobs/{job['id']}/result", headers=api.auth("read"))
    summary = res.json()["data"]["data"]
    assert res.json()["data"]["result_id"] == job["result_id"]
    assert summary["rows_in"] == ds["row_count"] and summary["interval_s_out"] == 86400
    assert summary["clipped"] == 0 and summary["filled"] == 0

    expected = kwh.resample("1D").sum(min_count=1).dropna()
    got: list[list[Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"series": "processed", "format": "compact", "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = await api.client.get(
            f"/api/v1/datasets/{ds['id']}/data", params=params, headers=api.auth("read")
        )
        assert page.status_code == 200, page.text
        got += page.json()["data"]["items"]
        cursor = page.json()["data"]["next_cursor"]
        if not cursor:
            break
    days = {pd.Timestamp(t).tz_convert("Europe/Paris"): v for t, v in got if v is not None}
    assert len(days) == len(expected)
    for day, value in expected.items():
        assert days[day] == pytest.approx(value, rel=1e-9)
    shown = (await api.client.get(f"/api/v1/datasets/{ds['id']}", headers=api.auth("read"))).json()["data"]
    assert shown["status"] == "processed" and shown["processed"]["rows_out"] == summary["rows_out"]
    await api.client.delete(f"/api/v1/datasets/{ds['id']}", headers=api.auth("write"))


def steel_workbook(rows: int, sheets: int = 1) -> bytes:
    frame = pd.read_csv(STEEL, nrows=rows)
    wb = openpyxl.Workbook(write_only=True)
    for n in range(sheets):
        ws = wb.create_sheet(f"plant{n + 1}")
        ws.append(list(frame.columns))
        for rec in frame.itertuples(index=False):
            row = list(rec)
            row[0] = pd.Timestamp(row[0]).to_pydatetime()  # a real Excel date cell
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


async def test_steel_excel_and_csv_detect_the_same_series_and_page_by_time(api: Api) -> None:
    rows = 3000
    r = await upload(api, steel_workbook(rows), "steel.xlsx")
    assert r.status_code == 201, r.text
    xl = r.json()["data"]
    det = xl["detection"]
    assert xl["file_format"] == "xlsx" and det["sheet"] == "plant1"
    assert (det["timestamp_column"], det["value_column"]) == ("timestamp", "Usage_kWh")
    assert det["unit"] == "kWh" and det["unit_source"] == "column name" and xl["interval_s"] == 900
    csv_bytes = pd.read_csv(STEEL, nrows=rows).to_csv(index=False).encode()
    # The name says .xlsx, the content is CSV: the content decides.
    r = await upload(api, csv_bytes, "steel.xlsx")
    assert r.status_code == 201, r.text
    cs = r.json()["data"]
    assert cs["file_format"] == "csv" and cs["row_count"] == xl["row_count"] == rows

    # Paging: from/to bound, limit, cursor; every row once, in time order, same values in both uploads.
    start, end = "2018-01-05T00:00:00Z", "2018-01-20T00:00:00Z"
    series: dict[str, list[tuple[str, float]]] = {}
    for d in (xl, cs):
        out: list[tuple[str, float]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"from": start, "to": end, "limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = await api.client.get(
                f"/api/v1/datasets/{d['id']}/data", params=params, headers=api.auth("read")
            )
            assert page.status_code == 200, page.text
            data = page.json()["data"]
            assert len(data["items"]) <= 500
            out += [(p["timestamp"], p["value"]) for p in data["items"]]
            cursor = data["next_cursor"]
            if cursor is None:
                assert data["has_more"] is False
                break
        series[d["id"]] = out
    a, b = series[xl["id"]], series[cs["id"]]
    assert a == b and len(a) == 15 * 96
    stamps = [pd.Timestamp(t) for t, _ in a]
    assert stamps == sorted(stamps) and stamps[0] == pd.Timestamp(start)
    expected = pd.read_csv(STEEL, nrows=rows)
    expected["ts"] = pd.to_datetime(expected["timestamp"]).dt.tz_localize("UTC")
    want = expected[(expected.ts >= pd.Timestamp(start)) & (expected.ts < pd.Timestamp(end))]["Usage_kWh"]
    assert [v for _, v in a] == pytest.approx(list(want))

    # List with a status filter and paging.
    listed = await api.client.get(
        "/api/v1/datasets", params={"status": "ready", "limit": 1}, headers=api.auth("read")
    )
    body = listed.json()["data"]
    assert listed.status_code == 200 and len(body["items"]) == 1 and body["has_more"] is True
    assert all(d["status"] == "ready" for d in body["items"])

    # PATCH name and timezone: the file's naive times are now Shanghai's (test_patch_timezone_* below).
    r = await api.client.patch(
        f"/api/v1/datasets/{cs['id']}",
        json={"name": "plant", "timezone": "Asia/Shanghai"},
        headers=api.auth("write"),
    )
    assert r.status_code == 200 and r.json()["data"]["name"] == "plant"
    local_start = "2018-01-05T00:00:00+08:00"
    page = await api.client.get(
        f"/api/v1/datasets/{cs['id']}/data",
        params={"limit": 1, "from": local_start},
        headers=api.auth("read"),
    )
    first = page.json()["data"]["items"][0]
    assert first["timestamp"] == local_start and first["value"] == pytest.approx(want.iloc[0])
    bad = await api.client.patch(
        f"/api/v1/datasets/{cs['id']}", json={"timezone": "Mars/Olympus"}, headers=api.auth("write")
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"][-1] == "timezone"
    for d in (xl, cs):
        await api.client.delete(f"/api/v1/datasets/{d['id']}", headers=api.auth("write"))


async def test_delete_removes_readings_jobs_and_results(api: Api, runner: JobRunner) -> None:
    r = await upload(api, pd.read_csv(STEEL, nrows=500).to_csv(index=False).encode(), "s.csv")
    ds_id = r.json()["data"]["id"]
    q = await api.client.post(f"/api/v1/datasets/{ds_id}/preprocess", json={}, headers=api.auth("write"))
    job = await wait_job(api, q.json()["data"]["id"])
    assert job["status"] == "succeeded"
    pool = await api.resources.pool()
    did = uuid.UUID(ds_id)
    assert await pool.fetchval("SELECT count(*) FROM dataset_readings WHERE dataset_id = $1", did) == 1000
    # A read key cannot delete; a write key can.
    assert (await api.client.delete(f"/api/v1/datasets/{ds_id}", headers=api.auth("read"))).status_code == 403
    r = await api.client.delete(f"/api/v1/datasets/{ds_id}", headers=api.auth("write"))
    assert r.status_code == 200 and r.json()["data"] == {"id": ds_id, "deleted": True}
    for table, col in (
        ("dataset_readings", "dataset_id"),
        ("jobs", "dataset_id"),
        ("job_results", "dataset_id"),
    ):
        assert await pool.fetchval(f"SELECT count(*) FROM {table} WHERE {col} = $1", did) == 0
    assert (await api.client.get(f"/api/v1/datasets/{ds_id}", headers=api.auth("read"))).status_code == 404
    assert (await api.client.get(f"/api/v1/jobs/{job['id']}", headers=api.auth("read"))).status_code == 404
    assert (
        await api.client.delete(f"/api/v1/datasets/{ds_id}", headers=api.auth("write"))
    ).status_code == 404


def _csv(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


BAD_FILES: list[tuple[str, bytes, str, dict[str, Any], int, str, str]] = [
    # (case, content, file name, form, status, code, field)
    (
        "png named csv",
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40,
        "data.csv",
        {},
        422,
        "FILE_FORMAT_ERROR",
        "file",
    ),
    (
        "pdf named xlsx",
        b"%PDF-1.7\n" + b"\x00\x01\x02" * 500,
        "data.xlsx",
        {},
        422,
        "FILE_FORMAT_ERROR",
        "file",
    ),
    (
        "no timestamp column",
        _csv(["meter,kwh"] + [f"m{i},{i * 0.5}" for i in range(50)]),
        "x.csv",
        {},
        422,
        "FILE_FORMAT_ERROR",
        "timestamp_column",
    ),
    (
        "mixed time zones (naive and offset)",
        _csv(["timestamp,kwh"] + [f"2024-01-01T0{i}:00:00{'+01:00' if i % 2 else ''},1.5" for i in range(8)]),
        "x.csv",
        {},
        422,
        "FILE_FORMAT_ERROR",
        "timestamp_column",
    ),
    (
        "mixed time zones (three offsets)",
        _csv(
            ["timestamp,kwh"]
            + [f"2024-01-01T0{i}:00:00{['+00:00', '+08:00', '+05:30'][i % 3]},1" for i in range(9)]
        ),
        "x.csv",
        {},
        422,
        "FILE_FORMAT_ERROR",
        "timestamp_column",
    ),
    (
        "bad timezone override",
        _csv(["timestamp,kwh", "2024-01-01 00:00,1", "2024-01-01 01:00,2"]),
        "x.csv",
        {"timezone": "Nowhere/City"},
        422,
        "VALIDATION_ERROR",
        "timezone",
    ),
    (
        "unknown value column",
        _csv(["timestamp,kwh", "2024-01-01 00:00,1", "2024-01-01 01:00,2"]),
        "x.csv",
        {"value_column": "watts"},
        422,
        "FILE_FORMAT_ERROR",
        "value_column",
    ),
]


@pytest.mark.parametrize("case", BAD_FILES, ids=[c[0] for c in BAD_FILES])
async def test_bad_files_get_the_right_code_and_field_and_store_nothing(
    api: Api, case: tuple[str, bytes, str, dict[str, Any], int, str, str]
) -> None:
    _name, content, filename, form, status, code, field = case
    before = await count_datasets(api)
    r = await upload(api, content, filename, **form)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["details"][0]["loc"][-1] == field, err
    assert await count_datasets(api) == before


async def test_excel_with_two_sheets_names_the_sheet_field_and_a_chosen_sheet_works(api: Api) -> None:
    book = steel_workbook(200, sheets=2)
    before = await count_datasets(api)
    r = await upload(api, book, "two.xlsx")
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "FILE_FORMAT_ERROR" and err["details"][0]["loc"] == ["body", "sheet"]
    assert err["details"][0]["sheets"] == ["plant1", "plant2"]
    assert await count_datasets(api) == before
    r = await upload(api, book, "two.xlsx", sheet="plant2")
    assert r.status_code == 201 and r.json()["data"]["detection"]["sheet"] == "plant2"
    await api.client.delete(f"/api/v1/datasets/{r.json()['data']['id']}", headers=api.auth("write"))


async def test_a_51_mib_file_is_refused_file_too_large(api: Api) -> None:
    line = b"2024-01-01 00:00:00,1.0\n"
    content = b"timestamp,kwh\n" + line * (51 * 2**20 // len(line) + 1)
    assert len(content) > 51 * 2**20
    before = await count_datasets(api)
    r = await upload(api, content, "big.csv")
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "FILE_TOO_LARGE"
    assert await count_datasets(api) == before


async def test_preprocess_params_are_checked_before_a_job_is_made(api: Api) -> None:
    r = await upload(api, pd.read_csv(STEEL, nrows=200).to_csv(index=False).encode(), "s.csv")
    ds_id = r.json()["data"]["id"]
    pool = await api.resources.pool()
    for body, field in (
        ({"resample": "5min"}, "resample"),
        ({"missing": "guess"}, "missing"),
        ({"outlier_k": 0}, "outlier_k"),
    ):
        r = await api.client.post(
            f"/api/v1/datasets/{ds_id}/preprocess", json=body, headers=api.auth("write")
        )
        assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"][-1] == field, r.text
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE dataset_id = $1", uuid.UUID(ds_id)) == 0
    await api.client.delete(f"/api/v1/datasets/{ds_id}", headers=api.auth("write"))


# ---- the runner: cancel and a lost runner ----------------------------------------------------------


class Nap(BaseModel):
    seconds: float = 2.0


def _nap(frame: pd.DataFrame, params: Nap) -> Nap:
    time.sleep(params.seconds)
    return params


async def test_cancel_answers_canceled_and_a_late_result_is_dropped(api: Api) -> None:
    registry.register("test_nap", Nap, _nap)
    r = await upload(api, pd.read_csv(STEEL, nrows=100).to_csv(index=False).encode(), "s.csv")
    ds_id = uuid.UUID(r.json()["data"]["id"])
    pool = await api.resources.pool()
    napper = JobRunner(api.resources.pool, lease_s=1.5, poll_s=0.05)
    task = asyncio.create_task(napper.run_forever())
    try:
        job = await job_store.create(pool, type_name="test_nap", params={"seconds": 2.0}, dataset_id=ds_id)
        deadline = time.monotonic() + 20
        while (await job_store.get(pool, job.id)).status.value != "running":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        url = f"/api/v1/jobs/{job.id}/cancel"
        assert (await api.client.post(url, headers=api.auth("write"))).status_code == 403  # needs model
        r = await api.client.post(url, headers=api.auth("model"))
        assert r.status_code == 200 and r.json()["data"] == {"canceled": True}
        again = await api.client.post(url, headers=api.auth("model"))
        assert again.status_code == 200 and again.json()["data"] == {"canceled": True}
        await asyncio.sleep(2.5)  # the nap ends; its result must not land
        ended = await job_store.get(pool, job.id)
        assert ended.status.value == "canceled" and ended.result_id is None
        assert await pool.fetchval("SELECT count(*) FROM job_results WHERE job_id = $1", job.id) == 0
        # A finished job cannot be canceled.
        done = await job_store.create(pool, type_name="test_nap", params={"seconds": 0}, dataset_id=ds_id)
        shown = await wait_job(api, str(done.id))
        assert shown["status"] == "succeeded"
        r = await api.client.post(f"/api/v1/jobs/{done.id}/cancel", headers=api.auth("model"))
        assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT"
        res = await api.client.get(f"/api/v1/jobs/{done.id}/result", headers=api.auth("read"))
        assert res.json()["data"]["data"] == {"seconds": 0.0}
        canceled_result = await api.client.get(f"{url[:-7]}/result", headers=api.auth("read"))
        assert (
            canceled_result.status_code == 409 and canceled_result.json()["error"]["code"] == "JOB_CANCELED"
        )
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await api.client.delete(f"/api/v1/datasets/{ds_id}", headers=api.auth("write"))


class Echo(BaseModel):
    n: int = 1


def _echo(frame: pd.DataFrame, params: Echo) -> Echo:
    return Echo(n=params.n + len(frame))


async def test_a_job_whose_runner_died_is_finished_by_another_runner(api: Api) -> None:
    # A type only this test's runners know: runners of other tests or processes on the shared database
    # never take it.
    registry.register("test_echo", Echo, _echo)
    await (await api.resources.pool()).execute(
        "DELETE FROM jobs WHERE type = 'test_echo' AND status IN ('queued', 'running')"
    )
    r = await upload(api, pd.read_csv(STEEL, nrows=300).to_csv(index=False).encode(), "s.csv")
    ds_id = uuid.UUID(r.json()["data"]["id"])
    pool = await api.resources.pool()
    job = await job_store.create(pool, type_name="test_echo", params={"n": 7}, dataset_id=ds_id)
    # A runner takes it and dies without a word (no heartbeat, no result): its lease runs out.
    dead = await job_store.claim(pool, "dead-runner", 1.0, 3, ["test_echo"])
    assert dead is not None and dead.id == job.id and dead.status.value == "running"
    assert await job_store.claim(pool, "other", 1.0, 3, ["test_echo"]) is None  # leased: not taken twice
    survivor = JobRunner(api.resources.pool, lease_s=2.0, poll_s=0.05)
    await asyncio.sleep(1.2)
    for _ in range(20):  # older queued jobs of the shared database may come first
        assert await survivor.run_once() is True
        if (await job_store.get(pool, job.id)).status.value != "running":
            break
    ended = await job_store.get(pool, job.id)
    assert ended.status.value == "succeeded" and ended.attempts == 2 and ended.owner == survivor.owner
    survivor.close()
    shown = await wait_job(api, str(job.id))
    assert shown["progress"] == 1 and shown["result_id"] == str(ended.result_id)
    res = await api.client.get(f"/api/v1/jobs/{job.id}/result", headers=api.auth("read"))
    assert res.json()["data"]["data"] == {"n": 7 + 300}
    # The dead runner's late write changes nothing.
    assert await job_store.fail(pool, job.id, "dead-runner", {"code": "X", "message": "late"}) is False
    await api.client.delete(f"/api/v1/datasets/{ds_id}", headers=api.auth("write"))


async def test_a_job_lost_too_often_fails_worker_lost(api: Api) -> None:
    registry.register("test_echo", Echo, _echo)
    pool = await api.resources.pool()
    await pool.execute("DELETE FROM jobs WHERE type = 'test_echo' AND status IN ('queued', 'running')")
    job = await job_store.create(pool, type_name="test_echo", params={}, dataset_id=None)
    for attempt in range(3):
        taken = await job_store.claim(pool, f"dead-{attempt}", 0.2, 3, ["test_echo"])
        assert taken is not None and taken.id == job.id
        await asyncio.sleep(0.3)
    assert await job_store.claim(pool, "late", 0.2, 3, ["test_echo"]) is None
    ended = await job_store.get(pool, job.id)
    assert ended.status.value == "failed" and ended.error is not None and ended.error["code"] == "WORKER_LOST"
    await pool.execute("DELETE FROM jobs WHERE id = $1", job.id)


async def _walk(api: Api, path: str, params: dict[str, Any]) -> list[str]:
    """Every id of a list route, page by page, following next_cursor."""
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(200):
        q = dict(params) | ({"cursor": cursor} if cursor else {})
        r = await api.client.get(path, params=q, headers=api.auth("read"))
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert len(data["items"]) <= params["limit"]
        assert r.json()["meta"] == {"next_cursor": data["next_cursor"], "has_more": data["has_more"]}
        seen += [item["id"] for item in data["items"]]
        cursor = data["next_cursor"]
        if not data["has_more"]:
            assert cursor is None
            return seen
    raise AssertionError("the pages never ended")


async def test_datasets_and_generic_jobs_page_by_cursor_with_filters(api: Api) -> None:
    """The one store paging helper: every row once, in order, both directions, filters kept across pages."""
    pool = await api.resources.pool()
    since = await pool.fetchval("SELECT now()")
    body = pd.read_csv(STEEL, nrows=50).to_csv(index=False).encode()
    ids = [(await upload(api, body, f"p{i}.csv")).json()["data"]["id"] for i in range(3)]
    try:
        frm = since.isoformat()
        newest_first = await _walk(api, "/api/v1/datasets", {"limit": 2, "from": frm})
        ours = [i for i in newest_first if i in ids]
        assert ours == ids[::-1] and len(set(newest_first)) == len(newest_first)
        oldest_first = await _walk(
            api, "/api/v1/datasets", {"limit": 1, "from": frm, "sort": "created_at:asc"}
        )
        assert [i for i in oldest_first if i in ids] == ids
        ready = await _walk(api, "/api/v1/datasets", {"limit": 2, "from": frm, "status": "processed"})
        assert not set(ready) & set(ids)  # none of ours was preprocessed
        # Generic jobs of a type no runner knows stay queued; one is canceled.
        ds_id = uuid.UUID(ids[0])
        jobs = [
            await job_store.create(pool, type_name="test_paging", params={"n": n}, dataset_id=ds_id)
            for n in range(5)
        ]
        await job_store.cancel(pool, jobs[2].id)
        listed = await _walk(api, "/api/v1/jobs", {"limit": 2, "dataset_id": str(ds_id)})
        assert listed == [str(j.id) for j in reversed(jobs)]
        queued = await _walk(
            api,
            "/api/v1/jobs",
            {"limit": 2, "type": "test_paging", "dataset_id": str(ds_id), "status": "queued"},
        )
        assert queued == [str(j.id) for j in reversed(jobs) if j.id != jobs[2].id]
    finally:
        for i in ids:
            await api.client.delete(f"/api/v1/datasets/{i}", headers=api.auth("write"))


async def _points(api: Api, ds_id: str, start: str, end: str) -> dict[pd.Timestamp, float | None]:
    r = await api.client.get(
        f"/api/v1/datasets/{ds_id}/data",
        params={"from": start, "to": end, "limit": 1000},
        headers=api.auth("read"),
    )
    assert r.status_code == 200, r.text
    return {pd.Timestamp(p["timestamp"]): p["value"] for p in r.json()["data"]["items"]}


async def test_patch_timezone_moves_naive_readings_and_removes_what_was_derived(
    api: Api, runner: JobRunner
) -> None:
    """The household file's naive local times, read in Paris at upload, are read again in New York."""
    r = await upload(api, HOUSEHOLD.read_bytes(), "house.csv", timezone="Europe/Paris", scale=1 / 60)
    ds = r.json()["data"]
    ds_id = ds["id"]
    pool = await api.resources.pool()
    try:
        # Derived results: a processed series and a statistics result.
        for path, body in (("preprocess", {"resample": "1d"}), ("statistics", {})):
            q = await api.client.post(
                f"/api/v1/datasets/{ds_id}/{path}",
                json=body,
                headers=api.auth("read" if path == "statistics" else "write"),
            )
            assert q.status_code == 202, q.text
            assert (await wait_job(api, q.json()["data"]["id"]))["status"] == "succeeded"
        stats_job = q.json()["data"]["id"]
        # A job still queued (a type no runner knows) blocks the change: 409, nothing moved.
        blocker = await job_store.create(
            pool, type_name="test_rezone_block", params={}, dataset_id=uuid.UUID(ds_id)
        )
        busy = await api.client.patch(
            f"/api/v1/datasets/{ds_id}", json={"timezone": "America/New_York"}, headers=api.auth("write")
        )
        assert busy.status_code == 409 and busy.json()["error"]["code"] == "CONFLICT", busy.text
        shown = (await api.client.get(f"/api/v1/datasets/{ds_id}", headers=api.auth("read"))).json()["data"]
        assert shown["timezone"] == "Europe/Paris" and shown["status"] == "processed"
        await job_store.cancel(pool, blocker.id)

        before = await _points(api, ds_id, "2007-01-01T00:00:00Z", "2007-01-02T00:00:00Z")
        r = await api.client.patch(
            f"/api/v1/datasets/{ds_id}", json={"timezone": "America/New_York"}, headers=api.auth("write")
        )
        assert r.status_code == 200, r.text
        after = r.json()["data"]

        # The same wall-clock rows of the file, now New York's: pandas on the CSV says which and what.
        frame = pd.read_csv(HOUSEHOLD)
        naive = pd.DatetimeIndex(pd.to_datetime(frame["datetime"]))
        kwh = frame["Global_active_power"].to_numpy() / 60
        paris = naive.tz_localize("Europe/Paris", ambiguous="NaT", nonexistent="NaT")
        york = naive.tz_localize("America/New_York", ambiguous="NaT", nonexistent="NaT")
        kept = paris.notna() & york.notna()
        assert after["row_count"] == int(kept.sum()) == ds["row_count"] - 8
        assert (
            after["timezone"] == "America/New_York"
            and after["status"] == "ready"
            and after["processed"] is None
        )
        assert pd.Timestamp(after["start_at"]) == york[kept][0]
        rez = after["detection"]["rezoned"]
        assert rez["from"] == "Europe/Paris" and rez["readings_shifted"] is True and rez["dst_dropped"] == 8
        assert rez["removed_jobs"] >= 2 and rez["removed_processed_readings"] > 0

        # Real rows: 2007-01-01 12:00 of the file was 11:00 UTC, it is now 17:00 UTC, same value.
        moved = await _points(api, ds_id, "2007-01-01T00:00:00Z", "2007-01-02T00:00:00Z")
        noon = pd.Timestamp("2007-01-01 12:00")
        i = int(np.flatnonzero(naive == noon)[0])
        assert before[pd.Timestamp("2007-01-01T11:00:00Z")] == pytest.approx(kwh[i])
        assert moved[pd.Timestamp("2007-01-01T17:00:00Z")] == pytest.approx(kwh[i])
        for ts, value in moved.items():  # every reading of that UTC day is the file's row of its NY wall time
            j = int(np.flatnonzero(naive == ts.tz_convert("America/New_York").tz_localize(None))[0])
            assert value == pytest.approx(kwh[j])
        assert len(moved) == 24 and moved != before
        assert next(iter(moved)).utcoffset() == pd.Timedelta(hours=-5)  # shown in the new zone

        # What was derived with Paris time is gone.
        did = uuid.UUID(ds_id)
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM dataset_readings WHERE dataset_id = $1 AND series = 1", did
            )
            == 0
        )
        assert await pool.fetchval("SELECT count(*) FROM jobs WHERE dataset_id = $1", did) == 0
        assert await pool.fetchval("SELECT count(*) FROM job_results WHERE dataset_id = $1", did) == 0
        assert (
            await api.client.get(f"/api/v1/jobs/{stats_job}", headers=api.auth("read"))
        ).status_code == 404
        board = await api.client.get(f"/api/v1/dashboards/{ds_id}", headers=api.auth("read"))
        assert board.status_code == 200 and board.json()["data"]["recent_anomalies"] == []
        # The same zone again changes nothing.
        same = await api.client.patch(
            f"/api/v1/datasets/{ds_id}", json={"timezone": "America/New_York"}, headers=api.auth("write")
        )
        assert (
            same.json()["data"]["row_count"] == after["row_count"]
            and same.json()["data"]["detection"] == after["detection"]
        )
    finally:
        await api.client.delete(f"/api/v1/datasets/{ds_id}", headers=api.auth("write"))


async def test_patch_timezone_keeps_the_instants_of_timestamps_with_offsets(api: Api) -> None:
    frame = pd.read_csv(STEEL, nrows=200)
    stamps = pd.to_datetime(frame["timestamp"]).dt.tz_localize(
        "Europe/Berlin", ambiguous="NaT", nonexistent="NaT"
    )
    frame["timestamp"] = stamps.map(lambda t: t.isoformat())
    r = await upload(api, frame.to_csv(index=False).encode(), "offsets.csv")
    ds = r.json()["data"]
    assert ds["detection"]["timezone_source"] == "offsets"
    try:
        before = await _points(api, ds["id"], "2018-01-01T00:00:00Z", "2018-01-03T00:00:00Z")
        r = await api.client.patch(
            f"/api/v1/datasets/{ds['id']}", json={"timezone": "Asia/Tokyo"}, headers=api.auth("write")
        )
        assert r.status_code == 200, r.text
        rez = r.json()["data"]["detection"]["rezoned"]
        assert rez["readings_shifted"] is False and rez["dst_dropped"] == 0
        after = await _points(api, ds["id"], "2018-01-01T00:00:00Z", "2018-01-03T00:00:00Z")
        assert after == before and len(after) > 150  # same instants and values, now shown in Tokyo
        assert all(t.utcoffset() == pd.Timedelta(hours=9) for t in after)
    finally:
        await api.client.delete(f"/api/v1/datasets/{ds['id']}", headers=api.auth("write"))
