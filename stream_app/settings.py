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
import logging
import os
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal, get_origin
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from stream_app.core.online import OnlineParams

TopicKind = Literal[
    "readings",
    "forecasts",
    "anomalies",
    "scores",
    "training-requests",
    "model-updates",
    "dead-letters",
    "covariate-forecasts",
]
TOPIC_KINDS: tuple[TopicKind, ...] = (
    "readings",
    "forecasts",
    "anomalies",
    "scores",
    "training-requests",
    "model-updates",
    "dead-letters",
    "covariate-forecasts",
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
        "security_protocol": "kafka_security_protocol",
        "sasl_mechanism": "kafka_sasl_mechanism",
        "sasl_username": "kafka_sasl_username",
        "sasl_password": "kafka_sasl_password",
        "ssl_cafile": "kafka_ssl_cafile",
        "ssl_certfile": "kafka_ssl_certfile",
        "ssl_keyfile": "kafka_ssl_keyfile",
        "ssl_key_password": "kafka_ssl_key_password",
        "ssl_check_hostname": "kafka_ssl_check_hostname",
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
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT",
        description="How every Kafka client connects: PLAINTEXT (local broker), SSL (TLS, optionally with a "
        "client certificate), SASL_PLAINTEXT or SASL_SSL (user name and password; managed Kafka services).",
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN",
        description="SASL mechanism of SASL_PLAINTEXT/SASL_SSL (Confluent Cloud: PLAIN; MSK: SCRAM-SHA-512).",
    )
    sasl_username: str | None = Field(None, description="SASL user name (or API key).")
    sasl_password: SecretStr | None = Field(None, description="SASL password (or API secret).")
    ssl_cafile: Path | None = Field(
        None,
        description="PEM file of the CA(s) that signed the brokers' certificates (default: the system's).",
    )
    ssl_certfile: Path | None = Field(
        None, description="PEM client certificate (mutual TLS), with ssl_keyfile."
    )
    ssl_keyfile: Path | None = Field(None, description="PEM private key of the client certificate.")
    ssl_key_password: SecretStr | None = Field(None, description="Password of an encrypted ssl_keyfile.")
    ssl_check_hostname: bool = Field(
        True, description="Check that a broker's certificate names the host connected to (keep on)."
    )

    @model_validator(mode="after")
    def _security_is_complete(self) -> KafkaSettings:
        """A half-configured security setting fails at start, not as a hang at the first connection."""
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and (not self.sasl_username or self.sasl_password is None):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs KILOWATCH_KAFKA_SASL_USERNAME and "
                "KILOWATCH_KAFKA_SASL_PASSWORD"
            )
        if not sasl and (self.sasl_username or self.sasl_password is not None):
            raise ValueError(
                f"a SASL user name or password is set but security_protocol is {self.security_protocol}: "
                "set KILOWATCH_KAFKA_SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT)"
            )
        tls_files = [self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile, self.ssl_key_password]
        if not self.security_protocol.endswith("SSL") and any(v is not None for v in tls_files):
            raise ValueError(
                f"TLS files are set but security_protocol is {self.security_protocol}: "
                "set KILOWATCH_KAFKA_SECURITY_PROTOCOL=SSL (or SASL_SSL)"
            )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("KILOWATCH_KAFKA_SSL_CERTFILE and KILOWATCH_KAFKA_SSL_KEYFILE go together")
        return self

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
        "conn_url": "postgres_dsn",
        "sslmode": "postgres_sslmode",
        "sslrootcert": "postgres_sslrootcert",
        "sslcert": "postgres_sslcert",
        "sslkey": "postgres_sslkey",
    }

    host: str = Field("127.0.0.1", description="PostgreSQL host.")
    port: int = Field(15432, description="PostgreSQL port (local instance uses its own port).")
    user: str = Field("kilowatch", description="PostgreSQL role.")
    password: SecretStr = Field(
        SecretStr(DEV_POSTGRES_PASSWORD),
        description="PostgreSQL password (the development default works only in development, on loopback).",
    )
    db: str = Field("kilowatch", description="PostgreSQL database.")
    pool_min: int = Field(1, ge=0, description="Smallest asyncpg pool size.")
    pool_max: int = Field(5, ge=1, description="Largest asyncpg pool size.")
    command_timeout_s: float = Field(30.0, gt=0, description="Timeout of one SQL statement.")
    conn_url: SecretStr | None = Field(
        None,
        description="postgresql://user:password@host:port/db?sslmode=...&sslrootcert=... : when set, its "
        "parts override the host, port, user, password, db and ssl settings (secret: it holds the password).",
    )
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = Field(
        "prefer",
        description="TLS to PostgreSQL, as libpq: prefer (TLS if the server offers it), require (TLS, no "
        "certificate check), verify-ca (the CA in sslrootcert), verify-full (the CA and the host name).",
    )
    sslrootcert: Path | None = Field(
        None, description="PEM file of the CA that signed the server's certificate."
    )
    sslcert: Path | None = Field(None, description="PEM client certificate (certificate authentication).")
    sslkey: Path | None = Field(None, description="PEM private key of sslcert.")

    @model_validator(mode="before")
    @classmethod
    def _dsn_overrides_parts(cls, data: Any) -> Any:
        """The DSN form (``KILOWATCH_POSTGRES_DSN``) wins over the separate settings it names."""
        if not isinstance(data, dict) or data.get("conn_url") is None:
            return data
        raw = data["conn_url"]
        text = raw.get_secret_value() if isinstance(raw, SecretStr) else str(raw)
        return {**data, **postgres_dsn_parts(text)}

    def ssl_params(self) -> dict[str, str]:
        """libpq-style TLS parameters (asyncpg reads them from a DSN's query)."""
        out: dict[str, str] = {"sslmode": self.sslmode}
        for name in ("sslrootcert", "sslcert", "sslkey"):
            value = getattr(self, name)
            if value is not None:
                out[name] = str(value)
        return out

    def dsn(self, *, with_password: bool = True) -> str:
        """The DSN for asyncpg or libpq, TLS parameters included; never log it with the password
        (``with_password=False``: the form for logs and errors)."""
        pw = quote(self.password.get_secret_value(), safe="") if with_password else "***"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (
            f"postgresql://{quote(self.user, safe='')}:{pw}@{host}:{self.port}/{quote(self.db, safe='')}"
            f"?{urlencode(self.ssl_params())}"
        )


def postgres_dsn_parts(dsn: str) -> dict[str, Any]:
    """The PostgresSettings fields a ``postgresql://`` DSN names (errors never echo the DSN: it has
    the password)."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("KILOWATCH_POSTGRES_DSN must start with postgresql://")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("KILOWATCH_POSTGRES_DSN has an invalid port") from None
    out: dict[str, Any] = {}
    if parts.hostname:
        out["host"] = parts.hostname
    if port is not None:
        out["port"] = port
    if parts.username:
        out["user"] = unquote(parts.username)
    if parts.password is not None:
        out["password"] = SecretStr(unquote(parts.password))
    if parts.path.strip("/"):
        out["db"] = unquote(parts.path.strip("/"))
    known = {"sslmode", "sslrootcert", "sslcert", "sslkey"}
    for key, value in parse_qsl(parts.query):
        if key not in known:
            raise ValueError(
                f"KILOWATCH_POSTGRES_DSN: unsupported parameter {key!r} (known: {sorted(known)})"
            )
        out[key] = value
    return out


def redis_url_parts(url: str) -> dict[str, Any]:
    """The RedisSettings fields a ``redis://`` or ``rediss://`` (TLS) URL names."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError("KILOWATCH_REDIS_URL must start with redis:// or rediss://")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("KILOWATCH_REDIS_URL has an invalid port") from None
    out: dict[str, Any] = {"tls": parts.scheme == "rediss"}
    if parts.hostname:
        out["host"] = parts.hostname
    if port is not None:
        out["port"] = port
    if parts.username:
        out["username"] = unquote(parts.username)
    if parts.password is not None:
        out["password"] = SecretStr(unquote(parts.password))
    if parts.path.strip("/"):
        try:
            out["db"] = int(parts.path.strip("/"))
        except ValueError:
            raise ValueError("KILOWATCH_REDIS_URL: the path must be a database number") from None
    return out


class RedisSettings(_Group):
    """The Redis connection."""

    ENV: ClassVar[dict[str, str]] = {
        "host": "redis_host",
        "port": "redis_port",
        "password": "redis_password",
        "timeout_s": "redis_timeout_s",
        "conn_url": "redis_url",
        "username": "redis_username",
        "db": "redis_db",
        "tls": "redis_tls",
        "ssl_cafile": "redis_ssl_cafile",
        "ssl_certfile": "redis_ssl_certfile",
        "ssl_keyfile": "redis_ssl_keyfile",
        "ssl_check_hostname": "redis_ssl_check_hostname",
    }

    host: str = Field("127.0.0.1", description="Redis host.")
    port: int = Field(16379, description="Redis port (local instance uses its own port).")
    password: SecretStr | None = Field(None, description="Redis password, if any.")
    timeout_s: float = Field(
        15.0,
        gt=0,
        description="Socket timeout of every Redis call: a lost reply fails the call instead of hanging it.",
    )
    conn_url: SecretStr | None = Field(
        None,
        description="redis://[user:password@]host:port/db or rediss:// (TLS): when set, its parts override "
        "the host, port, user name, password, db and tls settings (secret: it may hold the password).",
    )
    username: str | None = Field(None, description="Redis ACL user name, if any.")
    db: int = Field(0, ge=0, description="Redis database number.")
    tls: bool = Field(False, description="Connect with TLS (what a rediss:// URL sets).")
    ssl_cafile: Path | None = Field(
        None,
        description="PEM file of the CA that signed the Redis server's certificate (default: the system's).",
    )
    ssl_certfile: Path | None = Field(None, description="PEM client certificate (servers that require one).")
    ssl_keyfile: Path | None = Field(None, description="PEM private key of ssl_certfile.")
    ssl_check_hostname: bool = Field(
        True, description="Check that the Redis server's certificate names the host connected to."
    )

    @model_validator(mode="before")
    @classmethod
    def _url_overrides_parts(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("conn_url") is None:
            return data
        raw = data["conn_url"]
        text = raw.get_secret_value() if isinstance(raw, SecretStr) else str(raw)
        return {**data, **redis_url_parts(text)}

    def redacted_url(self) -> str:
        """Where Redis is, for logs and errors (never the password)."""
        return self._url("***")

    @property
    def url(self) -> str:
        """The redis:// or rediss:// URL (with the password: never log it)."""
        return self._url(quote(self.password.get_secret_value(), safe="") if self.password else None)

    def _url(self, pw: str | None) -> str:
        auth = f"{quote(self.username or '', safe='')}:{pw}@" if pw is not None else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'rediss' if self.tls else 'redis'}://{auth}{host}:{self.port}/{self.db}"


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
    covariate_forecast_steps: int = Field(
        2000,
        ge=1,
        le=100_000,
        description="Supplied future covariates (covariate-forecasts topic) a worker keeps per asset: the "
        "latest stamps, older ones dropped first. At most this x 32 covariates x 8 bytes per asset.",
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
        "upload_max_bytes": "api_upload_max_bytes",
        "job_runners": "api_job_runners",
        "job_lease_s": "api_job_lease_s",
        "session_ttl_s": "api_session_ttl_s",
        "session_idle_s": "api_session_idle_s",
        "cookie_secure": "api_cookie_secure",
        "console_dir": "api_console_dir",
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
    upload_max_bytes: int = Field(
        50 * 1024 * 1024,
        ge=1024,
        le=50 * 1024 * 1024,
        description="Largest dataset file POST /datasets takes (413 FILE_TOO_LARGE beyond; 50 MiB at most).",
    )
    job_runners: int = Field(
        1,
        ge=0,
        le=8,
        description="Job runner loops of each API process (preprocessing, analytics, reports); 0 = this "
        "process runs no jobs (another process with runners does: the queue is in PostgreSQL).",
    )
    job_lease_s: float = Field(
        30.0,
        ge=1,
        le=3600,
        description="A running job's lease, renewed every third of it: a job whose runner died is taken "
        "again this long after its last renewal; a cancel is seen within a third of it.",
    )
    session_ttl_s: float = Field(
        8 * 3600.0,
        ge=60,
        le=30 * 86400,
        description="Lifetime of a console session (from sign-in; then the user signs in again).",
    )
    session_idle_s: float = Field(
        3600.0,
        ge=60,
        le=30 * 86400,
        description="A console session unused for this long ends (sliding: every request moves it, "
        "within a minute), even before session_ttl_s.",
    )
    cookie_secure: bool = Field(
        False,
        description="Mark the console's cookies Secure (sent over HTTPS only). They are Secure anyway on a "
        "request that arrived over HTTPS; set this when a TLS proxy sits in front of the API.",
    )
    console_dir: Path = Field(
        Path("console/dist"),
        description="The built console (`make console`) served under /admin; missing: /admin answers 503.",
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

    artifact_store: Literal["postgres", "file", "s3"] = Field(
        "postgres",
        description="Where model bundles live: 'postgres' (the artifacts table: shared by every worker and "
        "the API on any host), 's3' (an S3-compatible bucket, artifact_s3_*; the 's3' extra) or 'file' "
        "(folders under artifact_root: one host only, development).",
    )
    artifact_s3_bucket: str = Field("", description="Bucket of the 's3' artifact store.")
    artifact_s3_endpoint: str = Field(
        "", description="Endpoint URL of an S3-compatible server (MinIO, Ceph ...); empty: AWS S3."
    )
    artifact_s3_region: str = Field("us-east-1", description="Region of the 's3' artifact store.")
    artifact_s3_access_key_id: str = Field(
        "", description="Access key id of the 's3' store; empty: boto3's default credential chain."
    )
    artifact_s3_secret_access_key: SecretStr = Field(
        SecretStr(""), description="Secret access key of the 's3' store (with artifact_s3_access_key_id)."
    )
    artifact_root: Path = Field(
        Path(".state/artifacts"), description="Root folder of the local filesystem artifact store ('file')."
    )
    artifact_cache_dir: Path | None = Field(
        None,
        description="This host's verified copies of bundles from the 'postgres' store; unset: "
        "<state_dir>/artifact-cache.",
    )
    artifact_max_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        le=1024 * 1024 * 1024,
        description="Largest model bundle the artifact store takes or loads (content and archive, bytes).",
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
    history_max_rows: int = Field(
        20_000, ge=100, description="Newest readings a history- or dataset-based job uses."
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


# KILOWATCH_* variables read outside the settings (tools, tests, compose): not typos.
OTHER_ENV_NAMES = frozenset(
    {
        "DATA_DIR",  # evaluation data folder (stream_app/evaluation/harness.py, compose)
        "SOURCE_REVISION",  # results documents from an exported tree
        "SSRF_RESULTS",  # scripts/ssrf-suite
        "HYPOTHESIS_SHRINK",  # tests
        "HYPOTHESIS_EXAMPLES",  # tests
        "LOG_LEVEL",  # bench scripts
    }
)
_warned_unknown: set[str] = set()


def known_env_names() -> frozenset[str]:
    """Every ``KILOWATCH_*`` name kilowatch reads: the settings' own and ``OTHER_ENV_NAMES``."""
    top = {name for name in Settings.model_fields if name not in GROUPS}
    return frozenset(ENV_PREFIX + n.upper() for n in (*FLAT, *top, *OTHER_ENV_NAMES))


def unknown_env_names(environ: Mapping[str, str]) -> list[str]:
    """``KILOWATCH_*`` variables that no setting reads (a typo is otherwise silently ignored)."""
    known = known_env_names()
    return sorted(k for k in environ if k.upper().startswith(ENV_PREFIX) and k.upper() not in known)


def warn_unknown_env(environ: Mapping[str, str]) -> list[str]:
    """Log one warning naming the unknown ``KILOWATCH_*`` variables (once per name and process)."""
    new = [n for n in unknown_env_names(environ) if n not in _warned_unknown]
    if new:
        _warned_unknown.update(new)
        logging.getLogger(__name__).warning(
            "ignoring unknown environment variable(s) %s: no kilowatch setting has that name "
            "(a typo? docs/settings.md lists them all)",
            ", ".join(new),
        )
    return new


class _FlatEnv(PydanticBaseSettingsSource):
    """``KILOWATCH_<FLAT_NAME>`` variables into their groups (unknown ``KILOWATCH_*`` names are warned
    about once)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every group at once

    def __call__(self) -> dict[str, Any]:
        env = {k.upper(): v for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)}
        warn_unknown_env(env)
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
    env: Literal["development", "production"] = Field(
        "development",
        description="production refuses every development default secret (the PostgreSQL password), "
        "whatever the host; development accepts it only for services on loopback.",
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

    @model_validator(mode="after")
    def _no_dev_secrets_outside_development(self) -> Settings:
        """The development password is public (it is in this file): refused in production and for any
        database off this machine's loopback, so a deployment that forgot to set one fails at start."""
        pg = self.postgres
        if pg.password.get_secret_value() == DEV_POSTGRES_PASSWORD:
            if self.env == "production":
                raise ValueError(
                    "KILOWATCH_ENV=production refuses the development PostgreSQL password: "
                    "set KILOWATCH_POSTGRES_PASSWORD (or a password in KILOWATCH_POSTGRES_DSN)"
                )
            if not is_loopback_host(pg.host):
                raise ValueError(
                    "the development PostgreSQL password is accepted only for a loopback host, "
                    f"not {pg.host!r}: set KILOWATCH_POSTGRES_PASSWORD "
                    "(or a password in KILOWATCH_POSTGRES_DSN)"
                )
        return self

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
