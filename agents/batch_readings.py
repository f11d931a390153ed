"""The batch readings path (``settings.worker.readings_path == "batch"``): faust keeps the consumer group,
partition assignment, rebalances, table recovery, the RocksDB table and its changelog topic; the
per-message machinery of the readings path goes away.

- ``BatchReadingsConsumer`` (``stream_app/kafka/faust_compat/consumer.py``) drains fetched readings
  into a ``ReadingsBuffer`` in bulk (no task, no ``Event`` per message) and guards their offsets.
- ``run_batches`` (an ``app.task``) takes micro-batches from the buffer, runs
  ``ScoringPipeline.process`` reading state straight from the table's RocksDB partition stores,
  writes the new records there, produces the changelog records (same partition as the reading) and
  the output events with one confluent-kafka producer, and acks a batch only once Kafka confirmed
  every record of it and of every batch taken before it. faust commits acked runs only, so it never
  commits past a reading whose state and events are not in Kafka.
- On a revoke, the records in flight are delivered before the partitions go to another worker, so
  the next owner restores every record of every reading that was scored here.

Crash safety: a reading is committed only after its state record and events are in Kafka; after a
crash the readings since the last commit arrive again and the pipeline recognises them by source
offset (docs/design.md, "Crash and redelivery").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterator
from typing import Any, cast

import faust
from confluent_kafka import KafkaException
from faust.types import TP, Message, TopicT
from faust.types.stores import StoreT
from faust.types.tables import TableT
from faust.types.tuples import ack_lock
from rocksdict import Rdict, WriteBatch

from agents.context import AgentContext
from stream_app import metrics
from stream_app.kafka.batching import BatchDelivery, ReadingsBuffer
from stream_app.kafka.clients import PolledProducer
from stream_app.kafka.faust_compat.consumer import BatchReadingsConsumer
from stream_app.kafka.faust_compat.internals import partition_db, subscribe_topic
from stream_app.scoring.pipeline import Emit, RawMessage, ScoringPipeline
from stream_app.scoring.state import ring_records

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 2  # batches produced but not yet acknowledged by Kafka
REVOKE_DELIVERY_TIMEOUT_S = 30.0


class DirectStore:
    """The table's RocksDB stores, read in the partition of each message (``StateStore``)."""

    def __init__(self, table: TableT[bytes, bytes], batch: list[RawMessage], window: int) -> None:
        self.table = table
        self.batch = batch
        self.window = window
        self.dbs: dict[int, Rdict] = {}

    def db(self, partition: int) -> Rdict:
        db = self.dbs.get(partition)
        if db is None:
            db = self.dbs[partition] = partition_db(self.table, partition)
        return db

    def get(self, key: bytes, index: int) -> bytes | None:
        value: bytes | None = self.db(self.batch[index].partition).get(key)
        return value

    def records(self, asset_id: str, index: int) -> Iterator[bytes]:
        return ring_records(self.db(self.batch[index].partition).get, asset_id, self.window)


class BatchPath:
    """State of the batch path in one worker: buffer, producer, batches in flight."""

    def __init__(self, app: faust.App, ctx: AgentContext) -> None:
        self.app = app
        self.ctx = ctx
        self.settings = ctx.settings
        self.pipeline: ScoringPipeline = ctx.pipeline
        self.table = ctx.state_table
        self.topic_name: str = ctx.readings_topic_name
        size = self.settings.worker.batch_size
        self.buffer = ReadingsBuffer(self.topic_name, size, max_size=max(8192, 4 * size))
        self.in_flight: deque[asyncio.Task[None]] = deque()
        self.producer: PolledProducer | None = None
        self.outputs: list[tuple[TopicT, str]] = []

    # --- one batch ----------------------------------------------------------------------------------
    def score_and_produce(self, messages: list[Message], changelog: str) -> tuple[BatchDelivery, Emit]:
        """Synchronous: score, write state to RocksDB, hand every record to the producer."""
        assert self.producer is not None
        batch = [RawMessage(m.key, m.value, m.topic, m.partition, m.offset) for m in messages]
        store = DirectStore(self.table, batch, self.settings.detector.window_size)
        out = self.pipeline.process(batch, store)
        delivery = BatchDelivery(asyncio.get_running_loop(), changelog)
        produce = self.producer.produce
        on_delivery = delivery.on_delivery
        by_partition: dict[int, WriteBatch] = {}
        for index, key, record in out.writes:
            p = batch[index].partition
            wb = by_partition.get(p)
            if wb is None:
                wb = by_partition[p] = WriteBatch(raw_mode=True)
            if record is None:  # an asset reset: delete, and a tombstone in the changelog
                wb.delete(key)
            else:
                wb.put(key, record)
            delivery.produced += 1
            produce(changelog, key, record, p, on_delivery)
        for p, wb in by_partition.items():
            store.db(p).write(wb)
        for items, name in (
            (out.anomalies, self.outputs[0][1]),
            (out.forecasts, self.outputs[1][1]),
            (out.scores, self.outputs[2][1]),
        ):
            for event_key, event in items:
                delivery.produced += 1
                produce(name, event_key, event, -1, on_delivery)
        for letter_key, letter in out.dead_letters:
            # Bounded (schemas.events.DeadLetter), so the producer takes it; if it still refuses one
            # at once, that costs the dead letter (logged, counted), never the batch or the worker.
            try:
                produce(self.outputs[3][1], letter_key, letter, -1, on_delivery)
            except KafkaException as exc:
                log.error("dead letter of %d bytes not produced: %s", len(letter), exc)
                metrics.DEAD_LETTERS_UNSENT.inc()
                continue
            delivery.produced += 1
        delivery.seal()
        return delivery, out

    async def finish(
        self,
        messages: list[Message],
        delivery: BatchDelivery,
        out: Emit,
        started: float,
        previous: asyncio.Task[None] | None,
    ) -> None:
        """Ack a batch once its records are in Kafka and every earlier batch was acked (acks in
        order: a commit never covers a reading of an earlier batch still in flight)."""
        await delivery.future
        if previous is not None:
            await previous
        delivery.raise_for_errors()
        consumer = self.app.consumer
        assigned = consumer.assignment()
        store = cast(StoreT, self.table.data)  # a table's ``data`` is its store
        for p, off in delivery.changelog_offsets.items():
            # What faust's _on_changelog_sent does per record, once per partition per batch.
            if TP(self.topic_name, p) in assigned:
                store.set_persisted_offset(TP(delivery.changelog_topic, p), off)
        ack = consumer.ack
        with ack_lock:
            for m in messages:
                if m.tp in assigned:  # a revoked partition restarts from its committed offset
                    ack(m)
        oldest = min(m.timestamp for m in messages) if out.anomalies else 0.0
        cache = self.pipeline.cache
        out.observe(len(messages), time.perf_counter() - started, len(cache), oldest, cache.bytes)

    # --- the loop -------------------------------------------------------------------------------------
    async def take_batch(self) -> list[Message]:
        """The next micro-batch (maybe empty): full, or whatever came within ``batch_within``."""
        buffer, app = self.buffer, self.app
        await buffer.nonempty.wait()
        if len(buffer) < buffer.batch_size:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(buffer.batch_ready.wait(), self.settings.worker.batch_within)
        await app.flow_control.acquire()
        if app.in_recovery:
            await asyncio.sleep(0.05)  # the buffer is cleared when streams resume
            return []
        if not app.flow_control.is_active() or not len(buffer):
            return []
        generation = app.consumer_generation_id
        messages = []
        for m in buffer.take(buffer.batch_size):
            if m.generation_id == generation:
                messages.append(m)
            else:  # fetched before a rebalance: fetch it again
                buffer.offsets.dropped(m.partition, m.offset)
        return messages

    async def run(self) -> None:
        """The batch loop (an ``app.task``); a failed batch stops the worker and nothing of it is
        acked, so a restarted worker replays it."""
        self.producer = PolledProducer(self.settings.kafka)
        changelog = self.table.changelog_topic.get_topic_name()
        ctx = self.ctx
        self.outputs = [
            (t, t.get_topic_name())
            for t in (ctx.anomalies_topic, ctx.forecasts_topic, ctx.scores_topic, ctx.dead_letters_topic)
        ]
        in_flight = self.in_flight
        try:
            while not self.app.should_stop:
                messages = await self.take_batch()
                if not messages:
                    continue
                started = time.perf_counter()
                delivery, out = self.score_and_produce(messages, changelog)
                previous = in_flight[-1] if in_flight else None
                in_flight.append(
                    asyncio.ensure_future(self.finish(messages, delivery, out, started, previous))
                )
                while in_flight and (len(in_flight) > MAX_IN_FLIGHT or in_flight[0].done()):
                    await in_flight.popleft()
        except Exception as exc:
            log.exception("readings batch failed; stopping the worker")
            await self.app.crash(exc)
        finally:
            # Records handed to the producer but not delivered would leave the local RocksDB ahead
            # of the changelog: deliver what can be delivered before the worker goes.
            self.producer.close()

    async def on_revoked(self, revoked: set[TP]) -> None:
        """Before partitions go to another worker: deliver (and ack) what is in flight, forget the
        revoked partitions' offsets and cached assets."""
        parts = {tp.partition for tp in revoked if tp.topic == self.topic_name}
        if self.in_flight:
            _, pending = await asyncio.wait(list(self.in_flight), timeout=REVOKE_DELIVERY_TIMEOUT_S)
            if pending:
                log.error("revoke: %d batches still undelivered", len(pending))
        self.buffer.offsets.forget(parts)
        dropped = self.pipeline.drop_partitions(parts)
        if dropped:
            log.info("dropped %d cached assets of revoked partitions", dropped)


def register(app: faust.App, ctx: AgentContext) -> None:
    """Attach the batch readings path to ``app`` (instead of the ``score-readings`` agent)."""
    path = BatchPath(app, ctx)
    BatchReadingsConsumer.install(app, path.buffer)
    # Subscribe the readings topic without an agent/stream: the conductor subscribes every topic in
    # its set when it first subscribes (after agents start and tables register).
    subscribe_topic(app, ctx.readings_topic)
    # faust clears managed queues on rebalance (revoke) and on resume.
    app.flow_control.manage_queue(path.buffer)  # type: ignore[arg-type]
    ctx.keepalive.append(path)  # keep a strong ref (flow control holds a WeakSet)

    @app.task
    async def run_batches() -> None:
        await path.run()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        await path.on_revoked(revoked)
