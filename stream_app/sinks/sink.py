"""Kafka topics -> PostgreSQL, in batches, at least once: the loop every sink shares.

A sink (readings history, results) is a consumer group of its own. Each round consumes up to
``batch`` messages, decodes them (unreadable ones are logged, counted and skipped: the message stays
in Kafka for its retention), stores the rows with one idempotent upsert per table, and only then
commits the offsets. So a crash between the write and the commit redelivers a batch that changes
nothing. A database outage keeps the batch and retries it with back-off, committing nothing
meanwhile; a row the database refuses (a data error) is retried alone and skipped if it fails again,
so one bad event cannot stall the sink. A commit that fails (a rebalance took the partitions) is
logged: the next owner gets the batch again, which changes nothing.

The consumer is a confluent-kafka one driven from a single-thread executor, so a cancelled task
never closes the consumer while a ``consume`` call is still running in another thread.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

import asyncpg
from confluent_kafka import KafkaException

from schemas.errors import InfraError
from stream_app import metrics
from stream_app.settings import Settings
from stream_app.store import migrations

log = logging.getLogger(__name__)
Rows = TypeVar("Rows")
MAX_BACKOFF_S = 30.0
LOGGED_INVALID = 5  # unreadable messages logged one by one per batch; the rest are counted
# A row the database refuses for what it holds (not for being unreachable): retried alone, then skipped.
DATA_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
)
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    InfraError,
    OSError,
    TimeoutError,
)


class Record(NamedTuple):
    """One consumed message, as a sink's decoder sees it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class Decoded(NamedTuple, Generic[Rows]):
    rows: Rows
    invalid: list[tuple[Record, str]]  # (message, why it was skipped)


# table -> (rows written, rows already stored)
Written = dict[str, tuple[int, int]]


@dataclass(frozen=True)
class Sink(Generic[Rows]):
    """What a sink reads, how it turns messages into rows, and how it stores and trims them."""

    name: str
    group: str
    topics: tuple[str, ...]
    decode: Callable[[Sequence[Record]], Decoded[Rows]]
    store: Callable[[asyncpg.Pool, Rows], Awaitable[Written]]
    retention: Callable[[asyncpg.Pool], Awaitable[dict[str, int]]] | None = None
    retention_every_s: float = 300.0
    batch: int = 2000
    log_invalid: bool = True  # False where another component reports them (readings: dead letters)


@dataclass
class BatchReport:
    """What one committed round did (tests await these instead of sleeping)."""

    messages: int
    written: Written = field(default_factory=dict)
    invalid: int = 0
    retries: int = 0  # writes that failed on an unavailable database before this one succeeded
    committed: bool = False


OnBatch = Callable[[BatchReport], None]


async def run(
    settings: Settings, sink: Sink[Any], stop: asyncio.Event, on_batch: OnBatch | None = None
) -> None:
    """Consume, store, commit until ``stop`` is set. Raises when the database or its schema is not
    usable at start (the CLI exits; the worker's wrapper retries later)."""
    from stream_app.kafka.clients import consumer
    from stream_app.store.pool import create_pool

    pool = await create_pool(settings)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"kw-sink-{sink.name}")
    loop = asyncio.get_running_loop()
    cons: Any = None
    try:
        async with pool.acquire() as conn:
            await migrations.ensure_current(conn)
        cons = consumer(settings, sink.group, **{"enable.auto.commit": False})
        cons.subscribe(list(sink.topics))
        log.info("%s sink: group %s, topics %s", sink.name, sink.group, ", ".join(sink.topics))
        next_retention = 0.0
        while not stop.is_set():
            msgs: list[Any] = await loop.run_in_executor(executor, cons.consume, sink.batch, 1.0)
            records = [
                Record(m.topic(), m.partition(), m.offset(), m.key(), m.value())
                for m in msgs
                if m.error() is None
            ]
            if records:
                report = await _store(pool, sink, records, stop)
                if report is None:  # stopped while the database was away: nothing committed
                    return
                report.committed = await _commit(loop, executor, cons, sink)
                if on_batch is not None:
                    on_batch(report)
            if sink.retention is not None and time.monotonic() >= next_retention:
                await _retain(pool, sink)
                next_retention = time.monotonic() + sink.retention_every_s
    finally:
        if cons is not None:
            await loop.run_in_executor(executor, cons.close)
        executor.shutdown(wait=False)
        await pool.close()


async def _store(
    pool: asyncpg.Pool, sink: Sink[Any], records: list[Record], stop: asyncio.Event
) -> BatchReport | None:
    started = time.perf_counter()
    decoded = sink.decode(records)
    report = BatchReport(messages=len(records), invalid=len(decoded.invalid))
    _count_invalid(sink, decoded.invalid)
    backoff = 0.5
    while True:
        try:
            report.written = await sink.store(pool, decoded.rows)
            break
        except DATA_ERRORS as exc:
            log.warning(
                "%s sink: the database refused a batch (%s); storing its rows one by one", sink.name, exc
            )
            report.written, refused = await _store_each(pool, sink, records)
            report.invalid += refused
            break
        except TRANSIENT_ERRORS as exc:
            report.retries += 1
            metrics.SINK_RETRIES.labels(sink.name).inc()
            log.warning(
                "%s sink: write failed (%s: %s); retrying in %.1f s",
                sink.name,
                type(exc).__name__,
                exc,
                backoff,
            )
            if await _wait(stop, backoff):
                return None
            backoff = min(backoff * 2, MAX_BACKOFF_S)
    metrics.SINK_BATCH_SECONDS.labels(sink.name).observe(time.perf_counter() - started)
    for table, (written, duplicate) in report.written.items():
        metrics.SINK_ROWS.labels(table, "written").inc(written)
        metrics.SINK_ROWS.labels(table, "duplicate").inc(duplicate)
    return report


async def _store_each(pool: asyncpg.Pool, sink: Sink[Any], records: list[Record]) -> tuple[Written, int]:
    """After a data error: each message alone; the ones the database still refuses are skipped."""
    total: Written = {}
    refused: list[tuple[Record, str]] = []
    for rec in records:
        decoded = sink.decode([rec])
        if decoded.invalid:
            continue  # already counted
        try:
            written = await sink.store(pool, decoded.rows)
        except DATA_ERRORS as exc:
            refused.append((rec, f"refused by the database: {exc}"))
            continue
        for table, (w, d) in written.items():
            tw, td = total.get(table, (0, 0))
            total[table] = (tw + w, td + d)
    _count_invalid(sink, refused)
    return total, len(refused)


def _count_invalid(sink: Sink[Any], invalid: list[tuple[Record, str]]) -> None:
    for i, (rec, why) in enumerate(invalid):
        metrics.SINK_INVALID.labels(sink.name, rec.topic).inc()
        if sink.log_invalid and i < LOGGED_INVALID:
            log.warning(
                "%s sink: skipped %s[%d]@%d: %s", sink.name, rec.topic, rec.partition, rec.offset, why
            )
    if sink.log_invalid and len(invalid) > LOGGED_INVALID:
        log.warning(
            "%s sink: %d more unreadable messages skipped in this batch",
            sink.name,
            len(invalid) - LOGGED_INVALID,
        )


async def _commit(
    loop: asyncio.AbstractEventLoop, executor: ThreadPoolExecutor, cons: Any, sink: Sink[Any]
) -> bool:
    try:
        await loop.run_in_executor(executor, lambda: cons.commit(asynchronous=False))
    except KafkaException as exc:
        # The partitions moved (rebalance) or the broker is away: the next owner re-reads the batch,
        # which is stored already and changes nothing.
        log.warning("%s sink: offsets not committed (%s); the batch will be redelivered", sink.name, exc)
        return False
    return True


async def _retain(pool: asyncpg.Pool, sink: Sink[Any]) -> None:
    assert sink.retention is not None
    try:
        deleted = await sink.retention(pool)
    except TRANSIENT_ERRORS as exc:
        log.warning("%s sink: retention skipped (%s); tried again later", sink.name, exc)
        return
    for table, n in deleted.items():
        metrics.SINK_DELETED.labels(table).inc(n)
        if n:
            log.info("%s sink retention: %d rows deleted from %s", sink.name, n, table)


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; returns whether it was."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


def add_command(sub: Any, name: str, help_text: str, factory: Callable[[Settings], Sink[Any]]) -> None:
    """A ``kilowatch <name>`` sub-command that runs the sink ``factory`` builds, in the foreground."""
    p = sub.add_parser(name, help=help_text)
    p.set_defaults(handler=lambda _args, settings: serve(settings, factory(settings)))


def serve(settings: Settings, sink: Sink[Any]) -> int:
    """Run one sink in the foreground until SIGINT/SIGTERM (the ``kilowatch *-sink`` commands)."""

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, sink, stop)

    asyncio.run(go())
    return 0


async def supervise(settings: Settings, sink: Sink[Any], restart_after_s: float = 30.0) -> None:
    """Run a sink inside a worker for as long as the worker runs: a sink that cannot start (database
    down, schema pending) or fails is logged and started again later, never taking the worker down."""
    stop = asyncio.Event()  # the worker cancels this task on shutdown; nothing sets it
    while True:
        try:
            await run(settings, sink, stop)
            return
        except asyncio.CancelledError:
            raise
        except Exception:  # whatever stopped it, the worker must go on scoring
            log.exception("%s sink stopped; starting it again in %.0f s", sink.name, restart_after_s)
        await asyncio.sleep(restart_after_s)
