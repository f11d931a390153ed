"""Anomaly kinds, reasons and regime acceptance on a controlled daily pattern."""

from __future__ import annotations

import math

import numpy as np

from stream_app.core.online import OnlineDetector, OnlineParams
from stream_app.core.types import Verdict

DAY = 96  # 15-minute readings


def base(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    return 50 + 30 * np.sin(2 * np.pi * i / DAY) + rng.normal(0, 1.0, n)


def run(values: np.ndarray) -> list[Verdict]:
    det = OnlineDetector(OnlineParams())
    state = det.new_state()
    return [det.score_one(state, 900.0 * i, float(v)) for i, v in enumerate(values)]


def first_flag(verdicts: list[Verdict], start: int, within: int = 3) -> Verdict | None:
    return next((v for v in verdicts[start : start + within] if v.is_anomaly), None)


def test_clean_pattern_is_rarely_flagged() -> None:
    out = run(base(DAY * 10))
    assert sum(v.is_anomaly for v in out[DAY * 3 :]) <= 0.01 * DAY * 7


def test_spike_is_named_with_percentage() -> None:
    v = base(DAY * 8)
    i = DAY * 6 + 10
    v[i] *= 2.0
    hit = first_flag(run(v), i, within=1)
    assert hit is not None and hit.kind == "spike"
    assert hit.reason.startswith("Exceeds predicted value by ") and hit.reason.endswith("%")
    assert hit.value > hit.upper


def test_dip_is_found_at_once_or_when_it_reverts() -> None:
    v = base(DAY * 8)
    i = DAY * 6 + 30
    v[i] = 0.1 * v[i]
    hit = first_flag(run(v), i, within=2)
    assert hit is not None and hit.kind == "dip"
    assert "below expected value by" in hit.reason.lower()


def test_flatline_within_three_readings() -> None:
    v = base(DAY * 8)
    i = DAY * 6 + 40
    v[i : i + 12] = v[i - 1]
    out = run(v)
    hit = first_flag(out, i, within=3)
    assert hit is not None and hit.kind == "flatline"
    assert hit.reason.startswith("Value unchanged for ") and hit.reason.endswith(" readings")
    assert sum(o.kind == "flatline" for o in out[i : i + 12]) == 1  # one alarm per run


def test_sustained_shift_is_named_then_accepted() -> None:
    """A permanent +60% step: flagged, called sustained, then learned so the alarms stop."""
    v = base(DAY * 10)
    i = DAY * 6 + 20
    v[i:] *= 1.6
    out = run(v)
    flagged = [o for o in out[i:] if o.is_anomaly]
    assert out[i].is_anomaly
    assert any(o.kind == "sustained_high" for o in flagged)
    assert len(flagged) <= 12
    assert not any(o.is_anomaly for o in out[i + DAY :])
    assert math.isclose(out[-1].expected, v[-1], rel_tol=0.1)


def test_volatility_burst_is_a_pattern_shift() -> None:
    kinds = []
    for seed in range(3):
        v = base(DAY * 8, seed)
        i = DAY * 6
        v[i:] += np.random.default_rng(seed + 10).normal(0, 8.0, len(v) - i)
        kinds += [o.kind for o in run(v)[i : i + 40] if o.is_anomaly]
    assert "pattern_shift" in kinds
    assert all(k in {"pattern_shift", "spike", "dip", "sustained_high", "sustained_low"} for k in kinds)
