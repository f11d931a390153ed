"""Any finite reading either scores or is refused, and the state stays finite (issue 12).

Unlike the meter-family properties (``test_detector_properties.py``), the sequences here have no
structure: timestamps out of order, repeated, far apart; values from subnormals to the +-1e15 bound,
exact repeats, sign flips. The detector must answer every one with a verdict (or ``InvalidReading``
beyond the bound) and never leave a NaN or an infinity in the state it hands to the changelog.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from schemas.errors import InvalidReading
from stream_app.core.online import MAX_ABS_VALUE, OnlineDetector, OnlineParams
from stream_app.core.window import AssetState

finite = st.floats(allow_nan=False, allow_infinity=False)
bounded = st.floats(-MAX_ABS_VALUE, MAX_ABS_VALUE, allow_nan=False, allow_infinity=False)
values = st.one_of(
    bounded,
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1e-300, MAX_ABS_VALUE, -MAX_ABS_VALUE, 1.0]),
    finite,  # beyond the bound too: those must be refused, not scored
)
steps = st.one_of(st.just(300.0), st.floats(-1e6, 1e7, allow_nan=False), st.just(0.0))


def _finite_state(state: AssetState) -> bool:
    return all(math.isfinite(x) for x in state.stats) and all(math.isfinite(x) for x in state.values)


@seed(20261206)
@settings(max_examples=60, deadline=None, derandomize=False, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.floats(0.0, 4e9, allow_nan=False),
    readings=st.lists(st.tuples(steps, values), min_size=1, max_size=400),
    small_ring=st.booleans(),
)
def test_any_finite_sequence_scores_or_is_refused_and_the_state_stays_finite(
    first: float, readings: list[tuple[float, float]], small_ring: bool
) -> None:
    params = OnlineParams(window_size=16 if small_ring else 768, warmup=4 if small_ring else 32)
    det = OnlineDetector(params)
    state = det.new_state()
    ts = first
    for step, value in readings:
        ts += step
        try:
            verdict = det.score_one(state, ts, value)
        except InvalidReading:
            assert not abs(value) <= MAX_ABS_VALUE, f"refused a value within the bound: {value!r}"
            continue
        assert abs(value) <= MAX_ABS_VALUE, f"scored a value beyond the bound: {value!r}"
        assert 0.0 <= verdict.score <= 1.0, verdict
        assert all(math.isfinite(x) for x in (verdict.expected, verdict.lower, verdict.upper)), verdict
        assert _finite_state(state), (ts, value, list(state.stats))
    # the state still takes an ordinary reading, and forecasts from it are finite
    det.score_one(state, ts + 300.0, 1.0)
    assert _finite_state(state)
    for point in det.forecast(state, 24):
        assert all(math.isfinite(x) for x in (point.ts, point.value, point.lower, point.upper)), point
