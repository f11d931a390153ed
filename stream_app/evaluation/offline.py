"""Offline detection: run the streaming detector causally over a CSV file (same code path as the worker).

The output has NAB's results format ``timestamp,value,anomaly_score,label`` (label = 1 when flagged).
Late and duplicate rows (see the ordering policy in ``stream_app.core.online``) are never flagged and
get ``anomaly_score = 0`` so that a threshold sweep cannot turn them into detections either; so do
readings that repeat an alarm (``Verdict.novel`` false: the asset had a score at least as high within
``repeat_window_s``), because a detection is an alarm raised, not an alarm held.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from schemas.errors import DataError
from stream_app.core.online import OnlineDetector, OnlineParams
from stream_app.core.types import Verdict


@dataclass(frozen=True, slots=True)
class Series:
    """A univariate series as read from a file: raw timestamp text, epoch seconds, values."""

    stamps: list[str]
    epoch: np.ndarray
    values: np.ndarray


def read_series(path: Path, value_col: str = "value", time_col: str = "timestamp") -> Series:
    """Read a CSV in file order (no sorting: the detector must see what a stream would)."""
    try:
        df = pd.read_csv(path, dtype={time_col: str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    missing = [c for c in (value_col, time_col) if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(df.columns)}")
    stamps = df[time_col].astype(str).tolist()
    try:
        parsed = pd.to_datetime(df[time_col], utc=True)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: unparseable timestamps in column {time_col!r}: {exc}") from exc
    if parsed.isna().any():
        raise DataError(f"{path}: empty timestamps in column {time_col!r}")
    epoch = (parsed.astype("int64") // 10**6).to_numpy(dtype=float) / 1000.0
    values = pd.to_numeric(df[value_col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{path}: {int(bad.sum())} non-numeric value(s) in column {value_col!r}")
    return Series(stamps, epoch, values)


def detect_series(
    epoch: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray, params: OnlineParams
) -> list[Verdict]:
    """Score every reading in order with a fresh state, exactly as one asset in the worker."""
    detector = OnlineDetector(params)
    state = detector.new_state()
    score = detector.score_one
    return [
        score(state, t, v)
        for t, v in zip(np.asarray(epoch).tolist(), np.asarray(values).tolist(), strict=True)
    ]


def verdict_score(v: Verdict) -> float:
    """The NAB anomaly score of a verdict: its score when it raises an alarm candidate, else 0.

    Late and duplicate readings, and a repeated alarm (an equal or higher score within the repeat
    window), are not new detections."""
    return v.score if v.status == "scored" and v.novel and math.isfinite(v.score) else 0.0


def result_rows(series: Series, verdicts: Iterable[Verdict]) -> list[tuple[str, float, float, int]]:
    return [
        (stamp, v.value, verdict_score(v), 1 if v.is_anomaly else 0)
        for stamp, v in zip(series.stamps, verdicts, strict=True)
    ]


def write_results(path: Path, rows: Iterable[tuple[str, float, float, int]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["timestamp", "value", "anomaly_score", "label"])
        for stamp, value, score, label in rows:
            out.writerow([stamp, repr(value), f"{score:.9f}", label])
    tmp.replace(path)


def detect_file(
    src: Path, dst: Path, params: OnlineParams, value_col: str = "value", time_col: str = "timestamp"
) -> int:
    """Detect over one CSV and write NAB-format results; returns the number of flagged rows."""
    series = read_series(src, value_col, time_col)
    verdicts = detect_series(series.epoch, series.values, params)
    rows = result_rows(series, verdicts)
    write_results(dst, rows)
    return sum(r[3] for r in rows)
