"""Every Prometheus metric kilowatch exports, declared once.

Label sets are bounded: no per-asset label (assets can number in the tens of thousands).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

READINGS = Counter(
    "kilowatch_readings_total",
    "Readings consumed, by outcome (scored, late, duplicate, dead_lettered).",
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
    "kilowatch_batch_size", "Readings per micro-batch.", buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000)
)
PRODUCE_TO_ANOMALY_SECONDS = Histogram(
    "kilowatch_produce_to_anomaly_seconds",
    "From the reading's Kafka timestamp to the anomaly event being handed to the producer.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CACHED_ASSETS = Gauge("kilowatch_cached_assets", "Assets whose model state this worker holds in memory.")
STATE_LOADS = Counter("kilowatch_state_loads_total", "Asset states rebuilt from the table (cache misses).")
CHANGELOG_BYTES = Counter(
    "kilowatch_state_changelog_bytes_total", "Bytes of state records written (key + value) to the changelog."
)
STATE_CORRUPT = Counter(
    "kilowatch_state_corrupt_total", "Asset states that could not be decoded and were started afresh."
)

# --- trained models in the stream (hot reload) ----------------------------------------------------
ACTIVE_TRAINED_MODELS = Gauge(
    "kilowatch_active_trained_models", "Assets for which this worker knows an active trained model version."
)
MODEL_INFERENCE_SECONDS = Histogram(
    "kilowatch_model_inference_seconds",
    "Wall time of one trained-model forecast call in the stream, by model type.",
    ["model_type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
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
