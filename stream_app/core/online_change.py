"""Change confirmation (v7): a two-sided Page-Hinkley test whose detections make tail readings count more.

The test runs on the reading's value scaled by the asset's running minimum and maximum,
``x = (value - lo) / (hi - lo)`` clipped to [0, 1] (0.5 while the range is empty or a single value),
so it is the same under any rescaling or constant offset of the series.  It is the Page-Hinkley test
as ``river.drift.PageHinkley(min_instances, delta, threshold, alpha, mode="both")`` computes it
(checked reading by reading against river in ``tests/unit/test_online_change.py``), written over the
fixed statistics vector (``online_stats.PH_*``) so that it lives in the state record like every other
statistic: a running mean of ``x`` and its count, the two faded cumulative sums of the deviation from
that mean and their extremes; a detection restarts the test.

For ``CONFIRM_HOLD`` readings after a detected change (the detecting reading included) the reading's
combined tail probability is multiplied by ``CONFIRM_FACTOR``: a level or regime change that the test
confirms makes the readings around it more suspicious, so a shift is flagged earlier.  It never raises
an alarm on its own: a reading with an ordinary tail probability stays ordinary.

The constants were screened with river's detector after v6 (docs/detector-v7.md, sections 3-4) and
chosen by the leave-one-category-out check on the 35 NAB files with this implementation (section 8).
``CONFIRM_FACTOR = 1`` is v6.
"""

from __future__ import annotations

from array import array

from stream_app.core.online_stats import (
    PH_DOWN,
    PH_HI,
    PH_LAST,
    PH_LO,
    PH_MAX_DOWN,
    PH_MEAN,
    PH_MIN_UP,
    PH_N,
    PH_UP,
)

PH_MIN_INSTANCES = 30  # readings since the last detection before the test may fire
PH_DELTA = 0.005  # tolerated drift of the scaled value per reading
PH_ALPHA = 1.0 - 1e-4  # fading of the cumulative sums (bounded by (1 + delta) / (1 - alpha))
PH_THRESHOLD = 100.0  # lambda, in scaled-value units
CONFIRM_FACTOR = 0.03  # tail probability multiplier while a change is confirmed
CONFIRM_HOLD = 12  # readings a detection confirms (the detecting one included)


def scaled(s: array, value: float) -> float:
    """``value`` min-max scaled by the range seen before it, in [0, 1] (0.5 without a range)."""
    lo, hi = s[PH_LO], s[PH_HI]
    if not hi > lo:
        return 0.5
    if value <= lo:
        return 0.0
    if value >= hi:
        return 1.0
    return (value - lo) / (hi - lo)  # in [0, 1]: no overflow whatever the range


def page_hinkley(s: array, x: float) -> bool:
    """Add ``x`` to the Page-Hinkley test; True (and the test restarted) when a change is detected."""
    n = s[PH_N] + 1.0
    mean = s[PH_MEAN] + (1.0 / n) * (x - s[PH_MEAN])
    dev = x - mean
    up = PH_ALPHA * s[PH_UP] + dev - PH_DELTA
    down = PH_ALPHA * s[PH_DOWN] + dev + PH_DELTA
    lo_up = s[PH_MIN_UP]
    lo_up = up if n == 1.0 or up < lo_up else lo_up
    hi_down = s[PH_MAX_DOWN]
    hi_down = down if down > hi_down else hi_down
    if n >= PH_MIN_INSTANCES and (up - lo_up > PH_THRESHOLD or hi_down - down > PH_THRESHOLD):
        s[PH_N] = s[PH_MEAN] = s[PH_UP] = s[PH_DOWN] = s[PH_MIN_UP] = 0.0
        s[PH_MAX_DOWN] = -1.0
        return True
    s[PH_N], s[PH_MEAN], s[PH_UP], s[PH_DOWN], s[PH_MIN_UP], s[PH_MAX_DOWN] = (
        n,
        mean,
        up,
        down,
        lo_up,
        hi_down,
    )
    return False


def confirm(s: array, value: float, target: int, p: float, active: bool) -> float:
    """Learn reading ``target`` (the test and the scaler) and return its tail probability ``p``,
    multiplied by ``CONFIRM_FACTOR`` while ``active`` and within ``CONFIRM_HOLD`` readings of a change.

    Called for every in-order reading after the first, flagged or not (the first only starts the ring).
    """
    if page_hinkley(s, scaled(s, value)):
        s[PH_LAST] = float(target)
    lo, hi = s[PH_LO], s[PH_HI]
    if lo > hi:  # empty
        s[PH_LO] = s[PH_HI] = value
    elif value < lo:
        s[PH_LO] = value
    elif value > hi:
        s[PH_HI] = value
    if active and target - s[PH_LAST] <= CONFIRM_HOLD:
        return p * CONFIRM_FACTOR
    return p
