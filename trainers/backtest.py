"""``kilowatch backtest``: rolling-origin evaluation over the test split (long-horizon protocol).

Rows are split train/val/test by row boundaries, the scaler is fitted on train rows only, the model is fit
on train, and every test row that has a full horizon after it is a forecast origin (stride 1 by default),
forecast with darts' vectorised ``historical_forecasts`` (retrain=False). Several targets (or ``all``
numeric columns) make the run multivariate. Scores: MSE/MAE on the scaled values, MAE/RMSE/sMAPE/MASE on
the original scale, next to seasonal-naive and repeat-last baselines on the same windows.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stream_app import progress
from stream_app.exit_codes import bad_input, check_input_file
from stream_app.progress import add_quiet_flag
from trainers import frames, metrics, models, transform_choice
from trainers.errors import TrainingError

MODELS = models.DARTS_TYPES


def read_targets(csv: Path | str, targets: list[str]) -> tuple[pd.DataFrame, pd.Timedelta]:
    """Regular-grid frame of the target columns (``all`` = every numeric column), UTC-naive index."""
    raw = frames.read_csv(csv)
    time_col = next((c for c in frames.TIME_COLUMNS if c in raw.columns), None)
    if time_col is None:
        raise TrainingError(f"{csv}: no timestamp column (one of {', '.join(frames.TIME_COLUMNS)})")
    numeric = raw.drop(columns=[time_col]).apply(pd.to_numeric, errors="coerce")
    if targets == ["all"]:
        targets = [c for c in numeric.columns if numeric[c].notna().mean() > 0.99]
    missing = [t for t in targets if t not in raw.columns]
    if missing or not targets:
        raise TrainingError(f"{csv}: no target column(s) {missing or targets} (columns: {list(raw.columns)})")
    df = numeric[targets].astype(float)
    df.insert(0, "timestamp", pd.to_datetime(raw[time_col], utc=True, errors="coerce", format="mixed"))
    df = df.dropna().groupby("timestamp", as_index=False, sort=True).mean()
    freq = frames.infer_freq(df["timestamp"])
    return frames.regularize(df, freq).frame, freq


@dataclass(frozen=True)
class BacktestResult:
    rows: dict[str, dict[str, float]]  # method -> metric -> value
    origins: int
    fit_seconds: float
    split: tuple[int, int, int]
    # for plots: row of each forecast origin, and the model's forecasts on the original scale
    origin_rows: np.ndarray | None = None  # (origins,)
    forecasts: np.ndarray | None = None  # (origins, horizon, targets)
    fit_cpu_seconds: float = 0.0  # CPU time of the fit (all threads of this process)
    epochs: int = 0  # epochs trained (torch models; early stopping may end before the budget)
    best_epoch: int = -1  # the epoch whose weights were kept (-1: the last; no validation)
    target_transform: str = ""  # LightGBM: the transform kept (trainers.target_transform)
    transform_val_mae: dict[str, float] | None = None  # LightGBM: each candidate's validation MAE
    evaluated: str = "test"  # the rows whose origins were scored: "test" or "validation" (choosing settings)
    model: Any = field(default=None, repr=False, compare=False)  # the fitted darts model (not LightGBM)


def split_bounds(n: int, split: tuple[float, float, float]) -> tuple[int, int, int]:
    """(end of train, end of validation, end of test) rows.

    Whole numbers adding up to more than 100 are row counts from the first row (``8640/2880/2880``, the
    long-horizon benchmark's split of ETTh2's first 14,400 rows; rows after the test rows are not used);
    anything else is a ratio of all ``n`` rows (``0.7/0.1/0.2``, ``6/2/2``, ``70/10/20``).
    """
    if all(float(x).is_integer() and x >= 0 for x in split) and sum(split) > 100:
        a, b, c = (int(x) for x in split)
        if a <= 0 or c <= 0:
            raise TrainingError(f"split {a}/{b}/{c}: train and test rows must be > 0")
        if a + b + c > n:
            raise TrainingError(f"split {a}/{b}/{c} needs {a + b + c} rows, the data has {n}")
        return a, a + b, a + b + c
    try:
        train_end, val_end = metrics.split_rows(n, split)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    return train_end, val_end, n


def _mean_finite(values: list[float]) -> float:
    """Mean over targets whose MASE is defined (a constant in-sample column has no seasonal error)."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("inf")


def score(
    actual_s: np.ndarray,
    pred_s: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    insample: np.ndarray,
    season: int,
) -> dict[str, float]:
    """Scaled MSE/MAE, original-scale MAE/RMSE/sMAPE/MASE (arrays: origins x horizon x targets)."""
    actual, pred = actual_s * std + mean, pred_s * std + mean
    return {
        "mse_scaled": metrics.mse(actual_s, pred_s),
        "mae_scaled": metrics.mae(actual_s, pred_s),
        "mae": metrics.mae(actual, pred),
        "rmse": metrics.rmse(actual, pred),
        "smape": metrics.smape(actual, pred),
        "mase": _mean_finite(
            [
                metrics.mase(actual[..., j], pred[..., j], insample[:, j], season)
                for j in range(actual.shape[-1])
            ]
        ),
    }


def run(
    data: pd.DataFrame,
    freq: pd.Timedelta,
    model_type: str,
    horizon: int,
    split: tuple[float, float, float],
    lookback: int | None = None,
    stride: int = 1,
    scale: bool = True,
    season: int | None = None,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    channels: str = "joint",
    evaluate: str = "test",
    fitted: Any = None,
) -> BacktestResult:
    """Fit on the train rows (torch models: early stopping on the validation rows, best weights kept) and
    forecast every test origin. ``channels="independent"`` trains a torch model on each target column as
    its own univariate series (one global model, weights shared across channels: how TiDE, DLinear and
    NLinear are evaluated on the long-horizon benchmarks); ``"joint"`` feeds the model all columns at once.

    ``evaluate="validation"`` scores origins in the validation rows instead (for choosing settings): the
    test rows are cut off before anything is built, so they are neither seen nor scored. ``fitted`` (a
    torch model this function returned for the same data, split, params and channels) skips the fit: the
    test rows of a setting chosen on validation rows are then scored without training it again."""
    if evaluate not in ("test", "validation"):
        raise TrainingError(f"evaluate must be 'test' or 'validation', got {evaluate!r}")
    from darts import TimeSeries

    params = dict(params or {})
    train_end, val_end, n = split_bounds(len(data), split)
    data = data.iloc[:n]
    day = frames.steps_per_day(freq)
    season = season or day
    input_length = lookback or models.default_input_length(model_type, day, horizon, train_end)
    if val_end - input_length < season or val_end + horizon > n:
        raise TrainingError(
            f"split leaves too few rows: test starts at row {val_end} of {n}, lookback {input_length}"
        )
    # the rows whose origins are scored: [score_start, n) (validation: the test rows are dropped here)
    score_start = val_end
    if evaluate == "validation":
        if model_type not in models.TORCH_TYPES or val_end - train_end < horizon:
            raise TrainingError("evaluate='validation' needs a torch model and >= horizon validation rows")
        n, score_start = val_end, train_end
        data = data.iloc[:n]
    values = data.to_numpy(dtype=float)
    mean = values[:train_end].mean(axis=0) if scale else np.zeros(values.shape[1])
    std = values[:train_end].std(axis=0) if scale else np.ones(values.shape[1])
    std = np.where(std > 1e-12, std, 1.0)
    scaled = (values - mean) / std
    series = TimeSeries.from_times_and_values(data.index, scaled, columns=[str(c) for c in data.columns])
    cal_index = pd.date_range(data.index[0], periods=n + horizon, freq=freq)
    cal = TimeSeries.from_dataframe(frames.calendar(cal_index))
    past, future = (None, cal) if models.uses_future_covariates(model_type) else (cal, None)
    if model_type == "lightgbm" and lookback:
        params["input_length"] = lookback
    torch_model = model_type in models.TORCH_TYPES
    independent = torch_model and channels == "independent" and len(series.components) > 1
    # Validation windows need their lookback: they start input_length rows before the validation rows.
    validation = torch_model and val_end - train_end >= horizon
    model = (
        fitted
        if fitted is not None
        else models.build(
            model_type,
            params,
            models.Shape(horizon, day, False),
            input_length,
            seed,
            train_end,
            validation=validation,
        )
    )
    fit_series: Any = series[:train_end]
    val_series: Any = series[max(0, train_end - input_length) : val_end] if validation else None
    full: Any = series
    if independent:
        fit_series = [fit_series[c] for c in series.components]
        val_series = [val_series[c] for c in series.components] if validation else None
        full = [series[c] for c in series.components]
        k = len(series.components)
        past = [past] * k if past is not None else None
        future = [future] * k if future is not None else None
    val = (val_series, past, future) if validation else None
    lgb = model_type == "lightgbm"
    point = models.point_forecast(model_type, params)
    t0, c0 = time.perf_counter(), time.process_time()
    choice: transform_choice.Choice | None = None
    if lgb:  # the target transform is chosen on the validation rows, as training does
        shape = models.Shape(horizon, day, False)
        choice = transform_choice.choose(
            params, shape, input_length, scaled, data.index, train_end, val_end, seed
        )
        model = transform_choice.fit_lightgbm(
            choice.kind,
            params,
            shape,
            input_length,
            scaled,
            data.index,
            train_end,
            seed,
            columns=[str(c) for c in data.columns],
        )
    elif fitted is None:
        models.fit(model, model_type, params, fit_series, past, future, None, None, val=val)
    fit_seconds, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    epochs, best_epoch = _epochs(model) if torch_model else (0, -1)
    # LightGBM: every origin's recursion step in one booster call (trainers.native.rolling_medians gives
    # darts' numbers; darts' historical_forecasts loops over origins: > 6 min at horizon 96 x 7 columns).
    hf = (
        []
        if lgb
        else model.historical_forecasts(
            series=full,
            past_covariates=past,
            future_covariates=future,
            forecast_horizon=horizon,
            stride=stride,
            retrain=False,
            last_points_only=False,
            start=score_start,
            start_format="position",
            overlap_end=False,
            show_warnings=False,
            verbose=False,
            # torch quantile models: their 0.5 quantile (one "sample" would be a random draw); LightGBM
            # forecasts autoregressively, where one sample is its median; MSE-trained ones a point.
            predict_likelihood_parameters=torch_model and not point,
        )
    )
    if independent:  # one list of forecasts per channel -> (origins, horizon, targets)
        origins = data.index.get_indexer([ts.start_time() for ts in hf[0]])
        pred_s = np.stack(
            [
                np.stack([ts[_median(c, point)].values(copy=False)[:, 0] for ts in per])
                for c, per in zip(series.components, hf, strict=True)
            ],
            axis=-1,
        )
    elif choice is not None:
        origins = np.arange(score_start, n - horizon + 1, stride)
        pred_s = transform_choice.rolling(model, choice.kind, day, scaled, data.index.asi8, origins, horizon)
    else:
        origins = data.index.get_indexer([ts.start_time() for ts in hf])
        medians = [_median(c, point) for c in series.components] if torch_model else list(series.components)
        pred_s = np.stack([ts[medians].values(copy=False) for ts in hf])  # (origins, horizon, targets)
    actual_s = metrics.rolling_windows(scaled, origins, horizon)
    base = metrics.baseline_forecasts(scaled, origins, horizon, season)
    insample = values[:train_end]
    rows = {model_type: score(actual_s, pred_s, mean, std, insample, season)}
    for name, pred in base.items():
        rows[name] = score(actual_s, pred, mean, std, insample, season)
    split_rows = (train_end, val_end - train_end, n - val_end)
    return BacktestResult(
        rows,
        len(origins),
        fit_seconds,
        split_rows,
        origins,
        pred_s * std + mean,
        fit_cpu_seconds=fit_cpu,
        epochs=epochs,
        best_epoch=best_epoch,
        target_transform=choice.kind if choice is not None else "",
        transform_val_mae=choice.val_mae if choice is not None else None,
        evaluated=evaluate,
        model=None if lgb else model,
    )


def _median(component: str, point: bool) -> str:
    """The forecast component of ``component``: its 0.5 quantile, or itself for a point forecast."""
    return component if point else f"{component}_q0.500"


def _epochs(model: Any) -> tuple[int, int]:
    """(epochs trained, epoch whose weights were kept; -1 = the last) of a fitted darts torch model."""
    trainer = getattr(model, "trainer", None)
    trained = int(trainer.current_epoch) if trainer is not None else 0
    best = -1
    for cb in getattr(trainer, "callbacks", []) or []:
        best = int(getattr(cb, "best_epoch", best))
    return trained, best


def render(result: BacktestResult) -> str:
    cols = ["mse_scaled", "mae_scaled", "mae", "rmse", "smape", "mase"]
    lines = [
        f"split rows train/val/test: {result.split[0]}/{result.split[1]}/{result.split[2]}; "
        f"{result.origins} forecast origins ({result.evaluated} rows); model fit {result.fit_seconds:.1f} s "
        f"({result.fit_cpu_seconds:.1f} s CPU)"
        + (f"; {result.epochs} epochs, best {result.best_epoch + 1}" if result.best_epoch >= 0 else "")
        + (_transform_note(result) if result.target_transform else ""),
        f"{'method':<16}" + "".join(f"{c:>12}" for c in cols),
    ]
    for name, row in result.rows.items():
        lines.append(f"{name:<16}" + "".join(f"{row[c]:>12.4f}" for c in cols))
    return "\n".join(lines)


def _transform_note(result: BacktestResult) -> str:
    maes = result.transform_val_mae or {}
    why = ", ".join(f"{k} {v:.4f}" for k, v in maes.items())
    return f"; target transform {result.target_transform}" + (f" (validation MAE {why})" if why else "")


def parse_param(text: str) -> tuple[str, float | str]:
    """One ``--param key=value`` (the backtest CLI and the benches): a number, or a word for the
    params whose values are words."""
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--param needs key=value, got {text!r}")
    if key in ("target_transform", "loss"):  # a word (checked with the other params)
        return key, value
    try:
        return key, float(value) if "." in value or "e" in value else int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--param {key}: not a number: {value!r}") from None


def register(sub: Any) -> None:
    b: argparse.ArgumentParser = sub.add_parser(
        "backtest", help="rolling-origin backtest of a forecaster on a CSV"
    )
    b.add_argument("--csv", required=True, type=Path)
    b.add_argument("--target", required=True, help="column, comma-separated columns, or 'all' (multivariate)")
    b.add_argument("--horizon", required=True, type=int)
    b.add_argument("--model", required=True, choices=MODELS)
    b.add_argument("--lookback", type=int, default=None, help="input length in steps (default per model)")
    b.add_argument(
        "--split",
        default="0.7/0.1/0.2",
        help="train/val/test: ratios (0.7/0.1/0.2, 6/2/2) or row counts from the first row (8640/2880/2880: "
        "whole numbers adding up to more than 100)",
    )
    b.add_argument("--scale", choices=["standard", "none"], default="standard")
    b.add_argument("--stride", type=int, default=1)
    b.add_argument("--season", type=int, default=None, help="seasonal-naive / MASE season (default: one day)")
    rows = b.add_mutually_exclusive_group()
    rows.add_argument("--rows", type=int, default=None, help="use only the last N rows of the file")
    rows.add_argument(
        "--rows-from-start",
        type=int,
        default=None,
        metavar="N",
        help="use only the first N rows of the file (the long-horizon protocol: ETTh2's first 14,400)",
    )
    b.add_argument(
        "--channels",
        choices=["joint", "independent"],
        default="joint",
        help="several targets, torch models: one multivariate series (joint) or each column its own "
        "univariate series of one global model (independent, as the long-horizon papers evaluate)",
    )
    b.add_argument("--param", type=parse_param, action="append", default=[], help="model param key=value")
    b.add_argument(
        "--validation-only",
        action="store_true",
        help="torch models: score origins in the validation rows, never the test rows (which are cut off "
        "before anything is built): for choosing settings without looking at the test split",
    )
    b.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="PNG",
        help="also draw the forecast and its band vs actuals",
    )
    b.add_argument("--unit", default=None, help="y-axis label of the plot (default: the target column)")
    add_quiet_flag(b)
    b.set_defaults(handler=handle)


def handle(args: argparse.Namespace, settings: Any) -> int:
    try:
        split = metrics.parse_split(args.split)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    if args.horizon < 1 or args.stride < 1:
        raise TrainingError("--horizon and --stride must be >= 1")
    params = dict(args.param)
    models.check_params(args.model, params)
    with progress.task(f"backtest {args.csv.name}: reading", None, progress.enabled(args)) as bar:
        data, freq = read_input(args.csv, [t.strip() for t in args.target.split(",") if t.strip()])
        keep = args.rows if args.rows is not None else args.rows_from_start
        if keep is not None:
            if keep < 1:
                raise TrainingError("--rows and --rows-from-start must be >= 1")
            data = data.iloc[-keep:] if args.rows is not None else data.iloc[:keep]
        bar.stage(f"backtest {args.csv.name}: {args.model} fit and {args.horizon}-step forecasts")
        result = run(
            data,
            freq,
            args.model,
            args.horizon,
            split,
            args.lookback,
            args.stride,
            args.scale == "standard",
            args.season,
            params,
            channels=args.channels,
            evaluate="validation" if args.validation_only else "test",
        )
    print(f"{args.csv.name}: {', '.join(map(str, data.columns))}; step {freq}; horizon {args.horizon}")
    print(render(result))
    if args.plot is not None:
        from trainers.backtest_plot import plot_result

        plot_result(
            args.plot,
            data,
            result.origin_rows,
            result.forecasts,
            args.horizon,
            args.model,
            args.unit,
            args.csv.name,
        )
        print(f"plot written to {args.plot}")
    return 0


def read_input(csv: Path, targets: list[str]) -> tuple[pd.DataFrame, pd.Timedelta]:
    """``read_targets`` with a bad file reported as one ``DataError`` line (exit code 3)."""
    check_input_file(csv)
    hint = (
        f"expected a CSV with a time column ({', '.join(frames.TIME_COLUMNS)}) and numeric --target column(s)"
    )
    try:
        data, freq = read_targets(csv, targets)
    except TrainingError as exc:
        raise bad_input(csv, str(exc).removeprefix(f"{csv}: "), hint) from None
    except (ValueError, OverflowError, TypeError) as exc:  # pandas on dates/values it cannot use
        raise bad_input(csv, f"{type(exc).__name__}: {exc}", hint) from None
    if data.empty or len(data) < 2:
        raise bad_input(csv, f"{len(data)} usable row(s)", hint)
    return data, freq
