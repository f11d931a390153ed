"""The readings agent: micro-batches from the readings topic through the scoring pipeline.

Concurrency stays 1 (faust #606: with more, an offset can be committed past an in-flight message).
``take_events`` acks a batch only after it was processed, and faust flushes the producer (state
records and events) before committing offsets, so a crash replays at most uncommitted readings; the
pipeline recognises those redeliveries and re-emits the same events (deterministic event ids).

Rebalances: the app runs with ``stream_wait_empty=False`` (waiting for a half-filled take buffer
would stall the revoke), so a batch taken before a rebalance can come out of ``take_events`` while
the rebalance suspends the flow, or after it. A batch that comes out while the flow is suspended is
held, not scored: it could write state into a changelog partition whose new owner is restoring it
(seen: readings scored by both workers). Its messages keep an extra reference, so ``take_events``'
acks do not let faust commit them unprocessed; the agent does not block (a version that awaited the
rebalance lost a run of readings in 3 of 12 test runs). When the flow is back, held and new events
pass ``owned``: readings of partitions this worker no longer owns are skipped (the new owner scores
them; faust discards their commits), the rest are scored (faust's seek may redeliver them; the
pipeline recognises the redelivery), then the held references are released.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

import faust

from agents.context import AgentContext
from stream_app.kafka.faust_compat.internals import set_current_event
from stream_app.scoring.pipeline import Emit, RawMessage, ScoringPipeline
from stream_app.scoring.state import ring_records

log = logging.getLogger(__name__)


def owned(events: Sequence[Any], assigned: set[Any], generation: int) -> list[Any]:
    """The events still ours: fetched in the current consumer generation, or of a partition this
    worker still holds (pure; ``events`` carry faust messages with ``tp`` and ``generation_id``)."""
    return [e for e in events if e.message.generation_id == generation or e.message.tp in assigned]


class HeldBatches:
    """Events taken while a rebalance suspends the flow, held with their acks until it resumes."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def hold(self, events: Sequence[Any]) -> None:
        for e in events:
            e.message.incref()  # take_events' ack is then not the final one: nothing is committed
        self.events.extend(events)

    def take(self, events: Sequence[Any]) -> tuple[list[Any], list[Any]]:
        """(held events then ``events``, in offset order per partition; the held ones to release)."""
        held, self.events = self.events, []
        return held + list(events), held


def register(app: faust.App, ctx: AgentContext) -> None:
    """Attach the agent and the rebalance hook to ``app``."""
    settings = ctx.settings
    pipeline: ScoringPipeline = ctx.pipeline
    table = ctx.state_table
    window = settings.detector.window_size

    def as_current(event: faust.EventT) -> None:
        # Table reads and writes go to the partition of faust's "current event". In a micro-batch that
        # is the last event taken, so point it at the event each write belongs to.
        set_current_event(event)

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
            if record is None:  # an asset reset: faust deletes locally and sends the tombstone
                del table[key]
            else:
                table[key] = record
        for k, v in out.anomalies:
            ctx.anomalies_topic.send_soon(key=k, value=v)
        for k, v in out.forecasts:
            ctx.forecasts_topic.send_soon(key=k, value=v)
        for k, v in out.scores:
            ctx.scores_topic.send_soon(key=k, value=v)
        for dk, dv in out.dead_letters:
            ctx.dead_letters_topic.send_soon(key=dk, value=dv)

    def score(events: list[faust.EventT], taken: int) -> None:
        if len(events) < taken:
            log.info("skipped %d readings of partitions revoked meanwhile", taken - len(events))
        if not events:
            return
        started = time.perf_counter()
        batch = [
            RawMessage(e.message.key, e.message.value, e.message.topic, e.message.partition, e.message.offset)
            for e in events
        ]
        out = pipeline.process(batch, TableStore(events))
        apply(events, out)
        as_current(events[-1])
        oldest = min(e.message.timestamp for e in events) if out.anomalies else 0.0
        out.observe(
            len(events), time.perf_counter() - started, len(pipeline.cache), oldest, pipeline.cache.bytes
        )

    @app.agent(ctx.readings_topic, name="score-readings", concurrency=1)
    async def score_readings(stream: faust.StreamT) -> None:
        # faust pauses the stream whenever more than 100 produced messages wait in its buffer; one
        # micro-batch legitimately produces a state record (and maybe a score) per reading.
        app.producer.buffer.max_messages = 4 * settings.worker.batch_size + 100
        batches = stream.take_events(settings.worker.batch_size, within=settings.worker.batch_within)  # type: ignore[attr-defined]
        held = HeldBatches()
        async for taken in batches:
            if not app.flow_control.is_active():
                held.hold(taken)
                log.info("holding %d readings taken before the rebalance", len(taken))
                continue
            pending, earlier = held.take(taken)
            try:
                score(owned(pending, app.consumer.assignment(), app.consumer_generation_id), len(pending))
            finally:
                for e in earlier:
                    e.ack()  # the reference hold() added; the offset may be committed from now on

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        dropped = pipeline.drop_partitions(
            tp.partition for tp in revoked if tp.topic == ctx.readings_topic_name
        )
        if dropped:
            log.info("dropped %d cached assets of revoked partitions", dropped)
