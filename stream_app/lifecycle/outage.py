"""A running training job through a PostgreSQL or Redis outage: latency, never a lost job or a killed child.

A job's side writes are best-effort while a backend is down: progress to PostgreSQL is coalesced (only
the latest value is kept and written once the database answers again, by :class:`ProgressCoalescer`'s
writer task, so the runner never waits on it); log lines, status events and cancel checks in Redis are
skipped (:class:`Outage`). Every miss is counted in ``kilowatch_training_backend_misses_total``; the
outage is logged once when it starts and once when the backend answers again. After a failure a backend
is left alone for 1, 2, 4 ... ``max_pause_s`` seconds, so a frozen server (a connect that hangs until
its timeout) does not stall the job at every line.

A job's final write (its result, the new version, the activation) must not be lost: it is retried with
the same back-off by :func:`until_answered` for at most ``training.db_retry_max_s`` seconds; after that
the job raises :class:`DatabaseUnavailable` and is left to the lease recovery (it cannot be ended now:
the database does not answer).

The back-off schedule is the worker timers' one (``stream_app.core.backoff.pause_after``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

import asyncpg
from redis import exceptions as redis_errors

from schemas.errors import KilowatchError
from stream_app import metrics as prom
from stream_app.core.backoff import pause_after

log = logging.getLogger(__name__)
T = TypeVar("T")
Backend = Literal["postgres", "redis"]

# The server refused or dropped the connection, is starting or shutting down, is full; the pool's
# connection was closed under us (InterfaceError). OSError covers refused/reset sockets and timeouts.
POSTGRES_DOWN: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
)
REDIS_DOWN: tuple[type[Exception], ...] = (OSError, redis_errors.ConnectionError, redis_errors.TimeoutError)
DOWN: dict[Backend, tuple[type[Exception], ...]] = {"postgres": POSTGRES_DOWN, "redis": REDIS_DOWN}


class DatabaseUnavailable(KilowatchError):
    """PostgreSQL did not answer a job's final write within ``training.db_retry_max_s``."""


class Outage:
    """The state of one backend as seen by one job: up, or down since a failure (back-off pause)."""

    def __init__(
        self,
        backend: Backend,
        job_id: object,
        max_pause_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend, self.job_id, self.max_pause_s, self.clock = backend, job_id, max_pause_s, clock
        self.failures = 0
        self.missed = 0
        self.resume_at = float("-inf")

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        return DOWN[self.backend]

    def paused(self) -> bool:
        return self.clock() < self.resume_at

    def pause_s(self) -> float:
        return max(0.0, self.resume_at - self.clock())

    def miss(self, kind: str) -> None:
        """One write or read skipped or failed because the backend is down (counted)."""
        self.missed += 1
        prom.TRAINING_BACKEND_MISSES.labels(self.backend, kind).inc()

    def failed(self, kind: str, exc: BaseException) -> None:
        self.failures += 1
        self.resume_at = self.clock() + pause_after(self.failures, self.max_pause_s)
        self.miss(kind)
        if self.failures == 1:  # once per outage; the counter has every miss
            log.warning(
                "training job %s: %s is down (%s: %s); %s writes wait or are skipped until it answers",
                self.job_id,
                self.backend,
                type(exc).__name__,
                exc,
                kind,
            )

    def answered(self) -> None:
        if self.failures:
            log.info(
                "training job %s: %s answers again (%d writes missed in the outage)",
                self.job_id,
                self.backend,
                self.missed,
            )
        self.failures = 0
        self.missed = 0
        self.resume_at = float("-inf")

    async def call(self, kind: str, op: Callable[[], Awaitable[T]], default: T) -> T:
        """``op()``, or ``default`` when the backend is down (skipped during the pause after a failure).
        Only the backend's outage errors are caught: anything else is a bug and raises."""
        if self.paused():
            self.miss(kind)
            return default
        try:
            value = await op()
        except self.errors as exc:
            self.failed(kind, exc)
            return default
        self.answered()
        return value


class ProgressCoalescer:
    """Progress of one job to PostgreSQL, coalesced: :meth:`offer` only records the latest value (never
    waits); :meth:`flush` writes it. A flush that fails with an outage keeps the value unless a newer one
    was offered meanwhile, so after an outage exactly the latest progress is written."""

    def __init__(self, write: Callable[[float], Awaitable[None]], outage: Outage) -> None:
        self.write, self.outage = write, outage
        self.pending: float | None = None
        self._seq = 0  # bumps at every offer: a flush clears only the value it wrote
        self._wake = asyncio.Event()

    def offer(self, pct: float) -> None:
        self.pending = pct
        self._seq += 1
        self._wake.set()

    async def flush(self) -> bool:
        """Write the pending value; True when nothing is left pending (or it was written)."""
        if self.pending is None:
            return True
        pct, seq = self.pending, self._seq
        try:
            await self.write(pct)
        except self.outage.errors as exc:
            self.outage.failed("progress", exc)
            return False
        if self._seq == seq:
            self.pending = None
        self.outage.answered()
        return self.pending is None

    async def run(self, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        """The writer task of a job: flush whenever a value is offered; after an outage error wait out
        the back-off pause and try again with the latest value. Runs until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while not await self.flush():
                await sleep(self.outage.pause_s())


async def until_answered(
    what: str,
    step: Callable[[], Awaitable[T]],
    max_s: float,
    job_id: object,
    max_pause_s: float = 10.0,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run a job's database ``step`` until PostgreSQL answers, with back-off, for at most ``max_s``
    seconds; then raise :class:`DatabaseUnavailable`. ``step`` must be safe to run again after a failure
    (one transaction, or guarded by the job's state). Errors other than an outage raise at once."""
    started = clock()
    outage = Outage("postgres", job_id, max_pause_s, clock)
    while True:
        try:
            value = await step()
        except POSTGRES_DOWN as exc:
            outage.failed("final", exc)
            waited = clock() - started
            if waited >= max_s:
                log.error(
                    "training job %s: %s not written: PostgreSQL did not answer for %.0f s (%s: %s)",
                    job_id,
                    what,
                    waited,
                    type(exc).__name__,
                    exc,
                )
                raise DatabaseUnavailable(
                    f"PostgreSQL did not answer for {waited:.0f} s: {what} not written"
                ) from exc
            await sleep(min(outage.pause_s(), max(0.0, max_s - waited)))
            continue
        outage.answered()
        return value
