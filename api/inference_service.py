"""Which model answers a predict/detect request; models loaded once per process, called off the loop.

* The active version comes from the registry (``model_versions``), cached ``api_model_lookup_s``
  seconds per asset: a promotion or rollback is served within that time. An asset without a row in
  ``assets`` is 404; a registered asset without an active version gets the online model.
* Loaded versions live in an LRU keyed by (asset, version) (``api_model_cache_size``). Loading runs in a
  thread (``asyncio.to_thread``) and concurrent first requests share one load. A version that fails to
  load is answered by the online model (the response says so) and retried after ``RETRY_BROKEN_S``.
* LightGBM bundles run on the native path (``trainers.native``): predict requests are micro-batched into
  one booster call per step on a dedicated thread. Other model types (tide, lstm, tft, seasonal naive),
  detection and the online model run in a pool of ``api_inference_threads`` threads.
* A model that rejects the input (``PredictionError``: too short after gap filling, a missing covariate)
  is 422 MODEL_INFERENCE_ERROR: the caller can fix it. Any other model failure is ours: the online model
  answers instead and the response names the fallback (counted in kilowatch_api_inference_fallbacks_total).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import asyncpg
import numpy as np

from api.batcher import MicroBatcher
from api.errors import ApiError, Code, not_found
from api.inference_input import Series, check_horizon, require_points
from stream_app import metrics
from stream_app.core import oneshot
from stream_app.core.online import OnlineDetector, OnlineParams
from stream_app.core.reasons import point_reason
from stream_app.db import repository as repo
from stream_app.model_loader import load_trained
from stream_app.settings import Settings

log = logging.getLogger(__name__)
RETRY_BROKEN_S = 30.0
LOOKUP_CAP = 10_000  # assets whose active-version lookup is remembered
K = TypeVar("K")
V = TypeVar("V")
Engine = Literal["native", "darts", "online"]
Job = tuple[np.ndarray, np.ndarray, int]  # a native predict request: stamps (ns), values, horizon


@dataclass(frozen=True)
class ActiveRef:
    asset_id: str
    version: int
    model_type: str
    artifact_uri: str


@dataclass(frozen=True)
class ModelInfo:
    kind: Literal["trained", "online"]
    model_type: str
    version: int | None
    engine: Engine
    input_length: int
    trained_horizon: int | None = None
    fallback_reason: str | None = None


@dataclass
class Loaded:
    ref: ActiveRef
    model: Any  # trainers.api.TrainedModel
    native: Any = None  # trainers.native.NativeLightGBM
    batcher: MicroBatcher[Job, tuple[int, np.ndarray]] | None = None

    @property
    def meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = self.model.metadata
        return meta

    def info(self) -> ModelInfo:
        return ModelInfo(
            "trained",
            self.ref.model_type,
            self.ref.version,
            "native" if self.native is not None else "darts",
            int(self.model.input_length),
            int(self.meta["horizon"]),
        )


@dataclass
class Broken:
    ref: ActiveRef
    error: str
    until: float


@dataclass(frozen=True)
class Forecast:
    stamps: np.ndarray  # int64 ns (UTC) of the forecast steps
    triples: np.ndarray  # (horizon, 3): lower, predicted, upper
    info: ModelInfo


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


class SingleFlight(Generic[K, V]):
    """Concurrent callers for one key share one running coroutine."""

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Task[V]] = {}

    async def run(self, key: K, make: Callable[[], Awaitable[V]]) -> V:
        task = self._running.get(key)
        if task is None:

            async def wrapped() -> V:
                try:
                    return await make()
                finally:
                    self._running.pop(key, None)

            task = asyncio.ensure_future(wrapped())
            self._running[key] = task
        return await asyncio.shield(task)


def _ns(seconds: float) -> int:
    """Epoch seconds (the online model's stamps) -> ns, exact to the microsecond."""
    return round(seconds * 1e6) * 1000


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
        self.clock = clock
        self.params = OnlineParams.from_settings(settings)
        self.pool = ThreadPoolExecutor(settings.api_inference_threads, thread_name_prefix="kw-infer")
        self.native_pool = ThreadPoolExecutor(1, thread_name_prefix="kw-native")
        self._lookups: OrderedDict[str, tuple[float, ActiveRef | None]] = OrderedDict()
        self._lookup_flight: SingleFlight[str, ActiveRef | None] = SingleFlight()
        self._models: OrderedDict[tuple[str, int], Loaded | Broken] = OrderedDict()
        self._load_flight: SingleFlight[ActiveRef, Loaded | Broken] = SingleFlight()
        self._store: Any = None

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.native_pool.shutdown(wait=False, cancel_futures=True)

    # --- which model ----------------------------------------------------------------------------------
    async def active(self, db: asyncpg.Pool, asset_id: str) -> ActiveRef | None:
        """The asset's active version (None: registered, no trained model); 404 for an unknown asset."""
        hit = self._lookups.get(asset_id)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        return await self._lookup_flight.run(asset_id, lambda: self._lookup(db, asset_id))

    async def _lookup(self, db: asyncpg.Pool, asset_id: str) -> ActiveRef | None:
        try:
            await repo.get_asset(db, asset_id)
        except repo.NotFound:
            raise not_found(f"Asset {asset_id!r}") from None
        mv = await repo.active_version(db, asset_id)
        ref = None if mv is None else ActiveRef(asset_id, mv.version, mv.model_type, mv.artifact_uri)
        self._lookups[asset_id] = (self.clock() + self.settings.api_model_lookup_s, ref)
        self._lookups.move_to_end(asset_id)
        while len(self._lookups) > LOOKUP_CAP:
            self._lookups.popitem(last=False)
        return ref

    async def model(self, ref: ActiveRef) -> Loaded | Broken:
        key = (ref.asset_id, ref.version)
        entry = self._models.get(key)
        if (
            entry is not None
            and entry.ref == ref
            and (isinstance(entry, Loaded) or entry.until > self.clock())
        ):
            self._models.move_to_end(key)
            metrics.API_MODEL_CACHE.labels("hit").inc()
            return entry
        return await self._load_flight.run(ref, lambda: self._load(ref))

    async def _load(self, ref: ActiveRef) -> Loaded | Broken:
        entry: Loaded | Broken
        try:
            entry = await asyncio.to_thread(self._load_blocking, ref)
            metrics.API_MODEL_CACHE.labels("load").inc()
        except Exception as exc:  # noqa: BLE001 - a bad bundle must not fail requests: online answers
            log.warning("cannot load model %s v%s: %s", ref.asset_id, ref.version, exc)
            metrics.API_MODEL_CACHE.labels("load_failed").inc()
            entry = Broken(ref, str(exc), self.clock() + RETRY_BROKEN_S)
        if isinstance(entry, Loaded) and entry.native is not None:
            entry.batcher = MicroBatcher(
                _native_batch(entry.native),
                self.native_pool,
                self.settings.api_batch_max,
                self.settings.api_batch_window_ms / 1000.0,
            )
        key = (ref.asset_id, ref.version)
        self._models[key] = entry
        self._models.move_to_end(key)
        while len(self._models) > self.settings.api_model_cache_size:
            self._models.popitem(last=False)
            metrics.API_MODEL_CACHE.labels("evicted").inc()
        return entry

    def _load_blocking(self, ref: ActiveRef) -> Loaded:
        from trainers.native import NativeLightGBM, native_reason

        if self._store is None:
            from stream_app.registry.artifacts import open_store

            self._store = open_store(self.settings)
        model = load_trained(self.settings, ref.artifact_uri, self._store)
        why = native_reason(model)
        if why is not None:
            log.info("model %s v%s runs in darts: %s", ref.asset_id, ref.version, why)
            return Loaded(ref, model)
        return Loaded(ref, model, NativeLightGBM(model))

    async def _resolve(self, db: asyncpg.Pool, asset_id: str) -> tuple[Loaded | None, str | None]:
        """The loaded trained model or None, and why a trained model is not used when there is one."""
        ref = await self.active(db, asset_id)
        if ref is None:
            return None, None
        entry = await self.model(ref)
        if isinstance(entry, Broken):
            metrics.API_INFERENCE_FALLBACKS.labels("load_failed").inc()
            return None, f"{ref.model_type} version {ref.version} could not be loaded"
        return entry, None

    def _failed(self, entry: Loaded) -> str:
        metrics.API_INFERENCE_FALLBACKS.labels("model_failed").inc()
        return f"{entry.ref.model_type} version {entry.ref.version} failed on this input"

    def _online_info(self, fallback: str | None) -> ModelInfo:
        return ModelInfo("online", OnlineDetector.name, None, "online", self.settings.warmup, None, fallback)

    async def _run(self, route: str, engine: Engine, fn: Callable[..., V], *args: Any) -> V:
        started = time.perf_counter()
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)
        finally:
            metrics.API_INFERENCE_SECONDS.labels(route, engine).observe(time.perf_counter() - started)

    # --- predict --------------------------------------------------------------------------------------
    async def predict(self, db: asyncpg.Pool, asset_id: str, series: Series, horizon: int) -> Forecast:
        from trainers.forecast import PredictionError

        check_horizon(horizon, self.settings.api_max_horizon)
        entry, fallback = await self._resolve(db, asset_id)
        if entry is not None:
            self._check_trained(entry, series)
            if int(entry.meta["output_chunk_length"]) > 1:
                check_horizon(horizon, int(entry.meta["horizon"]), f"this {entry.ref.model_type} model")
            try:
                return await self._predict_trained(entry, series, horizon)
            except PredictionError as exc:
                raise inference_error(exc, series.field) from None
            except Exception:
                log.exception("model %s v%s failed", entry.ref.asset_id, entry.ref.version)
                fallback = self._failed(entry)
        require_points(series, self.settings.warmup, "the online model")
        points = await self._run(
            "predict",
            "online",
            oneshot.forecast,
            self.params,
            series.seconds,
            series.values.tolist(),
            horizon,
        )
        triples = np.array([[p.lower, p.value, p.upper] for p in points]).reshape(-1, 3)
        stamps = np.array([_ns(p.ts) for p in points], dtype=np.int64)
        return Forecast(stamps, triples, self._online_info(fallback))

    def _check_trained(self, entry: Loaded, series: Series) -> None:
        who = f"the {entry.ref.model_type} model (version {entry.ref.version})"
        require_points(series, int(entry.model.input_length), who)
        series.require(list(entry.meta["features"]["past_covariates"]))

    async def _predict_trained(self, entry: Loaded, series: Series, horizon: int) -> Forecast:
        info = entry.info()
        if entry.batcher is not None:
            started = time.perf_counter()
            try:
                last, triples = await entry.batcher.submit((series.stamps, series.values, horizon))
            finally:
                metrics.API_INFERENCE_SECONDS.labels("predict", "native").observe(
                    time.perf_counter() - started
                )
            steps = np.arange(1, horizon + 1, dtype=np.int64) * entry.native.freq_ns
            return Forecast(last + steps, triples, info)
        out = await self._run("predict", "darts", entry.model.predict, series.frame(), horizon)
        triples = out[["lower", "predicted_value", "upper"]].to_numpy(dtype=float)
        return Forecast(_stamps(out["timestamp"]), triples, info)

    # --- detect ---------------------------------------------------------------------------------------
    async def detect(self, db: asyncpg.Pool, asset_id: str, series: Series) -> Detection:
        from trainers.forecast import PredictionError

        entry, fallback = await self._resolve(db, asset_id)
        if entry is not None:
            self._check_trained(entry, series)
            require_points(
                series, int(entry.model.input_length) + 1, f"detection with {entry.ref.model_type}"
            )
            try:
                return await self._detect_trained(entry, series)
            except PredictionError as exc:
                raise inference_error(exc, series.field) from None
            except Exception:
                log.exception("model %s v%s failed", entry.ref.asset_id, entry.ref.version)
                fallback = self._failed(entry)
        require_points(series, self.settings.warmup, "the online model")
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
        return Detection(flagged, scored, self._online_info(fallback))

    async def _detect_trained(self, entry: Loaded, series: Series) -> Detection:
        info = entry.info()
        if entry.native is not None:
            nat = entry.native

            def run() -> dict[str, np.ndarray]:
                out: dict[str, np.ndarray] = nat.detect(
                    nat.grid(series.stamps, series.values, for_predict=False)
                )
                return out

            d = await self._run("detect", "native", run)
            rows = np.flatnonzero(d["is_anomaly"])
            flagged = [
                Flagged(
                    int(d["stamps"][i]),
                    float(d["value"][i]),
                    float(d["expected"][i]),
                    float(d["lower"][i]),
                    float(d["upper"][i]),
                    float(d["score"][i]),
                    "spike" if d["value"][i] > d["expected"][i] else "dip",
                    point_reason(float(d["value"][i]), float(d["expected"][i])),
                )
                for i in rows
            ]
            return Detection(flagged, len(d["value"]), info)
        out = await self._run("detect", "darts", entry.model.detect, series.frame())
        hits = out[out["is_anomaly"]]
        flagged = [
            Flagged(
                int(t),
                float(r.value),
                float(r.expected),
                float(r.lower),
                float(r.upper),
                float(r.score),
                str(r.kind),
                str(r.reason),
            )
            for t, r in zip(_stamps(hits["timestamp"]), hits.itertuples(), strict=True)
        ]
        return Detection(flagged, len(out), info)


def _stamps(col: Any) -> np.ndarray:
    """A pandas UTC timestamp column -> int64 ns."""
    return np.asarray(col.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]").astype(np.int64))


def _native_batch(nat: Any) -> Callable[[Sequence[Job]], list[tuple[int, np.ndarray] | BaseException]]:
    """The batch function of one native model: a grid per request, one forecast for all of them.
    Each result is (last grid stamp in ns, triples)."""

    def run(jobs: Sequence[Job]) -> list[tuple[int, np.ndarray] | BaseException]:
        out: list[tuple[int, np.ndarray] | BaseException] = []
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
