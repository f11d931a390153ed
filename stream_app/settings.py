"""The one settings object: frozen, env prefix ``KILOWATCH_``, passed in explicitly.

Nothing below the entry points (CLI, worker factory, API factory) reads the environment.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
        672, ge=16, description="Readings kept per asset (ring buffer); 672 = one week at 15 minutes."
    )
    season_length: int = Field(
        0, ge=0, description="Readings per season for the online model; 0 = detect from timestamps."
    )
    forecast_every: int = Field(24, ge=1, description="Emit a forecast every K scored readings of an asset.")
    forecast_horizon: int = Field(24, ge=1, le=10_000, description="Steps ahead in each forecast.")
    anomaly_threshold: float = Field(
        0.995, gt=0, lt=1, description="Score at or above which a point is flagged."
    )
    warmup: int = Field(32, ge=4, description="Readings an asset needs before it can be flagged.")
    interval_level: float = Field(0.95, gt=0, lt=1, description="Coverage of forecast lower/upper bounds.")

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
