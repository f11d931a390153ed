"""darts forecaster factory: one place that knows each model type's defaults and covariate support.

Defaults are small so CPU training takes seconds to a minute; every value can be overridden through
``TrainSpec.params``. Progress and cancellation hook into LightGBM's per-round callback and Lightning's
per-epoch callback, so ``should_stop`` is honoured between rounds / epochs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stream_app.core.extras import missing_extra
from trainers.errors import TrainingCanceled, TrainingError

TORCH_TYPES = ("tide", "lstm", "tft", "dlinear", "nlinear")
DARTS_TYPES = ("lightgbm", *TORCH_TYPES)
QUANTILES = (0.1, 0.5, 0.9)

Progress = Callable[[float, str], None]
ShouldStop = Callable[[], bool]

# Training params of every torch model (trainers/torch_defaults.py): early-stopping patience (epochs
# without a better validation loss), reversible instance normalisation (1 on, 0 off) and the training
# loss (``LOSSES``).
TORCH_TRAINING = ("patience", "rin", "loss")
# quantile: pinball loss at QUANTILES (the default; served models need its 10/90 % intervals);
# mse: a point forecast trained on squared error (darts likelihood None), for the backtest only.
LOSSES = ("quantile", "mse")
# Params every model type accepts (beyond its own model-specific ones).
COMMON_PARAMS = {
    "target",
    "input_length",
    "covariates",
    "future_covariates",  # data columns whose values are supplied for the horizon when forecasting
    "detector",
    "window_hours",
    "threads",
    "season",
}
MODEL_PARAMS: dict[str, set[str]] = {
    "lightgbm": {
        "n_estimators",
        "num_leaves",
        "learning_rate",
        "max_train_rows",
        "min_child_samples",
        # none (default) | auto (chosen on validation rows) | seasonal_difference: trainers.target_transform
        "target_transform",
    },
    "tide": {
        "n_epochs",
        "batch_size",
        "hidden_size",
        "lr",
        "max_samples",
        "dropout",
        # the TiDE paper's architecture knobs (its ETTh2 run: 2 / 2 / 32 / 16 / layer norm on)
        "num_encoder_layers",
        "num_decoder_layers",
        "decoder_output_dim",
        "temporal_decoder_hidden",
        "layer_norm",
        *TORCH_TRAINING,
    },
    "lstm": {
        "n_epochs",
        "batch_size",
        "hidden_dim",
        "n_rnn_layers",
        "lr",
        "max_samples",
        "dropout",
        *TORCH_TRAINING,
    },
    "tft": {
        "n_epochs",
        "batch_size",
        "hidden_size",
        "lr",
        "max_samples",
        "dropout",
        "num_attention_heads",
        *TORCH_TRAINING,
    },
    "dlinear": {"n_epochs", "batch_size", "lr", "max_samples", "kernel_size", *TORCH_TRAINING},
    "nlinear": {"n_epochs", "batch_size", "lr", "max_samples", *TORCH_TRAINING},
    "seasonal_naive": set(),
}
MODEL_TYPES: tuple[str, ...] = tuple(MODEL_PARAMS)  # every model type there is (docs/models.md: adding one)


@dataclass(frozen=True)
class Bound:
    """The allowed range of a numeric param: ``lo`` (exclusive when ``open_lo``) .. ``hi``; ``hi=None`` =
    the machine's cores (threads)."""

    lo: float
    hi: float | None
    integer: bool = True
    open_lo: bool = False

    def upper(self) -> float:
        return float(cores()) if self.hi is None else self.hi


# Every numeric param has a ceiling: an absurd value (threads 10**6, hidden_size 10**9, n_epochs 10**9,
# a week-long window) cannot make a training child take a machine's CPU or memory for hours.
PARAM_BOUNDS: dict[str, Bound] = {
    "input_length": Bound(1, 10_000),
    "season": Bound(1, 10_000),
    "window_hours": Bound(0, 24 * 14, integer=False, open_lo=True),
    "threads": Bound(1, None),
    "n_estimators": Bound(1, 5_000),
    "num_leaves": Bound(2, 1_024),
    "learning_rate": Bound(0, 1, integer=False, open_lo=True),
    "max_train_rows": Bound(1, 1_000_000),
    "min_child_samples": Bound(1, 100_000),
    "n_epochs": Bound(1, 500),
    "batch_size": Bound(1, 4_096),
    "hidden_size": Bound(1, 1_024),
    "hidden_dim": Bound(1, 1_024),
    "n_rnn_layers": Bound(1, 8),
    "lr": Bound(0, 1, integer=False, open_lo=True),
    "max_samples": Bound(1, 1_000_000),
    "dropout": Bound(0, 0.9, integer=False),
    "num_attention_heads": Bound(1, 16),
    "patience": Bound(1, 100),
    "rin": Bound(0, 1),
    "kernel_size": Bound(2, 1_001),
    "num_encoder_layers": Bound(1, 8),
    "num_decoder_layers": Bound(1, 8),
    "decoder_output_dim": Bound(1, 256),
    "temporal_decoder_hidden": Bound(1, 1_024),
    "layer_norm": Bound(0, 1),
}
MAX_COVARIATES = 64
MAX_NAME = 128  # characters of a column name (target, covariates)


def cores() -> int:
    """CPU cores this process may use (threads may not exceed them)."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class ParamError(TrainingError):
    """A param is unknown or out of its range; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Shape:
    """What the factory needs to know about the data."""

    horizon: int
    day: int  # steps per day
    past_covariates: bool


def lightgbm_lags(day: int, horizon: int, n_rows: int) -> list[int]:
    """Recent lags plus the same time one day and (if the data allows) one week earlier.

    LightGBM forecasts one step at a time (output_chunk_length 1, applied autoregressively): 3 quantile
    boosters instead of 3 x horizon, which on our 2-core machines is the difference between seconds and
    many minutes of training.
    """
    lags = set(range(1, min(day, 24) + 1)) | {day - 1, day, day + 1}
    week = 7 * day
    if n_rows > 3 * week:
        lags |= {week - 1, week, week + 1}
    return sorted(-lag for lag in lags if lag > 0)


def lightgbm_lookback_lags(day: int, lookback: int) -> list[int]:
    """The lags of a LightGBM given an input length (``--lookback``, param ``input_length``): the recent
    steps, the same time +-1 step on each of the last 7 days and on every whole week, none further back
    than ``lookback``.

    Why not every lag 1..lookback: a lookback of 720 hours with 7 target columns is 5,040 features, and the
    fit on ETTh2's 8,640 train rows did not finish in 17 minutes; this set is 52 lags (364 features,
    fit ~2 min CPU). Chosen on ETTh2's validation rows (horizon 96): MSE 0.337 against 0.508 with the
    default lags (docs/forecasting-energy.md)."""
    lags = set(range(1, min(day, 24) + 1))
    for k in range(1, 8):
        lags |= {k * day - 1, k * day, k * day + 1}
    week = 7 * day
    for k in range(1, lookback // week + 2):
        lags |= {k * week - 1, k * week, k * week + 1}
    return sorted(-lag for lag in lags if 0 < lag <= lookback)


def default_input_length(model_type: str, day: int, horizon: int, n_rows: int) -> int:
    if model_type == "lightgbm":
        return -min(lightgbm_lags(day, horizon, n_rows))
    if model_type == "seasonal_naive":
        return day
    return max(2 * day, 2 * horizon)


class _LgbProgress:
    """LightGBM callback: reports boosting progress over all boosters and raises on cancel."""

    order = 0

    def __init__(self, boosters: int, rounds: int, progress: Progress | None, stop: ShouldStop | None):
        self.total = max(1, boosters * rounds)
        self.done = 0
        self.progress, self.stop = progress, stop

    def __call__(self, env: Any) -> None:
        self.done += 1
        if self.stop is not None and self.stop():
            raise TrainingCanceled("training canceled")
        if self.progress is not None and self.done % 25 == 0:
            self.progress(min(1.0, self.done / self.total), "boosting")


def lightning_callback(epochs: int, progress: Progress | None, stop: ShouldStop | None) -> Any:
    """A Lightning callback reporting each finished epoch; raises TrainingCanceled between epochs."""
    import pytorch_lightning as pl

    class _Cb(pl.Callback):
        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            if stop is not None and stop():
                raise TrainingCanceled("training canceled")

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            if progress is not None:
                progress((trainer.current_epoch + 1) / max(1, epochs), f"epoch {trainer.current_epoch + 1}")
            if stop is not None and stop():
                raise TrainingCanceled("training canceled")

    return _Cb()


def trainer_kwargs(callbacks: list[Any]) -> dict[str, Any]:
    """CPU, no progress bar, no logger, no checkpoints: nothing is written to the working directory."""
    return {
        "accelerator": "cpu",
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
        "enable_checkpointing": False,
        "callbacks": callbacks,
    }


def build(
    model_type: str,
    params: dict[str, Any],
    shape: Shape,
    input_length: int,
    seed: int,
    n_rows: int,
    callbacks: list[Any] | None = None,
    validation: bool = False,
) -> Any:
    """A fresh, unfitted darts model with quantile output (10/50/90 %).

    Torch models take their defaults from ``torch_defaults``; with ``validation`` (``fit`` will get a
    validation series) they stop early on the validation loss and keep the best epoch's weights."""
    require_libraries(model_type)
    h = shape.horizon
    if model_type == "lightgbm":
        from darts.models import LightGBMModel

        return LightGBMModel(
            lags=lightgbm_lags(shape.day, h, n_rows)
            if "input_length" not in params
            else lightgbm_lookback_lags(shape.day, input_length),
            # No past covariates: their future values are unknown when forecasting autoregressively.
            lags_future_covariates=[0],
            output_chunk_length=1,
            likelihood="quantile",
            quantiles=list(QUANTILES),
            random_state=seed,
            n_estimators=int(params.get("n_estimators", 150)),
            num_leaves=int(params.get("num_leaves", 31)),
            learning_rate=float(params.get("learning_rate", 0.05)),
            min_child_samples=int(params.get("min_child_samples", 20)),
            n_jobs=int(params.get("threads", 2)),
            verbose=-1,
        )
    if model_type not in TORCH_TYPES:
        raise TrainingError(f"unknown darts model type {model_type!r}")
    from darts.utils.likelihood_models import QuantileRegression

    from trainers import torch_defaults as td

    def p(key: str, fallback: Any = None) -> Any:
        return td.param(model_type, params, key, fallback)

    n_epochs = epochs_of(model_type, params, validation)
    lr = float(p("lr", 3e-3))
    extra = td.early_stopping_callbacks(int(p("patience", 4))) if validation else []
    output: dict[str, Any] = {"likelihood": QuantileRegression(quantiles=list(QUANTILES))}
    if point_forecast(model_type, params):
        import torch

        output = {"likelihood": None, "loss_fn": torch.nn.MSELoss()}
    common: dict[str, Any] = {
        "input_chunk_length": input_length,
        "output_chunk_length": h,
        **output,
        "n_epochs": n_epochs,
        "batch_size": int(p("batch_size", 64)),
        "optimizer_kwargs": {"lr": lr},
        **td.scheduler(n_epochs, lr),
        "random_state": seed,
        "save_checkpoints": False,
        "log_tensorboard": False,
        "pl_trainer_kwargs": trainer_kwargs([*(callbacks or []), *extra]),
    }
    if model_type in td.RIN_TYPES:
        common["use_reversible_instance_norm"] = td.uses_rin(model_type, params)
    dropout = float(p("dropout", 0.1))
    if model_type == "tide":
        from darts.models import TiDEModel

        return TiDEModel(
            hidden_size=int(p("hidden_size", 64)),
            num_encoder_layers=int(p("num_encoder_layers", 1)),
            num_decoder_layers=int(p("num_decoder_layers", 1)),
            decoder_output_dim=int(p("decoder_output_dim", 8)),
            temporal_decoder_hidden=int(p("temporal_decoder_hidden", 16)),
            use_layer_norm=bool(p("layer_norm", 0)),
            dropout=dropout,
            **common,
        )
    if model_type == "dlinear":
        from darts.models import DLinearModel

        return DLinearModel(kernel_size=int(p("kernel_size", 25)), shared_weights=False, **common)
    if model_type == "nlinear":
        from darts.models import NLinearModel

        # darts refuses NLinear's own last-value normalisation with a quantile (probabilistic) output:
        # reversible instance normalisation takes its place (both remove the window's level).
        return NLinearModel(shared_weights=False, normalize=False, **common)
    if model_type == "lstm":
        from darts.models import BlockRNNModel

        layers = int(p("n_rnn_layers", 1))
        return BlockRNNModel(
            model="LSTM",
            hidden_dim=int(p("hidden_dim", 32)),
            n_rnn_layers=layers,
            dropout=dropout if layers > 1 else 0.0,
            **common,
        )
    from darts.models import TFTModel

    return TFTModel(
        hidden_size=int(p("hidden_size", 64)),
        lstm_layers=1,
        num_attention_heads=int(p("num_attention_heads", 2)),
        hidden_continuous_size=8,
        dropout=dropout,
        **common,
    )


def point_forecast(model_type: str, params: dict[str, Any]) -> bool:
    """True when ``model_type`` with ``params`` is a torch model trained on MSE (``loss`` ``mse``): its
    forecast is one value per step, with no quantile components."""
    return model_type in TORCH_TYPES and params.get("loss", "quantile") == "mse"


def libraries_missing(model_type: str) -> str | None:
    """None when this install can train and load ``model_type``, else which extra to install."""
    needs = ("darts", "lightgbm") if model_type == "lightgbm" else ()
    if model_type in TORCH_TYPES:
        needs = ("darts", "torch")
    for module in needs:
        msg = missing_extra(module)
        if msg is not None:
            return f"model type {model_type!r}: {msg}"
    return None


def require_libraries(model_type: str) -> None:
    msg = libraries_missing(model_type)
    if msg is not None:
        raise TrainingError(msg)


def output_chunk_length(model_type: str, horizon: int) -> int:
    return 1 if model_type in ("lightgbm", "seasonal_naive") else horizon


def uses_past_covariates(model_type: str) -> bool:
    return model_type in TORCH_TYPES


def uses_future_covariates(model_type: str) -> bool:
    """BlockRNN (our LSTM) takes past covariates only: calendar features go in as past covariates."""
    return model_type in ("lightgbm", "tide", "tft", "dlinear", "nlinear")


def future_covariates_refusal(model_type: str) -> str:
    """Why ``model_type`` cannot take supplied future covariates (see docs/forecasting-energy.md)."""
    why = {
        "lstm": "darts' BlockRNN (our lstm) reads past covariates only",
        "seasonal_naive": "seasonal naive reads no covariates",
    }.get(model_type, f"{model_type} takes no future covariates")
    ok = ", ".join(t for t in MODEL_TYPES if uses_future_covariates(t))
    return f"param future_covariates: {why}; models that take them: {ok}"


def fit(
    model: Any,
    model_type: str,
    params: dict[str, Any],
    series: Any,
    past: Any,
    future: Any,
    progress: Progress | None,
    stop: ShouldStop | None,
    val: tuple[Any, Any, Any] | None = None,
) -> None:
    """Fit with progress and cancellation; torch threads are limited first (shared 2-core machines).

    ``val`` = (series, past, future) of the validation rows (with their lookback context) for a torch
    model built with ``validation=True``: early stopping and the best epoch's weights."""
    if model_type == "lightgbm":
        boosters = len(QUANTILES)
        cb = _LgbProgress(boosters, int(params.get("n_estimators", 150)), progress, stop)
        max_rows = params.get("max_train_rows")
        model.fit(
            series,
            past_covariates=past,
            future_covariates=future,
            max_samples_per_ts=int(max_rows) if max_rows else None,
            callbacks=[cb],
        )
        return
    import torch

    torch.set_num_threads(int(params.get("threads", 2)))
    from trainers import torch_defaults as td

    max_samples = td.param(model_type, params, "max_samples", 4000)
    val_series, val_past, val_future = val or (None, None, None)
    model.fit(
        series,
        past_covariates=past,
        future_covariates=future,
        val_series=val_series,
        val_past_covariates=val_past if val_series is not None else None,
        val_future_covariates=val_future if val_series is not None else None,
        max_samples_per_ts=int(max_samples) if max_samples else None,
        verbose=False,
    )
    # The progress callback holds closures: never pickle it into the bundle.
    model.trainer_params["callbacks"] = []


def epochs_of(model_type: str, params: dict[str, Any], validation: bool = False) -> int:
    """Epoch budget: the param, else the model's default (a larger one when early stopping on a
    validation series decides where training ends)."""
    if model_type not in TORCH_TYPES:
        return 1
    if "n_epochs" in params:
        return int(params["n_epochs"])
    from trainers import torch_defaults as td

    return int(td.DEFAULTS[model_type]["max_epochs" if validation else "n_epochs"])


def check_params(model_type: str, params: dict[str, Any]) -> None:
    """Unknown keys, non-positive sizes and values out of ``PARAM_BOUNDS`` fail early (ParamError naming
    the param, with the allowed names or range)."""
    allowed = COMMON_PARAMS | MODEL_PARAMS.get(model_type, set())
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ParamError(
            unknown[0], f"unknown params for {model_type}: {unknown}; allowed: {sorted(allowed)}"
        )
    for key, value in params.items():
        if key == "future_covariates":
            if not (
                isinstance(value, list)
                and len(value) <= MAX_COVARIATES
                and all(isinstance(c, str) and 0 < len(c) <= MAX_NAME for c in value)
                and len(set(value)) == len(value)
            ):
                raise ParamError(
                    key,
                    f"param future_covariates must be a list of at most {MAX_COVARIATES} distinct column "
                    f"names (each 1..{MAX_NAME} characters), got {_short(value)}",
                )
            if value and not uses_future_covariates(model_type):
                raise ParamError(key, future_covariates_refusal(model_type))
            continue
        if key == "covariates":
            if value != "auto" and not (
                isinstance(value, list)
                and len(value) <= MAX_COVARIATES
                and all(isinstance(c, str) and 0 < len(c) <= MAX_NAME for c in value)
            ):
                raise ParamError(
                    key,
                    f"param covariates must be 'auto' or a list of at most {MAX_COVARIATES} column names "
                    f"(each 1..{MAX_NAME} characters), got {_short(value)}",
                )
            continue
        if key == "target_transform":
            from trainers.target_transform import PARAM_CHOICES

            if value not in PARAM_CHOICES:
                raise ParamError(key, f"param target_transform must be one of {list(PARAM_CHOICES)}")
            continue
        if key == "loss":
            if value not in LOSSES:
                raise ParamError(key, f"param loss must be one of {list(LOSSES)}, got {_short(value)}")
            continue
        if key in ("target", "detector"):
            if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME:
                raise ParamError(key, f"param {key} must be a string of 1..{MAX_NAME} characters")
            continue
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise ParamError(key, f"param {key} must be a number, got {_short(value)}")
        if value <= 0 and key not in ("dropout", "rin", "layer_norm"):
            raise ParamError(key, f"param {key} must be > 0, got {_short(value)}")
        _check_bound(key, value)


def _check_bound(key: str, value: float) -> None:
    bound = PARAM_BOUNDS.get(key)
    if bound is None:
        return
    hi = bound.upper()
    low_ok = value > bound.lo if bound.open_lo else value >= bound.lo
    if bound.integer and value != int(value):
        raise ParamError(key, f"param {key} must be an integer, got {_short(value)}")
    if not (low_ok and value <= hi):
        lo = f"({bound.lo:g}" if bound.open_lo else f"[{bound.lo:g}"
        raise ParamError(key, f"param {key} must be in {lo}, {hi:g}], got {_short(value)}")


def _short(value: Any) -> str:
    """A value for an error message, cut (a param may be 16 KiB of anything)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
