"""A small REAL training backend with the trainers API's names (load_frame, TrainSpec, train, evaluate,
load_model), used by the registry tests until the trainers branch lands: a least-squares one-step
model y[t] = a + b*y[t-1] + c*y[t-season], evaluated by MASE against seasonal naive.

Test-only knobs in ``params``: ``stage_sleep_s`` (sleep in each of 10 training stages, checking
should_stop), ``ignore_stop`` (sleep without checking: forces terminate/kill), ``crash`` ("raise" or
"exit": a bug / a dying process), ``burn_s`` (seconds of CPU-bound fitting), ``bias`` (added to every
prediction: a deliberately worse model).
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from schemas.errors import KilowatchError
from trainers import backend

MODEL_TYPES = ("lsq",)
NAIVE_SEASON = 96  # the seasonal-naive reference of MASE (one day of 15-minute readings)


class TrainingError(KilowatchError):
    pass


class TrainingCanceled(KilowatchError):
    pass


class TrainSpec(backend.TrainSpec):
    """The trainers API's spec (its fields and defaults), checked for this backend's one model type."""

    def validate(self) -> None:
        if self.model_type not in MODEL_TYPES:
            raise TrainingError(
                f"unknown model type {self.model_type!r}; choose from {', '.join(MODEL_TYPES)}"
            )
        season = self.params.get("season", 96)
        if not isinstance(season, int) or season < 1:
            raise TrainingError("params.season must be a positive integer")


def load_frame(source: str | Path | bytes) -> pd.DataFrame:
    try:
        raw = source if isinstance(source, bytes) else Path(source).read_bytes()
        df = pd.read_csv(io.BytesIO(raw))
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise TrainingError(f"unparsable CSV: {exc}") from None
    ts_col = next((c for c in ("timestamp", "Datetime", "date") if c in df.columns), None)
    if ts_col is None:
        raise TrainingError("CSV has no timestamp column (timestamp, Datetime or date)")
    numeric = [c for c in df.columns if c != ts_col and pd.api.types.is_numeric_dtype(df[c])]
    target = "value" if "value" in numeric else (numeric[0] if numeric else None)
    if target is None:
        raise TrainingError("CSV has no numeric target column")
    ts = pd.to_datetime(df[ts_col], utc=True, errors="coerce")
    if ts.isna().any():
        raise TrainingError(f"unparsable timestamps in column {ts_col!r}")
    out = pd.DataFrame({"timestamp": ts, "value": df[target].astype(float)}).dropna()
    return out.sort_values("timestamp").drop_duplicates("timestamp", keep="last").reset_index(drop=True)


class TrainedModel:
    def __init__(self, coef: np.ndarray, season: int, metadata: dict[str, Any]) -> None:
        self.coef, self.season, self.metadata = coef, season, metadata
        self.input_length = season

    def one_step(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = self.season
        x = np.column_stack([np.ones(len(y) - s), y[s - 1 : -1], y[:-s]])
        return x @ self.coef + float(self.metadata.get("params", {}).get("bias", 0.0)), y[s:], y[:-s]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "coef.npy", self.coef)
        (directory / "metadata.json").write_text(json.dumps({**self.metadata, "season": self.season}))


def _mase(pred: np.ndarray, actual: np.ndarray, naive: np.ndarray) -> dict[str, float]:
    err = np.abs(pred - actual)
    denom = float(np.mean(np.abs(naive - actual))) or 1e-12
    return {
        "mae": float(err.mean()),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mase": float(err.mean()) / denom,
    }


def train(
    frame: pd.DataFrame,
    spec: TrainSpec,
    progress: Callable[[float, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainedModel:
    spec.validate()
    p = spec.params
    season = int(p.get("season", 96))
    if season > NAIVE_SEASON:
        raise TrainingError(f"params.season must be at most {NAIVE_SEASON}")
    need = 2 * NAIVE_SEASON + 10
    if len(frame) < need:
        raise TrainingError(f"too little data: {len(frame)} rows, need at least {need}")
    if p.get("crash") == "raise":
        raise RuntimeError("boom in training")
    if p.get("crash") == "exit":
        os._exit(3)
    for stage in range(10):
        if p.get("ignore_stop"):
            time.sleep(float(p.get("stage_sleep_s", 0)))
        else:
            deadline = time.monotonic() + float(p.get("stage_sleep_s", 0))
            while time.monotonic() < deadline:
                if should_stop and should_stop():
                    raise TrainingCanceled("stopped between stages")
                time.sleep(0.05)
        if should_stop and should_stop() and not p.get("ignore_stop"):
            raise TrainingCanceled("stopped between stages")
        if progress:
            progress(10.0 * (stage + 1), f"stage {stage + 1}/10")
    y = frame["value"].to_numpy(dtype=float)
    burn_until = time.monotonic() + float(p.get("burn_s", 0))
    while time.monotonic() < burn_until:  # CPU-bound work like a real trainer's (benchmarks)
        if should_stop and should_stop():
            raise TrainingCanceled("stopped while fitting")
        np.linalg.lstsq(np.column_stack([y[:-1], np.ones(len(y) - 1)]), y[1:], rcond=None)
    x = np.column_stack([np.ones(len(y) - season), y[season - 1 : -1], y[:-season]])
    coef, *_ = np.linalg.lstsq(x, y[season:], rcond=None)
    m = TrainedModel(coef, season, {"model_type": spec.model_type, "params": p})
    m.metadata["metrics"] = evaluate(m, frame)
    return m


def evaluate(model: TrainedModel, frame: pd.DataFrame) -> dict[str, float]:
    """One-step MASE over the rows after the first NAIVE_SEASON (same points whatever the model's season)."""
    y = frame["value"].to_numpy(dtype=float)
    pred, actual, _ = model.one_step(y)
    k = NAIVE_SEASON - model.season
    return _mase(pred[k:], actual[k:], y[: len(y) - NAIVE_SEASON])


def load_model(directory: Path) -> TrainedModel:
    meta = json.loads((directory / "metadata.json").read_text())
    return TrainedModel(np.load(directory / "coef.npy"), int(meta["season"]), meta)
