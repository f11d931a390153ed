"""One protocol for a served model, used by the stream and the API alike.

A trained bundle (``trainers.backend.TrainedModel``) is served by an *engine*:

* ``native`` — LightGBM bundles: darts' features in numpy and the boosters called directly
  (``trainers.native``), about a hundred times cheaper than a darts ``predict`` and equal to it
  (tests/contract/test_stream_adapter.py);
* ``darts`` — every other model type, through the bundle's own ``predict`` / ``detect``.

Both engines judge a reading with **one rule**, the residual rule of the bundle
(``trainers.detectors.ResidualDetector.judge``): the stream one reading at a time against the
one-step plan it keeps (:meth:`ServedModel.judge`), the API over a whole series
(:meth:`ServedModel.detect`). So one model version gives the same verdict on the anomaly topic and
on ``detect_anomalies`` (tests/contract/test_serving_parity.py). A bundle trained with an autoencoder
answers with it only when a caller asks for ``detector="autoencoder"`` explicitly (the API's
detect option): the autoencoder needs whole regular windows, which the stream does not keep.

The trainers (darts, torch, lightgbm) are imported when a bundle is loaded, never at import time, so
a worker or API process without the ML extra still serves the online model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from schemas.bundle import BundleMetadata, DetectorName
from stream_app.core.types import AnomalyType, ForecastPoint

Engine = Literal["native", "darts", "online"]
Judgement = tuple[float, AnomalyType | None, str]  # (score in [0, 1], kind or None, reason)
Job = tuple[np.ndarray, np.ndarray, int]  # a batched forecast request: stamps (ns), values, horizon
JobResult = tuple[int, np.ndarray]  # (last grid stamp in ns, (horizon, 3) lower / predicted / upper)
Columns = Mapping[str, Sequence[float]]  # named series: a window's values and covariates, future values


@dataclass(frozen=True)
class Detected:
    """Verdicts over a series, one entry per judged reading (stamps in int64 ns, UTC)."""

    stamps: np.ndarray
    value: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    score: np.ndarray
    flag: np.ndarray
    kind: np.ndarray  # "spike" | "dip" | "normal"


class ServedModel(Protocol):
    """What the stream and the API need of a trained model."""

    engine: Engine
    meta: BundleMetadata

    @property
    def input_length(self) -> int:
        """Points of history a forecast needs."""

    @property
    def past_covariates(self) -> tuple[str, ...]:
        """Covariates (reading fields) the model reads over its input window; () = none."""

    @property
    def supplied_future_covariates(self) -> tuple[str, ...]:
        """Covariates whose values a forecast needs for its horizon too (``future`` of :meth:`plan` and
        :meth:`forecast`); their past values ride on the readings like ``past_covariates``."""

    def plan(
        self,
        ts: Sequence[float],
        values: Sequence[float],
        horizon: int,
        covariates: Mapping[str, Sequence[float]] | None = None,
        future: Mapping[str, Sequence[float]] | None = None,
    ) -> list[ForecastPoint]:
        """``horizon`` points after the history (epoch seconds, oldest first): the stream's plan.
        ``covariates`` holds each of ``past_covariates`` and ``supplied_future_covariates``, aligned
        with ``ts``; ``future`` ``horizon`` values of each supplied future covariate."""

    def judge(self, value: float, point: ForecastPoint) -> Judgement:
        """One observed value against its forecast point, by the bundle's residual rule."""

    def forecast(
        self, frame: Any, horizon: int, future: Mapping[str, Sequence[float]] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(stamps in ns, (horizon, 3) lower / predicted / upper) after a history frame (timestamp,
        value and covariate columns, as ``trainers.backend`` takes it); ``future`` as for :meth:`plan`."""

    def detect(
        self, stamps: np.ndarray, values: np.ndarray, frame: Any, detector: DetectorName = "residual"
    ) -> Detected:
        """Causal verdicts for every reading of a series that has ``input_length`` points before it."""


def _stamps_ns(col: Any) -> np.ndarray:
    """A pandas UTC timestamp column -> int64 ns."""
    return np.asarray(col.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]").astype(np.int64))


def _points(at: Any, lower: Any, predicted: Any, upper: Any) -> list[ForecastPoint]:
    """Forecast points from their stamps (epoch seconds) and bands, step by step."""
    return [
        ForecastPoint(float(t), float(v), float(lo), float(hi))
        for t, lo, v, hi in zip(at, lower, predicted, upper, strict=True)
    ]


# The columns of a bundle's verdicts (darts frame or native dict), in Detected's order, and their dtypes.
_VERDICT_COLUMNS: dict[str, type] = {
    "value": float,
    "expected": float,
    "lower": float,
    "upper": float,
    "score": float,
    "is_anomaly": bool,  # Detected.flag
    "kind": str,
}


def _detected(stamps: np.ndarray, columns: Mapping[str, np.ndarray]) -> Detected:
    return Detected(stamps, *(columns[name] for name in _VERDICT_COLUMNS))


class DartsEngine:
    """A bundle served through darts (every model type)."""

    engine: Engine = "darts"

    def __init__(self, model: Any) -> None:
        self.model = model  # trainers.backend.TrainedModel
        self.meta = BundleMetadata.model_validate(model.metadata)

    @property
    def input_length(self) -> int:
        return int(self.model.input_length)

    @property
    def past_covariates(self) -> tuple[str, ...]:
        return tuple(self.meta.features.past_covariates)

    @property
    def supplied_future_covariates(self) -> tuple[str, ...]:
        return tuple(self.meta.features.supplied_future_covariates)

    def plan(
        self,
        ts: Sequence[float],
        values: Sequence[float],
        horizon: int,
        covariates: Mapping[str, Sequence[float]] | None = None,
        future: Mapping[str, Sequence[float]] | None = None,
    ) -> list[ForecastPoint]:
        n = self.input_length
        window: dict[str, Sequence[float]] = {"value": values[-n:]}
        for name in (*self.past_covariates, *self.supplied_future_covariates):
            given = (covariates or {}).get(name)
            if given is None or len(given) != len(ts):
                raise ValueError(f"covariate {name!r} must be given for every point of the history")
            window[name] = given[-n:]
        return self._plan_window(ts[-n:], window, horizon, future)

    def _plan_window(
        self, ts: Sequence[float], window: Columns, horizon: int, future: Columns | None
    ) -> list[ForecastPoint]:
        """:meth:`plan` after the last ``input_length`` stamps ``ts``; ``window`` holds their values and
        covariates (the column names a bundle takes)."""
        import pandas as pd

        columns: dict[str, Any] = {"timestamp": pd.to_datetime(list(ts), unit="s", utc=True)}
        columns.update((name, list(given)) for name, given in window.items())
        out = self.model.predict(pd.DataFrame(columns), horizon, future)
        at = [t.timestamp() for t in out["timestamp"]]
        return _points(at, out["lower"], out["predicted_value"], out["upper"])

    def judge(self, value: float, point: ForecastPoint) -> Judgement:
        score, flagged, kind, reason = self.model.judge_point(value, point.value, point.lower, point.upper)
        return score, (kind if flagged else None), reason

    def forecast(
        self, frame: Any, horizon: int, future: Mapping[str, Sequence[float]] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        out = self.model.predict(frame, horizon, future)
        trip = out[["lower", "predicted_value", "upper"]].to_numpy(dtype=float)
        return _stamps_ns(out["timestamp"]), trip

    def detect(
        self, stamps: np.ndarray, values: np.ndarray, frame: Any, detector: DetectorName = "residual"
    ) -> Detected:
        out = self.model.detect(frame, detector)
        columns = {name: out[name].to_numpy(dtype=dtype) for name, dtype in _VERDICT_COLUMNS.items()}
        return _detected(_stamps_ns(out["timestamp"]), columns)


class NativeEngine(DartsEngine):
    """A LightGBM bundle served natively (numpy features, boosters called directly)."""

    engine: Engine = "native"

    def __init__(self, model: Any, native: Any) -> None:
        super().__init__(model)
        self.native = native  # trainers.native.NativeLightGBM

    @property
    def freq_ns(self) -> int:
        return int(self.native.freq_ns)

    def _plan_window(
        self, ts: Sequence[float], window: Columns, horizon: int, future: Columns | None
    ) -> list[ForecastPoint]:
        # native LightGBM bundles read no past or supplied future covariates (trainers.native.native_reason),
        # so the window holds the values alone
        stamps = np.round(np.asarray(ts, dtype=float) * 1e9).astype(np.int64)
        grid = self.native.grid(stamps, np.asarray(window["value"], dtype=float), for_predict=True)
        (trip,) = self.native.forecast([grid], [horizon])
        at = self.native.forecast_stamps(grid, horizon) / 1e9
        return _points(at, trip[:, 0], trip[:, 1], trip[:, 2])

    def forecast(
        self, frame: Any, horizon: int, future: Mapping[str, Sequence[float]] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        stamps = _stamps_ns(frame["timestamp"])
        ((last, trip),) = self.forecast_batch()([(stamps, frame["value"].to_numpy(dtype=float), horizon)])
        return last + np.arange(1, horizon + 1, dtype=np.int64) * self.freq_ns, trip

    def forecast_batch(self) -> Callable[[Sequence[Job]], list[Any]]:
        """The batch function of this model (for ``serving.batcher.MicroBatcher``): a grid per
        request, one forecast for all of them. Each result is a ``JobResult`` or the request's own
        exception (a bad request fails alone)."""
        nat = self.native

        def run(jobs: Sequence[Job]) -> list[JobResult | BaseException]:
            out: list[JobResult | BaseException] = []
            grids, horizons, where = [], [], []
            for stamps, values, horizon in jobs:
                try:
                    grid = nat.grid(stamps, values, for_predict=True)
                except Exception as exc:  # noqa: BLE001 - fails this request only, as its own error
                    out.append(exc)
                    continue
                out.append((int(grid.stamps[-1]), np.empty(0)))
                grids.append(grid)
                horizons.append(horizon)
                where.append(len(out) - 1)
            if grids:
                for i, res in zip(where, nat.forecast(grids, horizons), strict=True):
                    last = out[i]
                    assert isinstance(last, tuple)
                    out[i] = (last[0], res)
            return out

        return run

    def detect(
        self, stamps: np.ndarray, values: np.ndarray, frame: Any, detector: DetectorName = "residual"
    ) -> Detected:
        if detector != "residual":  # a native bundle has no autoencoder (trainers.native.native_reason)
            return super().detect(stamps, values, frame, detector)
        d = self.native.detect(self.native.grid(stamps, values, for_predict=False))
        return _detected(d["stamps"], d)


def serve(model: Any, *, native: bool = True) -> DartsEngine:
    """The engine for a loaded bundle: native when its layout allows it (and ``native``), else darts."""
    if native:
        from trainers.native import NativeLightGBM, native_reason

        if native_reason(model) is None:
            return NativeEngine(model, NativeLightGBM(model))
    return DartsEngine(model)
