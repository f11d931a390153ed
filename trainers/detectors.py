"""Anomaly detectors saved alongside a forecaster: residual quantiles (darts) and a torch autoencoder.

Both turn a statistic into a score in [0, 1] with the empirical distribution of that statistic on
data the model did not train on (score = fraction of calibration values <= this one), so a score of
0.99 means "larger than 99 % of what we saw on normal data". Both persist as JSON / weights-only
tensors (no pickle).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stream_app.core.extras import missing_extra

CALIBRATION_POINTS = 1001


def calibration_grid(values: np.ndarray) -> np.ndarray:
    """A fixed-size summary (quantile grid) of a calibration sample: bounded bundle size."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.zeros(1)
    return np.quantile(v, np.linspace(0.0, 1.0, CALIBRATION_POINTS))


def empirical_score(grid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Fraction of the calibration grid at or below each value, in [0, 1]."""
    return np.searchsorted(grid, np.asarray(values, dtype=float), side="right") / len(grid)


@dataclass(frozen=True)
class Judged:
    """Verdicts of the residual rule, one entry per point."""

    score: np.ndarray  # in [0, 1]
    flag: np.ndarray  # bool
    kind: np.ndarray  # "spike" | "dip" | "normal"


@dataclass
class ResidualDetector:
    """darts QuantileDetector on normalised one-step residuals.

    The residual is divided by the forecast's own 10-90 % interval width, so a 5 kWh miss counts more
    at night (narrow interval) than at full production (wide interval).
    """

    quantile: float
    low: float = 0.0
    high: float = 0.0
    grid: np.ndarray | None = None

    @staticmethod
    def normalise(
        value: np.ndarray, expected: np.ndarray, lower: np.ndarray, upper: np.ndarray, floor: float
    ) -> np.ndarray:
        width = np.maximum(np.asarray(upper) - np.asarray(lower), floor)
        return (np.asarray(value) - np.asarray(expected)) / width

    def fit(self, z: np.ndarray) -> ResidualDetector:
        from darts import TimeSeries
        from darts.ad import QuantileDetector

        z = np.asarray(z, dtype=float)
        det = QuantileDetector(low_quantile=1.0 - self.quantile, high_quantile=self.quantile)
        det.fit(TimeSeries.from_values(z))
        self.low = float(np.ravel(det.low_threshold)[0])
        self.high = float(np.ravel(det.high_threshold)[0])
        self.grid = calibration_grid(np.abs(z))
        return self

    def judge(
        self,
        value: np.ndarray,
        expected: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        floor: float,
    ) -> Judged:
        """The residual rule, the only copy: every served verdict of a trained model comes from here
        (the stream's one reading at a time, the API's detect over a series, native or darts).

        z = (value - expected) / max(upper - lower, floor); flagged when z is outside the fitted
        [low, high] (strictly, as darts' ThresholdDetector); score = share of the calibration grid at
        or below |z|; kind "spike" above the expectation, "dip" below, "normal" when not flagged."""
        assert self.grid is not None
        value, expected = np.asarray(value, dtype=float), np.asarray(expected, dtype=float)
        z = self.normalise(value, expected, lower, upper, floor)
        flag = (z < self.low) | (z > self.high)
        kind = np.where(flag, np.where(value > expected, "spike", "dip"), "normal")
        return Judged(empirical_score(self.grid, np.abs(z)), flag, kind)

    def save(self, path: Path) -> None:
        assert self.grid is not None
        path.write_text(
            json.dumps(
                {
                    "kind": "residual",
                    "quantile": self.quantile,
                    "low": self.low,
                    "high": self.high,
                    "grid": self.grid.tolist(),
                }
            )
        )

    @classmethod
    def load(cls, path: Path) -> ResidualDetector:
        raw = json.loads(path.read_text())
        return cls(
            quantile=float(raw["quantile"]),
            low=float(raw["low"]),
            high=float(raw["high"]),
            grid=np.asarray(raw["grid"], dtype=float),
        )


def _windows(values: np.ndarray, length: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(np.asarray(values, dtype=np.float32), length)


class AutoencoderDetector:
    """A small torch MLP autoencoder over sliding windows of the (scaled) series.

    The window ending at row i scores row i (causal). The threshold is the ``quantile`` of the
    reconstruction error on training windows; the score is calibrated on the same errors.
    """

    def __init__(self, window: int, quantile: float = 0.98, hidden: int = 32, seed: int = 0) -> None:
        if window < 2:
            raise ValueError(f"autoencoder window must be at least 2 steps, got {window}")
        missing = missing_extra("torch")
        if missing is not None:
            from trainers.errors import TrainingError

            raise TrainingError(f"the autoencoder detector: {missing}")
        self.window, self.quantile, self.hidden, self.seed = window, quantile, hidden, seed
        self.threshold = 0.0
        self.grid = np.zeros(1)
        self.net = self._net()

    def _net(self) -> Any:
        import torch
        from torch import nn

        torch.manual_seed(self.seed)
        code = max(2, self.hidden // 4)
        return nn.Sequential(
            nn.Linear(self.window, self.hidden),
            nn.ReLU(),
            nn.Linear(self.hidden, code),
            nn.ReLU(),
            nn.Linear(code, self.hidden),
            nn.ReLU(),
            nn.Linear(self.hidden, self.window),
        )

    def _errors(self, values: np.ndarray) -> np.ndarray:
        import torch

        w = _windows(values, self.window)
        if len(w) == 0:
            return np.zeros(0)
        self.net.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(w), 4096):
                x = torch.from_numpy(np.ascontiguousarray(w[start : start + 4096]))
                out.append(((self.net(x) - x) ** 2).mean(dim=1).numpy())
        return np.concatenate(out).astype(float)

    def fit(
        self, values: np.ndarray, epochs: int = 40, max_windows: int = 5000, should_stop: Any = None
    ) -> AutoencoderDetector:
        import torch

        from trainers.errors import TrainingCanceled, TrainingError

        w = _windows(values, self.window)
        if len(w) < 10:
            raise TrainingError(f"autoencoder needs at least {self.window + 9} points, got {len(values)}")
        rng = np.random.default_rng(self.seed)
        sample = w[rng.choice(len(w), size=min(max_windows, len(w)), replace=False)]
        x = torch.from_numpy(np.ascontiguousarray(sample))
        opt = torch.optim.Adam(self.net.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(self.seed)
        self.net.train()
        for _ in range(epochs):
            if should_stop is not None and should_stop():
                raise TrainingCanceled("training canceled")
            for idx in torch.randperm(len(x), generator=gen).split(256):
                opt.zero_grad()
                loss = ((self.net(x[idx]) - x[idx]) ** 2).mean()
                loss.backward()
                opt.step()
        errors = self._errors(values)
        self.threshold = float(np.quantile(errors, self.quantile))
        self.grid = calibration_grid(errors)
        return self

    def reconstruction_errors(self, values: np.ndarray) -> np.ndarray:
        """Mean squared reconstruction error of each window, one per row from ``window - 1`` on."""
        return self._errors(values)

    def detect(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(score, is_anomaly) for every row from ``window - 1`` on (earlier rows have no full window)."""
        errors = self._errors(values)
        return empirical_score(self.grid, errors), errors > self.threshold

    def save(self, directory: Path) -> None:
        import torch

        torch.save(self.net.state_dict(), directory / "autoencoder.pt")
        (directory / "autoencoder.json").write_text(
            json.dumps(
                {
                    "kind": "autoencoder",
                    "window": self.window,
                    "quantile": self.quantile,
                    "hidden": self.hidden,
                    "seed": self.seed,
                    "threshold": self.threshold,
                    "grid": self.grid.tolist(),
                }
            )
        )

    @classmethod
    def load(cls, directory: Path) -> AutoencoderDetector:
        import torch

        raw = json.loads((directory / "autoencoder.json").read_text())
        det = cls(
            window=int(raw["window"]),
            quantile=float(raw["quantile"]),
            hidden=int(raw["hidden"]),
            seed=int(raw["seed"]),
        )
        det.net.load_state_dict(torch.load(directory / "autoencoder.pt", weights_only=True))
        det.threshold, det.grid = float(raw["threshold"]), np.asarray(raw["grid"], dtype=float)
        return det
