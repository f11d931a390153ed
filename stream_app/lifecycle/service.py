"""The training service: one TrainingRequest from request to registered (and maybe promoted) version.

Order of a job: create (idempotent on request_id) -> take the asset lock and the job's lease -> PREPARING
(fetch data, find the champion) -> TRAINING (child process) -> store the bundle -> register the
candidate -> champion/challenger -> promote (ModelUpdated written to the outbox in the same
transaction, then relayed) -> TRAINED. Open jobs of dead workers are found by their expired lease
(``recover_jobs``). Any failure before the registration ends the
job FAILED or CANCELED with the reason and registers nothing. The bundle is written with the registration
(PostgreSQL store: in its transaction, so a version and its bundle commit together or not at all); a store
outside the database stores it first and deletes it when the registration fails.

Outages (issue 14): while a job runs, PostgreSQL or Redis may stop. Progress, log lines and status
events are then best-effort (``outage``: progress coalesced and written when the database answers,
events skipped, counted, logged once per outage), a failed cancel check counts as "no cancel", and
the training child goes on. The final write (version, activation, TRAINED in one transaction; or the
FAILED/CANCELED end) is retried until PostgreSQL answers, for at most ``training.db_retry_max_s``;
after that the job is left to the lease recovery (nothing can be written before the database is back,
and by then its lease has expired). The lease is tried again every 1, 2, 4 ... s during an outage, so
it is renewed as soon as the database answers; this worker's own recovery never takes a job it runs.

A second request for an asset being trained is **created and then ended FAILED** ("another training
is running ...") rather than dropped: the request id then has a job the API can show.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import asyncpg

from schemas.events import ModelUpdated, TrainingRequest, utc_now
from schemas.jobs import InvalidTransition, JobStatus
from stream_app import metrics as prom
from stream_app.lifecycle import job_errors, runner
from stream_app.lifecycle.artifacts import ArtifactStore
from stream_app.lifecycle.champion import decide
from stream_app.lifecycle.coord import JobChannel, TrainingLock, new_token
from stream_app.lifecycle.datasource import DataSourceError, describe, fetch
from stream_app.lifecycle.outage import DatabaseUnavailable, Outage, ProgressCoalescer, until_answered
from stream_app.settings import Settings
from stream_app.store import repository as repo

log = logging.getLogger(__name__)

T = TypeVar("T")
Publisher = Callable[[ModelUpdated], Awaitable[None]]
# Keys of TrainingRequest.params that go to TrainSpec itself rather than to the model's params.
SPEC_KEYS = ("horizon", "quantile", "holdout_fraction", "seed")
# Fixed job errors of the crash recovery (no details of the lost worker reach API keys).
LOST_RUNNING = "worker lost during training; job abandoned"
LOST_TOO_OFTEN = "worker lost too many times; job abandoned"
# How long one outbox event may take to be acked by the broker before the relay tries again later.
PUBLISH_TIMEOUT_S = 10.0


# Job states as the Prometheus label the rules and dashboards use.
_STATE_LABEL = {
    JobStatus.TRAINED: "succeeded",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELED: "canceled",
}


def record_outcome(job: repo.Job, holdout: dict[str, float] | None = None) -> None:
    """Count a finished job (and its duration and hold-out error) in the metrics."""
    label = _STATE_LABEL.get(job.status)
    if label is None:
        return
    prom.TRAINING_JOBS.labels(label, job.model_type).inc()
    if job.duration_s is not None:
        prom.TRAINING_SECONDS.labels(job.model_type).observe(job.duration_s)
    mase = (holdout or {}).get("mase")
    if mase is not None:
        prom.HOLDOUT_MASE.labels(job.model_type).set(float(mase))
    smape = (holdout or {}).get("smape")
    if smape is not None:  # trainers report sMAPE in percent; the gauge's unit is a ratio
        prom.HOLDOUT_SMAPE.labels(job.model_type).set(float(smape) / 100.0)


def spec_kwargs(model_type: str, params: dict[str, Any]) -> dict[str, Any]:
    """TrainSpec keyword arguments from a request (pure)."""
    spec: dict[str, Any] = {"model_type": model_type}
    model_params = dict(params)
    for key in SPEC_KEYS:
        if key in model_params:
            spec[key] = model_params.pop(key)
    spec["params"] = model_params
    return spec


@dataclass
class TrainingService:
    settings: Settings
    pool: asyncpg.Pool
    lock: TrainingLock
    channel: JobChannel
    store: ArtifactStore
    publish: Publisher

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.settings.training.processes)
        # Names this process in the lease of the jobs it runs (see repo.claim_job / take_stale_jobs).
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{new_token()[:8]}"
        self._relaying = asyncio.Lock()
        # Jobs this process runs, with the state of Redis as each job sees it (its events are best-effort).
        self._running: dict[uuid.UUID, Outage] = {}

    async def handle(self, req: TrainingRequest) -> repo.Job:
        """Run a request to its end; returns the job's final row. Never raises for a job's own failure."""
        job, created = await repo.create_job(
            self.pool,
            request_id=req.request_id,
            asset_id=req.asset_id,
            model_type=req.model_type,
            params=req.params,
            data_url=req.data_url,
        )
        if created:
            prom.TRAINING_JOBS.labels("queued", job.model_type).inc()
        if not created and job.status is not JobStatus.PENDING:
            log.info("request %s already has job %s (%s): not run again", req.request_id, job.id, job.status)
            return job
        # The token names the job, so a redelivered request (a rebalance before the offset was
        # committed) that finds its own job holding the lock leaves that run alone instead of failing it.
        token = f"{job.id}:{new_token()}"
        if not await self.lock.acquire(job.asset_id, token):
            return await self._lock_taken(job)
        try:
            await repo.claim_job(self.pool, job.id, self.owner)  # the lease: recovery knows who runs it
        except BaseException:
            await self.lock.release(job.asset_id, token)
            raise
        self._running[job.id] = Outage("redis", job.id)
        renewer = asyncio.create_task(self._renew(job.id, job.asset_id, token), name=f"lock-renew-{job.id}")
        try:
            async with self._slots:
                return await self._run(job)
        except asyncio.CancelledError:  # the worker is stopping: the job must not stay open
            await asyncio.shield(self._fail_if_open(job.id, "worker stopped during training"))
            raise
        finally:
            self._running.pop(job.id, None)
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            await self.lock.release(job.asset_id, token)

    async def _lock_taken(self, job: repo.Job) -> repo.Job:
        """The asset's lock is held: by this very job (a duplicate delivery of its request, in this
        process or another worker) -> leave it running; by another job -> this one fails."""
        holder = await self.lock.holder(job.asset_id)
        current = await repo.get_job(self.pool, job.id)
        if current.terminal or (holder is not None and holder.startswith(f"{job.id}:")):
            log.info("request %s is already being run as job %s: not run twice", job.request_id, job.id)
            return current
        return await self._end(
            job.id, JobStatus.FAILED, f"another training is running for asset {job.asset_id!r}"
        )

    async def _renew(self, job_id: uuid.UUID, asset_id: str, token: str) -> None:
        """Keep the job's lease (PostgreSQL) and the asset lock (Redis) while the job runs, each in its
        own loop: a database that hangs (frozen, shutting down) never delays the lock's renewal. While
        a backend is down its renewal is tried again after 1, 2, 4 ... s (at most the period), so the
        lease is renewed soon after the database answers, before other workers' recovery
        (``job_lease_s``) sees it stale. Errors are counted and logged once per outage; the job goes on."""
        await asyncio.gather(self._renew_lease(job_id), self._renew_lock(job_id, asset_id, token))

    def _renew_period(self) -> float:
        return self.settings.training.lock_ttl_ms / 3000

    async def _renew_lease(self, job_id: uuid.UUID) -> None:
        period = self._renew_period()
        lease = Outage("postgres", job_id, max_pause_s=period)
        while True:
            await asyncio.sleep(lease.pause_s() if lease.failures else period)
            renewed = await lease.call("lease", lambda: repo.heartbeat(self.pool, job_id, self.owner), None)
            if renewed is False:  # nothing left to renew
                log.warning(
                    "training job %s: lease no longer ours (the job ended, or another worker took it)", job_id
                )
                return

    async def _renew_lock(self, job_id: uuid.UUID, asset_id: str, token: str) -> None:
        period = self._renew_period()
        lock = Outage("redis", job_id, max_pause_s=period)
        while True:
            await asyncio.sleep(lock.pause_s() if lock.failures else period)
            if await lock.call("lock", lambda: self.lock.renew(asset_id, token), True):
                continue
            # Expired (e.g. Redis was down longer than the TTL, or restarted empty): take it again
            # unless another job holds it now.
            if await lock.call("lock", lambda: self.lock.acquire(asset_id, token), False):
                log.warning("training lock of %s expired and was taken again by job %s", asset_id, job_id)
                continue
            log.error("training lock of %s was lost (expired): another job may start", asset_id)
            return

    async def _say(self, job_id: uuid.UUID, kind: str, op: Callable[[], Awaitable[None]]) -> None:
        """A job's live event to Redis, best-effort: skipped (counted, logged once) while Redis is down."""
        outage = self._running.get(job_id) or Outage("redis", job_id)
        await outage.call(kind, op, None)

    async def _cancel_asked(self, job_id: uuid.UUID) -> bool:
        """Whether a cancel was asked; False while Redis is down (asked again at the next check)."""
        outage = self._running.get(job_id) or Outage("redis", job_id)
        return await outage.call("cancel_check", lambda: self.channel.cancel_requested(job_id), False)

    async def _patient(self, what: str, job_id: uuid.UUID, step: Callable[[], Awaitable[T]]) -> T:
        """A database step of a running job, retried until PostgreSQL answers (``db_retry_max_s``)."""
        return await until_answered(what, step, self.settings.training.db_retry_max_s, job_id)

    async def _advance(
        self, job_id: uuid.UUID, status: JobStatus, error: str | None = None, **fields: Any
    ) -> repo.Job:
        """A transition of a running job, retried through an outage. A retry that finds the job already
        in ``status`` (our commit whose answer the outage lost) returns it; another state raises
        InvalidTransition as a first try would."""

        async def step() -> repo.Job:
            try:
                return await repo.transition(self.pool, job_id, status, error=error, **fields)
            except InvalidTransition:
                current = await repo.get_job(self.pool, job_id)
                if current.status is status and current.error == error:
                    return current
                raise

        return await self._patient(f"{status.value} state", job_id, step)

    async def _end(
        self,
        job_id: uuid.UUID,
        status: JobStatus,
        error: str | None = None,
        *,
        patient: bool = True,
        **fields: Any,
    ) -> repo.Job:
        """End a job; a running one's end is retried through a database outage (``_advance``) unless
        ``patient`` is False (the worker is stopping: it must not wait ``db_retry_max_s``)."""
        if patient and job_id in self._running:
            try:
                job = await self._advance(job_id, status, error, **fields)
            except InvalidTransition:  # ended meanwhile (e.g. by the recovery): that end stands
                job = await self._patient("job state", job_id, lambda: repo.get_job(self.pool, job_id))
                log.warning(
                    "training job %s was already %s: not ended %s", job_id, job.status.value, status.value
                )
                return job
        else:
            job = await repo.transition(self.pool, job_id, status, error=error, **fields)
        record_outcome(job)
        await self._say(job_id, "status", lambda: self.channel.status(job_id, status.value, error or ""))
        if error:
            await self._say(job_id, "log", lambda: self.channel.log(job_id, f"{status.value}: {error}"))
        log.info(
            "training job %s of %s: %s%s", job_id, job.asset_id, status.value, f" ({error})" if error else ""
        )
        return job

    async def _run(self, job: repo.Job) -> repo.Job:
        if await self._cancel_asked(job.id):
            return await self._end(job.id, JobStatus.CANCELED, "canceled before it started")
        await self._advance(job.id, JobStatus.PREPARING)
        await self._say(job.id, "status", lambda: self.channel.status(job.id, JobStatus.PREPARING.value))
        workdir = Path(tempfile.mkdtemp(prefix=f"kilowatch-job-{job.id}-"))
        try:
            return await self._prepare_and_train(job, workdir)
        except DatabaseUnavailable:  # nothing can be written: the lease recovery ends the job later
            log.error(
                "training job %s: PostgreSQL did not come back in time; left to the job recovery", job.id
            )
            raise
        except Exception:  # a bug of ours must still end the job, never leave it open
            log.exception("training job %s failed unexpectedly", job.id)
            current = await self._patient("job state", job.id, lambda: repo.get_job(self.pool, job.id))
            if current.terminal:
                return current
            return await self._end(job.id, JobStatus.FAILED, job_errors.internal_error(job.id))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    async def _prepare_and_train(self, job: repo.Job, workdir: Path) -> repo.Job:
        data_path = workdir / "data.csv"
        await self._say(
            job.id, "log", lambda: self.channel.log(job.id, f"fetching data from {describe(job.data_url)}")
        )
        try:
            size = await fetch(job.data_url, job.asset_id, data_path, self.settings, self.pool)
        except DataSourceError as exc:
            return await self._end(
                job.id, JobStatus.FAILED, job_errors.data_source_error(job.id, str(exc), exc.detail)
            )
        await self._say(job.id, "log", lambda: self.channel.log(job.id, f"data: {size} bytes"))
        champion = await self._patient(
            "active version", job.id, lambda: repo.active_version(self.pool, job.asset_id)
        )
        active_dir = await asyncio.to_thread(self.store.get_dir, champion.artifact_uri) if champion else None
        if await self._cancel_asked(job.id):
            return await self._end(job.id, JobStatus.CANCELED, "training canceled")
        await self._advance(job.id, JobStatus.TRAINING)
        prom.TRAINING_JOBS.labels("running", job.model_type).inc()
        await self._say(job.id, "status", lambda: self.channel.status(job.id, JobStatus.TRAINING.value))
        # Progress to PostgreSQL by a writer task: coalesced through an outage, never waited for.
        progress = ProgressCoalescer(
            lambda pct: repo.set_progress(self.pool, job.id, pct), Outage("postgres", job.id)
        )
        writer = asyncio.create_task(progress.run(), name=f"progress-{job.id}")

        async def on_progress(pct: float, message: str) -> None:
            await self._say(job.id, "progress", lambda: self.channel.progress(job.id, pct, message))
            progress.offer(pct)

        async def on_log(line: str) -> None:
            await self._say(job.id, "log", lambda: self.channel.log(job.id, line))

        out_dir = workdir / "bundle"
        try:
            run = await self._train(job, data_path, out_dir, active_dir, on_progress, on_log)
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        usage: dict[str, Any] = {
            "cpu_percent": run.cpu_percent,
            "peak_rss_mb": run.peak_rss_mb,
            "duration_s": run.duration_s,
        }
        if progress.pending is not None and run.outcome != "ok":  # the last progress the outage kept
            usage["progress"] = progress.pending
        if run.outcome == "canceled":
            return await self._end(job.id, JobStatus.CANCELED, run.error, **usage)
        if run.outcome != "ok":
            return await self._end(job.id, JobStatus.FAILED, run.error, **usage)
        if await self._cancel_asked(job.id):
            return await self._end(job.id, JobStatus.CANCELED, "training canceled", **usage)
        return await self._register(job, run, out_dir, champion, usage)

    async def _train(
        self,
        job: repo.Job,
        data_path: Path,
        out_dir: Path,
        active_dir: Path | None,
        on_progress: runner.ProgressCb,
        on_log: runner.LogCb,
    ) -> runner.RunResult:
        return await runner.run(
            runner.RunRequest(
                backend=self.settings.training.backend,
                data_path=data_path,
                spec_kwargs={
                    **spec_kwargs(job.model_type, job.params),
                },
                out_dir=out_dir,
                active_dir=active_dir,
                holdout_fraction=self.settings.training.holdout_fraction,
                timeout_s=self.settings.training.timeout_s,
                grace_s=self.settings.training.cancel_grace_s,
                nice=self.settings.training.nice,
                memory_mb=self.settings.training.child_memory_mb,
                job_id=str(job.id),
            ),
            on_progress,
            on_log,
            lambda: self._cancel_asked(job.id),
        )

    async def _register(
        self,
        job: repo.Job,
        run: runner.RunResult,
        out_dir: Path,
        champion: repo.ModelVersion | None,
        usage: dict[str, Any],
    ) -> repo.Job:
        candidate: dict[str, float] = run.result.get("candidate", {})
        active: dict[str, float] | None = run.result.get("active")
        decision = decide(
            candidate.get("mase"),
            None if champion is None else (active or {}).get("mase", float("inf")),
            self.settings.training.champion_margin,
        )
        metrics = {
            "holdout": candidate,
            "training": run.result.get("metadata_metrics", {}),
            "champion_holdout": active,
            "holdout_rows": run.result.get("holdout_rows"),
        }
        # The PostgreSQL store writes the bundle in the registration's transaction below (a rollback
        # leaves nothing); a store outside the database has stored it here and deletes it on failure.
        prepared = await asyncio.to_thread(self.store.prepare, out_dir, job.asset_id)
        uri = prepared.uri

        async def write() -> tuple[repo.Job, repo.ModelVersion | None]:
            """Version, activation and TRAINED in one transaction: a retry after an outage finds either
            nothing written or all of it (the job is then no longer TRAINING)."""
            async with self.pool.acquire() as conn, conn.transaction():
                current = await repo.lock_job(conn, job.id)
                if current.status is not JobStatus.TRAINING:
                    return current, None
                await self.store.commit(conn, prepared)
                version = await repo.register_version(
                    conn,
                    asset_id=job.asset_id,
                    model_type=job.model_type,
                    params=job.params,
                    metrics=metrics,
                    artifact_uri=uri,
                    job_id=job.id,
                    reason=decision.reason,
                )
                if decision.promote:
                    await repo.activate(
                        conn,
                        job.asset_id,
                        version.version,
                        f"promoted: {decision.reason}",
                        event=lambda mv: self._outbox_event(mv, "promoted"),
                    )
                result = {
                    "version": version.version,
                    "promoted": decision.promote,
                    "reason": decision.reason,
                    "artifact_uri": uri,
                    "metrics": metrics,
                }
                row = await repo.transition(
                    conn, job.id, JobStatus.TRAINED, progress=100.0, result=result, **usage
                )
                return row, version

        try:
            job_row, version = await self._patient("trained version", job.id, write)
        except DatabaseUnavailable:  # the outage may have lost a commit's answer: the bundle may be in use
            log.error("training job %s: bundle %s kept (it may have been registered)", job.id, uri)
            raise
        except BaseException:
            if not self.store.transactional:
                await asyncio.to_thread(self.store.delete, uri)
            raise
        if version is None and (job_row.result or {}).get("artifact_uri") != uri:
            # Ended meanwhile by someone else (the recovery, after an outage longer than the lease).
            if not self.store.transactional:
                await asyncio.to_thread(self.store.delete, uri)
            log.warning(
                "training job %s was already %s: its model is not registered", job.id, job_row.status.value
            )
            return job_row
        result = job_row.result or {}
        if decision.promote:
            await self._relay_after_commit()
        await self._say(
            job.id,
            "log",
            lambda: self.channel.log(job.id, f"registered version {result['version']}: {decision.reason}"),
        )
        record_outcome(job_row, candidate)
        await self._say(job.id, "progress", lambda: self.channel.progress(job.id, 100.0, "done"))
        await self._say(
            job.id, "status", lambda: self.channel.status(job.id, JobStatus.TRAINED.value, decision.reason)
        )
        return job_row

    async def _fail_if_open(self, job_id: uuid.UUID, error: str) -> None:
        with contextlib.suppress(InvalidTransition):
            await self._end(job_id, JobStatus.FAILED, error, patient=False)

    async def recover_jobs(self) -> list[TrainingRequest]:
        """Take over the open jobs of dead workers (lease not renewed for ``job_lease_s``, or PENDING and
        never claimed for ``job_unclaimed_s``). A running one (PREPARING/TRAINING) ends FAILED with
        LOST_RUNNING (its child died with its worker); a PENDING one is returned as a request for the
        caller to run again, unless it already lost ``job_max_attempts`` workers (then FAILED with
        LOST_TOO_OFTEN). Either way the asset is free again for new requests once the job ends."""
        t = self.settings.training
        again: list[TrainingRequest] = []
        stale = await repo.take_stale_jobs(
            self.pool, self.owner, t.job_lease_s, t.job_unclaimed_s, running=list(self._running)
        )
        for job in stale:
            if job.status is JobStatus.PENDING and job.attempts <= t.job_max_attempts:
                log.warning(
                    "training job %s of %s: worker lost; job requeued (attempt %d)",
                    job.id,
                    job.asset_id,
                    job.attempts,
                )
                prom.TRAINING_JOBS_RECOVERED.labels("requeued").inc()
                again.append(
                    TrainingRequest(
                        request_id=job.request_id,
                        asset_id=job.asset_id,
                        model_type=job.model_type,
                        params=job.params,
                        data_url=job.data_url,
                        requested_at=utc_now(),
                    )
                )
                continue
            reason = LOST_TOO_OFTEN if job.status is JobStatus.PENDING else LOST_RUNNING
            prom.TRAINING_JOBS_RECOVERED.labels("failed").inc()
            await self._fail_if_open(job.id, reason)
        return again

    async def relay_outbox(self, limit: int = 100) -> int:
        """Publish the outbox's events in order; a row is deleted only once the broker acked its event.
        Stops at the first failed publish (logged, counted, retried by the next call: the worker's
        outbox timer). Returns how many were published. Raises only for a database error."""
        sent = 0
        async with self._relaying, self.pool.acquire() as conn, conn.transaction():
            for row in await repo.take_outbox(conn, self.settings.kafka.topic("model-updates"), limit):
                try:
                    event = ModelUpdated.model_validate_json(row.value or b"")
                    await asyncio.wait_for(self.publish(event), PUBLISH_TIMEOUT_S)
                except Exception as exc:  # noqa: BLE001 - a timeout too; retried later
                    prom.OUTBOX_EVENTS.labels("failed").inc()
                    log.warning(
                        "outbox event %d not published (attempt %d): %s: %s",
                        row.id,
                        row.attempts + 1,
                        type(exc).__name__,
                        exc,
                    )
                    await repo.outbox_failed(conn, row.id, f"{type(exc).__name__}: {exc}")
                    break
                await repo.delete_outbox(conn, row.id)
                prom.OUTBOX_EVENTS.labels("published").inc()
                sent += 1
        return sent

    def _outbox_event(
        self, mv: repo.ModelVersion, action: Literal["promoted", "rolled_back"]
    ) -> repo.OutboxEvent:
        """The ModelUpdated of an activation as an outbox row (keyed by asset, like every model update)."""
        ev = model_updated(mv, action)
        topic = self.settings.kafka.topic("model-updates")
        return repo.OutboxEvent(topic, ev.asset_id.encode(), ev.model_dump_json().encode())

    async def _relay_after_commit(self) -> None:
        """Publish an activation's event at once if possible; else the outbox timer does it later."""
        try:
            await self.relay_outbox()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("outbox not relayed now (database): %s: %s", type(exc).__name__, exc)

    async def cancel(self, job_id: uuid.UUID) -> repo.Job:
        """Ask a job to stop. A PENDING job is ended here; a running one by its runner (which watches
        the flag); a finished one is returned unchanged."""
        await self.channel.request_cancel(job_id)
        job = await repo.get_job(self.pool, job_id)
        if job.status is JobStatus.PENDING:
            with contextlib.suppress(InvalidTransition):
                return await self._end(job_id, JobStatus.CANCELED, "canceled before it started")
            job = await repo.get_job(self.pool, job_id)
        return job

    async def activate(self, asset_id: str, version: int, *, rollback: bool) -> repo.ModelVersion:
        """Manual activation or rollback to any version; publishes ModelUpdated like a promotion."""
        action: Literal["promoted", "rolled_back"] = "rolled_back" if rollback else "promoted"
        async with self.pool.acquire() as conn:
            mv, _previous = await repo.activate(
                conn, asset_id, version, f"{action} by request", event=lambda v: self._outbox_event(v, action)
            )
        await self._relay_after_commit()  # at once if the broker is up; else the worker's outbox timer
        return mv


def model_updated(mv: repo.ModelVersion, action: Literal["promoted", "rolled_back"]) -> ModelUpdated:
    return ModelUpdated(
        asset_id=mv.asset_id,
        model_id=mv.model_type,
        model_version=str(mv.version),
        model_type=mv.model_type,
        artifact_uri=mv.artifact_uri,
        action=action,
        updated_at=utc_now(),
    )
