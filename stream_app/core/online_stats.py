"""Layout of the fixed statistics vector of the online detector, and its small helpers.

Every number the model needs between readings lives in one ``array('d')`` of ``STATS_LEN`` floats so
that a reading's changelog record carries the whole model (see ``state_codec``).  The calibration
histogram of normalised absolute residuals ``|z|`` occupies the tail of the vector.
"""

from __future__ import annotations

import itertools
import math
from array import array
from bisect import bisect_right

from stream_app.core.state_codec import STATS_LEN

# --- slots --------------------------------------------------------------------------------------
STEP = 0  # median timestamp step in seconds (0 = not inferred yet)
SEASON = 1  # readings per season (0 = not decided yet, -1 = no season)
N = 2  # readings learned from
LAST = 3  # newest learned value
LAST_SEQ = 4  # seq of that value
LEVEL = 5  # EWMA level
OFFSET = 6  # EW mean of (value - seasonal profile)
E_NAIVE = 7  # EW absolute one-step errors of the four predictors (-1 = not yet available)
E_LEVEL = 8
E_SDIFF = 9
E_SMEAN = 10
SCALE = 11  # winsorised EW mean of |residual| / level ratio on learned readings (the normaliser)
SCALE_LONG = 12  # slow version of SCALE (normaliser floor, usual volatility for pattern shifts)
P_SAME = 13  # EW probability that a reading repeats the previous value, given that one did not
RUN_SAME = 14  # current number of consecutive exact repeats (negative once the run was reported)
FLAG_ALL = 15  # consecutive flagged readings of either sign (regime acceptance)
HIST_W = 16  # weight of the next histogram increment (grows instead of decaying all bins)
LEVEL_ABS = 17  # slow EW mean of |learned value|: the typical level, for level-relative scaling
PREV_Z = 18  # signed normalised residual of the previous in-order reading
P_CONT = 19  # EW probability that a repeat continues (a reading repeats, given the previous one did)
Q_INTERVAL = 20  # |z| quantile at the interval level (refreshed every 8 learned readings)
PREV_NORM = 21  # residual normaliser of the previous in-order reading
RUN_LONG = 22  # longest recent run of exact repeats (decays), what "normal" idling looks like
TAIL = 23  # EW mean of ln(z / last edge) beyond the last edge: 1 / tail exponent (Hill estimator)
EXC_CUT = 24  # excursion depth below which the conformal excursion p-value exceeds its stop (cached)
# --- repeated alarms (detector topic) ---
PEAK = 25  # highest score >= NOVEL_MIN in the current repeat window (0 = none)
PEAK_TS = 26  # timestamp of that score
# --- origin of levels ---
BASE = 27  # origin of levels: the ring's lowest value (refreshed every ``online.BASE_REFRESH`` readings)
# --- how the residual scale grows with the level: EW moments of x = ln(level ratio), y = ln|residual|
G_X = 28
G_Y = 29
G_XX = 30
G_XY = 31
# --- how extreme a value is for the asset in the long run (the extremeness evidence) ---
EXT_M = 32  # slow EW mean of values (long-run level)
EXT_D = 33  # slow EW mean absolute deviation from it
X_W = 34  # weight of the next increment of the extremeness histogram (as HIST_W)
X_TAIL = 35  # its power-law tail (as TAIL)
X_HIST = 36  # first bin of the histogram of |value - EXT_M| / EXT_D (N_BINS bins)
HIST = X_HIST + 10  # first bin of the residual histogram
N_BINS = 10
# Level-shift evidence (v5, ``online_evidence.span_evidence``): an EW mean of the recent values, and the
# histogram (increment weight, power-law tail, bins) of its deviation from the long-run level in
# long-run deviations, ``|SPAN_M - EXT_M| / EXT_D``.
SPAN_M = HIST + N_BINS
SPAN_W = SPAN_M + 1
SPAN_TAIL = SPAN_M + 2
SPAN_HIST = SPAN_M + 3
# Change confirmation (v7, ``online_change``): the asset's running min/max (the scaler of the
# Page-Hinkley test's input; empty while PH_LO > PH_HI), the two-sided Page-Hinkley test on the scaled
# value (running mean and its count, the two cumulative sums and their extremes) and the seq of its
# last detection.
PH_LO = SPAN_HIST + N_BINS
PH_HI = PH_LO + 1
PH_N = PH_LO + 2
PH_MEAN = PH_LO + 3
PH_UP = PH_LO + 4  # cumulative sum of (deviation - delta), faded by alpha (an increase shows above its min)
PH_DOWN = PH_LO + 5  # cumulative sum of (deviation + delta), faded (a decrease shows below its max)
PH_MIN_UP = PH_LO + 6
PH_MAX_DOWN = PH_LO + 7
PH_LAST = PH_LO + 8  # seq of the last detected change
assert PH_LAST + 1 == STATS_LEN

# Bin edges of |z| = |residual| / normaliser; the last bin is open-ended with a power-law tail.
# Past 12 the bins are logarithmic (v4): a meter idling at exactly 0 has a scale near 0 there, so its
# routine bursts have |z| of 1e3-1e4, and one power law from 12 (fitted mostly to moderate z) made
# them look far rarer than they are (2.4 % of an idle meter's readings flagged; steel false alarms
# 1.57 % -> 1.23 % with these bins).
EDGES: tuple[float, ...] = (0.0, 0.5, 1.0, 1.8, 3.2, 6.0, 12.0, 50.0, 300.0, 3000.0)
# Past the last edge the tail is a power law P(|Z| > z) ~ z^-alpha with alpha learned from the data
# (Hill): residuals of bursty series are very heavy-tailed, those of smooth ones much less.
TAIL_PRIOR = 0.5  # prior 1/alpha
TAIL_RATE = 1.0 / 100  # EW rate of the tail estimate (per tail observation)
MIN_TAIL = 0.1  # alpha <= 10
HIST_MEMORY = 5000.0  # effective number of residuals the calibration remembers
HIST_DECAY = 1.0 / (1.0 - 1.0 / HIST_MEMORY)
PRIOR_WEIGHT = 30.0  # pseudo-count of the prior (|z| ~ Exp(1)) so early scores are sane
# One absurd residual must not decide the tail for thousands of readings: the Hill estimator takes
# ln(z / last edge) capped here (z = 12 * e^23 ~ 1.2e11), and quantiles are capped likewise.
LOG_Z_MAX = 23.0
NEVER = -1e9  # PH_LAST of an asset without a detected change
Z_MAX = EDGES[-1] * math.exp(LOG_Z_MAX)

assert len(EDGES) == N_BINS


def fresh_stats() -> array:
    """A new statistics vector: predictors unavailable, histogram at its prior."""
    s = array("d", bytes(8 * STATS_LEN))
    for i in (E_NAIVE, E_LEVEL, E_SDIFF, E_SMEAN):
        s[i] = -1.0
    s[HIST_W] = s[X_W] = s[SPAN_W] = 1.0
    s[PH_LO] = 1.0  # empty scaler (PH_LO > PH_HI)
    s[PH_MAX_DOWN] = -1.0
    s[PH_LAST] = NEVER
    s[P_CONT] = 0.3
    s[TAIL] = s[X_TAIL] = s[SPAN_TAIL] = TAIL_PRIOR
    for k in range(N_BINS):
        hi = math.exp(-EDGES[k + 1]) if k + 1 < N_BINS else 0.0
        prior = PRIOR_WEIGHT * (math.exp(-EDGES[k]) - hi)
        s[HIST + k] = s[X_HIST + k] = s[SPAN_HIST + k] = prior
    return s


def tail_prob(s: array, z: float, h0: int = HIST, tail: int = TAIL) -> float:
    """P(|Z| >= z) under the decayed histogram (linear inside a bin, power law past the last edge).

    ``h0`` and ``tail`` name the histogram: the residuals' (default) or the extremeness one.
    """
    if z != z:  # NaN
        return 1.0
    k = bisect_right(EDGES, z) - 1
    total = sum(s[h0 : h0 + N_BINS])
    if k >= N_BINS - 1:
        h = s[tail]
        return s[h0 + N_BINS - 1] / total * (z / EDGES[-1]) ** (-1.0 / (h if h > MIN_TAIL else MIN_TAIL))
    below = sum(s[h0 : h0 + k]) if k else 0.0
    lo = EDGES[k]
    below += s[h0 + k] * (z - lo) / (EDGES[k + 1] - lo)
    return 1.0 - below / total


def quantile(s: array, level: float) -> float:
    """|z| below which a fraction ``level`` of the histogram mass lies (inverse of ``tail_prob``)."""
    total = sum(s[HIST : HIST + N_BINS])
    target = level * total
    acc = 0.0
    for k in range(N_BINS - 1):
        c = s[HIST + k]
        if acc + c >= target:
            return EDGES[k] + (EDGES[k + 1] - EDGES[k]) * ((target - acc) / c if c > 0 else 0.0)
        acc += c
    last = s[HIST + N_BINS - 1]
    rest = total - target
    if not (rest > 0.0 and last > rest):
        return EDGES[-1]
    h = s[TAIL] if s[TAIL] > MIN_TAIL else MIN_TAIL
    # in logs, capped: a noiseless series leaves almost no mass in the tail, and (last / rest) ** h
    # would overflow (the OverflowError of art_daily_no_noise.csv)
    e = h * math.log(last / rest)
    return EDGES[-1] * math.exp(e if e < LOG_Z_MAX else LOG_Z_MAX)


def hist_add(s: array, z: float, h0: int = HIST, wslot: int = HIST_W, tail: int = TAIL) -> None:
    """Add one |z| with exponentially decaying weight; renormalise before the weights overflow."""
    k = bisect_right(EDGES, z) - 1 if z == z else N_BINS - 1
    if k == N_BINS - 1:
        lz = math.log(z / EDGES[-1]) if z < Z_MAX else LOG_Z_MAX
        s[tail] += TAIL_RATE * ((lz if lz < LOG_Z_MAX else LOG_Z_MAX) - s[tail])
    w = s[wslot]
    s[h0 + k] += w
    w *= HIST_DECAY
    if w > 1e100:
        for j in range(h0, h0 + N_BINS):
            s[j] /= w
        w = 1.0
    s[wslot] = w


def infer_step(ts: list[float]) -> tuple[float, float]:
    """(median positive timestamp step in seconds or 0, share of steps within 1% of it)."""
    steps = sorted(b - a for a, b in itertools.pairwise(ts) if b > a)
    if not steps:
        return 0.0, 0.0
    med = steps[len(steps) // 2]
    regular = sum(1 for x in steps if abs(x - med) <= 0.01 * med)
    return med, regular / (len(ts) - 1)


def season_for_step(step: float, window_size: int) -> int:
    """Daily season length for a regular step (15 min -> 96, 1 h -> 24), -1 when not usable.

    Two seasons must fit in the ring, because the seasonal predictor compares the same phase of
    previous seasons.
    """
    if step <= 0:
        return -1
    m = 86400.0 / step
    mr = round(m)
    if abs(m - mr) > 1e-6 or mr < 2 or 2 * mr > window_size:
        return -1
    return int(mr)
