"""Worker timers and start-up steps that outlive backend outages.

A faust timer or task that raises crashes the worker. Every periodic body of the worker (the
retraining timers, job recovery, the outbox relay, alerting flushes) therefore runs through a
:class:`Backoff`: a failure is logged (type and message, no traceback: these are expected outages),
counted in ``kilowatch_worker_task_failures_total{task}``, and the body is skipped for 1, 2, 4 ...
``max_s`` seconds; the first success resets the pause. :func:`retry_forever` does the same for a
start-up step, which must succeed before its agent can work, and :func:`keep_running` for a task
that runs as long as the worker (e.g. a consumer following a topic): restarted after a failure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from stream_app import metrics
from stream_app.core.backoff import pause_after

log = logging.getLogger(__name__)
T = TypeVar("T")


class Backoff:
    """Runs a periodic body, skipping runs during the pause that follows a failure."""

    def __init__(self, task: str, max_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.task, self.max_s, self.clock = task, max_s, clock
        self.failures = 0
        self.resume_at = float("-inf")

    async def run(self, body: Callable[[], Awaitable[object]]) -> bool:
        """Run ``body`` unless pausing; True when it ran and succeeded. Never raises for its errors."""
        now = self.clock()
        if now < self.resume_at:
            return False
        try:
            await body()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - an outage must cost a pause, never the worker
            self.failures += 1
            delay = pause_after(self.failures, self.max_s)
            self.resume_at = now + delay
            metrics.PERIODIC_FAILURES.labels(self.task).inc()
            log.warning(
                "%s failed (%s: %s); next try in %.0f s (failure %d in a row)",
                self.task,
                type(exc).__name__,
                exc,
                delay,
                self.failures,
            )
            return False
        if self.failures:
            log.info("%s works again after %d failures", self.task, self.failures)
        self.failures = 0
        self.resume_at = float("-inf")
        return True


async def retry_forever(
    task: str,
    step: Callable[[], Awaitable[T]],
    max_s: float,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Run a start-up step until it succeeds, pausing with back-off between failures."""
    failures = 0
    while True:
        try:
            return await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried: the step's backend may come back
            failures += 1
            delay = pause_after(failures, max_s)
            metrics.PERIODIC_FAILURES.labels(task).inc()
            log.warning("%s failed (%s: %s); retry in %.0f s", task, type(exc).__name__, exc, delay)
            await sleep(delay)


async def keep_running(
    task: str,
    body: Callable[[], Awaitable[object]],
    max_s: float,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run a long-lived ``body`` for ever: when it fails it is logged, counted and started again after
    a back-off (reset once a run lasted longer than ``max_s``); when it returns, this returns."""
    failures = 0
    while True:
        started = clock()
        try:
            await body()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - restarted: its backend may come back
            failures = 1 if clock() - started > max_s else failures + 1
            delay = pause_after(failures, max_s)
            metrics.PERIODIC_FAILURES.labels(task).inc()
            log.warning("%s stopped (%s: %s); started again in %.0f s", task, type(exc).__name__, exc, delay)
            await sleep(delay)
