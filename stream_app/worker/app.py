"""Build the faust worker app from settings: topics, the state table, agents."""

from __future__ import annotations

from typing import Any

import faust

from agents import (
    alerting,
    batch_readings,
    covariate_forecasts,
    history_sink,
    model_updates,
    readings,
    results_sink,
    retraining,
)
from agents.context import AgentContext
from stream_app.kafka.faust_compat.credentials import faust_credentials
from stream_app.scoring.pipeline import ScoringPipeline
from stream_app.serving.live import LiveModels
from stream_app.serving.loader import bundle_loader
from stream_app.settings import Settings
from stream_app.worker import monitor


def state_table_options(settings: Settings) -> dict[str, int]:
    """RocksDB options of the state table, one database per readings partition. faust's defaults
    (3 write buffers of 64 MiB, a 2 GiB block cache, each per database) let the memtables of 8
    partitions grow to 1.5 GiB with new assets (bench/rocksdb_memtables.py)."""
    mib = 1024 * 1024
    return {
        "write_buffer_size": settings.worker.rocksdb_write_buffer_mib * mib,
        "max_write_buffer_number": 2,
        "target_file_size_base": settings.worker.rocksdb_write_buffer_mib * mib,
        "block_cache_size": settings.worker.rocksdb_block_cache_mib * mib,
        "block_cache_compressed_size": settings.worker.rocksdb_block_cache_mib * mib,
    }


def create_app(settings: Settings, worker_id: str = "w1") -> tuple[faust.App, AgentContext]:
    """A faust app whose agents score readings. ``worker_id`` names its local RocksDB directory."""
    datadir = settings.worker_dir / worker_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.worker.app_id,
        broker=settings.kafka.broker_url,
        broker_credentials=faust_credentials(settings.kafka),
        store=settings.worker.store,
        datadir=str(datadir),
        web_enabled=False,
        topic_partitions=settings.kafka.topic_partitions,
        topic_replication_factor=settings.kafka.topic_replication,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=2 * settings.worker.batch_size,
        broker_commit_interval=1.0,
        producer_linger_ms=settings.kafka.producer_linger_ms,
        producer_max_batch_size=256 * 1024,
        stream_buffer_maxsize=8192,
        stream_wait_empty=False,
        value_serializer="raw",
        key_serializer="raw",
        table_standby_replicas=0,
        broker_session_timeout=settings.kafka.session_timeout_s,
    )
    raw: dict[str, Any] = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    readings_name = settings.kafka.topic("readings")
    ctx = AgentContext(
        settings=settings,
        pipeline=ScoringPipeline(settings),
        readings_topic=app.topic(readings_name, **raw),
        readings_topic_name=readings_name,
        anomalies_topic=app.topic(settings.kafka.topic("anomalies"), **raw),
        forecasts_topic=app.topic(settings.kafka.topic("forecasts"), **raw),
        scores_topic=app.topic(settings.kafka.topic("scores"), **raw),
        dead_letters_topic=app.topic(settings.kafka.topic("dead-letters"), **raw),
        state_table=app.Table(
            "asset-state",
            default=None,
            partitions=settings.kafka.topic_partitions,
            help="Per-asset ring of state records, key <asset>|<slot>",
            key_type=bytes,
            value_type=bytes,
            options=state_table_options(settings),
        ),
    )
    if settings.worker.trained_models:
        loader = bundle_loader(settings)
        live = LiveModels(
            loader,
            horizon=settings.worker.forecast_horizon,
            capacity=settings.worker.model_cache_size,
            per_asset_metrics=settings.worker.metrics_per_asset,
            plan_steps=settings.worker.model_plan_steps,
            window=settings.detector.window_size,
            supplied_steps=settings.worker.covariate_forecast_steps,
        )
        ctx.pipeline.live = live
        model_updates.register(app, ctx, live, loader)
        covariate_forecasts.register(app, ctx, live.supplied)
    if settings.worker.readings_path == "batch":
        batch_readings.register(app, ctx)
    else:
        readings.register(app, ctx)
    if settings.alerting.enabled:
        ctx.keepalive.append(alerting.register(app, ctx))
    if settings.worker.results_sink_enabled:
        results_sink.register(app, ctx)
    if settings.worker.history_enabled:
        history_sink.register(app, ctx)
    monitor.register(app, ctx, settings.worker.monitor_interval_s)

    if settings.training.retraining_enabled:
        retraining.register(app, ctx)
    return app, ctx
