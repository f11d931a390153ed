"""Which trained model version answers an asset, loaded once per API process.

* The active version comes from the registry (``model_versions``), cached ``api_model_lookup_s`` seconds
  per asset: a promotion or rollback is served within that time. An asset without a row in ``assets``
  raises :class:`UnknownAsset` (the online model answers it, from the posted history alone); a
  registered asset without an active version has no trained model (the online model answers too).
* Loaded versions live in the serving package's LRU (``stream_app.serving.cache``) keyed by (asset,
  version) (``api_model_cache_size``), each behind its engine (``stream_app.serving.model``: native
  LightGBM or darts — the same engines the stream uses). Loading runs in a thread
  (``asyncio.to_thread``) and concurrent first requests share one load. A version that fails to load
  is remembered as broken (the online model answers) and retried after ``RETRY_BROKEN_S``.
* Native engines get a micro-batcher (``stream_app.serving.batcher``): concurrent predict requests
  share one booster call per forecast step.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import asyncpg

from api.http.errors import unavailable
from schemas.errors import KilowatchError
from stream_app import metrics
from stream_app.serving.batcher import MicroBatcher
from stream_app.serving.cache import Broken, LoadedModels
from stream_app.serving.loader import load_served
from stream_app.serving.model import DartsEngine, Engine, Job, JobResult, NativeEngine
from stream_app.settings import Settings
from stream_app.store import repository as repo

log = logging.getLogger(__name__)
RETRY_BROKEN_S = 30.0
LOOKUP_CAP = 10_000  # assets whose active-version lookup is remembered
K = TypeVar("K")
V = TypeVar("V")


class UnknownAsset(KilowatchError):
    """No asset with this id is registered (never cached: registering it takes effect at once)."""


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
    note: str | None = None


@dataclass
class Loaded:
    ref: ActiveRef
    served: DartsEngine  # the engine (NativeEngine for LightGBM bundles that allow it)
    batcher: MicroBatcher[Job, JobResult] | None = None

    def info(self) -> ModelInfo:
        return ModelInfo(
            "trained",
            self.ref.model_type,
            self.ref.version,
            self.served.engine,
            self.served.input_length,
            self.served.meta.horizon,
        )


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


class ModelCache:
    """Active-version lookups and loaded models of one API process."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self._lookups: OrderedDict[str, tuple[float, ActiveRef | None]] = OrderedDict()
        self._lookup_flight: SingleFlight[str, ActiveRef | None] = SingleFlight()
        self._models: LoadedModels[tuple[str, int], Loaded] = LoadedModels(
            settings.api.model_cache_size, clock, RETRY_BROKEN_S
        )
        self._load_flight: SingleFlight[ActiveRef, Loaded | Broken] = SingleFlight()
        self._store: Any = None
        self._frozen = False

    async def active(self, db: asyncpg.Pool, asset_id: str) -> ActiveRef | None:
        """The asset's active version (None: registered, no trained model); UnknownAsset for an asset
        the registry does not know."""
        hit = self._lookups.get(asset_id)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        return await self._lookup_flight.run(asset_id, lambda: self._lookup(db, asset_id))

    async def _lookup(self, db: asyncpg.Pool, asset_id: str) -> ActiveRef | None:
        try:
            await repo.get_asset(db, asset_id)
            mv = await repo.active_version(db, asset_id)
        except repo.NotFound:
            raise UnknownAsset(asset_id) from None
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            stale = self._lookups.get(asset_id)
            if stale is None:
                log.warning("active version of %s unknown, PostgreSQL failed: %s", asset_id, exc)
                raise unavailable("PostgreSQL") from None
            # a brief outage should not take forecasts down: the last known version, asked again later
            log.warning("PostgreSQL failed (%s): %s keeps its last known model for now", exc, asset_id)
            self._lookups[asset_id] = (self.clock() + self.settings.api.model_lookup_s, stale[1])
            return stale[1]
        ref = None if mv is None else ActiveRef(asset_id, mv.version, mv.model_type, mv.artifact_uri)
        self._lookups[asset_id] = (self.clock() + self.settings.api.model_lookup_s, ref)
        self._lookups.move_to_end(asset_id)
        while len(self._lookups) > LOOKUP_CAP:
            self._lookups.popitem(last=False)
        return ref

    async def model(self, ref: ActiveRef) -> Loaded | Broken:
        entry = self._models.get((ref.asset_id, ref.version), ref.artifact_uri)
        if entry is not None:
            metrics.API_MODEL_CACHE.labels("hit").inc()
            return entry
        return await self._load_flight.run(ref, lambda: self._load(ref))

    async def _load(self, ref: ActiveRef) -> Loaded | Broken:
        key = (ref.asset_id, ref.version)
        try:
            served = await asyncio.to_thread(self._load_blocking, ref)
            metrics.API_MODEL_CACHE.labels("load").inc()
            if not self._frozen:
                # The first load imports darts, torch and LightGBM: hundreds of thousands of long-lived
                # objects that every full collection would walk again (pauses of ~120 ms under load,
                # the largest part of the p99). Frozen, the collector skips them.
                gc.freeze()
                self._frozen = True
        except Exception as exc:  # noqa: BLE001 - a bad bundle must not fail requests: online answers
            log.warning("cannot load model %s v%s: %s", ref.asset_id, ref.version, exc)
            metrics.API_MODEL_CACHE.labels("load_failed").inc()
            return self._models.fail(key, ref.artifact_uri, str(exc))
        entry = Loaded(ref, served)
        if isinstance(served, NativeEngine):
            entry.batcher = MicroBatcher(
                served.forecast_batch(),
                None,  # on the loop: the forecast holds the GIL anyway (serving.batcher)
                self.settings.api.batch_max,
                self.settings.api.batch_window_ms / 1000.0,
            )
        for _ in range(self._models.put(key, ref.artifact_uri, entry)):
            metrics.API_MODEL_CACHE.labels("evicted").inc()
        return entry

    def _load_blocking(self, ref: ActiveRef) -> DartsEngine:
        if self._store is None:
            from stream_app.lifecycle.artifacts import open_store

            self._store = open_store(self.settings)
        served = load_served(self.settings, ref.artifact_uri, self._store)
        if served.engine != "native":
            log.info("model %s v%s runs in darts", ref.asset_id, ref.version)
        return served
