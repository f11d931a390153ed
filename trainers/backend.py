"""Public trainers API (see the shared contract): TrainSpec, train, TrainedModel, load_model, evaluate.

Pure CPU work: the only I/O is ``TrainedModel.save`` / ``load_model`` on a bundle directory and the
progress callback. ``load_frame`` parses CSV text or a file the caller chose.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from schemas.bundle import DETECTORS, DetectorName
from stream_app.core.extras import missing_extra
from stream_app.core.reasons import point_reason
from trainers import bundle, frames, metrics, models, transform_choice
from trainers import target_transform as tt
from trainers.detectors import AutoencoderDetector, ResidualDetector
from trainers.errors import BundleError, TrainingError
from trainers.forecast import Prepared, fit_scaler, multi_step, one_step, predict_next, prepare, scale

MODEL_TYPES: tuple[str, ...] = models.MODEL_TYPES
MAX_EVAL_ORIGINS = 1500
MIN_TRAIN_SAMPLES = 200
MIN_HOLDOUT_ROWS = 50

Progress = Callable[[float, str], None]
ShouldStop = Callable[[], bool]


@dataclass(frozen=True)
class TrainSpec:
    model_type: str
    params: dict[str, Any] = field(default_factory=dict)
    horizon: int = 24
    quantile: float = 0.98
    holdout_fraction: float = 0.2
    seed: int = 0

    def validate(self) -> None:
        """Raise TrainingError naming the first bad field."""
        if self.model_type not in MODEL_TYPES:
            raise TrainingError(
                f"unknown model type {self.model_type!r}; choose one of {', '.join(MODEL_TYPES)}"
            )
        if not isinstance(self.params, dict):
            raise TrainingError("params must be a mapping")
        models.check_params(self.model_type, self.params)
        if models.point_forecast(self.model_type, self.params):
            # A trained bundle serves 10/50/90 % quantiles (intervals, residual detector): an MSE-trained
            # point forecaster has none, so it is refused here rather than served without intervals.
            raise models.ParamError(
                "loss",
                "param loss 'mse' trains a point forecast without intervals; served models need loss "
                "'quantile' (the default); 'mse' is for kilowatch backtest and bench/long_horizon.py",
            )
        if self.params.get("detector", "residual") not in DETECTORS:
            raise TrainingError(f"detector must be one of {DETECTORS}, got {self.params.get('detector')!r}")
        if not isinstance(self.horizon, int) or not 1 <= self.horizon <= 1000:
            raise TrainingError(f"horizon must be an integer in 1..1000, got {self.horizon!r}")
        if not 0.5 < self.quantile < 1.0:
            raise TrainingError(f"quantile must be in (0.5, 1), got {self.quantile}")
        if not 0.05 <= self.holdout_fraction <= 0.5:
            raise TrainingError(f"holdout_fraction must be in [0.05, 0.5], got {self.holdout_fraction}")


def load_frame(source: str | Path | bytes, target: str | None = None) -> pd.DataFrame:
    """See ``trainers.frames.load_frame`` (duplicates averaged, naive timestamps = UTC)."""
    return frames.load_frame(source, target)


class TrainedModel:
    """A fitted forecaster plus its detector(s) and metadata: what a bundle holds."""

    def __init__(
        self,
        metadata: dict[str, Any],
        model: Any,
        residual: ResidualDetector,
        autoencoder: AutoencoderDetector | None = None,
    ) -> None:
        self.metadata = metadata
        self.model = model
        self.residual = residual
        self.autoencoder = autoencoder

    @property
    def input_length(self) -> int:
        """History points predict/detect need before their first output."""
        n = int(self.metadata["input_length"])
        if self.autoencoder is not None:
            n = max(n, self.autoencoder.window - 1)
        return n

    def _prepare(self, history: pd.DataFrame, extend: int) -> Prepared:
        return prepare(history, self.metadata, extend=extend)

    @property
    def supplied_future_covariates(self) -> list[str]:
        """Future covariates a forecast needs supplied for its horizon (besides the calendar)."""
        return list(self.metadata["features"].get("supplied_future_covariates", []))

    def predict(
        self, history: pd.DataFrame, horizon: int, future: Mapping[str, Sequence[float]] | None = None
    ) -> pd.DataFrame:
        """Forecast ``horizon`` steps after the history: timestamp, predicted_value, lower, upper.

        ``future`` holds ``horizon`` values of each supplied future covariate (the forecast steps'
        weather forecast, production plan...); the history carries their past values as columns."""
        trained_h = int(self.metadata["horizon"])
        if horizon < 1 or (horizon > trained_h and int(self.metadata["output_chunk_length"]) > 1):
            from trainers.forecast import PredictionError

            raise PredictionError(
                f"horizon must be in 1..{trained_h} (the trained output length), got {horizon}"
            )
        context = history.iloc[-(self.input_length + 8 * int(self.metadata["day_steps"])) :]
        # Future covariates must reach the last forecast step (autoregressive models may go past the
        # trained horizon).
        prep = prepare(
            context,
            self.metadata,
            extend=max(trained_h, horizon),
            future=supplied_values(self.metadata, future, horizon),
        )
        if len(prep.index) < self.input_length:
            from trainers.forecast import PredictionError

            raise PredictionError(f"history has {len(prep.index)} steps, the model needs {self.input_length}")
        trip = predict_next(self.model, self.metadata, prep, horizon)
        freq = pd.Timedelta(seconds=float(self.metadata["freq_seconds"]))
        ts = pd.date_range(prep.index[-1] + freq, periods=horizon, freq=freq, tz="UTC")
        return pd.DataFrame(
            {"timestamp": ts, "predicted_value": trip[:, 1], "lower": trip[:, 0], "upper": trip[:, 2]}
        )

    def detect(self, history: pd.DataFrame, detector: DetectorName = "residual") -> pd.DataFrame:
        """Causal verdicts for every observed row that has ``input_length`` rows before it.

        ``residual`` (the default) is the rule every served verdict uses, the stream's included
        (``judge_point``); ``autoencoder`` asks the bundle's autoencoder instead (only bundles trained
        with ``detector="autoencoder"`` have one): an analysis the stream cannot make, since it needs
        whole regular windows."""
        prep = self._prepare(history, extend=int(self.metadata["horizon"]))
        pos, trip = one_step(self.model, self.metadata, prep)
        values = prep.values[pos]
        judged = self.residual.judge(
            values, trip[:, 1], trip[:, 0], trip[:, 2], float(self.metadata["residual_floor"])
        )
        score, flag = judged.score, judged.flag
        if detector == "autoencoder":
            if self.autoencoder is None:
                from trainers.forecast import PredictionError

                raise PredictionError(
                    "this model version has no autoencoder (trained with the residual detector)"
                )
            scaled = (prep.values - self.metadata["scaler"]["value"][0]) / self.metadata["scaler"]["value"][1]
            ae_score, ae_flag = self.autoencoder.detect(scaled)
            keep = pos >= self.autoencoder.window - 1
            pos, trip, values = pos[keep], trip[keep], values[keep]
            score = ae_score[pos - (self.autoencoder.window - 1)]
            flag = ae_flag[pos - (self.autoencoder.window - 1)]
        keep = prep.observed[pos]
        out = pd.DataFrame(
            {
                "timestamp": prep.index[pos].tz_localize("UTC"),
                "value": values,
                "expected": trip[:, 1],
                "lower": trip[:, 0],
                "upper": trip[:, 2],
                "score": score,
                "is_anomaly": flag.astype(bool),
            }
        )[keep].reset_index(drop=True)
        above = out["value"].to_numpy() > out["expected"].to_numpy()
        out["kind"] = np.where(out["is_anomaly"], np.where(above, "spike", "dip"), "normal")
        out["reason"] = [reason(v, e) for v, e in zip(out["value"], out["expected"], strict=True)]
        return out

    def judge_point(
        self, value: float, expected: float, lower: float, upper: float
    ) -> tuple[float, bool, str, str]:
        """One observed value against one forecast point: (score, is_anomaly, kind, reason), by the
        residual rule (``ResidualDetector.judge``) as in :meth:`detect`."""
        j = self.residual.judge(
            np.array([value]),
            np.array([expected]),
            np.array([lower]),
            np.array([upper]),
            float(self.metadata["residual_floor"]),
        )
        if not j.flag[0]:
            return float(j.score[0]), False, "normal", ""
        return float(j.score[0]), True, str(j.kind[0]), reason(value, expected)

    def save(self, directory: Path) -> None:
        """Write the bundle; metadata.json last, with the sha256 of every other file."""
        directory = Path(directory)
        (directory / "model").mkdir(parents=True, exist_ok=True)
        if self.model is not None:
            if self.metadata["model_type"] in models.TORCH_TYPES:
                self.model.save(str(directory / "model" / "model.pt"), clean=True)
            else:
                self.model.save(str(directory / "model" / "model.pkl"))
        self.residual.save(directory / "detector.json")
        if self.autoencoder is not None:
            self.autoencoder.save(directory)
        bundle.write_metadata(directory, self.metadata)


def supplied_values(
    meta: dict[str, Any], future: Mapping[str, Sequence[float]] | None, horizon: int
) -> dict[str, np.ndarray] | None:
    """The supplied future covariates a forecast of ``horizon`` steps needs, checked: every name the
    bundle lists, exactly ``horizon`` finite values each (PredictionError naming the first problem)."""
    from trainers.forecast import PredictionError

    names = list(meta["features"].get("supplied_future_covariates", []))
    if not names:
        return None
    out: dict[str, np.ndarray] = {}
    for name in names:
        given = (future or {}).get(name)
        if given is None:
            raise PredictionError(
                f"future covariate {name!r}: the model needs {horizon} values (one per forecast step)"
            )
        arr = np.asarray(given, dtype=float)
        if arr.shape != (horizon,):
            raise PredictionError(
                f"future covariate {name!r}: {horizon} values needed (one per forecast step), got {arr.size}"
            )
        if not np.isfinite(arr).all():
            raise PredictionError(f"future covariate {name!r}: values must be finite")
        out[name] = arr
    return out


def reason(value: float, expected: float) -> str:
    """Plain words, the same for every model: see ``stream_app.core.reasons.point_reason``."""
    return point_reason(value, expected)


def load_model(directory: Path) -> TrainedModel:
    """Check metadata.json (format, type, library versions, file hashes), then load."""
    directory = Path(directory)
    meta = bundle.read_metadata(directory, MODEL_TYPES)
    missing = models.libraries_missing(meta["model_type"])
    if missing is None and (directory / "autoencoder.json").is_file():
        missing = missing_extra("torch")
    if missing is not None:
        raise BundleError(f"{directory}: cannot load this bundle here: {missing}")
    try:
        model: Any = None
        if meta["model_type"] in models.TORCH_TYPES:
            from darts.models.forecasting.torch_forecasting_model import TorchForecastingModel

            model = TorchForecastingModel.load(
                str(directory / "model" / "model.pt"),
                pl_trainer_kwargs=models.trainer_kwargs([]),
                map_location="cpu",
            )
        elif meta["model_type"] == "lightgbm":
            from darts.models import LightGBMModel

            model = LightGBMModel.load(str(directory / "model" / "model.pkl"))
        residual = ResidualDetector.load(directory / "detector.json")
        ae = AutoencoderDetector.load(directory) if (directory / "autoencoder.json").is_file() else None
    except BundleError:
        raise
    except Exception as exc:  # any unpickling/IO failure means a broken bundle
        raise BundleError(f"{directory}: cannot load {meta['model_type']} bundle: {exc}") from exc
    return TrainedModel(meta, model, residual, ae)


def _eval_on(model: TrainedModel, prep: Prepared, holdout_start: int) -> dict[str, float]:
    meta = model.metadata
    h, season = int(meta["horizon"]), int(meta["season"])
    first = max(holdout_start, model.input_length)
    n_origins = len(prep.values) - h + 1 - first
    if n_origins < 1 or first <= season:
        raise TrainingError(
            f"evaluation needs more than {first + h} rows (and a season of history), got {len(prep.values)}"
        )
    stride = max(1, math.ceil(n_origins / MAX_EVAL_ORIGINS))
    origins, med = multi_step(model.model, meta, prep, first, h, stride)
    actual = metrics.rolling_windows(prep.values, origins, h)
    if "step_error_q" not in meta:  # at training time: the conformal interval per step
        err = actual - med
        meta["step_error_q"] = np.stack(
            [np.quantile(err, 0.1, axis=0), np.quantile(err, 0.9, axis=0)], axis=1
        ).tolist()
    insample = prep.values[:holdout_start]
    snaive = metrics.baseline_forecasts(prep.values, origins, h, season)["seasonal_naive"]
    return {
        "mae": metrics.mae(actual, med),
        "rmse": metrics.rmse(actual, med),
        "smape": metrics.smape(actual, med),
        "mase": metrics.mase(actual, med, insample, season),
        "seasonal_naive_mase": metrics.mase(actual, snaive, insample, season),
        "forecasts": float(len(origins)),
    }


def evaluate(model: TrainedModel, frame: pd.DataFrame) -> dict[str, float]:
    """Hold-out metrics on the last ``holdout_fraction`` of ``frame`` (rolling origins, the trained
    horizon, stride chosen to keep at most 1,500 origins). Lower ``mase`` wins."""
    prep = prepare(frame, model.metadata, extend=int(model.metadata["horizon"]))
    start = int(len(prep.values) * (1 - float(model.metadata["holdout_fraction"])))
    return _eval_on(model, prep, start)


def _report(progress: Progress | None, lo: float, hi: float) -> Progress:
    def inner(frac: float, msg: str) -> None:
        if progress is not None:
            progress(lo + (hi - lo) * max(0.0, min(1.0, frac)), msg)

    return inner


def train(
    frame: pd.DataFrame,
    spec: TrainSpec,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> TrainedModel:
    """Fit on the first (1 - holdout) rows; fit the detector and measure metrics on the hold-out."""
    from trainers.errors import TrainingCanceled

    spec.validate()
    # before any data work: an install without the model's extra says which one to install
    models.require_libraries(spec.model_type)
    if spec.params.get("detector") == "autoencoder" and (missing := missing_extra("torch")) is not None:
        raise TrainingError(f"the autoencoder detector: {missing}")
    stop = should_stop or (lambda: False)
    report = _report(progress, 0, 100)
    report(0.0, "preparing data")
    params = dict(spec.params)
    if "value" not in frame.columns or "timestamp" not in frame.columns:
        raise TrainingError("frame needs 'timestamp' and 'value' columns (see load_frame)")
    freq = frames.infer_freq(frame["timestamp"])
    day = frames.steps_per_day(freq)
    reg = frames.regularize(frame, freq)
    n = len(reg.frame)
    n_train = int(n * (1 - spec.holdout_fraction))
    input_length = int(
        params.get("input_length") or models.default_input_length(spec.model_type, day, spec.horizon, n_train)
    )
    season = int(params.get("season", day))
    need_train = input_length + spec.horizon + MIN_TRAIN_SAMPLES
    # Train rows must hold the input window, a horizon and some samples; the hold-out (whose context
    # comes from the train rows) must hold a horizon and enough rows to fit the detector.
    need_hold = (MIN_HOLDOUT_ROWS + spec.horizon) / spec.holdout_fraction
    need = math.ceil(max(need_train / (1 - spec.holdout_fraction), need_hold))
    if n < need:
        raise TrainingError(
            f"too little data: {n} rows at step {freq}, {spec.model_type} needs at least {need} rows"
        )
    # Supplied future covariates (a weather forecast, a production plan): data columns whose values the
    # caller supplies for the forecast steps. In training the actual values stand in for the forecast.
    supplied = list(params.get("future_covariates", []))
    missing_future = [c for c in supplied if c not in reg.frame.columns or c == "value"]
    if missing_future:
        raise TrainingError(
            f"future_covariates {missing_future} not in the data (columns: {list(reg.frame.columns)})"
        )
    requested = params.get("covariates", "auto")
    covs = [c for c in reg.frame.columns if c != "value"] if requested == "auto" else list(requested)
    unknown = [c for c in covs if c not in reg.frame.columns]
    if unknown:
        raise TrainingError(f"covariates {unknown} not in the data (columns: {list(reg.frame.columns)})")
    covs = [c for c in covs if c not in supplied]  # a column is a past or a future covariate, not both
    if not models.uses_past_covariates(spec.model_type):
        covs = []
    meta: dict[str, Any] = {
        "format_version": bundle.FORMAT_VERSION,
        "model_type": spec.model_type,
        "params": params,
        "horizon": spec.horizon,
        "input_length": max(input_length, season) if spec.model_type == "seasonal_naive" else input_length,
        "freq_seconds": freq.total_seconds(),
        "freq": str(freq),
        "day_steps": day,
        "season": season,
        "features": {
            "target": params.get("target", "value"),
            "past_covariates": covs,
            "future_covariates": [*frames.calendar(pd.DatetimeIndex([])).columns, *supplied],
            "supplied_future_covariates": supplied,
        },
        "future_covariates": models.uses_future_covariates(spec.model_type),
        "output_chunk_length": models.output_chunk_length(spec.model_type, spec.horizon),
        "scaler": fit_scaler(reg.frame.iloc[:n_train][["value", *covs, *supplied]]),
        "quantile": spec.quantile,
        "quantiles": list(models.QUANTILES),
        "holdout_fraction": spec.holdout_fraction,
        "seed": spec.seed,
        "detector": params.get("detector", "residual"),
        "training_range": {
            "start": reg.frame.index[0].isoformat() + "Z",
            "end": reg.frame.index[n_train - 1].isoformat() + "Z",
            "rows": n_train,
        },
        "holdout_range": {
            "start": reg.frame.index[n_train].isoformat() + "Z",
            "end": reg.frame.index[-1].isoformat() + "Z",
            "rows": n - n_train,
        },
        "library_versions": bundle.library_versions(),
        "created_at": datetime.now(UTC).isoformat(),
        "residual_floor": 0.0,
        "naive_residual_q": [0.0, 0.0],
    }
    if not meta["future_covariates"]:
        meta["features"]["past_covariates_calendar"] = True
    if spec.model_type == "lightgbm":
        report(0.02, "choosing the target transform on validation rows")
        _choose_transform(meta, params, spec, reg.frame, n_train, input_length, day, stop)
    train_frame = frame[frame["timestamp"] < pd.Timestamp(reg.frame.index[n_train]).tz_localize("UTC")]
    prep_all = prepare(frame, meta, extend=spec.horizon)
    t0 = time.perf_counter()
    model: Any = None
    if spec.model_type != "seasonal_naive":
        prep_train = prepare(train_frame, meta, extend=spec.horizon)
        fit_report = _report(progress, 5, 80)
        epochs = models.epochs_of(spec.model_type, params)
        callbacks = (
            [models.lightning_callback(epochs, fit_report, stop)]
            if spec.model_type in models.TORCH_TYPES
            else []
        )
        model = models.build(
            spec.model_type,
            params,
            models.Shape(spec.horizon, day, bool(covs)),
            input_length,
            spec.seed,
            n_train,
            callbacks,
        )
        try:
            models.fit(
                model,
                spec.model_type,
                params,
                prep_train.series,
                prep_train.past,
                prep_train.future,
                fit_report,
                stop,
            )
        except TrainingCanceled:
            raise
        except Exception as exc:
            canceled = _find_cancel(exc)
            if canceled is not None:
                raise canceled from None
            raise TrainingError(f"{spec.model_type} training failed: {exc}") from exc
    meta["train_seconds"] = round(time.perf_counter() - t0, 2)
    if stop():
        raise TrainingCanceled("training canceled")
    report(0.8, "fitting the residual detector")
    values = prep_all.values
    meta["residual_floor"] = 0.05 * float(meta["scaler"]["value"][1])
    if spec.model_type == "seasonal_naive":
        res = values[n_train:] - values[n_train - season : n - season]
        meta["naive_residual_q"] = [float(np.quantile(res, 0.1)), float(np.quantile(res, 0.9))]
    trained = TrainedModel(meta, model, ResidualDetector(spec.quantile))
    # One-step forecasts over the hold-out only (plus the context they need): the residuals' sample.
    ctx_start = reg.frame.index[max(0, n_train - int(meta["input_length"]) - 1)]
    hold_frame = frame[frame["timestamp"] >= pd.Timestamp(ctx_start).tz_localize("UTC")]
    offset = prep_all.index.get_loc(ctx_start)
    pos, trip = one_step(model, meta, prepare(hold_frame, meta, extend=spec.horizon))
    pos = pos + offset
    hold = pos >= n_train
    z = ResidualDetector.normalise(
        values[pos[hold]], trip[hold, 1], trip[hold, 0], trip[hold, 2], meta["residual_floor"]
    )
    trained.residual.fit(z)
    if meta["detector"] == "autoencoder":
        report(0.85, "training the autoencoder")
        hours = float(params.get("window_hours", 24))
        window = max(2, round(pd.Timedelta(hours=hours) / freq))
        ae = AutoencoderDetector(window, spec.quantile, seed=spec.seed)
        ae.fit((values[:n_train] - meta["scaler"]["value"][0]) / meta["scaler"]["value"][1], should_stop=stop)
        trained.autoencoder = ae
        meta["window_hours"] = hours
    if stop():
        raise TrainingCanceled("training canceled")
    report(0.9, "hold-out metrics")
    meta["metrics"] = _eval_on(trained, prep_all, n_train)
    report(1.0, "done")
    return trained


def _choose_transform(
    meta: dict[str, Any],
    params: dict[str, Any],
    spec: TrainSpec,
    grid: pd.DataFrame,
    n_train: int,
    input_length: int,
    day: int,
    stop: ShouldStop,
) -> None:
    """LightGBM's target transform (``trainers.target_transform``), chosen on validation rows: the last
    1/8 of the train rows (the hold-out, which reports the metrics, is never looked at). Recorded in
    ``meta``; a differenced model needs a day more history (``input_length``) and bundle format 2."""
    val_rows = max(spec.horizon + tt.MIN_VALIDATION_ORIGINS, int(n_train * tt.VALIDATION_FRACTION))
    scaled = scale(grid["value"].to_numpy(dtype=float), meta["scaler"]["value"])
    choice = transform_choice.choose(
        params,
        models.Shape(spec.horizon, day, False),
        input_length,
        scaled[:n_train],
        grid.index[:n_train],
        n_train - val_rows,
        n_train,
        spec.seed,
        stop,
    )
    meta["target_transform"] = choice.kind
    meta["target_transform_lag"] = day if choice.kind == tt.SEASONAL_DIFFERENCE else 0
    meta["target_transform_choice"] = {
        "reason": choice.reason,
        "validation_mae_scaled": choice.val_mae,
        "validation_rows": list(choice.val_rows),
    }
    if choice.kind == tt.SEASONAL_DIFFERENCE:
        meta["input_length"] = input_length + day
        meta["format_version"] = bundle.FORMAT_VERSION_TRANSFORM


def _find_cancel(exc: BaseException) -> BaseException | None:
    """Lightning / LightGBM may wrap our TrainingCanceled; find it in the cause chain."""
    from trainers.errors import TrainingCanceled

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TrainingCanceled):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
