"""Anomalies of a whole dataset, by the autoencoder or by the streaming detector (pure).

Autoencoder (``trainers.detectors.AutoencoderDetector``, the one the training jobs save): trained on the
dataset's own standardised series (windows of ``window_hours``), then every window is scored by its
reconstruction error ``e`` relative to the median error of all windows, ``r = e / median(e)``, mapped
to ``score = r / (1 + r)`` in [0, 1): 0.5 is a typical window, the default threshold 0.85 is a window
reconstructed 5.7 times worse than the typical one (0.95: 19 times). A run of flagged windows is one
anomaly; since a window flags every row it spans, the anomaly is placed on the readings of the run's
span that stray most from the seasonal expectation (the rolling median of the same time of day over
``EXPECT_DAYS`` days): the peak is the largest deviation, start/end the first/last reading deviating
by at least half as much.

Streaming (``stream_app.core.oneshot.replay``, the code the stream runs): the readings are fed in order
into a fresh online detector; its calibrated score (on normal data P(score >= s) ~ 1 - s) and its
kinds are used as they are; the default threshold is the stream's own (``OnlineParams().threshold``).
A run of flagged readings (gaps of at most one reading) is one anomaly with the kind of its top score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from schemas.analytics import (
    ANOMALY_TYPE_DISPLAY,
    AUTOENCODER_THRESHOLD,
    MAX_ANOMALIES,
    DatasetAnomaliesParams,
    DatasetAnomaliesResult,
    DatasetAnomaly,
)
from schemas.errors import DataError
from schemas.events import AnomalyKind
from stream_app.analytics.statistics import clean, interval_hours
from stream_app.core.oneshot import replay
from stream_app.core.online import OnlineParams

EXPECT_DAYS = 29
AE_QUANTILE = 0.98  # the detector's own flag threshold (unused here: the score mapping decides)
AE_EPOCHS = 30
AE_SEED = 0
SUSTAINED_POINTS = 3
# The net is tiny (window -> 32 -> 8 -> 32 -> window): one thread trains it faster than two that wait
# on each other (a 91-day fit: 0.25 s CPU with one, 7 s with two on a loaded 2-core machine).
AE_THREADS = 1

AE_SCORE = (
    "r / (1 + r), r = the window's autoencoder reconstruction error / the median error of all windows "
    "of this dataset (0.5 = typical; 0.85 = 5.7 times the typical error)"
)
STREAM_SCORE = "the online detector's calibrated score: on normal data P(score >= s) is about 1 - s"


def expected_values(data: pd.DataFrame) -> np.ndarray:
    """Seasonal expectation of each reading: rolling median of the same time of day over EXPECT_DAYS."""
    slot = ((data.index - data.index.normalize()).total_seconds() // 60).astype(int)
    table = pd.DataFrame({"day": data.index.normalize(), "slot": slot, "value": data["value"].to_numpy()})
    wide = table.pivot_table(index="day", columns="slot", values="value", aggfunc="mean")
    med = wide.rolling(EXPECT_DAYS, center=True, min_periods=3).median()
    long = med.stack().rename("expected")
    joined = table.join(long, on=["day", "slot"])
    exp = joined["expected"].to_numpy(dtype=float)
    return np.where(np.isfinite(exp), exp, table["value"].to_numpy())


def _runs(flag: np.ndarray, gap: int = 1) -> list[tuple[int, int]]:
    """[first, last] row index of each run of flagged rows (runs split by more than ``gap`` rows)."""
    idx = np.flatnonzero(flag)
    if len(idx) == 0:
        return []
    cuts = np.flatnonzero(np.diff(idx) > gap + 1)
    starts = np.concatenate(([0], cuts + 1))
    ends = np.concatenate((cuts, [len(idx) - 1]))
    return [(int(idx[s]), int(idx[e])) for s, e in zip(starts, ends, strict=True)]


@dataclass
class _Placed:
    points_lo: int
    points_hi: int
    peak: int
    score: float
    kind: AnomalyKind


def _kind_of(values: np.ndarray, dev: np.ndarray) -> AnomalyKind:
    if len(values) >= SUSTAINED_POINTS and np.ptp(values) == 0:
        return "flatline"
    sign = np.sign(dev)
    if len(dev) >= SUSTAINED_POINTS and np.all(sign == sign[0]):
        return "sustained_high" if sign[0] > 0 else "sustained_low"
    peak = dev[int(np.argmax(np.abs(dev)))]
    return "spike" if peak > 0 else "dip"


def _anomaly(
    data: pd.DataFrame, lo: int, hi: int, peak: int, score: float, kind: AnomalyKind, expected: float | None
) -> DatasetAnomaly:
    ts = data.index
    return DatasetAnomaly(
        start=ts[lo].to_pydatetime(),
        end=ts[hi].to_pydatetime(),
        peak_at=ts[peak].to_pydatetime(),
        value_kwh=float(data["value"].iloc[peak]),
        expected_kwh=expected,
        score=float(min(max(score, 0.0), 1.0)),
        type=kind,
        type_display=ANOMALY_TYPE_DISPLAY[kind],
        points=hi - lo + 1,
    )


def _autoencoder(
    data: pd.DataFrame,
    params: DatasetAnomaliesParams,
    threshold: float,
    should_stop: Callable[[], bool] | None,
) -> tuple[list[DatasetAnomaly], int, int]:
    from trainers.detectors import AutoencoderDetector

    steps = max(1, round(params.window_hours / interval_hours(data)))
    values = data["value"].to_numpy(dtype=float)
    if len(values) < steps + 9:
        raise DataError(
            f"the autoencoder with window_hours={params.window_hours} needs at least {steps + 9} readings, "
            f"the data hold {len(values)}"
        )
    std = float(values.std())
    scaled = (values - values.mean()) / (std if std > 0 else 1.0)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(AE_THREADS)
    try:
        det = AutoencoderDetector(window=steps, quantile=AE_QUANTILE, seed=AE_SEED)
        det.fit(scaled, epochs=AE_EPOCHS, should_stop=should_stop)
        errors = det.reconstruction_errors(scaled)
    finally:
        torch.set_num_threads(threads)
    med = float(np.median(errors))
    r = errors / med if med > 0 else np.where(errors > 0, np.inf, 0.0)
    score = np.concatenate((np.zeros(steps - 1), np.where(np.isfinite(r), r / (1.0 + r), 1.0)))
    flag = score >= threshold
    expected = expected_values(data)
    dev = values - expected
    out: list[_Placed] = []
    for a, b in _runs(flag):
        lo_span = max(0, a - steps + 1)
        span_dev = dev[lo_span : b + 1]
        peak = lo_span + int(np.argmax(np.abs(span_dev)))
        strong = np.flatnonzero(np.abs(span_dev) >= 0.5 * abs(dev[peak])) + lo_span
        lo, hi = int(strong.min()), int(strong.max())
        same_side = strong[np.sign(dev[strong]) == np.sign(dev[peak])]
        kind = _kind_of(values[lo : hi + 1], dev[same_side])
        top = float(score[a : b + 1].max())
        if out and lo <= out[-1].points_hi:  # two runs placed on overlapping readings: one anomaly
            prev = out.pop()
            lo, top = min(lo, prev.points_lo), max(top, prev.score)
            if abs(dev[prev.peak]) > abs(dev[peak]):
                peak, kind = prev.peak, prev.kind
            hi = max(hi, prev.points_hi)
        out.append(_Placed(lo, hi, peak, top, kind))
    found = [
        _anomaly(data, p.points_lo, p.points_hi, p.peak, p.score, p.kind, float(expected[p.peak]))
        for p in out
    ]
    return found, len(errors), int(flag.sum())


def _streaming(data: pd.DataFrame, threshold: float) -> tuple[list[DatasetAnomaly], int, int]:
    ts = (data.index.asi8 // 10**9).astype(float)
    if len(np.unique(ts)) != len(ts):
        raise DataError("the streaming detector needs readings at least one second apart")
    _, verdicts = replay(OnlineParams(threshold=threshold), ts.tolist(), data["value"].tolist())
    flag = np.array([v.is_anomaly for v in verdicts], dtype=bool)
    scores = np.array([v.score for v in verdicts], dtype=float)
    out = []
    for a, b in _runs(flag):
        peak = a + int(np.argmax(np.where(flag[a : b + 1], scores[a : b + 1], -1.0)))
        kind = verdicts[peak].kind or "spike"
        out.append(_anomaly(data, a, b, peak, float(scores[peak]), kind, float(verdicts[peak].expected)))
    return out, len(verdicts), int(flag.sum())


def dataset_anomalies(
    frame: pd.DataFrame, params: DatasetAnomaliesParams, should_stop: Callable[[], bool] | None = None
) -> DatasetAnomaliesResult:
    """The anomalies job's result for one dataset (``should_stop`` lets a runner cancel the training)."""
    data = clean(frame, params)
    if params.method == "autoencoder":
        threshold = AUTOENCODER_THRESHOLD if params.threshold is None else params.threshold
        found, scored, flagged = _autoencoder(data, params, threshold, should_stop)
        meaning, window = AE_SCORE, params.window_hours
    else:
        threshold = OnlineParams().threshold if params.threshold is None else params.threshold
        found, scored, flagged = _streaming(data, threshold)
        meaning, window = STREAM_SCORE, None
    kept = sorted(found, key=lambda a: a.score, reverse=True)[:MAX_ANOMALIES]
    kept.sort(key=lambda a: a.peak_at, reverse=True)
    return DatasetAnomaliesResult(
        method=params.method,
        threshold=threshold,
        window_hours=window,
        points_scored=scored,
        points_flagged=flagged,
        anomalies_total=len(found),
        anomalies=kept,
        score=meaning,
    )
