"""Every Prometheus metric kilowatch exports, declared once.

Label sets are bounded: no per-asset label (assets can number in the tens of thousands), except the
opt-in ``kilowatch_active_model_version`` series (``KILOWATCH_METRICS_PER_ASSET``).

One unit per metric, named by Prometheus conventions: base units (``_seconds``, ``_bytes``, ``_ratio``)
or the counted thing (``_readings``, ``_messages``) as the last word, ``_total`` on counters
(tests/unit/test_metrics_naming.py checks the registry). Every gauge names its ``multiprocess_mode``:
``kilowatch api`` with several workers runs prometheus-client's multi-process mode
(:func:`prepare_multiproc_dir`, :func:`scrape`, :func:`mark_process_dead`).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from stream_app import __version__

# prometheus-client's own variable: set before the client is imported, it makes every value a file in
# that folder, so one scrape sums every process of the API (``kilowatch api`` sets it for its workers).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

READINGS = Counter(
    "kilowatch_readings_total",
    "Readings consumed, by outcome (scored, late, duplicate, dead_lettered, failed; reset = an asset "
    "reset control message).",
    ["outcome"],
)
ANOMALIES = Counter("kilowatch_anomalies_total", "Anomaly events emitted, by type.", ["type"])
FORECASTS = Counter("kilowatch_forecasts_total", "Forecast events emitted.")
BATCH_SECONDS = Histogram(
    "kilowatch_batch_processing_seconds",
    "Wall time to score one micro-batch (decode, state, model, encode).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
BATCH_SIZE = Histogram(
    "kilowatch_batch_readings",
    "Readings per micro-batch.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
PRODUCE_TO_ANOMALY_SECONDS = Histogram(
    "kilowatch_produce_to_anomaly_seconds",
    "From the reading's Kafka timestamp to the anomaly event being handed to the producer.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CACHED_ASSETS = Gauge(
    "kilowatch_cached_assets",
    "Assets whose model state this worker holds in memory.",
    multiprocess_mode="livesum",
)
STATE_LOADS = Counter("kilowatch_state_loads_total", "Asset states rebuilt from the table (cache misses).")
STATE_EVICTIONS = Counter(
    "kilowatch_state_evictions_total",
    "Asset states dropped from the worker's cache (least recently used, past worker.state_cache_mib); "
    "rebuilt from the table on their next reading.",
)
CACHED_ASSET_BYTES = Gauge(
    "kilowatch_cached_asset_bytes",
    "Bytes of asset state this worker holds in its cache (ring and statistics).",
    multiprocess_mode="livesum",
)
CHANGELOG_BYTES = Counter(
    "kilowatch_state_changelog_bytes_total", "Bytes of state records written (key + value) to the changelog."
)
STATE_CORRUPT = Counter(
    "kilowatch_state_corrupt_total", "Asset states that could not be decoded and were started afresh."
)
READINGS_MISROUTED = Counter(
    "kilowatch_readings_misrouted_total",
    "Readings that arrived on another partition than Kafka's murmur2 hash of their key (or, keyless, "
    "of their asset_id) names: a producer with another partitioner (librdkafka's default) splits an "
    "asset's order and state; set partitioner=murmur2_random on it.",
)
DEAD_LETTERS_UNSENT = Counter(
    "kilowatch_dead_letters_unsent_total",
    "Dead letters the producer refused at once (logged with their source offset; the batch goes on).",
)

# --- observability (issue 5) ------------------------------------------------------------------------
# Worker: consumer lag and table sizes are sampled periodically by stream_app.worker.monitor.
CONSUMER_LAG = Gauge(
    "kilowatch_consumer_lag_messages",
    "Messages between the consumer's position and the partition's high watermark (per assigned partition).",
    ["topic", "partition"],
    multiprocess_mode="livemax",
)
TABLE_KEYS = Gauge(
    "kilowatch_table_keys",
    "Estimated keys in a state table on this worker (RocksDB estimate-num-keys, summed over partitions).",
    ["table"],
    multiprocess_mode="livesum",
)
WORKER_INFO = Gauge(
    "kilowatch_worker_info",
    "Always 1; labels name the worker.",
    ["worker_id", "app_id"],
    multiprocess_mode="livemax",
)

# Model lifecycle: declared here, incremented by the model registry / trainers (issue 3).
MODEL_INFERENCE_SECONDS = Histogram(
    "kilowatch_model_inference_seconds",
    "Time of one model call (forecast or score) by model type.",
    ["model_type"],
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
ACTIVE_MODELS = Gauge(
    "kilowatch_active_models",
    "Assets whose active model is of this type (this worker's view).",
    ["model_type"],
    multiprocess_mode="livesum",
)
ACTIVE_MODEL_VERSION = Gauge(
    "kilowatch_active_model_version",
    "Active model version of one asset; only exported when KILOWATCH_METRICS_PER_ASSET is true.",
    ["asset_id", "model_type"],
    multiprocess_mode="livemax",
)
TRAINING_JOBS = Counter(
    "kilowatch_training_jobs_total",
    "Training jobs that reached a state (queued, running, succeeded, failed, canceled).",
    ["state", "model_type"],
)
TRAINING_SECONDS = Histogram(
    "kilowatch_training_duration_seconds",
    "Wall time of finished training jobs.",
    ["model_type"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
# Hold-out error of the most recently trained version, one unit per gauge (it was one gauge with a
# ``metric`` label mixing MASE, sMAPE in percent and MAE in the meter's own unit). MAE is not exported:
# labelled by model type only, it would compare errors of assets in different units.
HOLDOUT_MASE = Gauge(
    "kilowatch_model_holdout_mase_ratio",
    "Hold-out MASE of the most recently trained version, by model type (its MAE over the seasonal-naive "
    "MAE on the training data: below 1 beats seasonal naive).",
    ["model_type"],
    multiprocess_mode="livemostrecent",
)
HOLDOUT_SMAPE = Gauge(
    "kilowatch_model_holdout_smape_ratio",
    "Hold-out symmetric mean absolute percentage error of the most recently trained version, by model "
    "type, as a ratio (0 to 2; 0.1 = 10 %).",
    ["model_type"],
    multiprocess_mode="livemostrecent",
)

# Alerting agent.
ALERT_EPISODES = Counter(
    "kilowatch_alert_episodes_total", "Alert episodes by transition (opened, closed).", ["transition"]
)
ALERT_DELIVERIES = Counter(
    "kilowatch_alert_deliveries_total",
    "Alert delivery attempts by channel and result (sent, retry, failed).",
    ["channel", "result"],
)
ALERT_QUEUE = Gauge(
    "kilowatch_queued_alerts", "Alerts waiting for delivery in this worker.", multiprocess_mode="livesum"
)

# Worker robustness (issue 14): timers and start-up steps that survive backend outages, training jobs
# recovered from dead workers, the model-update outbox, readings the history sink refuses.
PERIODIC_FAILURES = Counter(
    "kilowatch_worker_task_failures_total",
    "Failures of a worker timer or start-up step (logged, retried after a back-off), by task.",
    ["task"],
)
TRAINING_BACKEND_MISSES = Counter(
    "kilowatch_training_backend_misses_total",
    "Writes and reads of a running training job that found PostgreSQL or Redis down, by backend and kind "
    "(progress: kept and written later; log, status: dropped; cancel_check: taken as no cancel; lease; "
    "final: retried until the database answers).",
    ["backend", "kind"],
)
TRAINING_JOBS_RECOVERED = Counter(
    "kilowatch_training_jobs_recovered_total",
    "Open training jobs left by a dead worker, by what the recovery did (requeued, failed).",
    ["action"],
)
OUTBOX_EVENTS = Counter(
    "kilowatch_outbox_events_total",
    "Outbox events by result of a publish attempt (published, failed).",
    ["result"],
)
HISTORY_SKIPPED = Counter(
    "kilowatch_history_skipped_readings_total",
    "Readings the history sink did not store, by reason (future: dated too far ahead of now).",
    ["reason"],
)

# API: by route template (never the raw path) and status code.
API_REQUESTS = Counter(
    "kilowatch_api_requests_total",
    "HTTP requests by method, route template and status.",
    ["method", "route", "status"],
)
API_LATENCY = Histogram(
    "kilowatch_api_request_duration_seconds",
    "HTTP request latency by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class ActiveModels:
    """Keeps the active-model gauges consistent: one count per model type, per-asset series opt-in.

    The registry calls :meth:`set` whenever an asset's active version changes on this worker."""

    def __init__(self, per_asset: bool) -> None:
        self.per_asset = per_asset
        self._by_asset: dict[str, tuple[str, int]] = {}

    def set(self, asset_id: str, model_type: str, version: int) -> None:
        previous = self._by_asset.get(asset_id)
        if previous is not None:
            ACTIVE_MODELS.labels(previous[0]).dec()
            if self.per_asset and previous[0] != model_type:
                ACTIVE_MODEL_VERSION.remove(asset_id, previous[0])
        self._by_asset[asset_id] = (model_type, version)
        ACTIVE_MODELS.labels(model_type).inc()
        if self.per_asset:
            ACTIVE_MODEL_VERSION.labels(asset_id, model_type).set(version)

    def drop(self, asset_id: str) -> None:
        previous = self._by_asset.pop(asset_id, None)
        if previous is None:
            return
        ACTIVE_MODELS.labels(previous[0]).dec()
        if self.per_asset:
            ACTIVE_MODEL_VERSION.remove(asset_id, previous[0])


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]
UNMATCHED = "unmatched"


def route_template(scope: MutableMapping[str, Any]) -> str:
    """The matched route's template (FastAPI/Starlette put the route in the scope), else a fixed label,
    so a scan of random URLs cannot create unbounded series."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    # FastAPI >= 0.16x includes routers lazily: the route keeps its own path and the include prefix
    # (e.g. /api/v1) lives on the included router's context (tests/unit/test_api_pure.py pins this).
    included = (scope.get("fastapi") or {}).get("included_router")
    prefix = getattr(getattr(included, "include_context", None), "prefix", "")
    if isinstance(prefix, str) and prefix and not path.startswith(prefix):
        return prefix + path
    return path


class MetricsMiddleware:
    """Pure ASGI middleware counting requests and latency; ``app.add_middleware(MetricsMiddleware)``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            method = str(scope.get("method", "GET"))
            route = route_template(scope)
            API_REQUESTS.labels(method, route, str(status)).inc()
            API_LATENCY.labels(method, route).observe(time.perf_counter() - started)


# --- trained models in the stream (hot reload) ----------------------------------------------------
MODEL_INFERENCE_FAILURES = Counter(
    "kilowatch_model_inference_failures_total",
    "Trained-model forecast calls that raised (the reading was scored online instead), by model type.",
    ["model_type"],
)
MODEL_LOAD_FAILURES = Counter(
    "kilowatch_model_load_failures_total", "Model bundles that could not be loaded by a worker."
)
MODEL_UPDATES = Counter(
    "kilowatch_model_updates_total", "Model-update events applied by this worker, by action.", ["action"]
)
COVARIATE_FORECASTS = Counter(
    "kilowatch_covariate_forecasts_total",
    "Messages of the covariate-forecasts topic read by this worker, by outcome (stored; invalid: "
    "dead-lettered with the reason).",
    ["outcome"],
)
COVARIATES_RESTORED = Counter(
    "kilowatch_covariates_restored_total",
    "Readings' covariates read back from the state table for assets with a trained model (after a "
    "restart, rebalance or cache eviction).",
)
MODEL_FUTURE_FALLBACKS = Counter(
    "kilowatch_model_future_covariate_fallbacks_total",
    "Model calls not made because the supplied future covariates the model needs for the next steps "
    "were not there (the online model scored and forecast instead), by model type.",
    ["model_type"],
)

# --- sinks: Kafka topics -> PostgreSQL (readings history, results) ---------------------------------
SINK_ROWS = Counter(
    "kilowatch_sink_rows_total",
    "Rows a sink handed to PostgreSQL, by table and outcome (written; duplicate = already stored).",
    ["table", "outcome"],
)
SINK_BATCH_SECONDS = Histogram(
    "kilowatch_sink_batch_seconds",
    "Time to decode and store one consumed batch (before its offsets are committed), by sink.",
    ["sink"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
SINK_INVALID = Counter(
    "kilowatch_sink_invalid_messages_total",
    "Messages a sink skipped (unreadable, or refused by the database), by sink and topic.",
    ["sink", "topic"],
)
SINK_RETRIES = Counter(
    "kilowatch_sink_write_retries_total",
    "Batch writes retried because PostgreSQL was unavailable, by sink.",
    ["sink"],
)
SINK_DELETED = Counter(
    "kilowatch_sink_rows_deleted_total", "Rows deleted by a sink's retention, by table.", ["table"]
)

# --- REST API: training jobs (log streams) ----------------------------------------------------------
API_SSE_STREAMS = Gauge(
    "kilowatch_api_sse_streams",
    "Server-Sent-Events log streams of training jobs open in the API (summed over its processes).",
    multiprocess_mode="livesum",
)
API_ANOMALY_STREAMS = Gauge(
    "kilowatch_api_anomaly_streams",
    "Anomaly streams (Server-Sent Events) open in the API, each holding one LISTENing PostgreSQL "
    "connection (summed over its processes).",
    multiprocess_mode="livesum",
)

# --- synchronous inference API (issue 4 section 2) ------------------------------------------------
API_INFERENCE_SECONDS = Histogram(
    "kilowatch_api_inference_seconds",
    "Model time of one predict/detect request (queueing for the model included, HTTP excluded), by "
    "route (predict, detect) and engine (native = LightGBM boosters called directly, darts, online).",
    ["route", "engine"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
API_INFERENCE_BATCH = Histogram(
    "kilowatch_api_inference_batch_requests",
    "Predict requests served by one micro-batched LightGBM booster call sequence.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
API_MODEL_CACHE = Counter(
    "kilowatch_api_model_cache_total",
    "Model lookups of the API's model cache, by outcome (hit, load, load_failed, evicted).",
    ["outcome"],
)
API_INFERENCE_FALLBACKS = Counter(
    "kilowatch_api_inference_fallbacks_total",
    "Requests for an asset with an active trained model that the online model answered instead, by "
    "reason (load_failed, model_failed, short_history: fewer points than the trained model reads).",
    ["reason"],
)

# --- build ------------------------------------------------------------------------------------------
BUILD_INFO = Gauge(
    "kilowatch_build_info",
    "Always 1; labels name the running build: version, git revision (unknown when not built from a git "
    "checkout) and Python version. Exported by workers and the API.",
    ["version", "revision", "python_version"],
    multiprocess_mode="livemax",
)
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def git_revision(root: Path = _PACKAGE_ROOT) -> str:
    """The commit of the checkout the code runs from (read from .git, no subprocess), else "unknown"
    (an installed wheel or an image without .git)."""
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:40] or "unknown"
        ref = head.removeprefix("ref: ")
        loose = git / ref
        if loose.is_file():
            return loose.read_text().strip()[:40]
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split(" ", 1)[0]
    except OSError:  # not a git checkout (wheel, image): the revision is unknown, not an error
        return "unknown"
    return "unknown"


BUILD_INFO.labels(__version__, git_revision(), platform.python_version()).set(1)


# --- several API processes: prometheus-client multi-process mode ----------------------------------
def multiproc_dir() -> Path | None:
    """The multi-process folder this process writes its values to, if multi-process mode is on."""
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def prepare_multiproc_dir(path: Path) -> Path:
    """Create ``path`` and delete the value files of an earlier run (their counters would otherwise be
    added to this run's); called by the launcher before any worker process starts."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return path


def scrape() -> tuple[bytes, str]:
    """One scrape of this process, or of every process sharing the multi-process folder."""
    folder = multiproc_dir()
    if folder is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int | None = None) -> None:
    """Drop a finished process's live gauges (its counters and histograms keep counting in the sum)."""
    folder = multiproc_dir()
    if folder is not None:
        multiprocess.mark_process_dead(os.getpid() if pid is None else pid, str(folder))
