"""Predict and detect for one asset: the trained model when it has one, else the online model.

An asset nobody registered is answered by the online model from the posted history alone (ad-hoc
prediction; nothing is stored or registered), and the answer says so (``asset_registered`` false,
``model.kind`` online). A history shorter than the asset's trained model reads is answered by the online
model too (``fallback_reason`` names what the trained model needs). The online model forecasts from two
points on (it takes the step from the stamps; ``model.note`` says its level and spread settle only after
``detector.warmup`` points) and flags anomalies from ``detector.warmup`` points on: fewer is a 400 whose
detail carries ``ctx: {needed, got}``.

Which version and its loading: ``api.services.model_cache``. LightGBM forecasts are micro-batched there; other
model types (tide, lstm, tft, seasonal naive), detection and the online model run in a pool of
``api_inference_threads`` threads, so CPU-bound calls never run on the event loop and at most that many
run at once. A model that rejects the input (``PredictionError``: too short after gap filling, a missing
covariate) is 422 MODEL_INFERENCE_ERROR: the caller can fix it. Any other model failure is ours: the
online model answers instead and the response names the fallback (kilowatch_api_inference_fallbacks_total).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import numpy as np

from api.http.errors import ApiError, Code
from api.services.inference_input import (
    MAX_SECONDS,
    Series,
    check_future,
    check_horizon,
    check_span,
    require_points,
)
from api.services.model_cache import Loaded, ModelCache, ModelInfo, UnknownAsset
from schemas.bundle import DetectorName
from stream_app import metrics
from stream_app.core import oneshot
from stream_app.core.online import OnlineDetector
from stream_app.core.reasons import point_reason
from stream_app.serving.model import Engine, NativeEngine
from stream_app.settings import Settings

log = logging.getLogger(__name__)
V = TypeVar("V")
ONLINE_MIN_POINTS = 2  # the online model forecasts once two stamps give it the step


@dataclass(frozen=True)
class Forecast:
    stamps: np.ndarray  # int64 ns (UTC) of the forecast steps
    triples: np.ndarray  # (horizon, 3): lower, predicted, upper
    info: ModelInfo
    registered: bool = True  # False: no asset with this id is registered


@dataclass(frozen=True)
class Flagged:
    timestamp: int  # ns (UTC)
    value: float
    expected: float
    lower: float
    upper: float
    score: float
    type: str
    reason: str


@dataclass(frozen=True)
class Detection:
    anomalies: list[Flagged]
    points_scored: int
    info: ModelInfo
    registered: bool = True


def _ns(seconds: float) -> int:
    """Epoch seconds (the online model's stamps) -> ns, exact to the microsecond."""
    return round(seconds * 1e6) * 1000


def _finite(f: Forecast) -> Forecast:
    """A forecast that JSON can carry (a model that overflowed has failed)."""
    if not np.isfinite(f.triples).all():
        raise ValueError("the model's forecast is not finite for these values")
    return f


def inference_error(exc: Exception, field_name: str) -> ApiError:
    return ApiError(
        422,
        Code.MODEL_INFERENCE_ERROR,
        "inference",
        details=[{"loc": ["body", field_name], "msg": str(exc), "type": "model_input"}],
        reason=str(exc),
    )


class InferenceService:
    """One per API process (``resources.extensions["inference"]``)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.models = ModelCache(settings, clock)
        self.params = settings.detector.params()
        self.pool = ThreadPoolExecutor(settings.api.inference_threads, thread_name_prefix="kw-infer")

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def _resolve(self, db: asyncpg.Pool, asset_id: str) -> tuple[Loaded | None, str | None, bool]:
        """The loaded trained model or None, why a trained model is not used when there is one, and
        whether the asset is registered."""
        try:
            ref = await self.models.active(db, asset_id)
        except UnknownAsset:
            return None, None, False
        if ref is None:
            return None, None, True
        entry = await self.models.model(ref)
        if not isinstance(entry, Loaded):
            metrics.API_INFERENCE_FALLBACKS.labels("load_failed").inc()
            return None, f"{ref.model_type} version {ref.version} could not be loaded", True
        return entry, None, True

    def _short(self, entry: Loaded, series: Series, needed: int) -> str | None:
        """Why the online model answers a history shorter than the trained model reads (None: long enough)."""
        if len(series) >= needed:
            return None
        metrics.API_INFERENCE_FALLBACKS.labels("short_history").inc()
        return (
            f"{entry.ref.model_type} version {entry.ref.version} needs at least {needed} points, got "
            f"{len(series)}: the online model answered from them"
        )

    def _failed(self, entry: Loaded) -> str:
        metrics.API_INFERENCE_FALLBACKS.labels("model_failed").inc()
        return f"{entry.ref.model_type} version {entry.ref.version} failed on this input"

    def _online_info(self, fallback: str | None, needs: int, got: int | None = None) -> ModelInfo:
        """The online model's description; ``got`` (predict) notes a history under its warm-up."""
        warmup = self.settings.detector.warmup
        note = None
        if got is not None and got < warmup:
            note = (
                f"answered from {got} points: the online model's level and bounds settle after {warmup} "
                "(detector.warmup); with fewer they are rough"
            )
        return ModelInfo("online", OnlineDetector.name, None, "online", needs, None, fallback, note)

    async def _run(self, route: str, engine: Engine, fn: Callable[..., V], *args: Any) -> V:
        started = time.perf_counter()
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)
        finally:
            metrics.API_INFERENCE_SECONDS.labels(route, engine).observe(time.perf_counter() - started)

    # --- predict --------------------------------------------------------------------------------------
    async def predict(
        self,
        db: asyncpg.Pool,
        asset_id: str,
        series: Series,
        horizon: int,
        future: dict[str, list[float]] | None = None,
    ) -> Forecast:
        """``future``: supplied future covariates (``PredictOptions.future_covariates``); a trained model
        that needs some gets exactly ``horizon`` values of each (``check_future``), others ignore them."""
        from trainers.forecast import PredictionError

        check_horizon(horizon, self.settings.api.max_horizon)
        entry, fallback, registered = await self._resolve(db, asset_id)
        if entry is not None:
            fallback = self._short(entry, series, entry.served.input_length)
        if entry is not None and fallback is None:
            self._check_trained(entry, series)
            meta = entry.served.meta
            if meta.output_chunk_length > 1:
                check_horizon(horizon, meta.horizon, f"this {entry.ref.model_type} model")
            supplied = check_future(list(meta.features.supplied_future_covariates), future, horizon)
            try:
                return _finite(await self._predict_trained(entry, series, horizon, supplied))
            except PredictionError as exc:
                raise inference_error(exc, series.field) from None
            except Exception:
                log.exception("model %s v%s failed", entry.ref.asset_id, entry.ref.version)
                fallback = self._failed(entry)
        require_points(series, ONLINE_MIN_POINTS, "the online model")
        points = await self._run(
            "predict",
            "online",
            oneshot.forecast,
            self.params,
            series.seconds,
            series.values.tolist(),
            horizon,
        )
        if points and not points[-1].ts <= MAX_SECONDS:  # the step comes from the caller's stamps
            late = ValueError("the forecast would run past 2200-01-01 (the history's step x the horizon)")
            raise inference_error(late, "forecast_horizon")
        triples = np.array([[p.lower, p.value, p.upper] for p in points]).reshape(-1, 3)
        stamps = np.array([_ns(p.ts) for p in points], dtype=np.int64)
        info = self._online_info(fallback, ONLINE_MIN_POINTS, len(series))
        try:
            return _finite(Forecast(stamps, triples, info, registered))
        except ValueError as exc:
            raise inference_error(exc, series.field) from None

    def _check_trained(self, entry: Loaded, series: Series) -> None:
        who = f"the {entry.ref.model_type} model (version {entry.ref.version})"
        meta = entry.served.meta
        require_points(series, entry.served.input_length, who)
        # supplied future covariates' past values ride on the history points like past covariates
        series.require([*meta.features.past_covariates, *meta.features.supplied_future_covariates])
        # gaps are filled on the model's grid: a few points years apart must not make a huge grid
        check_span(series, meta.freq_seconds, self.settings.api.max_points)

    async def _predict_trained(
        self,
        entry: Loaded,
        series: Series,
        horizon: int,
        future: dict[str, list[float]] | None = None,
    ) -> Forecast:
        info = entry.info()
        if entry.batcher is not None:
            started = time.perf_counter()
            try:
                last, triples = await entry.batcher.submit((series.stamps, series.values, horizon))
            finally:
                metrics.API_INFERENCE_SECONDS.labels("predict", "native").observe(
                    time.perf_counter() - started
                )
            assert isinstance(entry.served, NativeEngine)  # only native engines are batched
            steps = np.arange(1, horizon + 1, dtype=np.int64) * entry.served.freq_ns
            return Forecast(last + steps, triples, info)
        stamps, triples = await self._run(
            "predict", entry.served.engine, entry.served.forecast, series.frame(), horizon, future
        )
        return Forecast(stamps, triples, info)

    # --- detect ---------------------------------------------------------------------------------------
    async def detect(
        self, db: asyncpg.Pool, asset_id: str, series: Series, detector: DetectorName = "residual"
    ) -> Detection:
        from trainers.forecast import PredictionError

        entry, fallback, registered = await self._resolve(db, asset_id)
        if entry is not None and detector == "residual":
            fallback = self._short(entry, series, entry.served.input_length + 1)
        if entry is not None and fallback is None:
            self._check_trained(entry, series)
            require_points(series, entry.served.input_length + 1, f"detection with {entry.ref.model_type}")
            try:
                return await self._detect_trained(entry, series, detector)
            except PredictionError as exc:
                raise inference_error(exc, series.field) from None
            except Exception:
                log.exception("model %s v%s failed", entry.ref.asset_id, entry.ref.version)
                fallback = self._failed(entry)
        if detector != "residual":
            why = "its trained model failed" if fallback else "it has no trained model version"
            if not registered:
                why = "no asset with this id is registered"
            raise inference_error(ValueError(f"no autoencoder answers this asset: {why}"), "detector")
        warmup = self.settings.detector.warmup
        require_points(series, warmup, "the online model (flagging starts after detector.warmup points)")
        _, verdicts = await self._run(
            "detect", "online", oneshot.replay, self.params, series.seconds, series.values.tolist()
        )
        flagged = [
            Flagged(
                _ns(v.ts),
                v.value,
                v.expected,
                v.lower,
                v.upper,
                v.score,
                v.kind or "spike",
                v.reason,
            )
            for v in verdicts
            if v.is_anomaly
        ]
        scored = sum(1 for v in verdicts if v.status == "scored")
        return Detection(flagged, scored, self._online_info(fallback, warmup), registered)

    async def _detect_trained(self, entry: Loaded, series: Series, detector: DetectorName) -> Detection:
        """The served model's verdicts: the residual rule the stream applies to the same version
        (``stream_app.serving.model``), or its autoencoder when asked for explicitly."""
        served = entry.served
        frame = series.frame() if served.engine == "darts" or detector != "residual" else None
        d = await self._run(
            "detect", served.engine, served.detect, series.stamps, series.values, frame, detector
        )
        flagged = [
            Flagged(
                int(d.stamps[i]),
                float(d.value[i]),
                float(d.expected[i]),
                float(d.lower[i]),
                float(d.upper[i]),
                float(d.score[i]),
                str(d.kind[i]),
                point_reason(float(d.value[i]), float(d.expected[i])),
            )
            for i in np.flatnonzero(d.flag)
        ]
        return Detection(flagged, len(d.value), entry.info())
