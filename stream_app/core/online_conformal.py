"""Conformal evidence: how often the asset's own recent history (the ring) did something as extreme.

A pattern statistic of the newest readings is ranked among the same statistic at every reading still
held in the ring; the p-value ``(1 + #{ring readings at least as extreme}) / (1 + #{ring readings})``
is exact when the readings are exchangeable, needs no model of the (autocorrelated, regime-switching)
noise and adapts as the ring rolls.  With a ring of 672 readings the smallest p-value is ~0.0015,
below the default 0.996 threshold.  Only the tail is used: a p-value above ``stop`` is reported as 1
(no evidence), so in the bulk the verdict keeps the calibrated point score.

* :func:`excursion_p`: a one-reading excursion (spike or drop-out) that the next reading undid,
  judged by its depth ``max(|b|+f, |m|+f) / min(|b|+f, |m|+f)`` against the nearer neighbour ``m``
  (a drop-out to a tenth and a tenfold spike are equally deep; ``f`` keeps values near zero sane).
* :func:`drop_p`: a level drop held for three readings, ``(max of the last three + f) / (min of
  the two before + f)``, ranked only among ring readings whose level before was similar (a Mondrian
  split: a plant's load halving is routine while it runs and unheard of while it idles), or by the
  share of ring stretches whose highest reading is as low (a drop to a level never held).  Flagged
  stretches are left out of the reference: earlier anomalies do not make a new one normal.
* :func:`run_p`: a run of exact repeats, among ring readings at a similar level (a quantised meter
  idling near zero repeats itself often, a running machine almost never).

The scans are vectorised (numpy over the ring, ~10-20 us); the callers gate them so they run rarely.
"""

from __future__ import annotations

import numpy as np

from stream_app.core import online_stats as st
from stream_app.core.window import AssetState

SIMILAR = 2.0  # level class of :func:`drop_p`: levels within this factor of the current one
# Ties are ties up to rounding: patterns that are equal in exact arithmetic (a square wave's
# edges) must rank equal after an offset or a rescaling has rounded their last bits differently.
TIE = 1.0 - 1e-9
TIE_UP = 1.0 + 1e-9
MIN_FLOOR = 1e-300  # the floor when the series has no typical level yet (ratios stay finite)
NO_CUT = 1.7976931348623157e308  # "no excursion is deep enough" (finite: the state holds no infinities)
CONFORMAL_STOP = 0.02  # conformal p-values above this are no evidence (keeps the bulk calibrated)
DROP_GATE = 0.8  # drops shallower than this (ratio of levels) are not scanned (cost only)
LOW_MIN_REF = 96  # normal k-reading stretches needed before "lowest held level" counts as evidence
REFRESH = 96  # readings between refreshes of the cached excursion depth cut


def pattern_evidence(
    state: AssetState, value: float, floor: float, base: float = 0.0
) -> tuple[float, str, float]:
    """(smallest p-value, "transient" or "drop", level before the drop) for the reading ``value``.

    The excursion scan runs only for excursions deeper than the cached cut ``EXC_CUT`` (refreshed
    every ``REFRESH`` readings), the drop scan only when the last three readings lie more than
    ``1 - DROP_GATE`` below the two before.  The drop gate looks at the readings alone, not at the
    residual: by the third reading of a drop the expectation has followed it part of the way (the
    level predictors learn), so "below its expectation" would miss the drops that matter.
    Needs at least five readings in the ring (``state.seq >= 4``).  Levels are measured from
    ``base`` (the ring's lowest value), so adding a constant to a series changes no p-value.
    """
    s = state.stats
    vals = state.values
    w = state.window_size
    seq = state.seq
    best, which, drop_base = 1.0, "point", float("nan")
    b, v1 = vals[seq % w], vals[(seq - 1) % w]
    refresh = not (seq + 1) % REFRESH
    if not state.flags[seq % w] and (refresh or (b - v1) * (b - value) > 0.0):  # refresh or extreme
        depth = excursion_depth(b - base, v1 - base, value - base, floor)
        if refresh or depth > s[st.EXC_CUT]:
            best, s[st.EXC_CUT] = excursion_p(state, value, floor, CONFORMAL_STOP, base)
            which = "transient"
    top = value if value > b else b
    top = top if top > v1 else v1
    b1, b2 = vals[(seq - 3) % w], vals[(seq - 2) % w]
    low = b1 if b1 < b2 else b2
    if top - base + floor < DROP_GATE * (low - base + floor):
        pd = drop_p(state, value, floor, CONFORMAL_STOP, base=base)
        if pd < best:
            best, which, drop_base = pd, "drop", low
    return best, which, drop_base


def ordered_values(state: AssetState, extra: float | None = None) -> np.ndarray:
    """The ring's values oldest first (a copy), with ``extra`` appended when given."""
    vals = np.frombuffer(state.values, dtype=np.float64)
    n = state.seq + 1
    w = state.window_size
    if n < w:
        parts = [vals[:n]]
    else:
        start = n % w
        parts = [vals[start:], vals[:start]]
    if extra is not None:
        parts.append(np.array([extra]))
    return np.concatenate(parts)


def ordered_flags(state: AssetState, extra: bool = False) -> np.ndarray:
    """The ring's flagged bits oldest first (aligned with :func:`ordered_values`), ``extra`` appended."""
    flags = np.frombuffer(state.flags, dtype=np.uint8)
    n = state.seq + 1
    w = state.window_size
    parts = [flags[:n]] if n < w else [flags[n % w :], flags[: n % w]]
    parts.append(np.array([1 if extra else 0], dtype=np.uint8))
    return np.concatenate(parts).astype(bool)


def excursion_p(
    state: AssetState, value: float, floor: float, stop: float, base: float = 0.0
) -> tuple[float, float]:
    """(p-value of the newest ring reading's excursion undone by ``value``, depth cut).

    The depth cut is the depth an excursion must exceed for a p-value <= ``stop`` under the current
    ring (``inf`` while the ring is too short): callers skip the scan for shallower excursions.
    """
    f = floor if floor > 0.0 else MIN_FLOOR
    v = ordered_values(state, value) - base
    if len(v) < 4:
        return 1.0, NO_CUT
    x, y, z = v[:-2], v[1:-1], v[2:]
    up = (y > x) & (y > z)
    dn = (y < x) & (y < z)
    m = np.where(up, np.maximum(x, z), np.minimum(x, z))
    hi = np.abs(y) + f
    lo = np.abs(m) + f
    with np.errstate(over="ignore"):  # a depth beyond the largest float is infinitely deep
        depth = np.maximum(hi / lo, lo / hi)
    depth[~(up | dn)] = 0.0
    d = float(depth[-1])  # the candidate: the newest ring reading, its right neighbour is ``value``
    ref = depth[:-1]
    n = len(ref)
    allowed = int(stop * (n + 1)) - 1  # reference depths >= d that still leave p <= stop
    cut = float(np.partition(ref, n - allowed - 1)[n - allowed - 1]) if 0 <= allowed < n else NO_CUT
    if not up[-1] and not dn[-1]:
        return 1.0, cut
    p = (1.0 + float(np.count_nonzero(ref >= d * TIE))) / (n + 1.0)
    return (p if p <= stop else 1.0), cut


def excursion_depth(b: float, a: float, value: float, floor: float) -> float:
    """Depth of the excursion of ``b`` between ``a`` and ``value`` (0 when it is not one)."""
    if b > a and b > value:
        m = a if a > value else value
    elif b < a and b < value:
        m = a if a < value else value
    else:
        return 0.0
    f = floor if floor > 0.0 else MIN_FLOOR
    hi = (b if b >= 0 else -b) + f
    lo = (m if m >= 0 else -m) + f
    return hi / lo if hi > lo else lo / hi


def drop_p(
    state: AssetState, value: float, floor: float, stop: float, k: int = 3, base: float = 0.0
) -> float:
    """p-value of the ``k``-reading level drop ending with ``value``, levels measured from ``base``."""
    f = floor if floor > 0.0 else MIN_FLOOR
    v = ordered_values(state, value) - base
    n_all = len(v)
    if n_all < 16:
        return 1.0
    j = k + 2  # readings per pattern: two before, k after
    lows = np.minimum(v[: n_all - j + 1], v[1 : n_all - j + 2]) + f
    top = v[2 : n_all - j + 3]
    for i in range(3, j):
        top = np.maximum(top, v[i : n_all - j + 1 + i])
    top = top + f
    b_now, t_now = float(lows[-1]), float(top[-1])
    if b_now <= 0.0 or t_now <= 0.0:
        return 1.0
    ratio = t_now / b_now
    ref_b, ref_t = lows[:-1], top[:-1]
    similar = (ref_b >= b_now / SIMILAR) & (ref_b <= b_now * SIMILAR)
    # the reference is normal history: drops that were flagged (anomalies) do not make this one normal
    flagged = ordered_flags(state)
    hit = flagged[2 : n_all - j + 3].copy()
    for i in range(3, j):
        hit |= flagged[i : n_all - j + 1 + i]
    normal = ~hit[:-1]
    similar &= normal
    n = int(np.count_nonzero(similar))
    count = int(np.count_nonzero(similar & (ref_t <= ratio * TIE_UP * ref_b)))
    p = (1.0 + count) / (1.0 + n)
    # ... or a drop to a level the ring has never held for k readings (an idling plant that halves
    # its idle load): the share of normal k-reading stretches whose highest reading is as low
    n_low = int(np.count_nonzero(normal))
    if n_low >= LOW_MIN_REF:
        p_low = (1.0 + float(np.count_nonzero(normal & (ref_t <= t_now * TIE_UP)))) / (1.0 + n_low)
        p = p if p < p_low else p_low
    return p if p <= stop else 1.0


def run_p(state: AssetState, value: float, run: int, floor: float, stop: float, base: float = 0.0) -> float:
    """p-value of ``run`` exact repeats ending with ``value``, among ring readings at a similar level.

    A quantised meter idling near zero repeats itself all the time; a running machine almost never
    does, so the reference is the ring readings whose value is within a factor ``SIMILAR`` of this
    one (a Mondrian split), and the share of them that ended a run at least as long.
    """
    f = floor if floor > 0.0 else MIN_FLOOR
    v = ordered_values(state, value) - base
    if len(v) < 16 or run < 1 or run >= len(v) - 1:
        return 1.0
    rep = v[1:] == v[:-1]  # rep[i]: v[i + 1] repeats v[i]
    ended = rep[run - 1 :].copy()
    for k in range(1, run):
        ended &= rep[run - 1 - k : len(rep) - k]
    # ended[j]: the reading v[j + run] ended a run of >= run repeats
    lv = np.abs(v[run:]) + f
    a = abs(value - base) + f
    similar = (lv >= a / SIMILAR) & (lv <= a * SIMILAR)
    similar[-1] = False  # this reading is the candidate
    n = int(np.count_nonzero(similar))
    count = int(np.count_nonzero(similar & ended))
    p = (1.0 + count) / (1.0 + n)
    return p if p <= stop else 1.0
