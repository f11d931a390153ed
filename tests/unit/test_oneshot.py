"""The online model over a supplied window (the API's model without a trained one) on real data."""

from __future__ import annotations

import pandas as pd
import pytest

from stream_app.core import oneshot
from stream_app.core.online import OnlineDetector, OnlineParams
from tests.conftest import DATA_DIR

PARAMS = OnlineParams(window_size=768, warmup=32)


@pytest.fixture(scope="module")
def steel() -> tuple[list[float], list[float]]:
    df = pd.read_csv(
        DATA_DIR / "energy" / "steel_industry_2018_15min.csv", usecols=["timestamp", "Usage_kWh"]
    )
    ts = (pd.to_datetime(df["timestamp"], utc=True).astype("int64") / 1e9).tolist()
    return ts[3000:4000], df["Usage_kWh"].astype(float).tolist()[3000:4000]


def test_replay_is_what_a_worker_scoring_the_readings_in_order_emits(
    steel: tuple[list[float], list[float]],
) -> None:
    ts, values = steel
    det = OnlineDetector(PARAMS)
    state = det.new_state()
    expected = [det.score_one(state, t, v) for t, v in zip(ts, values, strict=True)]
    replayed, verdicts = oneshot.replay(PARAMS, ts, values)
    assert verdicts == expected
    assert oneshot.forecast(PARAMS, ts, values, 24) == det.forecast(state, 24)
    assert replayed.seq == state.seq


def test_forecast_continues_at_the_series_step(steel: tuple[list[float], list[float]]) -> None:
    ts, values = steel
    points = oneshot.forecast(PARAMS, ts[:168], values[:168], 24)
    assert [p.ts for p in points] == [ts[167] + 900 * k for k in range(1, 25)]
    assert all(p.lower <= p.value <= p.upper for p in points)


def test_detect_flags_an_injected_spike_with_the_shared_wording(
    steel: tuple[list[float], list[float]],
) -> None:
    ts, values = steel
    spiked = list(values)
    spiked[700] = max(values) * 3
    hits = oneshot.detect(PARAMS, ts, spiked)
    spike = [v for v in hits if v.ts == ts[700]]
    assert spike and spike[0].kind == "spike"
    assert spike[0].reason.startswith("Exceeds predicted value by ")


def test_nothing_is_flagged_during_warm_up(steel: tuple[list[float], list[float]]) -> None:
    ts, values = steel
    spiked = list(values[: PARAMS.warmup - 1])
    spiked[-1] = 1e6
    assert oneshot.detect(PARAMS, ts[: PARAMS.warmup - 1], spiked) == []
