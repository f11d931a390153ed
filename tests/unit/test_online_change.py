"""The v7 change confirmation (``online_change``): the native Page-Hinkley test against river's, reading
by reading on real NAB series, its place in the detector, its arithmetic, and state format 5."""

from __future__ import annotations

import math
import struct
from array import array
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from schemas.events import MAX_ABS
from stream_app.core import online_change as chg
from stream_app.core import online_stats as ost
from stream_app.core.online import OnlineDetector, OnlineParams
from stream_app.core.state_codec import FORMAT_VERSION, STATS_LEN, StateCodecError, decode_record
from stream_app.core.window import AssetState
from stream_app.scoring.pipeline import ScoringPipeline
from stream_app.scoring.state import split_record
from stream_app.settings import Settings
from tests.unit.test_online_data import data_dir
from tests.unit.test_pipeline import MemoryTable, messages, run, steel

NAB_FILES = (
    "realKnownCause/ec2_request_latency_system_failure.csv",
    "realAdExchange/exchange-4_cpc_results.csv",
    "realTweets/Twitter_volume_GOOG.csv",
    "artificialNoAnomaly/art_daily_perfect_square_wave.csv",
)


def _nab(key: str) -> tuple[np.ndarray, np.ndarray]:
    df = pd.read_csv(data_dir() / "nab" / key)
    ts = (pd.to_datetime(df["timestamp"]).astype("int64") // 10**9).to_numpy(dtype=float)
    return ts, df["value"].to_numpy(dtype=float)


def _scaled_reference(values: list[float]) -> list[float]:
    """The screening member's scaling (docs/detector-v7.md, appendix), written independently."""
    out: list[float] = []
    lo = hi = None
    for v in values:
        out.append(0.5 if lo is None or hi is None or hi <= lo else min(1.0, max(0.0, (v - lo) / (hi - lo))))
        lo = v if lo is None or v < lo else lo
        hi = v if hi is None or v > hi else hi
    return out


def _river_detections(xs: list[float], threshold: float) -> list[int]:
    drift = pytest.importorskip("river.drift")
    ph = drift.PageHinkley(
        min_instances=chg.PH_MIN_INSTANCES,
        delta=chg.PH_DELTA,
        threshold=threshold,
        alpha=chg.PH_ALPHA,
        mode="both",
    )
    found = []
    for i, x in enumerate(xs):
        ph.update(x)
        if ph.drift_detected:
            found.append(i)
    return found


@pytest.mark.parametrize("key", NAB_FILES)
def test_native_page_hinkley_equals_rivers_reading_by_reading(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("river")
    _, vs = _nab(key)
    xs = _scaled_reference([float(v) for v in vs])
    for threshold in (1.0, 10.0, 100.0):
        monkeypatch.setattr(chg, "PH_THRESHOLD", threshold)
        s = ost.fresh_stats()
        native = [i for i, x in enumerate(xs) if chg.page_hinkley(s, x)]
        assert native == _river_detections(xs, threshold), (key, threshold)
        assert all(math.isfinite(v) for v in s)
    # some of these series must exercise the restart after a detection, or the test proves little
    monkeypatch.setattr(chg, "PH_THRESHOLD", 1.0)
    s = ost.fresh_stats()
    assert sum(chg.page_hinkley(s, x) for x in xs) >= 2


def test_the_detector_runs_that_test_on_its_in_order_readings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside ``score_one``: the changes the state records (PH_LAST) are the ones river detects on
    the min-max scaled values of the in-order readings after the first (late and repeated ones skipped)."""
    pytest.importorskip("river")
    monkeypatch.setattr(chg, "PH_THRESHOLD", 3.0)
    ts, vs = _nab("realKnownCause/ec2_request_latency_system_failure.csv")
    det = OnlineDetector(OnlineParams(window_size=768))
    state = det.new_state()
    learned: list[float] = []
    changes: list[int] = []
    for t, v in zip(ts, vs, strict=True):
        before = state.stats[ost.PH_LAST]
        verdict = det.score_one(state, float(t), float(v))
        if verdict.status == "scored" and state.seq >= 1:
            learned.append(float(v))
            if state.stats[ost.PH_LAST] != before:
                changes.append(len(learned) - 1)
    assert len(changes) >= 2
    assert changes == _river_detections(_scaled_reference(learned), 3.0)


def _step(n: int = 800, at: int = 200) -> list[float]:
    return [10.0 + 0.01 * (i % 5) + (40.0 if i >= at else 0.0) for i in range(n)]


def test_a_detected_change_makes_the_following_readings_count_more() -> None:
    s = ost.fresh_stats()
    outs = [chg.confirm(s, v, i + 1, 0.5, True) for i, v in enumerate(_step())]
    confirmed = [i for i, p in enumerate(outs) if p != 0.5]
    assert confirmed, "the step was not detected"
    first = confirmed[0]
    assert first >= 200  # nothing before the step
    assert confirmed == list(range(first, first + chg.CONFIRM_HOLD + 1))
    assert all(outs[i] == 0.5 * chg.CONFIRM_FACTOR for i in confirmed)
    # not while the detector is warming up, and never an alarm out of an ordinary reading
    s = ost.fresh_stats()
    assert all(chg.confirm(s, v, i + 1, 0.5, False) == 0.5 for i, v in enumerate(_step()))


def test_confirmation_off_is_v6(monkeypatch: pytest.MonkeyPatch) -> None:
    """With CONFIRM_FACTOR 1 the scores are those of a detector without the member: same verdicts."""
    ts, vs = _nab("realKnownCause/ec2_request_latency_system_failure.csv")
    det = OnlineDetector(OnlineParams(window_size=768))

    def verdicts() -> list[tuple[float, bool]]:
        state = det.new_state()
        return [
            (v.score, v.is_anomaly)
            for v in (det.score_one(state, float(t), float(x)) for t, x in zip(ts, vs, strict=True))
        ]

    with_member = verdicts()
    monkeypatch.setattr(chg, "CONFIRM_FACTOR", 1.0)
    without = verdicts()
    assert with_member != without  # the member changes scores on this file
    assert sum(f for _, f in with_member) >= sum(f for _, f in without)


finite = st.floats(min_value=-MAX_ABS, max_value=MAX_ABS, allow_nan=False, allow_infinity=False)


@seed(12)
@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(finite, min_size=1, max_size=300), st.floats(0.0, 1.0))
def test_any_finite_values_keep_the_statistics_finite(values: list[float], p: float) -> None:
    s = ost.fresh_stats()
    for i, v in enumerate(values):
        x = chg.scaled(s, v)
        assert 0.0 <= x <= 1.0
        out = chg.confirm(s, v, i + 1, p, True)
        assert 0.0 <= out <= p
    assert all(math.isfinite(v) for v in s)
    bound = (1.0 + chg.PH_DELTA) / (1.0 - chg.PH_ALPHA) + 1.0
    assert abs(s[ost.PH_UP]) <= bound and abs(s[ost.PH_DOWN]) <= bound


@seed(12)
@settings(max_examples=40, deadline=None, database=None)
@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=40, max_size=300),
    st.integers(-30, 30),
    st.lists(st.integers(-8000, 8000), min_size=40, max_size=300),
    st.integers(-(10**9), 10**9),
)
def test_the_test_sees_the_same_input_under_rescaling_and_offsets(
    values: list[float], power: int, eighths: list[int], offset: int
) -> None:
    """Power-of-two rescaling leaves every scaled value (so every detection) exactly equal; so does a
    constant offset where the shifted values are exact (readings of a fixed resolution, here 1/8)."""

    def trace(vs: list[float]) -> tuple[list[float], list[float]]:
        s = ost.fresh_stats()
        xs, ps = [], []
        for i, v in enumerate(vs):
            xs.append(chg.scaled(s, v))
            ps.append(chg.confirm(s, v, i + 1, 0.5, True))
        return xs, ps

    assert trace([math.ldexp(v, power) for v in values]) == trace(values)
    readings = [k / 8 for k in eighths]
    assert trace([v + offset for v in readings]) == trace(readings)


def _v4_core(core: bytes) -> bytes:
    """A format-4 record (69 statistics) with the same reading, as a v6 worker wrote it."""
    head = struct.Struct("<BqddB")
    _, seq, ts, value, flagged = head.unpack_from(core)
    stats = array("d", core[head.size : head.size + 8 * 69])
    return head.pack(4, seq, ts, value, flagged) + stats.tobytes()


def test_format_4_records_are_refused_and_the_asset_starts_afresh(tmp_path: Path) -> None:
    assert FORMAT_VERSION == 5 and STATS_LEN == 78
    settings_ = Settings(state_dir=tmp_path, emit_scores=True, window_size=672, forecast_every=24)
    msgs = messages(steel(data_dir(), 300), "plant-1")
    table = MemoryTable(settings_.detector.window_size)
    run(ScoringPipeline(settings_), table, msgs[:200])
    old = {}
    for key, rec in table.data.items():
        header, core = split_record(rec)
        old[key] = header + _v4_core(core)
        with pytest.raises(StateCodecError, match="version 4"):
            decode_record(old[key][len(header) :])
        with pytest.raises(StateCodecError):
            AssetState.restore([old[key][len(header) :]], settings_.detector.window_size)
    table.data.update(old)
    pipe = ScoringPipeline(settings_)
    outs = run(pipe, table, msgs[200:])
    assert sum(o.outcomes.get("scored", 0) for o in outs) == 100
    assert not any(o.dead_letters for o in outs)
    assert pipe.cache["plant-1"].state.seq == 99  # afresh: the 100 readings since, not 300
