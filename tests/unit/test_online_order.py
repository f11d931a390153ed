"""Ordering policy on real files: late, duplicate and in-order readings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from schemas.errors import InvalidReading
from stream_app.core.online import OnlineDetector, OnlineParams
from tests.unit.test_online_data import nab, pjm


def expected_statuses(ts: np.ndarray, vs: np.ndarray) -> tuple[int, int]:
    """(late, duplicate) counts computed independently with pandas."""
    df = pd.DataFrame({"ts": ts, "v": vs})
    prev_max = df["ts"].cummax().shift()
    is_new = df["ts"] > prev_max.fillna(-np.inf)
    newest_value = df["v"].where(is_new).ffill().shift()
    dup = (df["ts"] == prev_max) & (df["v"] == newest_value)
    late = (df["ts"] <= prev_max) & ~dup
    return int(late.sum()), int(dup.sum())


def run_statuses(ts: np.ndarray, vs: np.ndarray) -> tuple[int, int, int]:
    det = OnlineDetector(OnlineParams())
    state = det.new_state()
    counts = {"scored": 0, "late": 0, "duplicate": 0}
    for t, v in zip(ts.tolist(), vs.tolist(), strict=True):
        verdict = det.score_one(state, t, v)
        counts[verdict.status] += 1
        if verdict.status == "late":
            assert not verdict.is_anomaly
    return counts["scored"], counts["late"], counts["duplicate"]


def test_machine_temperature_jump_back() -> None:
    ts, vs = nab("machine_temperature_system_failure.csv")
    late, dup = expected_statuses(ts, vs)
    assert late + dup >= 12  # the file really jumps back
    scored, got_late, got_dup = run_statuses(ts, vs)
    assert (got_late, got_dup) == (late, dup)
    assert scored == len(ts) - late - dup


def test_pjm_mostly_out_of_order() -> None:
    ts, vs = pjm()
    late, dup = expected_statuses(ts, vs)
    assert late > len(ts) // 3
    scored, got_late, got_dup = run_statuses(ts, vs)
    assert (got_late, got_dup) == (late, dup)
    assert scored + got_late + got_dup == len(ts)


def test_late_and_duplicate_leave_state_unchanged() -> None:
    det = OnlineDetector(OnlineParams(window_size=64, warmup=8))
    state = det.new_state()
    for i in range(100):
        det.score_one(state, 60.0 * i, float(i % 5))
    before = (state.seq, list(state.stats), list(state.values), bytes(state.flags))
    dup = det.score_one(state, 60.0 * 99, float(99 % 5))
    assert dup.status == "duplicate" and dup.score == 0.0
    late = det.score_one(state, 60.0 * 50, 1000.0)  # far off, but late: scored, never flagged
    assert late.status == "late" and late.score > 0.99 and not late.is_anomaly
    same_ts = det.score_one(state, 60.0 * 99, 7.5)  # same timestamp, new value: late
    assert same_ts.status == "late"
    assert (state.seq, list(state.stats), list(state.values), bytes(state.flags)) == before
    assert det.score_one(state, 60.0 * 100, 0.0).status == "scored"
    assert state.seq == 100


@pytest.mark.parametrize("bad", [(float("nan"), 1.0), (1.0, float("inf")), (1.0, float("nan"))])
def test_non_finite_readings_are_rejected(bad: tuple[float, float]) -> None:
    det = OnlineDetector(OnlineParams())
    with pytest.raises(InvalidReading):
        det.score_one(det.new_state(), *bad)
