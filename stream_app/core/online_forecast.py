"""Multi-step forecasts from the online detector's state (pure, the state is not modified).

One forecast per K readings of every asset is part of the streaming hot path, so the seasonal
lookups of :meth:`OnlineDetector._predict` are redone here with what does not change over the
horizon hoisted out of the loop; the arithmetic (and so every float) is the same as predicting each
step with ``_predict`` (``tests/unit/test_online_forecast.py`` checks it against that reference).
"""

from __future__ import annotations

import math

from stream_app.core import online_stats as st
from stream_app.core.types import ForecastPoint
from stream_app.core.window import AssetState

TINY = 1e-12
MAX_SEASONS = 7  # previous seasons looked at by the seasonal predictors (as ``online.MAX_SEASONS``)
NAN = math.nan


def _median(xs: list[float]) -> float:
    xs.sort()
    k = len(xs)
    h = k >> 1
    return xs[h] if k & 1 else 0.5 * (xs[h - 1] + xs[h])


def seasonal(state: AssetState, target: int) -> tuple[float, float]:
    """(seasonal difference prediction, seasonal profile) for reading ``target``, NaN when unavailable.

    The seasonal difference is the last learned value plus the median change between the same two
    phases in the previous seasons; the profile is the median of the same phase in the previous
    seasons (the seasonal profile predictor adds the learned offset).  Both need two seasons.
    """
    s = state.stats
    m = int(s[st.SEASON])
    if m <= 0 or target < 2 * m:
        return NAN, NAN
    w = state.window_size
    vals = state.values
    oldest = target - w if target > w else 0  # oldest index still in the ring (pre-push)
    a = target - m
    b = int(s[st.LAST_SEQ]) - m
    diffs: list[float] = []
    same: list[float] = []
    for _ in range(MAX_SEASONS):
        if a < oldest:
            break
        va = vals[a % w]
        same.append(va)
        if b >= oldest:
            diffs.append(va - vals[b % w])
        a -= m
        b -= m
    return (s[st.LAST] + _median(diffs) if diffs else NAN), (_median(same) if same else NAN)


def forecast(state: AssetState, horizon: int, level: float) -> list[ForecastPoint]:
    """Forecast ``horizon`` steps of the online detector's four predictors, combined.

    Errors of the naive and level predictors grow like sqrt(steps since the last learned value)
    (random walk) and the seasonal difference's like its fourth root, while the seasonal profile's
    does not grow; the weights follow, so far-ahead forecasts lean on the seasonal profile.  Bounds
    use the calibrated ``|z|`` quantile at ``level`` times the residual scale, widened likewise.
    """
    if horizon < 1 or state.seq < 0:
        return []
    if len(state.values) < state.window_size:
        # A ring still growing (window.py): phases more than a season ahead read slots not written
        # yet, which read 0.0 in a full-size ring; read them from a full-size copy, as before.
        state = state.copy()
        state.grow(state.window_size)
    s = state.stats
    step = s[st.STEP]
    if step <= 0:  # not inferred yet (or undecidable): use what the ring holds, so stamps still advance
        step = st.infer_step(state.ordered()[0])[0] or 1.0
    base_ts = state.newest_ts
    half0 = st.quantile(s, level) * s[st.SCALE]
    e_n, e_l, e_sd, e_sm = s[st.E_NAIVE], s[st.E_LEVEL], s[st.E_SDIFF], s[st.E_SMEAN]
    last, p_level, offset = s[st.LAST], s[st.LEVEL], s[st.OFFSET]
    last_seq = s[st.LAST_SEQ]
    # inverse variances of the available predictors one step ahead (uninflated)
    inv_n = 1.0 / (e_n**2 + TINY) if e_n >= 0 else 0.0
    inv_l = 1.0 / (e_l**2 + TINY) if e_l >= 0 else 0.0
    inv_sd = 1.0 / (e_sd**2 + TINY) if e_sd >= 0 else 0.0
    inv_sm = 1.0 / (e_sm**2 + TINY) if e_sm >= 0 else 0.0
    w = state.window_size
    out: list[ForecastPoint] = []
    for h in range(1, horizon + 1):
        target = state.seq + h
        if h <= w:
            p_sd, prof = seasonal(state, target)
            p_sm = prof + offset
        else:
            p_sd = p_sm = NAN
        g = max(1.0, target - last_seq)
        rg = math.sqrt(g)
        qg = g**0.25
        num = den = inv = 0.0
        # (one-step error, its inflation h steps ahead, prediction, uninflated inverse variance)
        for e, f, p, i1 in (
            (e_n, rg, last, inv_n),
            (e_l, rg, p_level, inv_l),
            (e_sd, qg, p_sd, inv_sd),
            (e_sm, 1.0, p_sm, inv_sm),  # the seasonal profile's error does not grow
        ):
            if e >= 0 and p == p:
                wt = 1.0 / ((e * f) ** 2 + TINY)
                num += wt * p
                den += wt
                inv += i1
        value = num / den if den > 0 else s[st.LAST]
        # combined error of the weighted mean: 1 / sqrt(sum of weights); its growth over one step's
        one = 1.0 / math.sqrt(inv) if inv > 0 else 0.0
        grow = (1.0 / math.sqrt(den) if den > 0 else 0.0) / one if one > TINY else 1.0
        half = half0 * grow
        out.append(ForecastPoint(base_ts + h * step, value, value - half, value + half))
    return out
