"""How each torch forecaster is trained: per-model defaults, early stopping with the best weights kept, and
a learning-rate schedule (what the TiDE, DLinear/NLinear and darts examples do, scaled to 2-core CPUs).

* Reversible instance normalisation (RevIN, Kim et al. 2022) for the models that have it: each input window
  is normalised by its own mean/std and the forecast de-normalised, so a level shift between the training
  rows and the forecast rows (ETTh2's test rows sit up to 2.9 training standard deviations away) does not
  reach the network.
* Early stopping on the validation loss (when a validation series is given) and the best epoch's weights
  restored at the end of training (kept in memory: nothing is written to the working directory).
* A cosine learning-rate decay over the epoch budget.
"""

from __future__ import annotations

import copy
import math
from typing import Any

# Defaults per model type (every key can be overridden through the model params).
# ``n_epochs`` is the budget without a validation series (training jobs, as before); ``max_epochs`` the
# budget when early stopping on validation rows decides where training ends (the backtest).
DEFAULTS: dict[str, dict[str, Any]] = {
    "tide": {
        "n_epochs": 8,
        "max_epochs": 40,
        "batch_size": 64,
        "lr": 3e-3,
        "hidden_size": 64,
        "dropout": 0.1,
        "max_samples": 4000,
        "patience": 4,
        "rin": 1,
    },
    "lstm": {
        "n_epochs": 8,
        "max_epochs": 40,
        "batch_size": 64,
        "lr": 3e-3,
        "hidden_dim": 32,
        "dropout": 0.1,
        "max_samples": 4000,
        "patience": 4,
        # RevIN on: lower MASE on the validation rows of all three energy data sets (steel 0.615 -> 0.576,
        # PJM 3 years 0.755 -> 0.686, PJM last 4,000 1.820 -> 1.599; docs/forecasting-energy.md)
        "rin": 1,
    },
    "tft": {
        "n_epochs": 8,
        "max_epochs": 30,
        "batch_size": 64,
        "lr": 3e-3,
        # hidden 64 (was darts' 16): lower MASE on the validation rows of all three energy sets (steel
        # 0.493 -> 0.475, PJM 3 years 0.795 -> 0.715, PJM last 4,000 at input length 12 1.629 -> 1.470);
        # about 3x the fit CPU (steel 126 -> 394 s). docs/forecasting-energy.md, "TFT's width".
        "hidden_size": 64,
        "dropout": 0.1,
        "max_samples": 4000,
        "patience": 3,
        # Instance normalisation on: better on the validation rows of all three energy sets (MASE steel
        # 0.546 -> 0.493, PJM 3 years 0.922 -> 0.795, PJM last 4,000 2.662 -> 1.843;
        # bench/results/energy_forecasts_validation.md, docs/forecasting-energy.md)
        "rin": 1,
    },
    "dlinear": {
        "n_epochs": 10,
        "max_epochs": 40,
        "batch_size": 64,
        "lr": 5e-3,
        "max_samples": 4000,
        "patience": 4,
        "rin": 1,
    },
    "nlinear": {
        "n_epochs": 10,
        "max_epochs": 40,
        "batch_size": 64,
        "lr": 5e-3,
        "max_samples": 4000,
        "patience": 4,
        "rin": 1,
    },
}
# Models whose darts class accepts use_reversible_instance_norm (on by default where "rin" is 1).
RIN_TYPES = ("tide", "tft", "dlinear", "nlinear", "lstm")
MIN_DELTA = 1e-4


def param(model_type: str, params: dict[str, Any], key: str, fallback: Any = None) -> Any:
    """The value of ``key``: the caller's param, else this model's default, else ``fallback``."""
    if key in params:
        return params[key]
    return DEFAULTS.get(model_type, {}).get(key, fallback)


def uses_rin(model_type: str, params: dict[str, Any]) -> bool:
    return model_type in RIN_TYPES and bool(param(model_type, params, "rin", 0))


def scheduler(n_epochs: int, lr: float) -> dict[str, Any]:
    """darts kwargs: cosine decay of the learning rate to 5 % over the epoch budget (stepped per epoch)."""
    import torch

    return {
        "lr_scheduler_cls": torch.optim.lr_scheduler.CosineAnnealingLR,
        "lr_scheduler_kwargs": {"T_max": max(1, n_epochs), "eta_min": 0.05 * lr},
    }


def early_stopping_callbacks(patience: int) -> list[Any]:
    """Stop when the validation loss has not improved for ``patience`` epochs; restore the best weights."""
    from pytorch_lightning.callbacks import EarlyStopping

    return [
        EarlyStopping(monitor="val_loss", patience=max(1, patience), min_delta=MIN_DELTA, mode="min"),
        best_weights_callback(),
    ]


def best_weights_callback() -> Any:
    """A Lightning callback that keeps the state of the epoch with the lowest ``val_loss`` in memory and
    loads it back when fitting ends (Lightning's ModelCheckpoint would write files)."""
    import pytorch_lightning as pl

    class BestWeights(pl.Callback):
        def __init__(self) -> None:
            self.best = math.inf
            self.state: dict[str, Any] | None = None
            self.best_epoch = -1

        def on_validation_epoch_end(self, trainer: Any, module: Any) -> None:
            if trainer.sanity_checking:
                return
            loss = trainer.callback_metrics.get("val_loss")
            if loss is None:
                return
            value = float(loss)
            if math.isfinite(value) and value < self.best:
                self.best, self.best_epoch = value, trainer.current_epoch
                self.state = copy.deepcopy(module.state_dict())

        def on_fit_end(self, trainer: Any, module: Any) -> None:
            if self.state is not None:
                module.load_state_dict(self.state)
                self.state = None  # the bundle pickles the model, never this copy

    return BestWeights()
