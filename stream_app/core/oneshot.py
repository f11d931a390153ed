"""The online model over a window a caller supplies (the synchronous API's model without a trained one).

The worker feeds an asset's readings one at a time into :class:`OnlineDetector`; here a whole window is
fed the same way into a fresh state, so a forecast or a verdict for a window equals what a worker that
had seen exactly these readings would emit. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from stream_app.core.online import OnlineDetector, OnlineParams
from stream_app.core.types import ForecastPoint, Verdict
from stream_app.core.window import AssetState


def replay(
    params: OnlineParams, ts: Sequence[float], values: Sequence[float]
) -> tuple[AssetState, list[Verdict]]:
    """Score ``values`` (epoch-second stamps ``ts``, strictly increasing) in order from a fresh state."""
    det = OnlineDetector(params)
    state = det.new_state()
    verdicts = [det.score_one(state, t, v) for t, v in zip(ts, values, strict=True)]
    return state, verdicts


def forecast(
    params: OnlineParams, ts: Sequence[float], values: Sequence[float], horizon: int
) -> list[ForecastPoint]:
    """The ``horizon`` steps after the window, as a worker would forecast them after its last reading."""
    state, _ = replay(params, ts, values)
    return OnlineDetector(params).forecast(state, horizon)


def detect(params: OnlineParams, ts: Sequence[float], values: Sequence[float]) -> list[Verdict]:
    """The flagged readings of the window (none before ``params.warmup`` readings)."""
    _, verdicts = replay(params, ts, values)
    return [v for v in verdicts if v.is_anomaly]
