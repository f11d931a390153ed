"""The one settings object: frozen, grouped, environment prefix ``KILOWATCH_``, passed in explicitly.

Groups: ``kafka``, ``postgres``, ``redis``, ``worker``, ``detector``, ``api``, ``training``, ``alerting``,
``outbound``
(plus four process-wide fields). The environment keeps its flat names: ``KILOWATCH_POSTGRES_HOST`` sets
``settings.postgres.host``, ``KILOWATCH_BATCH_SIZE`` sets ``settings.worker.batch_size`` (each group's
``ENV`` lists the fields whose variable is not ``KILOWATCH_<FIELD>``; docs/settings.md has them all).
Code passes a component only its group; the pure core receives only ``settings.detector.params()``.
Nothing below the entry points (CLI, worker factory, API factory) reads the environment.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal, get_origin

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

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
ENV_PREFIX = "KILOWATCH_"


class _Group(BaseModel):
    """A group of settings. ``ENV`` maps a field to its flat name when that is not the field's own."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    ENV: ClassVar[dict[str, str]] = {}

    @classmethod
    def flat_name(cls, field: str) -> str:
        return cls.ENV.get(field, field)


class KafkaSettings(_Group):
    """The broker, topics and producer."""

    ENV: ClassVar[dict[str, str]] = {
        "bootstrap": "kafka_bootstrap",
        "version": "kafka_version",
        "controller_port": "kafka_controller_port",
        "heap": "kafka_heap",
        "session_timeout_s": "kafka_session_timeout_s",
    }

    bootstrap: str = Field("127.0.0.1:19092", description="Bootstrap servers (host:port[,host:port]).")
    version: str = Field("3.9.1", description="Apache Kafka version for the local broker (3.9.x or 4.x).")
    controller_port: int = Field(19093, description="KRaft controller port of the local broker.")
    heap: str = Field("-Xms256m -Xmx512m", description="JVM heap options for the local broker.")
    topic_prefix: str = Field("kilowatch", description="Common prefix of every topic name.")
    topic_partitions: int = Field(8, ge=1, description="Partitions of the readings-keyed topics.")
    topic_replication: int = Field(1, ge=1, description="Replication factor of created topics.")
    readings_retention_ms: int = Field(7 * 24 * 3600 * 1000, description="Retention of the readings topic.")
    dead_letter_retention_ms: int = Field(30 * 24 * 3600 * 1000, description="Retention of dead letters.")
    session_timeout_s: float = Field(
        60.0,
        ge=6,
        le=300,
        description=(
            "Consumer group session timeout of a worker: how long the group waits for a crashed "
            "worker before its partitions move to the others."
        ),
    )
    producer_linger_ms: int = Field(
        20,
        ge=0,
        le=1000,
        description="Producer linger: larger batches, fewer produce requests (adds latency).",
    )

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, v: str) -> str:
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
    def broker_url(self) -> str:
        """Faust broker URL list (``kafka://h1:p1;kafka://h2:p2``)."""
        return ";".join(f"kafka://{hp.strip()}" for hp in self.bootstrap.split(","))


DEV_POSTGRES_PASSWORD = "kilowatch-dev"  # noqa: S105 - public on purpose; refused off loopback


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); names are not resolved."""
    if host.strip().lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class PostgresSettings(_Group):
    """The PostgreSQL connection and pool."""

    ENV: ClassVar[dict[str, str]] = {
        "host": "postgres_host",
        "port": "postgres_port",
        "user": "postgres_user",
        "password": "postgres_password",
        "db": "postgres_db",
        "pool_min": "postgres_pool_min",
        "pool_max": "postgres_pool_max",
        "command_timeout_s": "postgres_command_timeout_s",
    }

    host: str = Field("127.0.0.1", description="PostgreSQL host.")
    port: int = Field(15432, description="PostgreSQL port (local instance uses its own port).")
    user: str = Field("kilowatch", description="PostgreSQL role.")
    password: SecretStr = Field(
        SecretStr(DEV_POSTGRES_PASSWORD),
        description="PostgreSQL password (the development default works only for a loopback host).",
    )
    db: str = Field("kilowatch", description="PostgreSQL database.")
    pool_min: int = Field(1, ge=0, description="Smallest asyncpg pool size.")
    pool_max: int = Field(5, ge=1, description="Largest asyncpg pool size.")
    command_timeout_s: float = Field(30.0, gt=0, description="Timeout of one SQL statement.")

    @model_validator(mode="after")
    def _dev_password_only_on_loopback(self) -> PostgresSettings:
        """The development password is public (it is in this file): accepted only for a database on this
        machine's loopback, so a deployment that forgot to set one fails at start, not in production."""
        if self.password.get_secret_value() == DEV_POSTGRES_PASSWORD and not is_loopback_host(self.host):
            raise ValueError(
                "the development PostgreSQL password is accepted only for a loopback host, "
                f"not {self.host!r}: set KILOWATCH_POSTGRES_PASSWORD"
            )
        return self

    def dsn(self, *, with_password: bool = True) -> str:
        """DSN for asyncpg; never log it with the password."""
        pw = self.password.get_secret_value() if with_password else "***"
        return f"postgresql://{self.user}:{pw}@{self.host}:{self.port}/{self.db}"


class RedisSettings(_Group):
    """The Redis connection."""

    ENV: ClassVar[dict[str, str]] = {
        "host": "redis_host",
        "port": "redis_port",
        "password": "redis_password",
        "timeout_s": "redis_timeout_s",
    }

    host: str = Field("127.0.0.1", description="Redis host.")
    port: int = Field(16379, description="Redis port (local instance uses its own port).")
    password: SecretStr | None = Field(None, description="Redis password, if any.")
    timeout_s: float = Field(
        15.0,
        gt=0,
        description="Socket timeout of every Redis call: a lost reply fails the call instead of hanging it.",
    )

    @property
    def url(self) -> str:
        auth = f":{self.password.get_secret_value()}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"


class WorkerSettings(_Group):
    """A stream worker: its consumer, batches, outputs and the sinks it runs."""

    ENV: ClassVar[dict[str, str]] = {}

    app_id: str = Field("kilowatch-worker", description="Faust app id (consumer group and table prefix).")
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
    max_payload_bytes: int = Field(
        64 * 1024, ge=64, description="Readings larger than this are dead-lettered."
    )
    emit_scores: bool = Field(
        False, description="Also publish every scored reading to the scores topic (audit, dashboards)."
    )
    max_clock_skew_s: float = Field(
        7 * 24 * 3600.0, description="Readings dated further in the future than this are dead-lettered."
    )
    forecast_every: int = Field(24, ge=1, description="Emit a forecast every K scored readings of an asset.")
    forecast_horizon: int = Field(24, ge=1, le=10_000, description="Steps ahead in each forecast.")
    monitor_interval_s: float = Field(
        15.0, gt=0, description="How often a worker samples consumer lag and table sizes into its metrics."
    )
    metrics_per_asset: bool = Field(
        False,
        description="Export kilowatch_active_model_version with an asset_id label (one series per asset).",
    )
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
    state_cache_mib: float = Field(
        256.0,
        gt=0,
        description="Memory bound of the worker's per-asset state cache (ring and statistics buffers); the "
        "least recently used assets go beyond it and are rebuilt from the state table on their next "
        "reading. A full 768-reading window costs ~14 KiB, an asset with a few readings ~1.5 KiB.",
    )
    rocksdb_write_buffer_mib: int = Field(
        8,
        ge=1,
        le=1024,
        description="RocksDB write buffer of the state table, per readings partition (at most 2 are kept: "
        "the memtables of a worker hold at most 2 x this x its partitions; faust's default is 3 x 64 MiB).",
    )
    rocksdb_block_cache_mib: int = Field(
        16,
        ge=1,
        le=16384,
        description="RocksDB block cache of the state table, per readings partition (faust default: 2 GiB).",
    )
    tracked_assets_max: int = Field(
        100_000,
        ge=1,
        description="Assets the drift monitor and the alert-episode tracker remember each (least "
        "recently seen are forgotten beyond it).",
    )
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
    history_enabled: bool = Field(
        False,
        description="Also run the history sink (readings -> PostgreSQL, for history-based training) "
        "inside the worker; off by default: it decodes every reading again, and `kilowatch "
        "history-sink` can run it as its own process (same consumer group).",
    )
    history_max_future_s: float = Field(
        86_400.0,
        gt=0,
        description="The history sink skips readings dated further ahead of now than this (counted).",
    )
    timer_backoff_max_s: float = Field(
        60.0,
        gt=0,
        description="Longest pause of a worker timer or start-up step after repeated PostgreSQL, Redis or "
        "Kafka errors (the pause doubles from 1 s per failure; the worker never stops for them).",
    )


class DetectorSettings(_Group):
    """The online detector's parameters (all the pure core receives)."""

    ENV: ClassVar[dict[str, str]] = {
        "threshold": "anomaly_threshold",
    }

    window_size: int = Field(
        768,
        ge=16,
        description="Readings kept per asset (ring buffer); 768 = eight days at 15 minutes, enough for a "
        "trained model with a one-week lag to judge the next reading.",
    )
    season_length: int = Field(
        0, ge=0, description="Readings per season for the online model; 0 = detect from timestamps."
    )
    threshold: float = Field(0.996, gt=0, lt=1, description="Score at or above which a point is flagged.")
    warmup: int = Field(32, ge=4, description="Readings an asset needs before it can be flagged.")
    interval_level: float = Field(0.95, gt=0, lt=1, description="Coverage of forecast lower/upper bounds.")
    repeat_window_s: float = Field(
        86400.0,
        ge=0,
        description="A reading whose score does not exceed one the asset had within this many seconds "
        "repeats an alarm (novel=false; 0 in the NAB output) instead of raising a new one.",
    )

    def params(self) -> OnlineParams:
        """The online detector's parameters: all the core receives of the settings."""
        return OnlineParams(
            window_size=self.window_size,
            season_length=self.season_length,
            threshold=self.threshold,
            warmup=self.warmup,
            interval_level=self.interval_level,
            repeat_window_s=self.repeat_window_s,
        )


class ApiSettings(_Group):
    """The REST API process."""

    ENV: ClassVar[dict[str, str]] = {
        "port": "api_port",
        "workers": "api_workers",
        "cors_origins": "api_cors_origins",
        "rate_limit_per_minute": "api_rate_limit_per_minute",
        "key_cache_s": "api_key_cache_s",
        "verifications_per_minute": "api_verifications_per_minute",
        "max_body_bytes": "api_max_body_bytes",
        "max_points": "api_max_points",
        "small_body_bytes": "api_small_body_bytes",
        "trusted_proxies": "api_trusted_proxies",
        "sse_streams_per_key": "api_sse_streams_per_key",
        "new_assets_per_hour": "api_new_assets_per_hour",
        "max_horizon": "api_max_horizon",
        "default_language": "api_default_language",
        "sse_keepalive_s": "api_sse_keepalive_s",
        "sse_max_s": "api_sse_max_s",
        "model_cache_size": "api_model_cache_size",
        "model_lookup_s": "api_model_lookup_s",
        "inference_threads": "api_inference_threads",
        "batch_max": "api_batch_max",
        "batch_window_ms": "api_batch_window_ms",
        "publish_timeout_s": "api_publish_timeout_s",
        "db_timeout_s": "api_db_timeout_s",
    }

    port: int = Field(8000, ge=1, le=65535, description="Port of `kilowatch api` (host: bind_host).")
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes of `kilowatch api` sharing the port (one per core serves best: a "
        "process is bound to one core by the GIL; each keeps its own key and model caches).",
    )
    cors_origins: tuple[str, ...] = Field(
        (), description="Origins allowed by CORS (JSON list in the env); empty = no cross-origin access."
    )
    rate_limit_per_minute: int = Field(
        600, ge=1, description="Requests per minute a key may make (a key may carry its own limit)."
    )
    key_cache_s: float = Field(
        30.0,
        ge=0,
        description="Seconds a verified key stays trusted in an API process before its row is read again "
        "(revocation reaches other processes within this time; 0 = verify every request).",
    )
    verifications_per_minute: int = Field(
        120,
        ge=1,
        description="Slow key verifications (keys not in the cache) one client address may cause per "
        "minute: guessing keys cannot burn the API's CPU on argon2.",
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Larger request bodies are refused (413 FILE_TOO_LARGE)."
    )
    max_points: int = Field(
        20_000, ge=10, description="Most points a predict/detect request or readings batch may carry."
    )
    small_body_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Body limit of every route but POST /readings and predict/detect (those take "
        "max_body_bytes): larger bodies are refused (413) before they are read.",
    )
    trusted_proxies: tuple[str, ...] = Field(
        (),
        description="Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For is believed "
        "for the failed-key limiter's client address (JSON list in the env); empty = the socket's peer.",
    )
    sse_streams_per_key: int = Field(
        4, ge=1, description="Concurrent job log streams (SSE) one API key may hold (429 beyond)."
    )
    new_assets_per_hour: int = Field(
        1_000,
        ge=1,
        description="Distinct never-seen asset ids one key may introduce through POST /readings per hour "
        "(429 beyond): each new asset costs the workers memory.",
    )
    max_horizon: int = Field(2_000, ge=1, description="Largest forecast_horizon of a predict request.")
    default_language: Literal["en-US", "zh-CN"] = Field(
        "en-US", description="Language of error messages without Accept-Language or ?lang=."
    )
    sse_keepalive_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="A job's log stream sends a keep-alive comment after this many idle seconds "
        "(capped at half of redis_timeout_s: the stream blocks on Redis that long).",
    )
    sse_max_s: float = Field(
        3600.0,
        gt=0,
        description="A job's log stream closes after this long (clients resume with Last-Event-ID).",
    )
    model_cache_size: int = Field(
        32, ge=1, description="Trained model versions an API process keeps loaded (least recently used go)."
    )
    model_lookup_s: float = Field(
        2.0,
        ge=0,
        description="Seconds an API process reuses its lookup of an asset's active model version: a "
        "promotion or rollback is served within this time (0 = look it up on every request).",
    )
    inference_threads: int = Field(
        2,
        ge=1,
        description="Threads for model calls that are not micro-batched (darts models, detection, the "
        "online model): these never run on the event loop, and at most this many at once.",
    )
    batch_max: int = Field(
        64,
        ge=1,
        description="Most predict requests of one LightGBM model served by one booster batch. A batch runs "
        "on the event loop (~0.3 ms per request at horizon 24), so this bounds how long it holds the loop.",
    )
    batch_window_ms: float = Field(
        0.0,
        ge=0,
        le=100,
        description="Extra wait before a LightGBM batch starts, to gather more requests (0 = start at once "
        "and batch whatever queued while the previous batch ran).",
    )
    publish_timeout_s: float = Field(
        3.0,
        gt=0,
        le=60,
        description="Seconds the API waits for the broker to acknowledge a publish (POST /readings, "
        "training requests): beyond, the request is answered 503 with Retry-After instead of hanging.",
    )
    db_timeout_s: float = Field(
        3.0,
        gt=0,
        le=60,
        description="Seconds the API waits for a PostgreSQL connection from its pool, a new connection, "
        "or one statement: beyond (a frozen or overloaded database), 503 with Retry-After.",
    )


class TrainingSettings(_Group):
    """Training jobs, the artifact store, training data and retraining triggers."""

    ENV: ClassVar[dict[str, str]] = {
        "timeout_s": "training_timeout_s",
        "cancel_grace_s": "training_cancel_grace_s",
        "processes": "training_processes",
        "nice": "training_nice",
        "lock_ttl_ms": "training_lock_ttl_ms",
        "log_lines": "training_log_lines",
        "redis_ttl_s": "training_redis_ttl_s",
        "holdout_fraction": "training_holdout_fraction",
        "backend": "training_backend",
        "db_retry_max_s": "training_db_retry_max_s",
    }

    artifact_root: Path = Field(
        Path(".state/artifacts"), description="Root folder of the local filesystem artifact store."
    )
    timeout_s: float = Field(3600.0, gt=0, description="A training job running longer is ended.")
    cancel_grace_s: float = Field(
        10.0, gt=0, description="After a cancel or timeout, seconds the child gets before terminate/kill."
    )
    processes: int = Field(1, ge=1, description="Training jobs a worker runs at the same time.")
    nice: int = Field(
        10, ge=0, le=19, description="Niceness of training processes: scoring keeps CPU priority."
    )
    lock_ttl_ms: int = Field(
        60_000, ge=1000, description="TTL of the per-asset training lock (renewed while the job runs)."
    )
    log_lines: int = Field(500, ge=10, description="Log lines kept per job in Redis.")
    redis_ttl_s: int = Field(
        7 * 24 * 3600, ge=60, description="TTL of a job's progress, log and event stream in Redis."
    )
    holdout_fraction: float = Field(
        0.2, gt=0, lt=1, description="Tail of the data kept out of training for champion/challenger."
    )
    backend: str = Field(
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
        (),
        description="file:// data_urls must resolve under one of these folders (JSON list in the env); "
        "empty (the default): file:// data_urls are refused.",
    )
    history_retention_days: float = Field(
        60.0, gt=0, description="Readings kept in the readings_history table for history-based training."
    )
    history_max_rows: int = Field(20_000, ge=100, description="Newest readings a history-based job uses.")
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
    job_lease_s: float = Field(
        180.0,
        gt=0,
        description="An open training job whose worker did not renew its lease for this long was left by a "
        "dead worker: a PENDING one is run again, a running one ends FAILED (keep well above the lock TTL).",
    )
    job_unclaimed_s: float = Field(
        900.0,
        gt=0,
        description="A PENDING job no worker took for this long (its request was consumed by a worker that "
        "died) is run by the recovery.",
    )
    job_max_attempts: int = Field(
        3,
        ge=1,
        description="Workers a job may lose before the recovery ends it FAILED instead of re-running it.",
    )
    job_recovery_every_s: float = Field(
        60.0, gt=0, description="How often a worker looks for training jobs left by dead workers."
    )
    db_retry_max_s: float = Field(
        300.0,
        gt=0,
        description="How long a training job waits for PostgreSQL to answer its final write (result, "
        "version, activation) before it gives up and leaves the job to the lease recovery.",
    )
    child_memory_mb: int = Field(
        4096,
        ge=0,
        description="Memory limit (RLIMIT_DATA, MiB) of a training process; past it the job fails "
        "'training ran out of memory' (0 = no limit). The process also dies with its worker.",
    )
    outbox_every_s: float = Field(
        5.0, gt=0, description="How often a worker publishes model-update events left in the outbox."
    )


class AlertingSettings(_Group):
    """Alert episodes and their delivery (e-mail, webhook)."""

    ENV: ClassVar[dict[str, str]] = {
        "smtp_host": "alert_smtp_host",
        "smtp_port": "alert_smtp_port",
        "smtp_user": "alert_smtp_user",
        "smtp_password": "alert_smtp_password",
        "smtp_starttls": "alert_smtp_starttls",
        "sender": "alert_from",
        "webhook_url": "alert_webhook_url",
        "recovery_s": "alert_recovery_s",
        "cooldown_s": "alert_cooldown_s",
        "max_attempts": "alert_max_attempts",
        "retry_base_s": "alert_retry_base_s",
        "enabled": "alerting_enabled",
        "tick_s": "alert_tick_s",
        "batch_max": "alert_batch_max",
    }

    smtp_host: str = Field("127.0.0.1", description="SMTP server for alert e-mails.")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port for alert e-mails.")
    smtp_user: str | None = Field(None, description="SMTP login, if the server needs one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password, if any.")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    sender: str = Field("kilowatch@localhost", description="Sender address of alert e-mails.")
    webhook_url: SecretStr | None = Field(
        None,
        description="Also POST every alert (JSON) to this URL; retried with exponential back-off. "
        "Secret: such URLs often carry a token.",
    )
    recovery_s: float = Field(
        3600.0, gt=0, description="An asset with no anomaly for this long closes its alert episode."
    )
    cooldown_s: float = Field(
        6 * 3600.0,
        ge=0,
        description="After an episode's alert, a new episode of that asset is silent this long.",
    )
    max_attempts: int = Field(5, ge=1, description="Delivery attempts before an alert is recorded as failed.")
    retry_base_s: float = Field(1.0, gt=0, description="First retry delay; doubles per attempt.")
    enabled: bool = Field(
        False,
        description="Run the alerting agent in this worker (needs PostgreSQL with the alerting tables).",
    )
    tick_s: float = Field(
        2.0, gt=0, description="How often the alerting agent stores episodes and sends due deliveries."
    )
    batch_max: int = Field(
        500,
        ge=1,
        description="Anomalies the alerting agent holds at most; it stores them before taking more (and "
        "before their offsets are committed), so a PostgreSQL outage pauses consumption, not memory.",
    )


class OutboundSettings(_Group):
    """Server-side fetches (training data_url downloads, alert webhooks): which hosts they may reach."""

    ENV: ClassVar[dict[str, str]] = {
        "allow_hosts": "outbound_allow_hosts",
        "allow_private": "outbound_allow_private",
        "max_redirects": "outbound_max_redirects",
    }

    allow_hosts: tuple[str, ...] = Field(
        (),
        description="If not empty, outbound fetches reach only these hosts (exact names, IP addresses or "
        "`*.example.org` for subdomains; JSON list in the env). Narrows, never widens, the address rules.",
    )
    allow_private: bool = Field(
        False,
        description="Let outbound fetches reach loopback, private (RFC 1918, fc00::/7) and CGNAT addresses "
        "(local deployments and tests). Link-local (cloud metadata), multicast and reserved stay refused.",
    )
    max_redirects: int = Field(
        3,
        ge=0,
        le=10,
        description="Redirects a data_url download follows (each hop checked); webhooks: none.",
    )


GROUPS: dict[str, type[_Group]] = {
    "kafka": KafkaSettings,
    "postgres": PostgresSettings,
    "redis": RedisSettings,
    "worker": WorkerSettings,
    "detector": DetectorSettings,
    "api": ApiSettings,
    "training": TrainingSettings,
    "alerting": AlertingSettings,
    "outbound": OutboundSettings,
}
# flat name (the environment variable without its prefix, lower case) -> (group, field)
FLAT: dict[str, tuple[str, str]] = {
    group.flat_name(field): (name, field) for name, group in GROUPS.items() for field in group.model_fields
}


def _env_value(info: FieldInfo, raw: str) -> Any:
    """Lists and tuples come as JSON in the environment; everything else as text pydantic parses."""
    if get_origin(info.annotation) in (list, tuple, dict) or str(info.annotation).startswith(
        ("tuple", "list")
    ):
        return json.loads(raw)
    return raw


class _FlatEnv(PydanticBaseSettingsSource):
    """``KILOWATCH_<FLAT_NAME>`` variables into their groups."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every group at once

    def __call__(self) -> dict[str, Any]:
        env = {k.upper(): v for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)}
        out: dict[str, dict[str, Any]] = {}
        for flat, (group, field) in FLAT.items():
            raw = env.get(ENV_PREFIX + flat.upper())
            if raw is not None:
                info = GROUPS[group].model_fields[field]
                out.setdefault(group, {})[field] = _env_value(info, raw)
        return out


class Settings(BaseSettings):
    """Every tunable of kilowatch, in groups. See the module docstring for the environment names."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    state_dir: Path = Field(Path(".state"), description="Where local services and workers keep their data.")
    cache_dir: Path = Field(
        Path.home() / ".cache" / "kilowatch",
        description="Downloads reused across checkouts (Kafka jars resolved by Maven).",
    )
    bind_host: str = Field("127.0.0.1", description="Bind address of HTTP endpoints (loopback by default).")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="Log format: JSON lines, human-readable text, or auto (text on a terminal)."
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    detector: DetectorSettings = Field(default_factory=DetectorSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    alerting: AlertingSettings = Field(default_factory=AlertingSettings)
    outbound: OutboundSettings = Field(default_factory=OutboundSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _FlatEnv(settings_cls), env_settings)

    @model_validator(mode="before")
    @classmethod
    def _route_flat(cls, data: Any) -> Any:
        """Accept flat names too (``Settings(batch_size=10)``, as the environment has them): each goes
        into its group, over what the environment gave that group."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for key in [k for k in out if k in FLAT]:
            group, field = FLAT[key]
            current = out.get(group)
            merged = dict(current) if isinstance(current, dict) else (current.model_dump() if current else {})
            merged[field] = out.pop(key)
            out[group] = merged
        return out

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some fields changed (flat names, or a group name with a dict), validated."""
        data: dict[str, Any] = {name: getattr(self, name) for name in type(self).model_fields}
        for name in GROUPS:
            data[name] = getattr(self, name).model_dump()
        for key, value in changes.items():
            if key in GROUPS and isinstance(value, dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return type(self).model_validate(data)

    @property
    def infra_dir(self) -> Path:
        return self.state_dir.resolve() / "infra"

    @property
    def worker_dir(self) -> Path:
        return self.state_dir.resolve() / "workers"


def settings_reference() -> str:
    """Markdown table of every setting (docs/settings.md is generated from this)."""
    rows = ["| environment variable | setting | default | meaning |", "|---|---|---|---|"]

    def row(flat: str, path: str, field: FieldInfo) -> str:
        default: object = field.default
        if isinstance(default, SecretStr):
            default = "(secret, set it)"
        elif flat == "cache_dir":
            default = "~/.cache/kilowatch"
        return f"| `{ENV_PREFIX}{flat.upper()}` | `{path}` | `{default}` | {field.description or ''} |"

    for name, field in Settings.model_fields.items():
        if name not in GROUPS:
            rows.append(row(name, name, field))
    for gname, group in GROUPS.items():
        for fname, field in group.model_fields.items():
            rows.append(row(group.flat_name(fname), f"{gname}.{fname}", field))
    head = (
        "# Settings reference\n\nGenerated by `kilowatch schemas export` from `stream_app/settings.py`.\n\n"
    )
    return head + "\n".join(rows) + "\n"
