"""Multi-step forecasts from the online detector's state (pure, the state is not modified)."""

from __future__ import annotations

import math
from collections.abc import Callable

from stream_app.core import online_stats as st
from stream_app.core.types import ForecastPoint
from stream_app.core.window import AssetState

TINY = 1e-12
Preds = tuple[float, float, float, float]


def combined_error(errs: Preds, infl: Preds, preds: Preds) -> float:
    """Error of the inverse-variance weighted combination of the available predictors."""
    inv = 0.0
    for e, f, p in zip(errs, infl, preds, strict=True):
        if e >= 0 and p == p:
            inv += 1.0 / ((e * f) ** 2 + TINY)
    return 1.0 / math.sqrt(inv) if inv > 0 else 0.0


def forecast(
    state: AssetState, horizon: int, level: float, predict: Callable[[AssetState, int], Preds]
) -> list[ForecastPoint]:
    """Forecast ``horizon`` steps; ``predict(state, target)`` gives the four raw predictions.

    Errors of the naive and level predictors grow like sqrt(steps since the last learned value)
    (random walk) and the seasonal difference's like its fourth root, while the seasonal profile's
    does not grow; the weights follow, so far-ahead forecasts lean on the seasonal profile.  Bounds
    use the calibrated ``|z|`` quantile at ``level`` times the residual scale, widened likewise.
    """
    if horizon < 1 or state.seq < 0:
        return []
    s = state.stats
    step = s[st.STEP]
    if step <= 0:  # not inferred yet (or undecidable): use what the ring holds, so stamps still advance
        step = st.infer_step(state.ordered()[0])[0] or 1.0
    base_ts = state.newest_ts
    half0 = st.quantile(s, level) * s[st.SCALE]
    errs: Preds = (s[st.E_NAIVE], s[st.E_LEVEL], s[st.E_SDIFF], s[st.E_SMEAN])
    last_seq = s[st.LAST_SEQ]
    out: list[ForecastPoint] = []
    for h in range(1, horizon + 1):
        target = state.seq + h
        if h <= state.window_size:
            preds = predict(state, target)
        else:
            preds = (s[st.LAST], s[st.LEVEL], math.nan, math.nan)
        g = max(1.0, target - last_seq)
        infl: Preds = (math.sqrt(g), math.sqrt(g), g**0.25, 1.0)
        num = den = 0.0
        for p, e, f in zip(preds, errs, infl, strict=True):
            if p == p and e >= 0:
                wgt = 1.0 / ((e * f) ** 2 + TINY)
                num += wgt * p
                den += wgt
        value = num / den if den > 0 else s[st.LAST]
        one = combined_error(errs, (1.0, 1.0, 1.0, 1.0), preds)
        grow = combined_error(errs, infl, preds) / one if one > TINY else 1.0
        half = half0 * grow
        out.append(ForecastPoint(base_ts + h * step, value, value - half, value + half))
    return out
