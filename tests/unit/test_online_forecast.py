"""The online forecast equals predicting each step with the detector's own one-step predictors.

``online_forecast.forecast`` hoists what does not change over the horizon out of its loop (it runs
for every asset every K readings in the stream); the reference below is the plain formulation --
``OnlineDetector._predict`` per step, then the inverse-variance combination with inflated errors --
and the two must agree to the last bit, on real data, across season inference, a full ring, a
horizon longer than a season and a ring shorter than the horizon.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from stream_app.core import online_stats as st
from stream_app.core.online import OnlineDetector, OnlineParams
from stream_app.core.types import ForecastPoint
from stream_app.core.window import AssetState
from tests.unit.test_online_data import steel

TINY = 1e-12


def _combined(errs: tuple[float, ...], infl: tuple[float, ...], preds: tuple[float, ...]) -> float:
    inv = sum(
        1.0 / ((e * f) ** 2 + TINY) for e, f, p in zip(errs, infl, preds, strict=True) if e >= 0 and p == p
    )
    return 1.0 / math.sqrt(inv) if inv > 0 else 0.0


def reference(det: OnlineDetector, state: AssetState, horizon: int) -> list[ForecastPoint]:
    if len(state.values) < state.window_size:  # a growing ring: read ahead as in a full-size one
        state = state.copy()
        state.grow(state.window_size)
    s = state.stats
    step = s[st.STEP] if s[st.STEP] > 0 else (st.infer_step(state.ordered()[0])[0] or 1.0)
    half0 = st.quantile(s, det.params.interval_level) * s[st.SCALE]
    errs = (s[st.E_NAIVE], s[st.E_LEVEL], s[st.E_SDIFF], s[st.E_SMEAN])
    out = []
    for h in range(1, horizon + 1):
        target = state.seq + h
        if h <= state.window_size:
            preds = det._predict(state, target)[3]
        else:
            preds = (s[st.LAST], s[st.LEVEL], math.nan, math.nan)
        g = max(1.0, target - s[st.LAST_SEQ])
        infl = (math.sqrt(g), math.sqrt(g), g**0.25, 1.0)
        num = den = 0.0
        for p, e, f in zip(preds, errs, infl, strict=True):
            if p == p and e >= 0:
                wgt = 1.0 / ((e * f) ** 2 + TINY)
                num += wgt * p
                den += wgt
        value = num / den if den > 0 else s[st.LAST]
        one = _combined(errs, (1.0, 1.0, 1.0, 1.0), preds)
        grow = _combined(errs, infl, preds) / one if one > TINY else 1.0
        half = half0 * grow
        out.append(ForecastPoint(state.newest_ts + h * step, value, value - half, value + half))
    return out


@pytest.mark.parametrize(
    ("window", "season", "horizon", "seasonal"),
    [(768, 0, 24, True), (768, 0, 120, True), (64, 16, 40, True), (32, 0, 48, False)],
)
def test_forecast_equals_the_step_by_step_reference(
    window: int, season: int, horizon: int, seasonal: bool
) -> None:
    ts, vs = steel(3_000)
    det = OnlineDetector(OnlineParams(window_size=window, season_length=season))
    state = det.new_state()
    compared = 0
    for i, (t, v) in enumerate(zip(ts.tolist(), vs.tolist(), strict=True)):
        det.score_one(state, t, v)
        if i % 37 == 0:
            assert det.forecast(state, horizon) == reference(det, state, horizon), f"after reading {i}"
            compared += 1
    assert compared > 50
    assert (state.stats[st.SEASON] > 0) is seasonal  # whether the seasonal predictors took part


def test_forecast_of_an_empty_state_is_empty() -> None:
    det = OnlineDetector(OnlineParams())
    assert det.forecast(det.new_state(), 24) == []
    state = det.new_state()
    det.score_one(state, 0.0, 1.0)
    assert det.forecast(state, 0) == []
    assert np.isfinite([p.value for p in det.forecast(state, 3)]).all()
