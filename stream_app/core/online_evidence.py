"""Evidence beyond one residual (reverted excursions, flatlines) and the words for a verdict.

A single reading's residual is a weak signal on jumpy load curves (machines switch on and off), so
the detector also asks how improbable the recent *pattern* is, as a tail probability that it turns
into a score ``1 - p`` and compares with the point score.
"""

from __future__ import annotations

from stream_app.core import online_stats as st
from stream_app.core.types import AnomalyType
from stream_app.core.window import AssetState

MIN_REPEAT_P = 0.02  # never call a 3-reading repeat impossible
MIN_CONT = 0.05  # floor of the repeat-continuation probability
SHIFT_RATIO = 3.0  # recent volatility / usual volatility that makes a flagged reading a pattern shift


def flat_tail(state: AssetState, target: int, run: float) -> float:
    """P(a run of ``run`` exact repeats) = P(start) * P(continue)^(run - 1), at this time of day.

    Around the same phase (+-2 readings) in the previous seasons held in the ring it counts how often
    a repeat starts and continues (shrunk towards the series-wide ``P_SAME`` and ``P_CONT``); if a run
    at least this long happened there (or, without a season, lately: ``RUN_LONG``) the run is normal
    and the tail is 1.  Only called while a run is in progress, so its cost is rare.
    """
    s = state.stats
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
                rep = vals[a % w] == vals[(a - 1) % w]
                if vals[(a - 1) % w] == vals[(a - 2) % w]:
                    repeats += 1
                    conts += rep
                    if rep and a - need >= oldest:  # as long a run here already? then this one is normal
                        x = vals[a % w]
                        if all(vals[(a - i) % w] == x for i in range(2, need + 1)):
                            return 1.0
                else:
                    fresh += 1
                    starts += rep
        p = (starts + 2.0 * p_all) / (fresh + 2.0)
        c = (conts + 2.0 * c_all) / (repeats + 2.0)
    p = p if p > MIN_REPEAT_P else MIN_REPEAT_P
    c = c if c > MIN_CONT else MIN_CONT
    return p * c ** (run - 1.0)


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


def _size(value: float, expected: float) -> str:
    diff = abs(value - expected)
    if abs(expected) > 1e-9 and diff / abs(expected) < 100.0:
        return f"{diff / abs(expected):.0%}"
    return f"{diff:.3g}"


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

    ``which`` names the evidence that won: "point", "transient" or "flat"; ``count`` is the number of
    consecutive flagged readings deviating the same way (or of identical readings for "flat"),
    ``shift_ratio`` recent volatility over the usual one, ``prev`` the (value, expected) of the
    reverted reading for "transient".
    """
    if which == "flat":
        return "flatline", f"Value unchanged for {count} readings"
    if shift_ratio >= SHIFT_RATIO:
        return "pattern_shift", f"Fluctuations {shift_ratio:.1f}x larger than usual"
    if which == "transient" and prev is not None:
        pv, pe = prev
        if pv >= pe:
            return "spike", f"Previous reading exceeded predicted value by {_size(pv, pe)} and fell back"
        return "dip", f"Previous reading was below expected value by {_size(pv, pe)} and recovered"
    size = _size(value, expected)
    if count >= 2:
        if up:
            return "sustained_high", f"Above expected value for {count} readings (by {size})"
        return "sustained_low", f"Below expected value for {count} readings (by {size})"
    if up:
        return "spike", f"Exceeds predicted value by {size}"
    return "dip", f"Below expected value by {size}"
