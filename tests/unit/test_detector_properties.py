"""Property-based tests of the online detector over generated meter families (issue 12, "What it must show").

Families (``tests/meter_families.py``, 5-minute readings, 1,500-4,000 of them, nothing planted unless a
test says so): constant, idle at exactly 0.0 with short bursts, noiseless daily sine, perfect square
wave, Poisson counts, net metering (negative in the day), a noisy daily load curve, quantized load.
Each is multiplied by a drawn scale ``10**e``, ``e`` in [-9, 12], and (where stated) shifted by a drawn
offset of up to 1000x the series' scale (``max |x|``).

Properties, per family:

1. every finite reading scores without exception, every score is a number in [0, 1] and the state
   holds only finite numbers; one absurd reading (+-1e200) in the middle is either scored or refused
   (``InvalidReading``, what ``score_one`` raises today for a non-finite value), and every later
   reading still scores;
2. at most 2 % of readings are flagged after the first 15 % (NAB's probation) when nothing is planted;
3. a planted 5x spike (``meter_families.spike_value``) is flagged within 3 readings (at the spike or one
   of the two readings after it: the ``recall@3`` convention of ``stream_app.evaluation.faults``);
4. the flagged set is equal under rescaling by a power of two, nearly equal under a decimal rescaling
   and under a constant offset (bounds and why in the tests' docstrings).

Hypothesis runs from one fixed seed (``@seed(SEED)``) with no example database, so CI draws the same
examples every run, whatever the marks (``derandomize`` would seed from each test's source); the
family, seed and transform of a failing example are in the assertion message and in Hypothesis's
"Falsifying example". Shrinking is off (a failing property would otherwise re-run the detector hundreds
of times); ``KILOWATCH_HYPOTHESIS_SHRINK=1`` turns it on to find minimal examples.

Tests marked ``xfail(strict=True, reason="issue 12 ...")`` still fail on detector v4 (on v3, 36
pairs failed with crashes and alarm storms); remove the mark when fixed (strict, so a fixed case
reports XPASS as a failure).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, note, seed, settings
from hypothesis import strategies as st

from schemas.errors import InvalidReading
from stream_app.core.online import MAX_ABS_VALUE, OnlineDetector, OnlineParams
from stream_app.core.types import Verdict
from stream_app.core.window import AssetState
from stream_app.evaluation.offline import detect_series, read_series
from tests.meter_families import FAMILIES, epochs, generate, jaccard, spike_value

PARAMS = OnlineParams()
PROBATION = 0.15  # share of readings before false alarms count (NAB's probationary period)
MAX_FLAGGED = 0.02
ABSURD = 1e200
SEED = 12  # one fixed Hypothesis seed (issue 12): the drawn examples do not depend on the source

_PHASES = [Phase.explicit, Phase.reuse, Phase.generate]
if os.environ.get("KILOWATCH_HYPOTHESIS_SHRINK") == "1":
    _PHASES.append(Phase.shrink)

# Budget: 8 families x 7 properties x PROPERTY examples of ~10 ms per 1,000 readings.
PROPERTY = settings(
    max_examples=int(os.environ.get("KILOWATCH_HYPOTHESIS_EXAMPLES", "6")),
    deadline=None,
    derandomize=False,  # derandomize would seed from the source, so removing an xfail mark would redraw
    database=None,
    phases=_PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

seeds = st.integers(0, 2**32 - 1)
lengths = st.integers(1500, 4000)
scale_exps = st.floats(-9.0, 12.0, allow_nan=False)
offset_mults = st.one_of(st.just(0.0), st.floats(-1000.0, 1000.0, allow_nan=False))

ISSUE = "issue 12: not met by detector v4, v5 or v6 (docs/detector-v4.md, docs/detector-v6.md)"


# (property, family) pairs that fail on detector v3 with these examples (the rewrite removes them).
FAILING_ON_V3: dict[str, tuple[str, ...]] = {
    # detector v4 (issue 12): one rounding flip of a near-threshold score (x + 8064 rounds the idle
    # zeros' residuals differently) changes what is learned, and 4 of 36 flagged readings differ
    # (Jaccard 0.889 against the 0.9 bar); see docs/detector-v4.md
    "test_flags_nearly_equal_under_an_offset": ("idle_bursts",),
}


def xfail_for(test: str) -> list[object]:
    """The family parameters of ``test``, with a strict xfail on those in :data:`FAILING_ON_V3`."""
    failing = FAILING_ON_V3.get(test, ())
    return [
        pytest.param(f, marks=pytest.mark.xfail(strict=True, reason=ISSUE)) if f in failing else f
        for f in FAMILIES
    ]


def _scale(exp: float) -> float:
    return float(10.0**exp)


def _series(family: str, seed: int, n: int, scale_exp: float, offset_mult: float = 0.0) -> np.ndarray:
    x = generate(family, seed, n) * _scale(scale_exp)
    if offset_mult:
        x = x + offset_mult * float(np.max(np.abs(x)))
    return x


def _tag(family: str, seed: int, n: int, scale_exp: float, offset_mult: float = 0.0) -> str:
    return f"family={family} seed={seed} n={n} scale=10**{scale_exp:.6g} offset={offset_mult:.6g} x max|x|"


def _flagged(verdicts: Sequence[Verdict]) -> list[int]:
    return [i for i, v in enumerate(verdicts) if v.is_anomaly]


def _late_share(flagged: Sequence[int], n: int) -> float:
    start = int(PROBATION * n)
    return sum(1 for i in flagged if i >= start) / (n - start)


def _assert_finite_state(state: AssetState, tag: str) -> None:
    bad_stats = [i for i, v in enumerate(state.stats) if not math.isfinite(v)]
    assert not bad_stats, f"{tag}: non-finite stats slots {bad_stats}: {[state.stats[i] for i in bad_stats]}"
    assert all(math.isfinite(v) for v in state.values), f"{tag}: non-finite value in the ring"


def _assert_sane(v: Verdict, i: int, tag: str) -> None:
    assert v.status == "scored", f"{tag}: reading {i} has status {v.status!r}"
    assert 0.0 <= v.score <= 1.0, f"{tag}: reading {i} score {v.score!r} outside [0, 1]"


def _score_all(x: np.ndarray, tag: str) -> tuple[list[Verdict], AssetState]:
    det = OnlineDetector(PARAMS)
    state = det.new_state()
    out = []
    for i, (t, v) in enumerate(zip(epochs(len(x)).tolist(), x.tolist(), strict=True)):
        verdict = det.score_one(state, t, v)
        _assert_sane(verdict, i, tag)
        out.append(verdict)
    return out, state


# ---------------------------------------------------------------------------------------------------
# 1. No exception


@pytest.mark.parametrize("family", xfail_for("test_every_finite_reading_scores"))
@seed(SEED)
@PROPERTY
@given(seed=seeds, n=lengths, scale_exp=scale_exps, offset_mult=offset_mults)
def test_every_finite_reading_scores(
    family: str, seed: int, n: int, scale_exp: float, offset_mult: float
) -> None:
    """Every reading scores (no exception, status ``scored``, score in [0, 1]); the state stays finite."""
    tag = _tag(family, seed, n, scale_exp, offset_mult)
    note(tag)
    _, state = _score_all(_series(family, seed, n, scale_exp, offset_mult), tag)
    _assert_finite_state(state, tag)


@pytest.mark.parametrize("family", xfail_for("test_an_absurd_reading_is_scored_or_refused"))
@seed(SEED)
@PROPERTY
@given(seed=seeds, n=lengths, scale_exp=scale_exps, sign=st.sampled_from([1.0, -1.0]))
def test_an_absurd_reading_is_scored_or_refused(
    family: str, seed: int, n: int, scale_exp: float, sign: float
) -> None:
    """One reading of +-1e200 in the middle: a verdict or ``InvalidReading`` for it, nothing else; every
    later reading scores, and the state holds only finite numbers afterwards."""
    tag = _tag(family, seed, n, scale_exp) + f" absurd={sign * ABSURD:g} at {n // 2}"
    note(tag)
    x = _series(family, seed, n, scale_exp)
    mid = n // 2
    x[mid] = sign * ABSURD
    det = OnlineDetector(PARAMS)
    state = det.new_state()
    for i, (t, v) in enumerate(zip(epochs(n).tolist(), x.tolist(), strict=True)):
        if i == mid:
            try:
                verdict = det.score_one(state, t, v)
            except InvalidReading:
                continue  # refused, with a reason
            assert 0.0 <= verdict.score <= 1.0, f"{tag}: the absurd reading's score is {verdict.score!r}"
            continue
        try:
            verdict = det.score_one(state, t, v)
        except Exception as exc:
            raise AssertionError(f"{tag}: reading {i} raised {type(exc).__name__}: {exc}") from exc
        _assert_sane(verdict, i, tag)
    _assert_finite_state(state, tag)


# ---------------------------------------------------------------------------------------------------
# 2. No alarm storm


@pytest.mark.parametrize("family", xfail_for("test_few_alarms_when_nothing_is_planted"))
@seed(SEED)
@PROPERTY
@given(seed=seeds, n=lengths, scale_exp=scale_exps, offset_mult=offset_mults)
def test_few_alarms_when_nothing_is_planted(
    family: str, seed: int, n: int, scale_exp: float, offset_mult: float
) -> None:
    """At most 2 % of the readings after the first 15 % are flagged."""
    tag = _tag(family, seed, n, scale_exp, offset_mult)
    note(tag)
    flagged = _flagged(_score_all(_series(family, seed, n, scale_exp, offset_mult), tag)[0])
    share = _late_share(flagged, n)
    assert share <= MAX_FLAGGED, f"{tag}: {share:.2%} of the readings after probation flagged"


# ---------------------------------------------------------------------------------------------------
# 3. A planted spike is found


@pytest.mark.parametrize("family", xfail_for("test_a_planted_spike_is_flagged_within_3_readings"))
@seed(SEED)
@PROPERTY
@given(
    seed=seeds,
    n=lengths,
    scale_exp=scale_exps,
    offset_mult=offset_mults,
    where=st.floats(0.4, 0.9, allow_nan=False),
)
def test_a_planted_spike_is_flagged_within_3_readings(
    family: str, seed: int, n: int, scale_exp: float, offset_mult: float, where: float
) -> None:
    """A 5x spike planted at reading ``i`` (40-90 % into the series) is flagged at ``i``, ``i+1`` or ``i+2``.

    Definition (``meter_families.spike_value``): ``x[i] + max(4 |x[i]|, 5 R)`` with ``R`` the max minus
    min of the day before ``i``: five times the local level when it is positive, the level plus five
    typical ranges when the level is near zero or negative. It is planted on the scaled series *before*
    the offset is added, so an offset does not change the spike's size."""
    x = generate(family, seed, n) * _scale(scale_exp)
    i = int(where * n)
    x[i] = spike_value(x, i)
    if offset_mult:
        x = x + offset_mult * float(np.max(np.abs(x)))
    tag = _tag(family, seed, n, scale_exp, offset_mult) + f" spike at {i}"
    note(tag)
    verdicts = _score_all(x, tag)[0]
    hit = [j for j in range(i, min(i + 3, n)) if verdicts[j].is_anomaly]
    scores = [round(verdicts[j].score, 6) for j in range(i, min(i + 3, n))]
    assert hit, f"{tag}: not flagged within 3 readings (scores {scores})"


# ---------------------------------------------------------------------------------------------------
# 4. Invariance: scale and offset


def _flags(x: np.ndarray) -> list[int]:
    return _flagged(detect_series(epochs(len(x)), x, PARAMS))


def _planted(family: str, seed: int, n: int, scale_exp: float) -> np.ndarray:
    """The family, scaled, with one 5x spike at 60 % so that the compared flagged sets are not empty."""
    x = generate(family, seed, n) * _scale(scale_exp)
    i = int(0.6 * n)
    x[i] = spike_value(x, i)
    return x


@pytest.mark.parametrize("family", xfail_for("test_flags_equal_under_power_of_two_rescaling"))
@seed(SEED)
@PROPERTY
@given(seed=seeds, n=lengths, scale_exp=scale_exps, k=st.integers(-30, 40).filter(lambda k: k != 0))
def test_flags_equal_under_power_of_two_rescaling(
    family: str, seed: int, n: int, scale_exp: float, k: int
) -> None:
    """Multiplying every value by ``2**k`` is exact in floating point (no overflow or subnormals at these
    magnitudes), so a detector without absolute constants must flag exactly the same readings."""
    x = _planted(family, seed, n, scale_exp)
    # readings beyond +-MAX_ABS_VALUE are refused (not scored): keep the rescaled series within it
    k = min(k, math.floor(math.log2(MAX_ABS_VALUE / float(np.max(np.abs(x))))))
    tag = _tag(family, seed, n, scale_exp) + f" x 2**{k}"
    note(tag)
    a = _flags(x)
    b = _flags(x * 2.0**k)
    only_a, only_b = sorted(set(a) - set(b))[:20], sorted(set(b) - set(a))[:20]
    assert a == b, f"{tag}: only in original {only_a}, only rescaled {only_b}"


def _nearly_equal(a: Sequence[int], b: Sequence[int], bound: float, tag: str) -> None:
    sym = set(a) ^ set(b)
    j = jaccard(a, b)
    assert j >= bound or len(sym) <= 1, (
        f"{tag}: Jaccard {j:.3f} < {bound} ({len(a)} vs {len(b)} flagged; "
        f"only in original {sorted(set(a) - set(b))[:20]}, only transformed {sorted(set(b) - set(a))[:20]})"
    )


@pytest.mark.parametrize("family", xfail_for("test_flags_nearly_equal_under_decimal_rescaling"))
@seed(SEED)
@PROPERTY
@given(
    seed=seeds,
    n=lengths,
    scale_exp=st.floats(-3.0, 3.0, allow_nan=False),
    factor=st.sampled_from([1e-6, 1e-3, 0.3, 7.0, 1e3, 1e9]),
)
def test_flags_nearly_equal_under_decimal_rescaling(
    family: str, seed: int, n: int, scale_exp: float, factor: float
) -> None:
    """Multiplying by a non-power of two (1e-6 ... 1e9): Jaccard >= 0.95, or at most one reading differs.

    Not exact equality: ``x * c`` rounds each value to the nearest double, so differences and ratios of
    rescaled values differ from the rescaled differences in the last bit; a score that falls within
    rounding of the threshold can flip, and since flagged readings are not learned one flip can move
    the state and a neighbour. That is rare and local, hence 0.95; a set of under 20 flagged readings
    cannot absorb one flip at 0.95, hence "or one reading differs"."""
    x = _planted(family, seed, n, scale_exp)
    tag = _tag(family, seed, n, scale_exp) + f" x {factor:g}"
    note(tag)
    _nearly_equal(_flags(x), _flags(x * factor), 0.95, tag)


@pytest.mark.parametrize("family", xfail_for("test_flags_nearly_equal_under_an_offset"))
@seed(SEED)
@PROPERTY
@given(
    seed=seeds,
    n=lengths,
    scale_exp=scale_exps,
    offset_mult=st.floats(-1000.0, 1000.0, allow_nan=False).filter(lambda u: abs(u) >= 1e-3),
)
def test_flags_nearly_equal_under_an_offset(
    family: str, seed: int, n: int, scale_exp: float, offset_mult: float
) -> None:
    """Adding a constant (a Kelvin/Celsius change, a meter's register offset) of up to 1000x ``max |x|``:
    Jaccard >= 0.9, or at most one reading differs.

    Not equality: ``x + c`` rounds every value to the spacing of doubles near ``c`` (up to ~1e-13 of the
    series' range at 1000x), so differences are no longer bit-exact and near-threshold scores can flip
    (see the decimal rescaling test); the looser 0.9 also leaves room for level-aware parts of a detector
    that see the offset, as long as they do not change which readings are anomalous."""
    x = _planted(family, seed, n, scale_exp)
    top = float(np.max(np.abs(x)))
    c = offset_mult * top
    c = math.copysign(min(abs(c), 0.5 * MAX_ABS_VALUE - top), c)  # within the accepted range
    tag = _tag(family, seed, n, scale_exp, offset_mult) + f" (+{c:g})"
    note(tag)
    _nearly_equal(_flags(x), _flags(x + c), 0.9, tag)


# ---------------------------------------------------------------------------------------------------
# The issue's reported cases


@pytest.mark.parametrize("name", ["art_daily_no_noise.csv", "art_daily_perfect_square_wave.csv"])
def test_nab_artificial_no_anomaly_files(data_dir: Path, name: str) -> None:
    """Reported: ``kilowatch detect`` crashed with OverflowError in ``online_stats.quantile``."""
    series = read_series(data_dir / "nab" / "artificialNoAnomaly" / name)
    verdicts = detect_series(series.epoch, series.values, PARAMS)
    share = _late_share(_flagged(verdicts), len(verdicts))
    assert share <= MAX_FLAGGED, f"{name}: {share:.2%} flagged after probation"


def test_a_meter_idling_at_zero_with_bursts() -> None:
    """Reported: 100 % flagged (``sustained_low``, "Below expected value by 100%")."""
    x = generate("idle_bursts", 12, 4000)
    verdicts = detect_series(epochs(len(x)), x, PARAMS)
    share = _late_share(_flagged(verdicts), len(x))
    assert share <= MAX_FLAGGED, f"{share:.2%} flagged after probation"


def test_nyc_taxi_plus_a_million(data_dir: Path) -> None:
    """Reported: adding 1e6 to NYC taxi changes the flagged set almost completely (Jaccard 0.08)."""
    series = read_series(data_dir / "nab" / "realKnownCause" / "nyc_taxi.csv")
    a = _flagged(detect_series(series.epoch, series.values, PARAMS))
    b = _flagged(detect_series(series.epoch, series.values + 1e6, PARAMS))
    j = jaccard(a, b)
    assert j >= 0.9, f"Jaccard {j:.3f} ({len(a)} vs {len(b)} flagged)"


@pytest.mark.parametrize(
    ("family", "at"),
    [
        ("load_curve", 10),  # in warm-up
        ("idle_bursts", 1000),  # alarm storm
        ("load_curve", 1000),  # flagged, not learned: survives today
    ],
)
def test_an_absurd_reading_does_not_poison_the_asset(family: str, at: int) -> None:
    """Reported: after a reading of 1e200 every later reading raised ZeroDivisionError (v3: when the
    reading is learned, in warm-up or during an alarm run; a flagged one is not learned)."""
    x = generate(family, 0, 2000)
    x[at] = ABSURD
    tag = f"family={family} seed=0 n=2000 with 1e200 at {at}"
    det = OnlineDetector(PARAMS)
    state = det.new_state()
    for i, (t, v) in enumerate(zip(epochs(len(x)).tolist(), x.tolist(), strict=True)):
        if i == at:
            with contextlib.suppress(InvalidReading):  # scored or refused: either is fine
                det.score_one(state, t, v)
            continue
        try:
            verdict = det.score_one(state, t, v)
        except Exception as exc:
            raise AssertionError(f"{tag}: reading {i} raised {type(exc).__name__}: {exc}") from exc
        _assert_sane(verdict, i, tag)
    _assert_finite_state(state, tag)
