"""Tail the model-updates topic in every worker and hot-swap active model versions.

Model updates are not a partitioned workload: every worker needs every update (any of them may own
the asset after the next rebalance). So this is not a faust agent in the app's consumer group but a
task with its own group-less consumer that reads all partitions of the compacted topic from the
beginning at start-up (rebuilding the active version of every asset) and then follows it.

A new version is loaded off the event loop first and swapped in only once it is ready, so scoring
never waits for a bundle to load and the old version keeps scoring until then.

A Kafka error (broker down at start-up, or while following) never ends the worker: the consumer is
closed, the error logged and counted (``kilowatch_worker_task_failures_total{task="model-updates"}``)
and the topic read again from the beginning after a back-off (re-applying updates is idempotent).
"""

from __future__ import annotations

import asyncio
import logging

import faust
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from agents.context import AgentContext
from agents.periodic import keep_running
from schemas.events import ModelUpdated
from stream_app import metrics
from stream_app.kafka.tail import tail_from_beginning
from stream_app.serving.live import ActiveModel, LiveModels, Loader

log = logging.getLogger(__name__)


def active_of(update: ModelUpdated) -> ActiveModel:
    return ActiveModel(
        asset_id=update.asset_id,
        model_id=update.model_id,
        version=update.model_version,
        model_type=update.model_type,
        artifact_uri=update.artifact_uri,
    )


async def apply_update(raw: bytes | None, live: LiveModels, loader: Loader, key: bytes | None = None) -> bool:
    """Validate, load off the loop, then swap. Returns whether the active version changed.

    A tombstone (no value; key = asset id, sent when an asset is deleted) retires the asset's model.
    """
    if raw is None:
        if key is None:
            return False
        retired = live.retire(key.decode("utf-8", "replace"))
        if retired:
            metrics.MODEL_UPDATES.labels("retired").inc()
        return retired
    try:
        update = ModelUpdated.model_validate_json(raw)
    except ValidationError as exc:
        log.error("ignoring an invalid model-update event: %s", exc.errors(include_input=False))
        metrics.MODEL_UPDATES.labels("invalid").inc()
        return False
    active = active_of(update)
    if live.active.get(active.asset_id) == active:
        return False
    loop = asyncio.get_running_loop()
    try:
        model = await loop.run_in_executor(None, loader, active)
    except Exception:  # a bad bundle must not stop the worker; the asset stays on its old version
        log.exception("cannot load %s for asset %s, keeping its current model", active.label, active.asset_id)
        metrics.MODEL_LOAD_FAILURES.inc()
        return False
    live.apply(active)
    live.install(active, model)
    metrics.MODEL_UPDATES.labels(update.action).inc()
    return True


def register(app: faust.App, ctx: AgentContext, live: LiveModels, loader: Loader) -> None:
    settings = ctx.settings
    topic = settings.kafka.topic("model-updates")

    async def swap(record: ConsumerRecord[bytes, bytes]) -> None:
        await apply_update(record.value, live, loader, record.key)

    async def follow() -> None:
        await tail_from_beginning(settings.kafka, topic, swap)

    @app.task
    async def tail_model_updates() -> None:
        await keep_running("model-updates", follow, settings.worker.timer_backoff_max_s)
