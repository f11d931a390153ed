"""The one settings object: frozen, env prefix ``KILOWATCH_``, passed in explicitly.

Nothing below the entry points (CLI, worker factory, API factory) reads the environment.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stream_app.core.online import OnlineParams

TopicKind = Literal[
    "readings", "forecasts", "anomalies", "scores", "training-requests", "model-updates", "dead-letters"
]
TOPIC_KINDS: tuple[TopicKind, ...] = (
    "readings",
    "forecasts",
    "anomalies",
    "scores",
    "training-requests",
    "model-updates",
    "dead-letters",
)


class Settings(BaseSettings):
    """Every tunable of kilowatch. Environment variables: ``KILOWATCH_<FIELD>`` (upper case)."""

    model_config = SettingsConfigDict(env_prefix="KILOWATCH_", frozen=True, extra="ignore")

    # --- local state -------------------------------------------------------------------------------
    state_dir: Path = Field(Path(".state"), description="Where local services and workers keep their data.")
    cache_dir: Path = Field(
        Path.home() / ".cache" / "kilowatch",
        description="Downloads reused across checkouts (Kafka jars resolved by Maven).",
    )

    # --- Kafka ---------------------------------------------------------------------------------------
    kafka_bootstrap: str = Field("127.0.0.1:19092", description="Bootstrap servers (host:port[,host:port]).")
    kafka_version: str = Field(
        "3.9.1", description="Apache Kafka version for the local broker (3.9.x or 4.x)."
    )
    kafka_controller_port: int = Field(19093, description="KRaft controller port of the local broker.")
    kafka_heap: str = Field("-Xms256m -Xmx512m", description="JVM heap options for the local broker.")
    topic_prefix: str = Field("kilowatch", description="Common prefix of every topic name.")
    topic_partitions: int = Field(8, ge=1, description="Partitions of the readings-keyed topics.")
    topic_replication: int = Field(1, ge=1, description="Replication factor of created topics.")
    readings_retention_ms: int = Field(7 * 24 * 3600 * 1000, description="Retention of the readings topic.")
    dead_letter_retention_ms: int = Field(30 * 24 * 3600 * 1000, description="Retention of dead letters.")

    # --- PostgreSQL ------------------------------------------------------------------------------------
    postgres_host: str = Field("127.0.0.1", description="PostgreSQL host.")
    postgres_port: int = Field(15432, description="PostgreSQL port (local instance uses its own port).")
    postgres_user: str = Field("kilowatch", description="PostgreSQL role.")
    postgres_password: SecretStr = Field(SecretStr("kilowatch-dev"), description="PostgreSQL password.")
    postgres_db: str = Field("kilowatch", description="PostgreSQL database.")

    # --- Redis -----------------------------------------------------------------------------------------
    redis_host: str = Field("127.0.0.1", description="Redis host.")
    redis_port: int = Field(16379, description="Redis port (local instance uses its own port).")
    redis_password: SecretStr | None = Field(None, description="Redis password, if any.")
    redis_timeout_s: float = Field(
        15.0,
        gt=0,
        description="Socket timeout of every Redis call: a lost reply fails the call instead of hanging it.",
    )

    # --- worker ----------------------------------------------------------------------------------------
    app_id: str = Field("kilowatch-worker", description="Faust app id (consumer group and table prefix).")
    bind_host: str = Field("127.0.0.1", description="Bind address of HTTP endpoints (loopback by default).")
    metrics_port: int = Field(
        0, ge=0, le=65535, description="Prometheus /metrics port of a worker (0 = off)."
    )
    store: str = Field(
        "rocksdb://", description="Faust table store (rocksdb:// or memory:// for unit tests)."
    )
    readings_path: Literal["agent", "batch"] = Field(
        "batch",
        description=(
            "How a worker consumes readings: 'batch' drains fetched messages in bulk and writes the state "
            "table and its changelog in bulk (~5x faster); 'agent' is a faust agent with take_events."
        ),
    )
    batch_size: int = Field(1000, ge=1, description="Micro-batch size of the scoring agent.")
    batch_within: float = Field(0.05, gt=0, description="Longest wait (s) to fill a micro-batch.")
    producer_linger_ms: int = Field(
        20,
        ge=0,
        le=1000,
        description="Producer linger: larger batches, fewer produce requests (adds latency).",
    )
    max_payload_bytes: int = Field(
        64 * 1024, ge=64, description="Readings larger than this are dead-lettered."
    )
    emit_scores: bool = Field(
        False, description="Also publish every scored reading to the scores topic (audit, dashboards)."
    )
    max_clock_skew_s: float = Field(
        7 * 24 * 3600.0, description="Readings dated further in the future than this are dead-lettered."
    )

    # --- online model ----------------------------------------------------------------------------------
    window_size: int = Field(
        768,
        ge=16,
        description="Readings kept per asset (ring buffer); 768 = eight days at 15 minutes, enough for a "
        "trained model with a one-week lag to judge the next reading.",
    )
    season_length: int = Field(
        0, ge=0, description="Readings per season for the online model; 0 = detect from timestamps."
    )
    forecast_every: int = Field(24, ge=1, description="Emit a forecast every K scored readings of an asset.")
    forecast_horizon: int = Field(24, ge=1, le=10_000, description="Steps ahead in each forecast.")
    anomaly_threshold: float = Field(
        0.996, gt=0, lt=1, description="Score at or above which a point is flagged."
    )
    warmup: int = Field(32, ge=4, description="Readings an asset needs before it can be flagged.")
    interval_level: float = Field(0.95, gt=0, lt=1, description="Coverage of forecast lower/upper bounds.")

    # --- observability and alerting (issue 5) -----------------------------------------------------------
    monitor_interval_s: float = Field(
        15.0, gt=0, description="How often a worker samples consumer lag and table sizes into its metrics."
    )
    metrics_per_asset: bool = Field(
        False,
        description="Export kilowatch_active_model_version with an asset_id label (one series per asset).",
    )
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="Log format: JSON lines, human-readable text, or auto (text on a terminal)."
    )
    alert_smtp_host: str = Field("127.0.0.1", description="SMTP server for alert e-mails.")
    alert_smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port for alert e-mails.")
    alert_smtp_user: str | None = Field(None, description="SMTP login, if the server needs one.")
    alert_smtp_password: SecretStr | None = Field(None, description="SMTP password, if any.")
    alert_smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    alert_from: str = Field("kilowatch@localhost", description="Sender address of alert e-mails.")
    alert_webhook_url: SecretStr | None = Field(
        None,
        description="Also POST every alert (JSON) to this URL; retried with exponential back-off. "
        "Secret: such URLs often carry a token.",
    )
    alert_recovery_s: float = Field(
        3600.0, gt=0, description="An asset with no anomaly for this long closes its alert episode."
    )
    alert_cooldown_s: float = Field(
        6 * 3600.0,
        ge=0,
        description="After an episode's alert, a new episode of that asset is silent this long.",
    )
    alert_max_attempts: int = Field(
        5, ge=1, description="Delivery attempts before an alert is recorded as failed."
    )
    alert_retry_base_s: float = Field(1.0, gt=0, description="First retry delay; doubles per attempt.")
    alerting_enabled: bool = Field(
        False,
        description="Run the alerting agent in this worker (needs PostgreSQL with the alerting tables).",
    )
    alert_tick_s: float = Field(
        2.0, gt=0, description="How often the alerting agent stores episodes and sends due deliveries."
    )

    # --- trained models in the stream (hot reload) ---------------------------------------------------
    trained_models: bool = Field(
        True, description="Score assets with their active trained model version (model-updates topic)."
    )
    model_plan_steps: int = Field(
        1,
        ge=1,
        description="Readings a trained model judges per model call (1 = one-step forecasts, what its "
        "anomaly rule is calibrated on; more is cheaper but flags more normal readings).",
    )
    model_cache_size: int = Field(
        256, ge=1, description="Trained models a worker keeps loaded (least recently used are dropped)."
    )

    # --- registry, training jobs, retraining (issue 3 sections 3-4; registry helper) -------------------
    postgres_pool_min: int = Field(1, ge=0, description="Smallest asyncpg pool size.")
    postgres_pool_max: int = Field(5, ge=1, description="Largest asyncpg pool size.")
    postgres_command_timeout_s: float = Field(30.0, gt=0, description="Timeout of one SQL statement.")
    artifact_root: Path = Field(
        Path(".state/artifacts"), description="Root folder of the local filesystem artifact store."
    )
    training_timeout_s: float = Field(3600.0, gt=0, description="A training job running longer is ended.")
    training_cancel_grace_s: float = Field(
        10.0, gt=0, description="After a cancel or timeout, seconds the child gets before terminate/kill."
    )
    training_processes: int = Field(1, ge=1, description="Training jobs a worker runs at the same time.")
    training_nice: int = Field(
        10, ge=0, le=19, description="Niceness of training processes: scoring keeps CPU priority."
    )
    training_lock_ttl_ms: int = Field(
        60_000, ge=1000, description="TTL of the per-asset training lock (renewed while the job runs)."
    )
    training_log_lines: int = Field(500, ge=10, description="Log lines kept per job in Redis.")
    training_redis_ttl_s: int = Field(
        7 * 24 * 3600, ge=60, description="TTL of a job's progress, log and event stream in Redis."
    )
    training_holdout_fraction: float = Field(
        0.2, gt=0, lt=1, description="Tail of the data kept out of training for champion/challenger."
    )
    training_backend: str = Field(
        "trainers.backend", description="Module with load_frame/TrainSpec/train/evaluate/load_model."
    )
    champion_margin: float = Field(
        0.02, ge=0, lt=1, description="Relative MASE improvement a candidate needs to replace the active one."
    )
    data_url_max_bytes: int = Field(
        200 * 1024 * 1024, ge=1024, description="Largest CSV a data_url may give."
    )
    data_url_timeout_s: float = Field(60.0, gt=0, description="Timeout of an http(s) data_url download.")
    data_file_roots: tuple[Path, ...] = Field(
        (Path("."),),
        description="file:// data_urls must resolve under one of these folders (JSON list in the env).",
    )
    history_retention_days: float = Field(
        60.0, gt=0, description="Readings kept in the readings_history table for history-based training."
    )
    history_max_rows: int = Field(20_000, ge=100, description="Newest readings a history-based job uses.")
    history_enabled: bool = Field(
        False,
        description="Also run the history sink (readings -> PostgreSQL, for history-based training) "
        "inside the worker; off by default: it decodes every reading again, and `kilowatch "
        "history-sink` can run it as its own process (same consumer group).",
    )
    retraining_enabled: bool = Field(
        True, description="Run the retraining agent and its timers in the worker."
    )
    retrain_check_every_s: float = Field(
        300.0, gt=0, description="Period of the scheduled-retraining and drift timers."
    )
    retrain_default_model: str = Field(
        "lightgbm", description="Model type of scheduled and drift-triggered requests without an active one."
    )
    drift_threshold: float = Field(
        1.2, gt=0, description="Rolling MASE above which an asset's model is retrained."
    )
    drift_window: int = Field(96, ge=8, description="Recent forecast errors per asset in the drift signal.")
    drift_enabled: bool = Field(
        False,
        description="Drift-triggered retraining (needs emit_scores: the drift feed reads the scores topic).",
    )

    # --- detector: repeated alarms --------------------------------------------------------------------
    repeat_window_s: float = Field(
        86400.0,
        ge=0,
        description="A reading whose score does not exceed one the asset had within this many seconds "
        "repeats an alarm (novel=false; 0 in the NAB output) instead of raising a new one.",
    )

    # --- fastpath (batch readings path, crash safety) ----------------------------------------------
    kafka_session_timeout_s: float = Field(
        60.0,
        ge=6,
        le=300,
        description=(
            "Consumer group session timeout of a worker: how long the group waits for a crashed "
            "worker before its partitions move to the others."
        ),
    )

    # --- REST API (issue 4) ------------------------------------------------------------------------------
    api_port: int = Field(8000, ge=1, le=65535, description="Port of `kilowatch api` (host: bind_host).")
    api_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes of `kilowatch api` sharing the port (one per core serves best: a "
        "process is bound to one core by the GIL; each keeps its own key and model caches).",
    )
    api_cors_origins: tuple[str, ...] = Field(
        (), description="Origins allowed by CORS (JSON list in the env); empty = no cross-origin access."
    )
    api_rate_limit_per_minute: int = Field(
        600, ge=1, description="Requests per minute a key may make (a key may carry its own limit)."
    )
    api_key_cache_s: float = Field(
        30.0,
        ge=0,
        description="Seconds a verified key stays trusted in an API process before its row is read again "
        "(revocation reaches other processes within this time; 0 = verify every request).",
    )
    api_verifications_per_minute: int = Field(
        120,
        ge=1,
        description="Slow key verifications (keys not in the cache) one client address may cause per "
        "minute: guessing keys cannot burn the API's CPU on argon2.",
    )
    api_max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Larger request bodies are refused (413 FILE_TOO_LARGE)."
    )
    api_max_points: int = Field(
        20_000, ge=10, description="Most points a predict/detect request or readings batch may carry."
    )
    api_max_horizon: int = Field(2_000, ge=1, description="Largest forecast_horizon of a predict request.")
    api_default_language: Literal["en-US", "zh-CN"] = Field(
        "en-US", description="Language of error messages without Accept-Language or ?lang=."
    )

    # --- results sink, queries and HTTP ingestion (issue 4, section 4) -------------------------------
    results_sink_enabled: bool = Field(
        True,
        description="Run the results sink in the worker: anomaly and forecast events -> PostgreSQL "
        "(the API's query routes read them; `kilowatch results-sink` runs it alone).",
    )
    results_retention_days: float = Field(
        90.0, gt=0, description="Anomalies and forecasts are deleted this many days after they were stored."
    )
    results_retention_every_s: float = Field(
        3600.0, gt=0, description="How often the results sink deletes rows past the retention."
    )

    # --- REST API: training jobs, models, assets (issue 4 section 3) ----------------------------------
    api_sse_keepalive_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="A job's log stream sends a keep-alive comment after this many idle seconds "
        "(capped at half of redis_timeout_s: the stream blocks on Redis that long).",
    )
    api_sse_max_s: float = Field(
        3600.0,
        gt=0,
        description="A job's log stream closes after this long (clients resume with Last-Event-ID).",
    )

    # --- synchronous inference API (issue 4 section 2: predict / detect_anomalies) -----------------------
    api_model_cache_size: int = Field(
        32, ge=1, description="Trained model versions an API process keeps loaded (least recently used go)."
    )
    api_model_lookup_s: float = Field(
        2.0,
        ge=0,
        description="Seconds an API process reuses its lookup of an asset's active model version: a "
        "promotion or rollback is served within this time (0 = look it up on every request).",
    )
    api_inference_threads: int = Field(
        2,
        ge=1,
        description="Threads for model calls that are not micro-batched (darts models, detection, the "
        "online model): these never run on the event loop, and at most this many at once.",
    )
    api_batch_max: int = Field(
        64,
        ge=1,
        description="Most predict requests of one LightGBM model served by one booster batch. A batch runs "
        "on the event loop (~0.3 ms per request at horizon 24), so this bounds how long it holds the loop.",
    )
    api_batch_window_ms: float = Field(
        0.0,
        ge=0,
        le=100,
        description="Extra wait before a LightGBM batch starts, to gather more requests (0 = start at once "
        "and batch whatever queued while the previous batch ran).",
    )

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", v):
            raise ValueError("topic_prefix may contain only letters, digits, '.', '_' and '-'")
        return v

    def topic(self, kind: TopicKind) -> str:
        """Full topic name for one kind, e.g. ``kilowatch.readings``."""
        return f"{self.topic_prefix}.{kind}"

    @cached_property
    def topics(self) -> dict[TopicKind, str]:
        return {k: self.topic(k) for k in TOPIC_KINDS}

    @property
    def kafka_broker_url(self) -> str:
        """Faust broker URL list (``kafka://h1:p1;kafka://h2:p2``)."""
        return ";".join(f"kafka://{hp.strip()}" for hp in self.kafka_bootstrap.split(","))

    def postgres_dsn(self, *, with_password: bool = True) -> str:
        """DSN for asyncpg; never log it with the password."""
        pw = self.postgres_password.get_secret_value() if with_password else "***"
        return f"postgresql://{self.postgres_user}:{pw}@{self.postgres_host}:{self.postgres_port}/{self.postgres_db}"

    @property
    def redis_url(self) -> str:
        auth = f":{self.redis_password.get_secret_value()}@" if self.redis_password else ""
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/0"

    def online_params(self) -> OnlineParams:
        """The online detector's parameters: all the core receives of the settings."""
        return OnlineParams(
            window_size=self.window_size,
            season_length=self.season_length,
            threshold=self.anomaly_threshold,
            warmup=self.warmup,
            interval_level=self.interval_level,
            repeat_window_s=self.repeat_window_s,
        )

    @property
    def infra_dir(self) -> Path:
        return self.state_dir.resolve() / "infra"

    @property
    def worker_dir(self) -> Path:
        return self.state_dir.resolve() / "workers"


def settings_reference() -> str:
    """Markdown table of every setting (docs/settings.md is generated from this)."""
    rows = ["| environment variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default: object = field.default
        if isinstance(default, SecretStr):
            default = "(secret, set it)"
        elif name == "cache_dir":
            default = "~/.cache/kilowatch"
        rows.append(f"| `KILOWATCH_{name.upper()}` | `{default}` | {field.description or ''} |")
    head = (
        "# Settings reference\n\nGenerated by `kilowatch schemas export` from `stream_app/settings.py`.\n\n"
    )
    return head + "\n".join(rows) + "\n"
