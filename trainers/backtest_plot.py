"""``kilowatch backtest --plot``: the data of a backtest shaped for ``stream_app.plots.plot_backtest``.

The forecast drawn is the one a user would have had if the model forecast ``horizon`` steps once every
``horizon`` steps over the test span (non-overlapping origins, stitched). Its band is empirical: at each
lead, the 10th-90th percentile of the model's errors over every test origin, added to the forecast
(darts' LightGBM gives a point forecast; the band shows how far off the same lead has been).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trainers.errors import TrainingError

BAND = (10.0, 90.0)


def _epoch(index: pd.Index) -> np.ndarray:
    stamps = pd.DatetimeIndex(index)
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    return np.asarray((stamps - pd.Timestamp(0)) / pd.Timedelta(seconds=1), dtype=float)


def stitched(origin_rows: np.ndarray, horizon: int) -> list[int]:
    """Positions (into the origin list) of non-overlapping origins, one every ``horizon`` rows."""
    keep, next_row = [], -1
    for pos, row in enumerate(origin_rows.tolist()):
        if row >= next_row:
            keep.append(pos)
            next_row = row + horizon
    return keep


def plot_result(
    path: Path,
    data: pd.DataFrame,
    origin_rows: np.ndarray | None,
    forecasts: np.ndarray | None,
    horizon: int,
    model: str,
    unit: str | None,
    name: str,
) -> None:
    from stream_app.plots import BacktestPlot, plot_backtest

    if origin_rows is None or forecasts is None or not len(origin_rows):
        raise TrainingError("the backtest result carries no forecasts to plot")
    target = str(data.columns[0])
    values = data.iloc[:, 0].to_numpy(dtype=float)
    epoch = _epoch(data.index)
    origins = origin_rows.astype(int)
    fc = forecasts[:, :, 0]  # (origins, horizon) of the first target
    start, stop = int(origins[0]), int(min(len(values), origins[-1] + horizon))
    actual_windows = np.stack([values[o : o + horizon] for o in origins])
    lo_err, hi_err = np.percentile(actual_windows - fc, BAND, axis=0)  # per lead
    forecast = np.full(stop - start, np.nan)
    lower, upper = forecast.copy(), forecast.copy()
    for pos in stitched(origins, horizon):
        o = int(origins[pos])
        span = slice(o - start, o - start + horizon)
        forecast[span] = fc[pos]
        lower[span] = fc[pos] + lo_err
        upper[span] = fc[pos] + hi_err
    context = min(start, max(3 * horizon, (stop - start) // 4))
    plot_backtest(
        path,
        BacktestPlot(
            epoch[start - context : start],
            values[start - context : start],
            epoch[start:stop],
            values[start:stop],
            forecast,
            lower,
            upper,
            band_label=f"band: {BAND[0]:.0f}-{BAND[1]:.0f}th pct of test errors per lead",
        ),
        f"{name}: {model} backtest of {target}, {horizon}-step forecasts issued every {horizon} steps "
        f"({len(origins):,} origins scored)",
        unit or target,
    )
