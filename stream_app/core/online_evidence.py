"""Evidence beyond one residual (reverted excursions, flatlines) and the words for a verdict.

A single reading's residual is a weak signal on jumpy load curves (machines switch on and off), so
the detector also asks how improbable the recent *pattern* is, as a tail probability that it turns
into a score ``1 - p`` and compares with the point score.
"""

from __future__ import annotations

import math
from array import array

from stream_app.core import online_conformal as cf
from stream_app.core import online_stats as st
from stream_app.core.reasons import deviation, point_reason
from stream_app.core.types import AnomalyType
from stream_app.core.window import AssetState

MIN_REPEAT_P = 0.02  # never call a 3-reading repeat impossible
MIN_CONT = 0.05  # floor of the repeat-continuation probability
SHIFT_RATIO = 3.0  # recent volatility / usual volatility that makes a flagged reading a pattern shift


A_SAME = 1.0 / 200  # rate of the repeat statistics
N_RATE = int(1.0 / A_SAME)  # repeat statistics use a running mean until this many readings
RUN_DECAY = 1.0 - 1.0 / 2000  # memory of the longest run


def flat_evidence(
    state: AssetState, target: int, value: float, prev_value: float, floor: float, base: float = 0.0
) -> tuple[float, float]:
    """(tail probability of the current run of exact repeats, run length) and learn the repeat stats.

    P(run of r repeats) = P(start) * P(continue)^(r-1) at this time of day and level
    (:func:`flat_tail`), or the conformal share of ring readings at a similar level that ended as long
    a run (``online_conformal.run_p``), whichever is smaller.  Both learn from every reading, so a
    meter that legitimately holds its value (idle at zero) stops alarming after a while;
    ``RUN_SAME < 0`` marks a run that has already been reported (one alarm per run: the caller
    negates it when it flags).
    """
    s = state.stats
    prev_signed = s[st.RUN_SAME]
    prev_run = prev_signed if prev_signed >= 0.0 else -prev_signed
    same = value == prev_value
    run_same = prev_run + 1.0 if same else 0.0
    s[st.RUN_SAME] = -run_same if same and prev_signed < 0.0 else run_same
    pf = 1.0
    if run_same >= 2.0 and prev_signed >= 0.0:
        pf = flat_tail(state, target, run_same, value, floor, base)
        pr = cf.run_p(state, value, int(run_same), floor, cf.CONFORMAL_STOP, base)
        pf = pf if pf < pr else pr
    s[st.RUN_LONG] *= RUN_DECAY
    if not same and prev_run > s[st.RUN_LONG]:
        s[st.RUN_LONG] = prev_run
    rate = 1.0 / target if target < N_RATE else A_SAME
    if prev_run >= 1.0:
        s[st.P_CONT] += rate * ((1.0 if same else 0.0) - s[st.P_CONT])
    else:
        s[st.P_SAME] += rate * ((1.0 if same else 0.0) - s[st.P_SAME])
    return pf, run_same


def flat_tail(
    state: AssetState, target: int, run: float, value: float, floor: float, base: float = 0.0
) -> float:
    """P(a run of ``run`` exact repeats) = P(start) * P(continue)^(run - 1), at this time of day.

    Around the same phase (+-2 readings) in the previous seasons held in the ring, among the readings
    at a similar level (within a factor ``online_conformal.SIMILAR`` of ``value``, ``floor`` added to
    both: exact repeats are common when a quantised meter idles, rare when a machine runs), it counts
    how often a repeat starts and continues (shrunk towards the series-wide ``P_SAME`` and
    ``P_CONT``); if a run at least this long happened there (or, without a season, lately:
    ``RUN_LONG``) the run is normal and the tail is 1.  Only called while a run is in progress, so
    its cost is rare.
    """
    s = state.stats
    level = value - base
    level = level if level >= 0 else -level
    p_all, c_all = s[st.P_SAME], s[st.P_CONT]
    m = int(s[st.SEASON])
    if m <= 0 or target < 2 * m:
        if run <= s[st.RUN_LONG]:
            return 1.0
        p, c = p_all, c_all
    else:
        w = state.window_size
        vals = state.values
        oldest = target - w + 1 if target >= w else 0
        need = int(run)
        starts = fresh = conts = repeats = 0
        for j in range(1, 8):
            for d in (-2, -1, 0, 1, 2):
                a = target - j * m + d
                if a - 2 < oldest or a > target - 1:
                    continue
                x = vals[a % w]
                ax = x - base
                ax = ax if ax >= 0 else -ax
                if cf.SIMILAR * ax + floor < level or cf.SIMILAR * level + floor < ax:
                    continue  # another regime (idle vs running): its repeats say nothing about this level
                rep = x == vals[(a - 1) % w]
                if vals[(a - 1) % w] == vals[(a - 2) % w]:
                    repeats += 1
                    conts += rep
                    # as long a run here already (at a similar level)? then this one is normal
                    if rep and a - need >= oldest and all(vals[(a - i) % w] == x for i in range(2, need + 1)):
                        return 1.0
                else:
                    fresh += 1
                    starts += rep
        p = (starts + 2.0 * p_all) / (fresh + 2.0)
        c = (conts + 2.0 * c_all) / (repeats + 2.0)
    p = p if p > MIN_REPEAT_P else MIN_REPEAT_P
    c = c if c > MIN_CONT else MIN_CONT
    return p * c ** (run - 1.0)


# Extremeness: how far a value lies from the asset's long-run level, in long-run deviations
# (``EXT_M``, ``EXT_D``: EW mean and mean absolute deviation over ~EXT_N readings), calibrated by its
# own decayed histogram (as the residuals', ``online_stats.X_HIST``).  A one-step residual misses what
# the predictors have already followed (a surge that builds over a few readings, a level that creeps
# to a never-seen height); the long-run view sees it.  Only its tail counts (``EXT_STOP``), and it is
# combined with the reading's point tail probability by Fisher's method, so a value that is extreme
# but expected (a plant's daily peak) is not an anomaly by itself.  EXT_STOP was chosen by the
# leave-one-category-out check on NAB (docs/detector-results.md); EXT_N (v4: 2000, untuned) in v5, with
# the level-shift spans, from {2000, 10000} by the same check (docs/detector-v5.md).
EXT_N = 10000.0
EXT_STOP = 0.005
EXT_WARM = 16  # readings before the deviation enters the histogram


def extreme_evidence(s: array, value: float, p_point: float) -> float:
    """Fisher's combination of the extremeness tail probability and ``p_point`` (1 = no evidence)."""
    d = s[st.EXT_D]
    if d <= 0.0:
        return 1.0
    dev = value - s[st.EXT_M]
    zx = (dev if dev >= 0 else -dev) / d
    px = st.tail_prob(s, zx, st.X_HIST, st.X_TAIL)
    if px > EXT_STOP:
        return 1.0
    q = px * p_point
    return q * (1.0 - math.log(q)) if q > 0.0 else 0.0


def learn_extreme(s: array, value: float, target: int) -> None:
    """Update the long-run level, deviation and extremeness histogram with every in-order reading."""
    dev = value - s[st.EXT_M]
    ad = dev if dev >= 0 else -dev
    d = s[st.EXT_D]
    if d > 0.0 and target > EXT_WARM:
        st.hist_add(s, ad / d, st.X_HIST, st.X_W, st.X_TAIL)
    if target < 2:
        s[st.EXT_M] = value
        return
    ra = 1.0 / target if target < EXT_N else 1.0 / EXT_N
    s[st.EXT_M] += ra * dev
    s[st.EXT_D] += ra * (ad - d)


# Level shifts (v5): the mean of the recent readings (EW over ~SPAN readings) against the long-run
# level, in long-run deviations (``EXT_M``, ``EXT_D``), calibrated by its own decayed histogram.  A
# slide or a new level that the one-step predictors follow reading by reading (a machine cooling over
# hours, a service settling at a new load) is improbable as a sustained mean even when no single
# reading is.  Its tail probability is Fisher-combined with the reading's best other tail probability
# and multiplied by ``SPAN_WEIGHT``; only its tail counts (``SPAN_STOP``).  The constants were chosen
# with the leave-one-category-out check on NAB among those that pass the property suite (an idle
# meter's bursts: SPAN 32 with SPAN_STOP 0.02 flags 2.04 %, over the 2 % bar): docs/detector-v5.md.
# v6: SPAN_WEIGHT 1 -> 0.5 (the combined tail probability counts half its value), and the span only
# supports a reading whose best other tail probability is itself at most SPAN_OTHER_STOP (the stop of
# the conformal evidence and of the span itself). Without that rule a weight of 0.5 let the span, long
# after a permanent step had been accepted, turn an ordinary reading surprising the other way into an
# alarm (a +60 % step: one more flag 117 readings later). Chosen by the leave-one-category-out check among
# candidates that pass the property suite, the unit tests and the steel constraint (docs/detector-v6.md).
SPAN = 96  # readings (0: off)
SPAN_WEIGHT = 0.5
SPAN_OTHER_STOP = 0.02
SPAN_STOP = 0.02  # only the tail counts (as EXT_STOP): the bulk of the scores stays calibrated


def span_update(s: array, value: float, target: int) -> None:
    """Move the span mean towards ``value`` (every in-order reading, before its evidence)."""
    if target < 2:
        s[st.SPAN_M] = value
    elif SPAN > 0:
        a = 1.0 / target if target < SPAN else 1.0 / SPAN
        s[st.SPAN_M] += a * (value - s[st.SPAN_M])


def span_evidence(s: array, value: float, p_other: float) -> float:
    """Weighted Fisher combination of the span mean's tail probability with ``p_other`` (1: none).

    Only while ``value`` lies at or beyond the span mean, on its side of the long-run level: a level
    that is still away, not the echo of a burst that has already ended (an idle meter's bursts); and
    only when ``p_other`` is itself in the tail (``SPAN_OTHER_STOP``, v6).
    """
    d = s[st.EXT_D]
    if d <= 0.0 or SPAN <= 0:
        return 1.0
    m = s[st.EXT_M]
    dev = s[st.SPAN_M] - m
    if dev == 0.0 or (value - m) / dev < 1.0:  # not (still) at or beyond the span mean
        return 1.0
    if p_other > SPAN_OTHER_STOP:  # (v6) the reading must be in the tail of its own evidence too
        return 1.0
    px = st.tail_prob(s, (dev if dev >= 0 else -dev) / d, st.SPAN_HIST, st.SPAN_TAIL)
    if px > SPAN_STOP:
        return 1.0
    q = px * p_other
    return SPAN_WEIGHT * q * (1.0 - math.log(q)) if q > 0.0 else 0.0


def span_learn(s: array, target: int) -> None:
    """Add this reading's span deviation to its histogram (after its evidence)."""
    d = s[st.EXT_D]
    if d <= 0.0 or target <= EXT_WARM or SPAN <= 0:
        return
    dev = s[st.SPAN_M] - s[st.EXT_M]
    st.hist_add(s, (dev if dev >= 0 else -dev) / d, st.SPAN_HIST, st.SPAN_W, st.SPAN_TAIL)


def recent_volatility(state: AssetState, value: float, k: int = 8) -> float:
    """3rd largest |one-step change| over the last ``k`` readings incl. ``value`` (for flagged readings).

    Compared with the long-run residual scale it tells a burst of volatility (pattern shift) from a
    single spike or a level step.
    """
    w = state.window_size
    vals = state.values
    i = state.seq
    n = min(k - 1, i)
    changes = [abs(value - vals[i % w])]
    changes += [abs(vals[(i - j) % w] - vals[(i - j - 1) % w]) for j in range(n)]
    changes.sort()
    return changes[-3] if len(changes) >= 3 else 0.0  # 3rd largest: one spike makes only two


def describe(
    which: str,
    up: bool,
    value: float,
    expected: float,
    count: int,
    shift_ratio: float,
    prev: tuple[float, float] | None = None,
) -> tuple[AnomalyType, str]:
    """Kind and plain-words reason of a flagged reading.

    ``which`` names the evidence that won: "point", "transient", "drop" or "flat"; ``count`` is the
    number of consecutive flagged readings deviating the same way (or of identical readings for
    "flat"), ``shift_ratio`` recent volatility over the usual one, ``prev`` the (value, expected) of
    the reverted reading for "transient" and (value, level before) for "drop".
    """
    if which == "flat":
        return "flatline", f"Value unchanged for {count} readings"
    if which == "drop" and prev is not None:
        return "sustained_low", f"Dropped {deviation(prev[0], prev[1])} below the level before for 3 readings"
    if shift_ratio >= SHIFT_RATIO:
        return "pattern_shift", f"Fluctuations {shift_ratio:.1f}x larger than usual"
    if which == "transient" and prev is not None:
        pv, pe = prev
        if pv >= pe:
            return "spike", f"Previous reading exceeded predicted value by {deviation(pv, pe)} and fell back"
        return "dip", f"Previous reading was below expected value by {deviation(pv, pe)} and recovered"
    size = deviation(value, expected)
    if count >= 2:
        if up:
            return "sustained_high", f"Above expected value for {count} readings (by {size})"
        return "sustained_low", f"Below expected value for {count} readings (by {size})"
    return ("spike" if up else "dip"), point_reason(value, expected)
