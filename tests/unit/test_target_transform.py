"""trainers.target_transform's arithmetic: differencing and rebuilding are inverse, for any finite series,
lag and horizon; the param is checked like the others."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from trainers import models
from trainers import target_transform as tt

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(
    y=arrays(np.float64, st.integers(3, 80), elements=finite),
    lag=st.integers(1, 12),
    data=st.data(),
)
def test_integrating_the_true_differences_gives_back_the_series(
    y: np.ndarray, lag: int, data: st.DataObject
) -> None:
    if len(y) <= lag:
        with pytest.raises(ValueError, match="needs more than"):
            tt.difference(y, lag)
        return
    z = tt.difference(y, lag)
    origin = data.draw(st.integers(lag, len(y) - 1))
    horizon = len(y) - origin
    origins = np.array([origin])
    rebuilt = tt.integrate(z[None, origin - lag :, None], tt.history_before(y[:, None], origins, lag), lag)
    np.testing.assert_allclose(rebuilt[0, :, 0], y[origin:], rtol=1e-9, atol=1e-6 * (1 + np.abs(y).max()))
    assert rebuilt.shape == (1, horizon, 1)


def test_steps_past_a_lag_sit_on_forecast_values() -> None:
    before = np.array([[10.0, 20.0]])  # the two rows before the origin
    z = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    np.testing.assert_array_equal(tt.integrate(z, before, 2), [[11.0, 22.0, 14.0, 26.0, 19.0]])


def test_integrate_refuses_a_history_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="before has shape"):
        tt.integrate(np.zeros((2, 5)), np.zeros((2, 3)), 2)


def test_the_param_is_one_of_the_named_transforms() -> None:
    for value in tt.PARAM_CHOICES:
        models.check_params("lightgbm", {"target_transform": value})
    with pytest.raises(models.ParamError, match="target_transform must be one of") as err:
        models.check_params("lightgbm", {"target_transform": "log"})
    assert err.value.param == "target_transform"
    with pytest.raises(models.ParamError, match="unknown params"):
        models.check_params("tide", {"target_transform": "none"})


def test_bundles_before_the_transform_read_as_plain() -> None:
    assert tt.lag_of({}) == 0
    assert tt.lag_of({"target_transform": "none", "target_transform_lag": 0}) == 0
    assert tt.lag_of({"target_transform": "seasonal_difference", "target_transform_lag": 96}) == 96
