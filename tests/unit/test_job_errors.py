"""A failed job's error is a fixed text or a message built from counts and the request: never what the
data held (column names, a CSV's first line), parser or exception text, or a traceback. Those go to the
worker's log at WARNING with the job id."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import uuid
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream_app.lifecycle import child, job_errors, runner
from tests.conftest import DATA_DIR

JOB = uuid.UUID("00000000-0000-0000-0000-00000000abcd")
FIXED = [text for _p, text in job_errors._REPLACED] + [job_errors.FAILED.format(job=JOB)]
# Text a fetched file could hold: anything printable, long enough not to occur by chance in our texts.
leaked = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=12, max_size=200).filter(
    lambda s: s.strip() == s and len(set(s)) > 4 and not any(s in f for f in FIXED)
)


@given(leaked)
def test_messages_that_quote_the_data_are_replaced(column: str) -> None:
    templates = [
        f"no timestamp column (one of timestamp, Datetime, date) in [{column!r}, 'b']",
        f"cannot parse CSV: Error tokenizing data. C error: saw {column}",
        f"unparsable CSV: {column}",
        f"no target column 'value' in [{column!r}]",
        f"no numeric values in target column {column!r}",
        f"unparsable timestamps in column {column!r}",
        f"covariates [{column!r}] not in the data (columns: ['value'])",
        f"training crashed: ValueError: could not convert string to float: {column!r}",
        f"lightgbm training failed: {column}",
        f"Traceback (most recent call last):\n  File x\nValueError: {column}",
    ]
    for raw in templates:
        shown = job_errors.public_training_error(raw, JOB)
        assert column not in shown, raw
        assert len(shown) <= 120


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (
            "no timestamp column (one of timestamp, Datetime, date) in ['secret-col']",
            "training data has no timestamp column",
        ),
        (
            "CSV has no timestamp column (timestamp, Datetime or date)",
            "training data has no timestamp column",
        ),
        ("cannot parse CSV: line 1 'root:x:0:0'", "training data is not a readable CSV"),
        ("training crashed: RuntimeError: boom in training", f"training failed (see worker log, job {JOB})"),
    ],
)
def test_replacements(raw: str, shown: str) -> None:
    assert job_errors.public_training_error(raw, JOB) == shown


@pytest.mark.parametrize(
    "raw",
    [
        "too few rows: 12 usable, at least 50 needed",
        "too little data: 40 rows, need at least 202",
        "too little data: 300 rows at step 15min, lightgbm needs at least 900 rows",
        "cannot infer the series step: fewer than two distinct timestamps",
        "autoencoder needs at least 105 points, got 40",
        "unknown model type 'nope'; choose from lsq",
        "unknown model type 'prophet'; choose one of lightgbm, tide",
        "params.season must be a positive integer",
        "param n_epochs must be > 0, got -1",
        "param threads must be at most 8, got 1000",
        "unknown params for lightgbm: ['n_trees']; allowed: ['horizon', 'lags']",
        "horizon must be an integer in 1..1000, got 0",
    ],
)
def test_messages_from_counts_and_the_request_are_kept(raw: str) -> None:
    assert job_errors.public_training_error(raw, JOB) == raw


def test_the_raw_text_goes_to_the_worker_log_with_the_job_id(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="stream_app.lifecycle.job_errors"):
        shown = job_errors.public_training_error("no target column 'value' in ['pw=hunter2']", JOB)
    assert shown == "training data has no target column"
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and str(JOB) in record.getMessage()
    assert "pw=hunter2" in record.getMessage()  # (the log handler's redactor masks credentials)


def run_child(tmp_path: Path, data: Path, **params: object) -> list[tuple[object, ...]]:
    q: queue.Queue[tuple[object, ...]] = queue.Queue()
    child.run(
        "tests.integration.lsq_backend",
        str(data),
        {"model_type": "lsq", "params": params},
        str(tmp_path / "bundle"),
        None,
        0.2,
        q,
        threading.Event(),
    )
    return [q.get_nowait() for _ in range(q.qsize())]


def test_a_crash_sends_its_traceback_as_a_detail_never_as_a_job_log_line(tmp_path: Path) -> None:
    data = tmp_path / "steel.csv"
    pd.read_csv(DATA_DIR / "energy" / "steel_industry_2018_15min.csv", nrows=7 * 96).to_csv(data, index=False)
    messages = run_child(tmp_path, data, crash="raise")
    logs = [m[1] for m in messages if m[0] == "log"]
    details = [m[1] for m in messages if m[0] == "detail"]
    assert not any("Traceback" in str(line) or "boom" in str(line) for line in logs), logs
    assert any("Traceback" in str(d) and "boom in training" in str(d) for d in details)


def test_the_runner_logs_details_and_never_forwards_them(caplog: pytest.LogCaptureFixture) -> None:
    q: queue.Queue[tuple[object, ...]] = queue.Queue()
    for msg in (("log", "stage 1"), ("detail", "Traceback ... SECRET-ROW"), ("error", "x"), ("usage", {})):
        q.put(msg)
    forwarded: list[str] = []

    async def on_log(line: str) -> None:
        forwarded.append(line)

    async def on_progress(pct: float, message: str) -> None:
        return None

    with caplog.at_level(logging.WARNING, logger="stream_app.lifecycle.runner"):
        out = asyncio.run(runner._drain(q, on_progress, on_log, settle=True, job_id=str(JOB)))
    assert forwarded == ["stage 1"]
    assert out == [("error", "x"), ("usage", {})]
    assert any("SECRET-ROW" in r.getMessage() and str(JOB) in r.getMessage() for r in caplog.records)
