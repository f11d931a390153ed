"""The readings agent: micro-batches from the readings topic through the scoring pipeline.

Concurrency stays 1 (faust #606: with more, an offset can be committed past an in-flight message).
``take_events`` acks a batch only after it was processed, and faust flushes the producer (state
records and events) before committing offsets, so a crash replays at most uncommitted readings; the
pipeline recognises those redeliveries and re-emits the same events (deterministic event ids).
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import faust
from faust.streams import _current_event  # the event a table write is attributed to

from stream_app.pipeline import Emit, RawMessage, ScoringPipeline
from stream_app.state import ring_records

log = logging.getLogger(__name__)


def register(app: faust.App, ctx: Any) -> None:
    """Attach the agent and the rebalance hook to ``app``; ``ctx`` is the WorkerContext."""
    settings = ctx.settings
    pipeline: ScoringPipeline = ctx.pipeline
    table = ctx.state_table
    window = settings.window_size

    def as_current(event: faust.EventT) -> None:
        # Table reads and writes go to the partition of faust's "current event". In a micro-batch that
        # is the last event taken, so point it at the event each write belongs to.
        _current_event.set(weakref.ref(event))

    class TableStore:
        """The state table, read on behalf of one micro-batch's events."""

        def __init__(self, events: Sequence[faust.EventT]) -> None:
            self.events = events

        def get(self, key: bytes, index: int) -> bytes | None:
            as_current(self.events[index])
            value: bytes | None = table.get(key)
            return value

        def records(self, asset_id: str, index: int) -> Iterator[bytes]:
            return ring_records(lambda key: self.get(key, index), asset_id, window)

    def apply(events: Sequence[faust.EventT], out: Emit) -> None:
        for index, key, record in out.writes:
            as_current(events[index])
            table[key] = record
        for k, v in out.anomalies:
            ctx.anomalies_topic.send_soon(key=k, value=v)
        for k, v in out.forecasts:
            ctx.forecasts_topic.send_soon(key=k, value=v)
        for k, v in out.scores:
            ctx.scores_topic.send_soon(key=k, value=v)
        for dk, dv in out.dead_letters:
            ctx.dead_letters_topic.send_soon(key=dk, value=dv)

    @app.agent(ctx.readings_topic, name="score-readings", concurrency=1)
    async def score_readings(stream: faust.StreamT) -> None:
        # faust pauses the stream whenever more than 100 produced messages wait in its buffer; one
        # micro-batch legitimately produces a state record (and maybe a score) per reading.
        app.producer.buffer.max_messages = 4 * settings.batch_size + 100
        batches = stream.take_events(settings.batch_size, within=settings.batch_within)  # type: ignore[attr-defined]
        async for events in batches:
            started = time.perf_counter()
            batch = [
                RawMessage(
                    e.message.key, e.message.value, e.message.topic, e.message.partition, e.message.offset
                )
                for e in events
            ]
            out = pipeline.process(batch, TableStore(events))
            apply(events, out)
            as_current(events[-1])
            oldest = min(e.message.timestamp for e in events) if out.anomalies else 0.0
            out.observe(len(events), time.perf_counter() - started, len(pipeline.cache), oldest)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        dropped = pipeline.drop_partitions(
            tp.partition for tp in revoked if tp.topic == ctx.readings_topic_name
        )
        if dropped:
            log.info("dropped %d cached assets of revoked partitions", dropped)
