"""LightGBM's target transform: the scaled target as is, or seasonally differenced (z_t = y_t - y_{t-lag},
lag = one day); the arithmetic only (fitting and the choice: ``trainers.transform_choice``).

Why: a tree's forecast is bounded by the targets it was trained on. PJM's last 4,000 rows train on spring
and test on July, whose peaks lie above anything in training; a day-ago difference is level-free, so the
same trees forecast it (docs/forecasting-energy.md). On steel, where the plant switches on and off, the
difference is noise and the plain target is better. Neither is always right, so
``trainers.transform_choice.choose`` fits both on the rows before the validation rows and keeps the one
whose rolling forecasts have the lower MAE on the validation rows. The bundle records the choice
(metadata ``target_transform``, ``target_transform_lag``) and every path that forecasts (training's
hold-out, ``trainers.forecast``, ``trainers.native``, backtests) rebuilds the target with
:func:`integrate`.

Forecasts of z are turned back into forecasts of y step by step: y_{T+k} = z_{T+k} + y_{T+k-lag}, where
y_{T+k-lag} is the history for k < lag and the forecast y for later steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NONE = "none"
SEASONAL_DIFFERENCE = "seasonal_difference"
KINDS = (NONE, SEASONAL_DIFFERENCE)
AUTO = "auto"
PARAM_CHOICES = (AUTO, *KINDS)  # values of the LightGBM param ``target_transform``
# The default is the plain target: ``auto`` (the rule) is opt-in until every caller sizes its histories for a
# differenced model's longer input (a day more; docs/forecasting-energy.md).
DEFAULT = NONE
VALIDATION_FRACTION = 0.125  # training: the last 1/8 of the train rows choose (0.7/0.1 of 0.8)
MIN_VALIDATION_ORIGINS = 24


def lag_of(meta: dict[str, Any]) -> int:
    """The differencing lag a bundle's forecasts need undone (0: none; bundles before the transform)."""
    if meta.get("target_transform", NONE) != SEASONAL_DIFFERENCE:
        return 0
    return int(meta["target_transform_lag"])


def difference(scaled: np.ndarray, lag: int) -> np.ndarray:
    """z: row i is ``scaled[i + lag] - scaled[i]`` (``lag`` rows fewer than ``scaled``)."""
    scaled = np.asarray(scaled, dtype=float)
    if lag < 1 or len(scaled) <= lag:
        raise ValueError(f"differencing at lag {lag} needs more than {lag} rows, got {len(scaled)}")
    return scaled[lag:] - scaled[:-lag]


def integrate(z: np.ndarray, before: np.ndarray, lag: int) -> np.ndarray:
    """Forecasts of y from forecasts of z.

    ``z``: (origins, horizon, ...) forecast differences from each origin; ``before``: (origins, lag, ...)
    the ``lag`` values of y (same scale) right before each origin. Returns y with ``z``'s shape."""
    z = np.asarray(z, dtype=float)
    before = np.asarray(before, dtype=float)
    if before.shape[1] != lag or before.shape[0] != z.shape[0] or before.shape[2:] != z.shape[2:]:
        raise ValueError(f"before has shape {before.shape}, needs ({z.shape[0]}, {lag}, *{z.shape[2:]})")
    y = np.empty_like(z)
    h = z.shape[1]
    for k0 in range(0, h, lag):
        k1 = min(h, k0 + lag)
        base = before[:, : k1 - k0] if k0 == 0 else y[:, k0 - lag : k1 - lag]
        y[:, k0:k1] = z[:, k0:k1] + base
    return y


def history_before(scaled: np.ndarray, origins: np.ndarray, lag: int) -> np.ndarray:
    """(origins, lag, ...) rows ``origin - lag .. origin - 1`` of ``scaled``."""
    origins = np.asarray(origins, dtype=np.int64)
    return np.asarray(scaled, dtype=float)[origins[:, None] + np.arange(-lag, 0)[None, :]]
