"""LightGBM given a lookback (``--lookback``, param ``input_length``) gets a sparse lag set reaching that
far back, not every lag: 720 dense lags x 7 ETTh2 columns made a fit that did not finish in 17 minutes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trainers import models


@given(day=st.integers(1, 288), lookback=st.integers(1, 10_000))
def test_lookback_lags_stay_within_the_lookback(day: int, lookback: int) -> None:
    lags = models.lightgbm_lookback_lags(day, lookback)
    assert lags, "at least lag 1"
    assert lags == sorted(set(lags))
    assert -lookback <= lags[0] and lags[-1] == -1


def test_lookback_720_hourly_is_recent_daily_and_weekly_lags() -> None:
    lags = set(models.lightgbm_lookback_lags(24, 720))
    assert {-h for h in range(1, 25)} <= lags
    assert {-47, -48, -49, -167, -168, -169, -671, -672, -673} <= lags
    assert -720 not in lags and -300 not in lags
    assert len(lags) * 7 <= 400  # features of a 7-column model (dense: 5,040)


@pytest.mark.ml
def test_build_uses_the_sparse_lags_when_an_input_length_is_given() -> None:
    shape = models.Shape(96, 24, False)
    dm = models.build("lightgbm", {"input_length": 720}, shape, 720, 0, 8640)
    assert dm.lags["target"] == models.lightgbm_lookback_lags(24, 720)
    default = models.build("lightgbm", {}, shape, 0, 0, 8640)
    assert default.lags["target"] == models.lightgbm_lags(24, 96, 8640)  # unchanged without a lookback
