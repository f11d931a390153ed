"""The job runner: claims generic jobs from PostgreSQL and runs their handlers off the request path.

Each API process runs ``api.job_runners`` runner loops (0 = this process runs none; any process with a
runner serves every API process's jobs, since the queue is the ``jobs`` table). A runner:

1. claims the oldest queued job (or a running one whose lease expired: its runner died), with a lease
   of ``api.job_lease_s`` renewed every third of it while the handler runs;
2. loads the dataset's series, validates the params, runs the handler: a plain function in the
   runner's own child process (spawned once, ``nice`` 10, so seconds of pandas/matplotlib CPU never hold
   the API's event loop or its GIL), a coroutine function on the loop;
3. stores the result and ends the job ``succeeded`` in one transaction, guarded by its ownership, so a
   job canceled meanwhile keeps ``canceled`` and its late result is dropped.

Cancel is a database write (``jobs.cancel``): the runner looks for it every ``CANCEL_POLL_S`` (and at
each lease renewal) and stops waiting for the handler; the child process is ended (SIGTERM) and
replaced for the next job, and the late result is thrown away. Nothing of a canceled job is half
written: its result (and a preprocess job's processed series) is stored in the one transaction that
ends it succeeded, guarded by its ownership, so a cancel that wins makes that transaction roll back.
A runner stopped gracefully puts its job back in the queue;
one that dies leaves it to the lease: another runner (or this one restarted) takes it once the lease
expires, at most ``MAX_ATTEMPTS`` times in all, then the job fails WORKER_LOST.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import math
import multiprocessing as mp
import os
import pickle
import socket
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import asyncpg
import pandas as pd
from pydantic import BaseModel, ValidationError

from schemas.datasets import DatasetStatus
from schemas.errors import KilowatchError
from schemas.jobs import JobFailed
from stream_app.jobs import catalog, registry
from stream_app.store import datasets as ds
from stream_app.store import jobs as store
from stream_app.store.repository import NotFound

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
# How often a running job is looked at for a cancel between lease renewals: a canceled job's child
# process is ended within about this long (plus the time to end it), whatever the lease.
CANCEL_POLL_S = 1.0
CHILD_NICE = 10
INTERNAL = "the job failed on an internal error (logged by the runner)"
_DB_ERRORS = (asyncpg.PostgresError, OSError, TimeoutError, asyncpg.InterfaceError, KilowatchError)


class _Lost(Exception):
    """The job stopped being this runner's while its result was being stored."""


def _error(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}


def _child_init() -> None:
    """The handlers' child process runs below the API's priority."""
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICE)


@functools.cache
def _picklable(handler: Any) -> bool:
    try:
        pickle.dumps(handler)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


def _call_in_child(type_name: str, handler: Any, frame: pd.DataFrame, params: BaseModel) -> Any:
    """Run a handler in the child: the handler itself, or (a closure, not picklable) the one the
    catalog registers under ``type_name`` in this process."""
    if handler is None:
        catalog.job_types()
        jt = registry.get(type_name)
        if jt is None:
            raise JobFailed(f"job type {type_name!r} is not in the job process's catalog")
        handler = jt.handler
    return handler(frame, params)


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float made None (PostgreSQL's jsonb has no NaN or Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


class JobRunner:
    def __init__(
        self,
        pool: Callable[[], Awaitable[asyncpg.Pool]],
        *,
        lease_s: float = 30.0,
        poll_s: float = 0.5,
        max_attempts: int = MAX_ATTEMPTS,
        cancel_poll_s: float = CANCEL_POLL_S,
    ) -> None:
        self._pool, self.lease_s, self.poll_s, self.max_attempts = pool, lease_s, poll_s, max_attempts
        self.cancel_poll_s = cancel_poll_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.types = catalog.job_types()
        self._executor: ProcessPoolExecutor | None = None

    def _pool_of_one(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=1, mp_context=mp.get_context("spawn"), initializer=_child_init
            )
        return self._executor

    def child_pids(self) -> list[int]:
        """The process ids of the handlers' child process (none before the first plain-function job)."""
        executor = self._executor
        procs = list((executor._processes or {}).values()) if executor is not None else []  # noqa: SLF001
        return [p.pid for p in procs if p.pid is not None]

    def close(self) -> None:
        """End the child process (a handler still running in it is stopped)."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        procs = list((executor._processes or {}).values())  # noqa: SLF001 - the only handle on the child
        executor.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            if proc.is_alive():
                proc.terminate()

    async def run_forever(self) -> None:
        """Claim and run jobs until cancelled; database outages are logged and waited out."""
        try:
            await self._loop()
        finally:
            self.close()

    async def _loop(self) -> None:
        pause = self.poll_s
        while True:
            try:
                ran = await self.run_once()
                pause = self.poll_s
            except _DB_ERRORS as exc:
                log.warning(
                    "job runner %s: database unavailable (%s); retrying in %.0f s", self.owner, exc, pause
                )
                ran = False
                pause = min(pause * 2, 30.0)
            if not ran:
                await asyncio.sleep(pause)

    async def run_once(self) -> bool:
        """Run one job if one is waiting; True if one was run."""
        pool = await self._pool()
        job = await store.claim(pool, self.owner, self.lease_s, self.max_attempts, self.types)
        if job is None:
            return False
        try:
            await self._execute(pool, job)
        except asyncio.CancelledError:  # we are stopping: the job goes back to the queue at once
            with contextlib.suppress(*_DB_ERRORS):
                await asyncio.shield(
                    pool.execute(
                        "UPDATE jobs SET status = 'queued', owner = NULL, lease_until = NULL, "
                        "attempts = GREATEST(attempts - 1, 0) "
                        "WHERE id = $1 AND status = 'running' AND owner = $2",
                        job.id,
                        self.owner,
                    )
                )
            raise
        return True

    async def _execute(self, pool: asyncpg.Pool, job: store.GenericJob) -> None:
        jt = registry.get(job.type)
        if jt is None:  # claim() only takes types this runner knows; a job type removed since it was queued
            await store.fail(
                pool, job.id, self.owner, _error("VALIDATION_ERROR", f"unknown job type {job.type!r}")
            )
            return
        try:
            params = jt.params.model_validate(job.params)
        except ValidationError as exc:
            details = {"errors": exc.errors(include_url=False, include_context=False, include_input=False)}
            await store.fail(pool, job.id, self.owner, _error("VALIDATION_ERROR", "invalid params", details))
            return
        dataset: ds.Dataset | None = None
        if job.dataset_id is not None:
            try:
                dataset = await ds.get(pool, job.dataset_id)
            except NotFound:
                return  # deleted: its jobs went with it
        try:
            frame = await self._frame(pool, jt, dataset)
            if jt.derives and dataset is not None:
                await ds.set_status(pool, dataset.id, DatasetStatus.PROCESSING)
            await store.set_progress(pool, job.id, self.owner, 0.2)
            outcome = await self._run_handler(pool, job, jt, frame, params)
            if outcome is None:
                log.info("job %s (%s) was canceled while it ran: result dropped", job.id, job.type)
                return
            await self._store(pool, job, outcome)
        except JobFailed as exc:
            await store.fail(pool, job.id, self.owner, exc.body().model_dump(mode="json"))
        except asyncio.CancelledError:
            raise
        except _DB_ERRORS:
            raise
        except Exception:
            log.exception("job %s (%s) failed", job.id, job.type)
            await store.fail(pool, job.id, self.owner, _error("PROCESSING_ERROR", INTERNAL))
        finally:
            if jt.derives and dataset is not None:
                with contextlib.suppress(*_DB_ERRORS):
                    await pool.execute(
                        "UPDATE datasets SET status = CASE WHEN processed IS NULL THEN 'ready' "
                        "ELSE 'processed' END WHERE id = $1 AND status = 'processing'",
                        dataset.id,
                    )

    async def _frame(
        self, pool: asyncpg.Pool, jt: registry.JobType, dataset: ds.Dataset | None
    ) -> pd.DataFrame:
        if dataset is None:
            empty = pd.DataFrame({"value": pd.Series([], dtype=float)}, index=pd.DatetimeIndex([], tz="UTC"))
            empty.index.name = "timestamp"
            return empty
        series = ds.RAW
        if jt.series == "best" and await ds.has_processed(pool, dataset.id):
            series = ds.PROCESSED
        return await ds.frame(pool, dataset, series)

    async def _run_handler(
        self,
        pool: asyncpg.Pool,
        job: store.GenericJob,
        jt: registry.JobType,
        frame: pd.DataFrame,
        params: BaseModel,
    ) -> registry.HandlerResult | None:
        """The handler's answer, or None when the job stopped being ours (canceled, deleted)."""
        if inspect.iscoroutinefunction(jt.handler):
            task: asyncio.Future[Any] = asyncio.ensure_future(jt.handler(frame, params))
        else:
            loop = asyncio.get_running_loop()
            handler = jt.handler if _picklable(jt.handler) else None  # else the child looks it up by name
            task = asyncio.ensure_future(
                loop.run_in_executor(self._pool_of_one(), _call_in_child, jt.name, handler, frame, params)
            )
        beat_s = self.lease_s / 3
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + beat_s
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=min(beat_s, self.cancel_poll_s))
                if done:
                    break
                if loop.time() >= next_beat:
                    mine = await store.heartbeat(pool, job.id, self.owner, self.lease_s)
                    next_beat = loop.time() + beat_s
                else:  # between lease renewals: a cheap look for a cancel
                    mine = await store.still_mine(pool, job.id, self.owner)
                if not mine:
                    task.cancel()  # a coroutine stops; a child process is ended
                    if not inspect.iscoroutinefunction(jt.handler):
                        self.close()
                    return None
        except BaseException:
            task.cancel()
            raise
        try:
            out = task.result()
        except BrokenProcessPool:  # the child died (killed, out of memory): a new one for the next job
            self.close()
            raise
        if not isinstance(out, BaseModel | registry.Derived):
            raise TypeError(f"handler of {job.type!r} returned {type(out).__name__}, not a pydantic model")
        return out

    async def _store(
        self, pool: asyncpg.Pool, job: store.GenericJob, outcome: registry.HandlerResult
    ) -> None:
        model = outcome.result if isinstance(outcome, registry.Derived) else outcome
        data = json_safe(model.model_dump(mode="json"))
        try:
            async with pool.acquire() as conn, conn.transaction():
                if (
                    isinstance(outcome, registry.Derived)
                    and job.dataset_id is not None
                    and not await ds.replace_processed(conn, job.dataset_id, outcome.frame, data)
                ):
                    raise _Lost
                if await store.succeed(conn, job, self.owner, data) is None:
                    raise _Lost
        except _Lost:
            log.info("job %s (%s) ended elsewhere (canceled or deleted): result dropped", job.id, job.type)
