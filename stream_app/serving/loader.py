"""Load a registered model bundle for the stream: resolve its URI, check it, adapt it to ``LiveModel``.

The trainers (darts, torch, lightgbm) are imported on first use only, so a worker without the ML
extra still runs the online model; asking it to load a bundle then fails with a clear message and
the asset stays on the online model.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from schemas.errors import PrerequisiteMissing
from stream_app.core.types import AnomalyType, ForecastPoint
from stream_app.serving.live import ActiveModel, LiveModel, Loader
from stream_app.settings import Settings


class BundleModel:
    """A trained model as the stream uses it: one forecast per plan, a residual rule per point.

    LightGBM bundles forecast natively (``trainers.native``: darts' features in numpy, the boosters
    called directly — equal to darts' forecast, tests/contract/test_stream_adapter.py), about a
    hundred times cheaper than a darts ``predict``; other models go through darts.
    """

    def __init__(self, model: Any, window: int, *, native: bool = True) -> None:
        self.model = model
        self.input_length = int(model.input_length)
        if self.input_length > window:
            raise ValueError(
                f"model needs {self.input_length} points of history, the worker keeps {window} "
                "(raise KILOWATCH_WINDOW_SIZE or train with a shorter lookback)"
            )
        self.native: Any = None
        if native:
            from trainers.native import NativeLightGBM, native_reason

            if native_reason(model) is None:
                self.native = NativeLightGBM(model)

    def plan(self, ts: Sequence[float], values: Sequence[float], horizon: int) -> list[ForecastPoint]:
        if self.native is not None:
            return self._plan_native(ts, values, horizon)
        import pandas as pd

        n = self.input_length
        frame = pd.DataFrame(
            {"timestamp": pd.to_datetime(list(ts[-n:]), unit="s", utc=True), "value": list(values[-n:])}
        )
        out = self.model.predict(frame, horizon)
        return [
            ForecastPoint(t.timestamp(), float(v), float(lo), float(hi))
            for t, v, lo, hi in zip(
                out["timestamp"], out["predicted_value"], out["lower"], out["upper"], strict=True
            )
        ]

    def _plan_native(self, ts: Sequence[float], values: Sequence[float], horizon: int) -> list[ForecastPoint]:
        n = self.input_length
        stamps = np.round(np.asarray(ts[-n:], dtype=float) * 1e9).astype(np.int64)
        grid = self.native.grid(stamps, np.asarray(values[-n:], dtype=float), for_predict=True)
        (trip,) = self.native.forecast([grid], [horizon])
        at = self.native.forecast_stamps(grid, horizon) / 1e9
        return [
            ForecastPoint(float(t), float(mid), float(lo), float(hi))
            for t, (lo, mid, hi) in zip(at, trip, strict=True)
        ]

    def judge(self, value: float, point: ForecastPoint) -> tuple[float, AnomalyType | None, str]:
        score, flagged, kind, reason = self.model.judge_point(value, point.value, point.lower, point.upper)
        return score, (kind if flagged else None), reason


def load_trained(settings: Settings, artifact_uri: str, store: Any = None) -> Any:
    """The training backend's model (``trainers.backend.TrainedModel``) for a registered artifact URI.

    Blocking (file reads, unpickling, library imports): call it off the event loop."""
    from stream_app.lifecycle.artifacts import open_store

    try:
        backend = importlib.import_module(settings.training_backend)
    except ImportError as exc:
        raise PrerequisiteMissing(
            f"the ML extra is not installed ({exc}); pip install 'kilowatch[ml]'"
        ) from None
    return backend.load_model((store or open_store(settings)).get_dir(artifact_uri))


def bundle_loader(settings: Settings) -> Loader:
    """Resolve the URI through the artifact store, load with the training backend, adapt."""
    from stream_app.lifecycle.artifacts import open_store

    window = settings.window_size
    store = open_store(settings)

    def load(active: ActiveModel) -> LiveModel:
        return BundleModel(load_trained(settings, active.artifact_uri, store), window)

    return load
