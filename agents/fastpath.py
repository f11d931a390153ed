"""Fast path for the readings topic (prototype): faust keeps the consumer group, partition assignment,
rebalances, table recovery, the RocksDB table and its changelog topic; the per-message machinery of the
readings path goes away.

Per message faust costs, on the readings path:
- ``Consumer._drain_messages`` awaits ``wait_first(callback(message), ...)`` per message (four tasks
  and an ``asyncio.wait`` each), then the conductor decodes an ``Event`` and queues it, the stream
  iterates it and acks it one by one;
- a table write is a ``send_soon`` through faust's producer buffer into aiokafka (one future per
  record) plus, on delivery, a RocksDB put of the persisted offset.

Here:
- ``FastConsumer`` (the app's consumer class) drains a fetched batch and appends readings-topic
  messages to a ``ReadingsBuffer`` (no task, no Event); other topics go the normal way.
- ``run_batches`` (an ``app.task``) takes micro-batches from the buffer, runs
  ``ScoringPipeline.process`` reading state straight from the table's RocksDB partition stores,
  puts the new records into the store of the reading's partition, produces the changelog records
  (same partition as the reading) and the output events with one confluent-kafka producer, waits
  for every delivery, records the changelog offsets as the table's persisted offsets (one put per
  partition per batch), and only then acks the messages through ``Consumer.ack``. faust commits
  offsets of acked messages only (consecutive from the committed offset), so it never commits past
  a reading whose state and events are not in Kafka.
- The buffer is registered with ``app.flow_control``: faust clears it on a rebalance (like its own
  stream queues) and re-fetches from the committed offsets afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import faust
from confluent_kafka import KafkaError, Producer
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.types import TP
from faust.types.tuples import ack_lock
from rocksdict import WriteBatch

from stream_app.pipeline import RawMessage, ScoringPipeline
from stream_app.state import ring_records

log = logging.getLogger(__name__)


class ReadingsBuffer:
    """Raw faust ``Message`` objects of the readings topic, waiting to be scored."""

    def __init__(self, topic: str, batch_size: int, max_size: int) -> None:
        self.topic = topic
        self.batch_size = batch_size
        self.max_size = max_size
        self.items: list[Any] = []
        self.nonempty = asyncio.Event()
        self.batch_ready = asyncio.Event()
        self.has_room = asyncio.Event()
        self.has_room.set()
        # Bumped by clear(): the drain loop abandons a fetched batch it was in the middle of, whose
        # read offsets would otherwise run ahead of the seek faust does before resuming.
        self.epoch = 0
        self.read_offset: Any = None  # the consumer's _read_offset mapping, set by FastConsumer

    def append(self, message: Any) -> None:
        items = self.items
        items.append(message)
        n = len(items)
        if n == 1:
            self.nonempty.set()
        if n >= self.batch_size:
            self.batch_ready.set()
            if n >= self.max_size:
                self.has_room.clear()

    def take(self, n: int) -> list[Any]:
        items = self.items
        batch = items[:n]
        del items[:n]
        self._update()
        return batch

    def clear(self) -> None:
        """Called by faust's flow control on a rebalance: these messages will be fetched again."""
        if self.items:
            log.info(
                "rebalance: dropping %d buffered readings (re-fetched from committed offsets)",
                len(self.items),
            )
        # Their read offsets may have run ahead of the seek faust did before this clear (a batch
        # fetched before the seek, appended after it): forget them, so the re-fetched messages from
        # the committed offset are not dropped as already read.
        if self.read_offset is not None:
            for tp in {m.tp for m in self.items}:
                self.read_offset[tp] = None
        self.items.clear()
        self.epoch += 1
        self._update()

    def _update(self) -> None:
        n = len(self.items)
        if n == 0:
            self.nonempty.clear()
        if n < self.batch_size:
            self.batch_ready.clear()
        if n < self.max_size:
            self.has_room.set()

    def __len__(self) -> int:
        return len(self.items)


class FastConsumer(AIOKafkaConsumer):
    """faust's aiokafka consumer whose drain loop hands readings to a ``ReadingsBuffer`` in bulk.

    A copy of ``faust.transport.consumer.Consumer._drain_messages`` (faust-streaming 0.15.3) with one
    branch added: a message of the buffer's topic is tracked as unacked and appended to the buffer
    instead of being awaited through the conductor callback."""

    readings_buffer: ReadingsBuffer | None = None

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover
        buffer = self.readings_buffer
        if buffer is None:
            return await super()._drain_messages(fetcher)
        fast_topic = buffer.topic
        buffer.read_offset = self._read_offset
        append = buffer.append
        unacked_add = self._unacked_messages.add
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        from faust.transport.consumer import CONSUMER_FETCHING

        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep
        app = self.app
        flow_active = self.app.flow_control.is_active
        flow_acquire = self.app.flow_control.acquire
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    epoch = buffer.epoch
                    async for tp, message in ait:
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if message.topic == fast_topic:
                                if app.in_recovery:
                                    # Tables are being restored: never score now. faust seeks the
                                    # stream partitions to the committed offsets before resuming.
                                    continue
                                # As the conductor does per message: hold while faust's flow control
                                # is suspended (rebalance/recovery); resume() clears the buffer first.
                                if not flow_active():
                                    await flow_acquire()
                                if buffer.epoch != epoch:
                                    break  # cleared meanwhile: this fetch is stale
                                message.refcount = 1
                                unacked_add(message)
                                append(message)
                                set_read_offset(tp, offset)
                                if not buffer.has_room.is_set():
                                    while not buffer.has_room.is_set() and not self.should_stop:
                                        with contextlib.suppress(TimeoutError):
                                            await asyncio.wait_for(buffer.has_room.wait(), 1.0)
                                    if buffer.epoch != epoch:
                                        break
                                continue
                            num_since_yield += 1
                            if num_since_yield > yield_every:
                                await sleep(0)
                                num_since_yield = 0
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            await self.wait_first(callback(message), self.suspend_flow.wait())
                            set_read_offset(tp, offset)
                    if commit_every is not None and self._n_acked >= commit_every:
                        self._n_acked = 0
                        await self.commit()
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


class DeliveryError(RuntimeError):
    """A changelog or event record was not delivered: the batch must not be acked."""


class BatchDelivery:
    """Delivery tracking of one micro-batch's records; ``future`` resolves (on the loop) when every
    record the batch produced has a delivery report."""

    def __init__(self, loop: asyncio.AbstractEventLoop, changelog_topic: str) -> None:
        self.loop = loop
        self.changelog_topic = changelog_topic
        self.produced = 0
        self.delivered = 0
        self.sealed = False
        self.errors: list[str] = []
        self.changelog_offsets: dict[int, int] = {}
        self.future: asyncio.Future[None] = loop.create_future()

    def on_delivery(self, err: KafkaError | None, msg: Any) -> None:  # producer poll thread
        if err is not None:
            self.errors.append(f"{msg.topic()}[{msg.partition()}]: {err}")
        elif msg.topic() == self.changelog_topic:
            p = msg.partition()
            off = msg.offset()
            if off > self.changelog_offsets.get(p, -1):
                self.changelog_offsets[p] = off
        self.delivered += 1
        if self.sealed and self.delivered >= self.produced and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.check)

    def seal(self) -> None:
        self.sealed = True
        self.check()

    def check(self) -> None:  # on the loop; idempotent
        if self.sealed and self.delivered >= self.produced and not self.future.done():
            self.future.set_result(None)


class BatchProducer:
    """One confluent-kafka producer for changelog records and events, polled by its own thread."""

    def __init__(self, bootstrap: str, linger_ms: int) -> None:
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "partitioner": "murmur2_random",  # Java/aiokafka-compatible for keyed events
                "linger.ms": max(1, linger_ms),
                "batch.num.messages": 10_000,
                "queue.buffering.max.messages": 1_000_000,
                "enable.idempotence": True,  # per-partition order of the changelog survives retries
                "acks": "all",
            }
        )
        self.running = True
        self.thread = threading.Thread(target=self._poll, name="kw-producer-poll", daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while self.running:
            try:
                self.producer.poll(0.05)
            except Exception:  # a delivery callback failing must not stop delivery reports
                log.exception("producer poll")

    def produce(
        self, batch: BatchDelivery, topic: str, key: bytes | None, value: bytes | None, partition: int = -1
    ) -> None:
        batch.produced += 1
        while True:
            try:
                self.producer.produce(topic, value, key, partition, on_delivery=batch.on_delivery)
                return
            except BufferError:
                time.sleep(0.01)  # the poll thread drains the queue

    def close(self) -> None:
        self.running = False
        self.thread.join(1.0)
        try:
            left = self.producer.flush(10)
            if left:
                log.warning("stopping with %d records undelivered", left)
        except Exception:  # delivery callbacks may hit a closed loop on shutdown
            log.exception("final producer flush")


MAX_IN_FLIGHT = 2  # batches produced but not yet acknowledged by Kafka


def register(app: faust.App, ctx: Any) -> None:
    """Attach the fast readings path to ``app`` (instead of the ``score-readings`` agent)."""
    settings = ctx.settings
    pipeline: ScoringPipeline = ctx.pipeline
    table = ctx.state_table
    window = settings.window_size
    batch_size = settings.batch_size
    within = settings.batch_within
    topic_name = ctx.readings_topic_name

    buffer = ReadingsBuffer(topic_name, batch_size, max_size=max(8192, 4 * batch_size))
    FastConsumer.readings_buffer = buffer
    app.transport.Consumer = FastConsumer  # type: ignore[misc]  # the consumer faust creates for this app
    # Subscribe the readings topic without an agent/stream: the conductor subscribes every topic in
    # its set when it first subscribes (after agents start and tables register).
    app.topics._topics.add(ctx.readings_topic)  # type: ignore[attr-defined]
    # faust clears managed queues on rebalance (revoke) and on resume.
    app.flow_control.manage_queue(buffer)  # type: ignore[arg-type]
    ctx.keepalive.append(buffer)  # keep a strong ref (flow control holds a WeakSet)

    def store_db(partition: int) -> Any:
        return table.data._db_for_partition(partition)

    class DirectStore:
        """The table's RocksDB store, read in the partition of each message."""

        def __init__(self, batch: list[RawMessage]) -> None:
            self.batch = batch
            self.dbs: dict[int, Any] = {}

        def _db(self, index: int) -> Any:
            p = self.batch[index].partition
            db = self.dbs.get(p)
            if db is None:
                db = self.dbs[p] = store_db(p)
            return db

        def get(self, key: bytes, index: int) -> bytes | None:
            value: bytes | None = self._db(index).get(key)
            return value

        def records(self, asset_id: str, index: int) -> Iterator[bytes]:
            return ring_records(self._db(index).get, asset_id, window)

    def score_and_produce(
        messages: list[Any], prod: BatchProducer, changelog: str
    ) -> tuple[BatchDelivery, Any]:
        """Synchronous: score, write state to RocksDB, hand every record to the producer."""
        batch = [RawMessage(m.key, m.value, m.topic, m.partition, m.offset) for m in messages]
        out = pipeline.process(batch, DirectStore(batch))
        delivery = BatchDelivery(asyncio.get_running_loop(), changelog)
        produce = prod.produce
        by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
        for index, key, record in out.writes:
            p = batch[index].partition
            by_partition.setdefault(p, []).append((key, record))
            produce(delivery, changelog, key, record, p)
        for p, kvs in by_partition.items():
            wb = WriteBatch(raw_mode=True)
            for k, v in kvs:
                wb.put(k, v)
            store_db(p).write(wb)
        for topic, items in (
            (ctx.anomalies_topic, out.anomalies),
            (ctx.forecasts_topic, out.forecasts),
            (ctx.scores_topic, out.scores),
            (ctx.dead_letters_topic, out.dead_letters),
        ):
            if items:
                name = topic.get_topic_name()
                for pair in items:
                    produce(delivery, name, pair[0], pair[1])
        delivery.seal()
        return delivery, out

    def ack_all(messages: list[Any]) -> None:
        """``Consumer.ack`` for a batch: the same bookkeeping, one lock acquisition."""
        consumer = app.consumer
        ack = consumer.ack
        with ack_lock:
            for m in messages:
                ack(m)

    async def finish(messages: list[Any], delivery: BatchDelivery, out: Any, started: float) -> None:
        # Everything this batch produced must be in Kafka before its offsets may be committed.
        await delivery.future
        if delivery.errors:
            raise DeliveryError(f"{len(delivery.errors)} records undelivered: {delivery.errors[:5]}")
        if delivery.changelog_offsets:
            assigned = app.consumer.assignment()
            for p, off in delivery.changelog_offsets.items():
                # What faust's _on_changelog_sent does per record, once per partition per batch
                # (skipped for a partition revoked meanwhile: its recovery just replays more).
                if TP(topic_name, p) in assigned:
                    table.data.set_persisted_offset(TP(delivery.changelog_topic, p), off)
        ack_all(messages)
        oldest = min(m.timestamp for m in messages) if out.anomalies else 0.0
        out.observe(len(messages), time.perf_counter() - started, len(pipeline.cache), oldest)

    @app.task
    async def run_batches() -> None:
        prod = BatchProducer(settings.kafka_bootstrap, settings.producer_linger_ms)
        changelog = table.changelog_topic.get_topic_name()
        in_flight: deque[asyncio.Task[None]] = deque()
        # Where the batch loop's time goes (logged every 10 s at debug... info for the prototype).
        stats = {"batches": 0, "readings": 0, "wait_s": 0.0, "score_s": 0.0, "ack_wait_s": 0.0}
        last_report = time.monotonic()
        try:
            while not app.should_stop:
                t0 = time.perf_counter()
                await buffer.nonempty.wait()
                if len(buffer) < batch_size:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(buffer.batch_ready.wait(), within)
                stats["wait_s"] += time.perf_counter() - t0
                await app.flow_control.acquire()
                if app.in_recovery:
                    await asyncio.sleep(0.05)  # the buffer is cleared when streams resume
                    continue
                if not app.flow_control.is_active() or not len(buffer):
                    continue
                generation = app.consumer_generation_id
                messages = [m for m in buffer.take(batch_size) if m.generation_id == generation]
                if not messages:
                    continue
                started = time.perf_counter()
                delivery, out = score_and_produce(messages, prod, changelog)
                t1 = time.perf_counter()
                stats["score_s"] += t1 - started
                # Acked once delivered, while the next batch is scored; acks may complete out of
                # order, faust only ever commits the consecutive acked prefix of a partition.
                in_flight.append(asyncio.ensure_future(finish(messages, delivery, out, started)))
                while in_flight and (len(in_flight) > MAX_IN_FLIGHT or in_flight[0].done()):
                    await in_flight.popleft()
                stats["ack_wait_s"] += time.perf_counter() - t1
                stats["batches"] += 1
                stats["readings"] += len(messages)
                now = time.monotonic()
                if now - last_report >= 10.0:
                    log.info(
                        "fast path: %d batches, %d readings in %.1fs; waiting %.2fs, scoring %.2fs, "
                        "acks %.2fs; buffered %d",
                        stats["batches"],
                        stats["readings"],
                        now - last_report,
                        stats["wait_s"],
                        stats["score_s"],
                        stats["ack_wait_s"],
                        len(buffer),
                    )
                    stats = dict.fromkeys(stats, 0)
                    stats["wait_s"] = stats["score_s"] = stats["ack_wait_s"] = 0.0
                    last_report = now
        except Exception as exc:
            # Nothing of a failed batch is acked: a restarted worker replays it.
            log.exception("readings batch failed; stopping the worker")
            await app.crash(exc)
        finally:
            # Records handed to the producer but not delivered would leave the local RocksDB ahead
            # of the changelog: deliver what can be delivered before the worker goes.
            prod.close()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        dropped = pipeline.drop_partitions(tp.partition for tp in revoked if tp.topic == topic_name)
        if dropped:
            log.info("dropped %d cached assets of revoked partitions", dropped)
