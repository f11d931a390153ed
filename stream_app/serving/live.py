"""Trained models in the stream: which version is active per asset, hot-swapped without a restart.

Every worker tails the (compacted) model-updates topic from the beginning and feeds each
``ModelUpdated`` to :meth:`LiveModels.apply`; the scoring pipeline asks :meth:`LiveModels.judge`
to re-judge each in-order reading of an asset that has an active trained model. No Kafka and no
asyncio here: the worker task moves the events, this module decides.

Cost model: a darts call costs ~20 ms here, so one model call per reading caps a worker near 50
readings/s of model-scored assets. A call returns a *plan* (the next ``plan_steps`` forecast points
with their band) and each reading is judged against the plan point for its timestamp. The
trained residual rule is calibrated on one-step forecasts, so ``plan_steps`` defaults to 1 (correct,
and the cost above); a longer plan is cheaper but over-flags as errors grow with the step (measured
on the steel data: 25 % of normal readings flagged with 24-step plans, 1 % with one-step plans).
Forecast events use a separate ``horizon``-step call; they become the plan only when the two agree.

Covariates: a bundle trained with covariate columns (``past_covariates``) reads them over its whole
input window. The pipeline hands every reading's covariates to :meth:`LiveModels.observe`, which keeps
them for assets with an active model (``serving.covariates``); a plan is made only when every point of
the window has them.

Supplied future covariates: a bundle trained with ``params.future_covariates`` reads their past values
from the readings (as above) and, for the steps it forecasts, the values the covariate-forecasts topic
supplied (``serving.supplied``, fed by ``agents.covariate_forecasts``). When a step lacks them the model
is not called: the online model scores and forecasts (the forecast event's ``model_id`` is the online
model's) and ``kilowatch_model_future_covariate_fallbacks_total`` counts it. Not calendar-only: the
model was never trained without the covariate, so a made-up value would be a guess.

The online detector keeps learning underneath in every case: it is the fallback for an asset
without a model, with too little history for the model's input length (or too few readings carrying
the model's covariates), for late readings, or when a model cannot be loaded or fails.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from stream_app import metrics
from stream_app.core.types import ForecastPoint, Verdict
from stream_app.core.window import AssetState
from stream_app.serving.cache import Broken, LoadedModels
from stream_app.serving.covariates import CovariateHistory
from stream_app.serving.model import ServedModel
from stream_app.serving.supplied import SuppliedCovariates

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ActiveModel:
    """The active version of one asset's model, as a model-update event announces it."""

    asset_id: str
    model_id: str
    version: str
    model_type: str
    artifact_uri: str

    @property
    def label(self) -> str:
        """What anomalies and forecasts carry as ``model_version``."""
        return f"{self.model_id}/{self.version}"


Loader = Callable[[ActiveModel], ServedModel]


@dataclass(slots=True)
class _Plan:
    label: str
    ts: list[float]
    points: list[ForecastPoint]
    tolerance: float

    def lookup(self, ts: float) -> ForecastPoint | None:
        i = bisect.bisect_left(self.ts, ts - self.tolerance)
        if i < len(self.ts) and abs(self.ts[i] - ts) <= self.tolerance:
            return self.points[i]
        return None


def _plan_of(label: str, points: list[ForecastPoint], last_ts: float) -> _Plan:
    stamps = [p.ts for p in points]
    step = (stamps[0] - last_ts) if stamps else 0.0
    return _Plan(label, stamps, points, tolerance=max(abs(step) / 2.0, 1e-6))


def _numeric(version: str) -> int:
    """The version as a gauge value ("3", "v3" -> 3; anything else -> 0)."""
    digits = version.lstrip("vV")
    return int(digits) if digits.isdigit() else 0


class LiveModels:
    """Active trained model per asset, a bounded cache of loaded models, and per-asset plans.

    ``capacity`` bounds the loaded models (LRU): with thousands of assets a worker keeps only those
    it scores. A version that fails to load is remembered as broken and not retried until a new
    update for the asset arrives, so a bad bundle costs one log line, not one per reading.
    """

    def __init__(
        self,
        loader: Loader,
        horizon: int,
        capacity: int = 256,
        per_asset_metrics: bool = False,
        plan_steps: int | None = None,
        window: int = 4096,
        supplied_steps: int = 2000,
    ) -> None:
        self.loader = loader
        # Readings judged per model call. The trained residual rule is calibrated on one-step
        # forecasts; multi-step plans are cheaper but their errors grow with the step.
        self.plan_steps = horizon if plan_steps is None else min(plan_steps, horizon)
        self.gauges = metrics.ActiveModels(per_asset_metrics)
        self.horizon = horizon
        self.capacity = capacity
        self.active: dict[str, ActiveModel] = {}
        # keyed by asset: a version that failed stays failed until a new update (never retried by time)
        self._loaded: LoadedModels[str, ServedModel] = LoadedModels(capacity, time.monotonic)
        self._plans: dict[str, _Plan] = {}
        # covariates of the last ``window`` readings (the worker's ring size) of assets with a model
        self.covariates = CovariateHistory(window)
        # supplied future covariates per asset (covariate-forecasts topic), the latest supplied_steps stamps
        self.supplied = SuppliedCovariates(supplied_steps)

    # --- updates --------------------------------------------------------------------------------
    def apply(self, update: ActiveModel) -> bool:
        """Make ``update`` the asset's active version. Returns False when it already was."""
        current = self.active.get(update.asset_id)
        if current == update:
            return False
        self.active[update.asset_id] = update
        self._plans.pop(update.asset_id, None)
        self._loaded.forgive(update.asset_id)
        self.gauges.set(update.asset_id, update.model_type, _numeric(update.version))
        log.info("asset %s now scored by %s (%s)", update.asset_id, update.label, update.model_type)
        return True

    def retire(self, asset_id: str) -> bool:
        """The asset has no trained model any more (deleted): score it online from now on."""
        if self.active.pop(asset_id, None) is None:
            return False
        self._loaded.drop(asset_id)
        self._plans.pop(asset_id, None)
        self.covariates.drop(asset_id)
        self.gauges.drop(asset_id)
        log.info("asset %s has no trained model any more: scored online", asset_id)
        return True

    def forget_history(self, asset_id: str) -> None:
        """The asset's state was reset: drop its plan (computed on the old history) and give a
        version that failed to load another chance; the active version stays."""
        self._plans.pop(asset_id, None)
        self.covariates.drop(asset_id)
        self._loaded.forgive(asset_id)

    def observe(self, asset_id: str, ts: float, covariates: Mapping[str, float]) -> None:
        """A new reading's covariates (before :meth:`judge`): kept while the asset has a model."""
        if covariates and asset_id in self.active:
            self.covariates.note(asset_id, ts, covariates)

    def install(self, update: ActiveModel, model: ServedModel) -> None:
        """Put an already loaded model in the cache (the worker loads it off the event loop)."""
        self._remember(update, model)

    def label_of(self, asset_id: str) -> str | None:
        active = self.active.get(asset_id)
        return active.label if active is not None else None

    # --- scoring --------------------------------------------------------------------------------
    def _model(self, active: ActiveModel) -> ServedModel | None:
        cached = self._loaded.get(active.asset_id, active.label)
        if isinstance(cached, Broken):
            return None
        if cached is not None:
            return cached
        try:
            model = self.loader(active)
        except Exception as exc:  # a bad bundle must not stop scoring: fall back to the online model
            log.exception("cannot load %s for asset %s, scoring it online", active.label, active.asset_id)
            metrics.MODEL_LOAD_FAILURES.inc()
            self._loaded.fail(active.asset_id, active.label, str(exc))
            return None
        self._remember(active, model)
        return model

    def _remember(self, active: ActiveModel, model: ServedModel) -> None:
        self._loaded.put(active.asset_id, active.label, model)

    def _call_plan(
        self,
        active: ActiveModel,
        model: ServedModel,
        ts: Sequence[float],
        values: Sequence[float],
        steps: int,
    ) -> _Plan | None:
        ahead_names = model.supplied_future_covariates
        names = (*model.past_covariates, *ahead_names)  # supplied ones' past values ride on the readings
        covariates = None
        if names:
            n = min(len(ts), model.input_length)
            covariates = self.covariates.columns(active.asset_id, ts[-n:], names)
            if covariates is None:  # readings without the model's covariates: the online model scores
                return None
            ts, values = ts[-n:], values[-n:]
        future = None
        if ahead_names:
            step = float(model.meta.freq_seconds)
            future = self.supplied.ahead(active.asset_id, ts[-1], step, steps, ahead_names)
            if future is None:  # no supplied values for the next steps: the online model answers
                metrics.MODEL_FUTURE_FALLBACKS.labels(active.model_type).inc()
                return None
        started = time.perf_counter()
        try:
            if future is not None:
                points = model.plan(ts, values, steps, covariates, future)
            elif covariates is None:
                points = model.plan(ts, values, steps)
            else:
                points = model.plan(ts, values, steps, covariates)
        except Exception:  # same policy as a load failure, but retried at the next plan
            log.exception("model %s failed for asset %s", active.label, active.asset_id)
            metrics.MODEL_INFERENCE_FAILURES.labels(active.model_type).inc()
            return None
        finally:
            metrics.MODEL_INFERENCE_SECONDS.labels(active.model_type).observe(time.perf_counter() - started)
        plan = _plan_of(active.label, points, ts[-1])
        if steps == self.plan_steps:
            self._plans[active.asset_id] = plan
        return plan

    def judge(self, asset_id: str, state: AssetState, online: Verdict) -> tuple[Verdict, str | None]:
        """Re-judge a reading the online detector has just absorbed into ``state``.

        Returns the verdict to emit and the model label that made it (None = the online model's).
        """
        active = self.active.get(asset_id)
        if active is None or online.status != "scored":
            return online, None
        model = self._model(active)
        if model is None:
            return online, None
        plan = self._plans.get(asset_id)
        point = plan.lookup(online.ts) if plan is not None and plan.label == active.label else None
        if point is None:
            ts, values, _ = state.ordered()
            history_ts, history_values = ts[:-1], values[:-1]  # the history before this reading
            if len(history_ts) < model.input_length:
                return online, None
            fresh = self._call_plan(active, model, history_ts, history_values, self.plan_steps)
            point = fresh.lookup(online.ts) if fresh is not None else None
            if point is None:
                return online, None
        score, kind, reason = model.judge(online.value, point)
        verdict = Verdict(
            online.ts,
            online.value,
            point.value,
            point.lower,
            point.upper,
            score,
            kind is not None,
            kind,
            reason,
            "scored",
        )
        return verdict, active.label

    def forecast(self, asset_id: str, state: AssetState) -> tuple[list[ForecastPoint], str] | None:
        """The trained model's forecast after the newest reading (also the asset's next plan)."""
        active = self.active.get(asset_id)
        if active is None:
            return None
        model = self._model(active)
        if model is None:
            return None
        ts, values, _ = state.ordered()
        if len(ts) < model.input_length:
            return None
        plan = self._call_plan(active, model, ts, values, self.horizon)
        if plan is None:
            return None
        return plan.points, active.label
