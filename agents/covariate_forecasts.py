"""Tail the covariate-forecasts topic in every worker: supplied future covariates for trained models.

Like model updates, not a partitioned workload: any worker may own an asset after the next rebalance,
so every worker reads all partitions of the (compacted) topic with its own group-less consumer, from the
beginning at start-up, then follows it. Compaction keeps each asset's latest message, so a restarted
worker has every asset's latest supplied values back (``stream_app.serving.supplied``).

A message that is not a valid ``schemas.covariates.CovariateForecast`` (or whose key differs from its
``asset_id``) is dead-lettered with the reason and counted
(``kilowatch_covariate_forecasts_total{outcome="invalid"}``); it never stops the worker. A Kafka error
is handled as for model updates: logged, counted, the topic read again after a back-off.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import faust
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from agents.context import AgentContext
from agents.periodic import keep_running
from schemas.covariates import CovariateForecast
from stream_app import metrics
from stream_app.core.decode import dead_key_bytes, dead_letter
from stream_app.kafka.tail import tail_from_beginning
from stream_app.serving.supplied import SuppliedCovariates

log = logging.getLogger(__name__)


def apply_forecast(raw: bytes | None, key: bytes | None, supplied: SuppliedCovariates) -> str | None:
    """Store one message's values; returns None, or why the message cannot be used (a tombstone is
    ignored: the asset keeps the values it has)."""
    if raw is None:
        return None
    try:
        msg = CovariateForecast.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        return f"invalid covariate forecast: {'.'.join(map(str, first['loc']))}: {first['msg']}"
    if key and key.decode("utf-8", "replace") != msg.asset_id:
        return "the message key differs from the body's asset_id"
    supplied.note(msg.asset_id, msg.start.timestamp(), msg.step_seconds, msg.covariates)
    return None


def register(app: faust.App, ctx: AgentContext, supplied: SuppliedCovariates) -> None:
    settings = ctx.settings
    topic = settings.kafka.topic("covariate-forecasts")

    async def store(record: ConsumerRecord[bytes, bytes]) -> None:
        why = apply_forecast(record.value, record.key, supplied)
        if why is None:
            metrics.COVARIATE_FORECASTS.labels("stored").inc()
            return
        metrics.COVARIATE_FORECASTS.labels("invalid").inc()
        log.warning("dead-lettering covariate forecast at offset %d: %s", record.offset, why)
        letter = dead_letter(
            record.topic,
            record.partition,
            record.offset,
            record.key,
            record.value,
            why,
            datetime.now(UTC),
        )
        await ctx.dead_letters_topic.send(
            key=dead_key_bytes(record.key), value=letter.model_dump_json().encode()
        )

    async def follow() -> None:
        await tail_from_beginning(settings.kafka, topic, store)

    @app.task
    async def tail_covariate_forecasts() -> None:
        await keep_running("covariate-forecasts", follow, settings.worker.timer_backoff_max_s)
