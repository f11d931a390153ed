"""Retraining agent and timers (thin: the work is in stream_app.lifecycle.service).

- ``retraining`` consumes training requests; each one runs as a task (training happens in a child
  process, so the event loop keeps scoring); an invalid request goes to the dead-letter topic.
- ``scheduled-retraining`` (leader only) asks for a new version of every asset whose
  ``retrain_interval`` has passed since its newest job.
- ``drift-check`` (every worker, for the assets it scores) asks for a new version when the rolling
  error of the scores it sees is above ``drift_threshold`` (fed from the scores topic, so only when
  ``drift_enabled`` and ``emit_scores`` are on).
- ``training-job-recovery`` (every worker) takes over the open jobs of dead workers (expired lease):
  PENDING ones run again here, running ones end FAILED (``TrainingService.recover_jobs``).
- ``model-update-outbox`` (every worker) publishes ModelUpdated events left in the outbox (written
  with each activation; published at once when the broker is up, else here once it is back).
Requests made here use the asset's readings history and the active version's type and params.
Nothing starts until PostgreSQL and Redis are reachable and the schema current (retried with back-off);
until then requests wait in Kafka. Every timer runs through ``agents.periodic.Backoff``: a PostgreSQL,
Redis or Kafka error is logged and counted and the timer pauses, never the worker.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import faust
from pydantic import ValidationError

from agents.context import AgentContext
from agents.periodic import Backoff, retry_forever
from schemas.errors import KilowatchError
from schemas.events import ModelUpdated, TrainingRequest, utc_now
from stream_app.core.decode import dead_key_bytes, dead_letter
from stream_app.lifecycle.artifacts import open_store
from stream_app.lifecycle.coord import JobChannel, TrainingLock, redis_client
from stream_app.lifecycle.drift import DriftMonitor
from stream_app.lifecycle.service import TrainingService
from stream_app.store import migrations
from stream_app.store import repository as repo

log = logging.getLogger(__name__)


def register(app: faust.App, ctx: AgentContext) -> None:
    settings = ctx.settings
    raw: dict[str, Any] = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    requests_topic = app.topic(settings.kafka.topic("training-requests"), **raw)
    updates_topic = app.topic(settings.kafka.topic("model-updates"), **raw)
    ready = asyncio.Event()
    holder: dict[str, TrainingService] = {}
    running: set[asyncio.Task[Any]] = set()
    monitor = DriftMonitor(
        window=settings.training.drift_window,
        threshold=settings.training.drift_threshold,
        min_points=max(8, settings.training.drift_window // 2),
        max_assets=settings.worker.tracked_assets_max,
    )
    ctx.keepalive.extend([requests_topic, updates_topic, monitor])

    async def publish(ev: ModelUpdated) -> None:
        """Send and wait for the broker's ack (the outbox row is deleted only after it)."""
        sent = await updates_topic.send(key=ev.asset_id.encode(), value=ev.model_dump_json().encode())
        await sent
        monitor.reset(ev.asset_id)

    backoff_max = settings.worker.timer_backoff_max_s

    def spawn(req: TrainingRequest) -> None:
        task = asyncio.create_task(_handle(holder["service"], req), name=f"training-{req.request_id}")
        running.add(task)
        task.add_done_callback(running.discard)

    async def recover() -> None:
        for req in await holder["service"].recover_jobs():
            spawn(req)

    @app.task
    async def start_training_service() -> None:
        from stream_app.store.pool import create_pool

        async def connect() -> Any:
            pool = await create_pool(settings)
            try:
                async with pool.acquire() as conn:
                    await migrations.ensure_current(conn)
            except BaseException:
                await pool.close()
                raise
            return pool

        pool = await retry_forever("retraining start-up (PostgreSQL)", connect, backoff_max)
        client = redis_client(settings)
        service = TrainingService(
            settings=settings,
            pool=pool,
            lock=TrainingLock(client, settings.kafka.topic_prefix, settings.training.lock_ttl_ms),
            channel=JobChannel(
                client,
                settings.kafka.topic_prefix,
                settings.training.log_lines,
                settings.training.redis_ttl_s,
            ),
            store=open_store(settings),
            publish=publish,
        )
        holder["service"] = service
        await retry_forever("retraining start-up (job recovery)", recover, backoff_max)
        ready.set()
        log.info("retraining service ready (owner %s)", service.owner)
        try:
            await asyncio.Event().wait()  # lives as long as the worker
        finally:
            for task in list(running):
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            await pool.close()
            await client.aclose()

    @app.agent(requests_topic, name="retraining", concurrency=1)
    async def retraining(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await ready.wait()
            msg = event.message
            try:
                req = TrainingRequest.model_validate_json(msg.value)
            except ValidationError as exc:
                letter = dead_letter(
                    msg.topic,
                    msg.partition,
                    msg.offset,
                    msg.key,
                    msg.value,
                    f"invalid training request: {exc}",
                    utc_now(),
                )
                await ctx.dead_letters_topic.send(
                    key=dead_key_bytes(msg.key), value=letter.model_dump_json().encode()
                )
                continue
            spawn(req)

    async def _ask(asset_id: str, why: str) -> None:
        service = holder["service"]
        active = await repo.active_version(service.pool, asset_id)
        req = TrainingRequest(
            request_id=uuid.uuid4(),
            asset_id=asset_id,
            model_type=active.model_type if active else settings.training.retrain_default_model,
            params=active.params if active else {},
            data_url=None,
            requested_at=utc_now(),
        )
        log.info("asking to retrain %s (%s)", asset_id, why)
        await requests_topic.send(key=asset_id.encode(), value=req.model_dump_json().encode())

    async def ask_due() -> None:
        for asset in await repo.assets_due_for_retraining(holder["service"].pool, datetime.now(UTC)):
            await _ask(asset.asset_id, f"scheduled every {asset.retrain_interval}")

    scheduled_backoff = Backoff("scheduled-retraining", backoff_max)
    recovery_backoff = Backoff("training-job-recovery", backoff_max)
    outbox_backoff = Backoff("model-update-outbox", backoff_max)
    ctx.keepalive.extend([scheduled_backoff, recovery_backoff, outbox_backoff])

    @app.timer(interval=settings.training.retrain_check_every_s, on_leader=True, name="scheduled-retraining")
    async def scheduled_retraining() -> None:
        if ready.is_set():
            await scheduled_backoff.run(ask_due)

    @app.timer(interval=settings.training.job_recovery_every_s, name="training-job-recovery")
    async def job_recovery() -> None:
        if ready.is_set():
            await recovery_backoff.run(recover)

    async def relay() -> None:
        await holder["service"].relay_outbox()

    @app.timer(interval=settings.training.outbox_every_s, name="model-update-outbox")
    async def model_update_outbox() -> None:
        if ready.is_set():
            await outbox_backoff.run(relay)

    if settings.training.drift_enabled and settings.worker.emit_scores:
        scores_topic = app.topic(settings.kafka.topic("scores"), **raw)
        ctx.keepalive.append(scores_topic)

        @app.agent(scores_topic, name="drift-feed", concurrency=1)
        async def drift_feed(stream: faust.StreamT) -> None:
            async for batch in stream.take(500, within=1.0):
                for value in batch:
                    try:
                        rec = faust_json(value)
                        if rec.get("status") == "scored":
                            monitor.observe_reading(
                                rec["asset_id"], float(rec["value"]), float(rec["expected"])
                            )
                    except (ValueError, KeyError, TypeError):
                        continue

        async def ask_drifted() -> None:
            for asset_id, score in monitor.drifted():
                await _ask(
                    asset_id, f"rolling error {score:.2f}x naive > {settings.training.drift_threshold}"
                )
                monitor.reset(asset_id)  # only once asked: a failed ask is asked again next time

        drift_backoff = Backoff("drift-check", backoff_max)
        ctx.keepalive.append(drift_backoff)

        @app.timer(interval=settings.training.retrain_check_every_s, name="drift-check")
        async def drift_check() -> None:
            if ready.is_set():
                await drift_backoff.run(ask_drifted)


def faust_json(value: bytes) -> dict[str, Any]:
    import orjson

    data = orjson.loads(value)
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data


async def _handle(service: TrainingService, req: TrainingRequest) -> None:
    try:
        job = await service.handle(req)
        log.info("training request %s for %s ended %s", req.request_id, req.asset_id, job.status)
    except KilowatchError as exc:  # e.g. the asset was deleted meanwhile; the agent carries on
        log.error("training request %s for %s: %s", req.request_id, req.asset_id, exc)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("training request %s for %s failed unexpectedly", req.request_id, req.asset_id)
