"""Runs one training in a child process so the worker's event loop keeps scoring.

A ``multiprocessing`` spawn-context Process per job (a fresh interpreter: no forked event loop, Kafka
sockets or RocksDB handles). The parent polls the child's queue without blocking the loop, samples
the child's CPU and RSS with psutil, and ends it on timeout or cancel: first the cooperative stop
event (the trainer raises TrainingCanceled between stages), then after a grace period SIGTERM, then
SIGKILL.

The child is stopped only for a timeout, a cancel or our own shutdown: an error raised by the parent's
progress, log or cancel-check callbacks (e.g. PostgreSQL or Redis down) is logged and the training goes
on (:class:`_Guarded`; the training service makes those callbacks best-effort too).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import queue as queue_mod
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psutil

from stream_app.lifecycle import child, job_errors
from stream_app.lifecycle.child_guard import OUT_OF_MEMORY

log = logging.getLogger(__name__)

Outcome = Literal["ok", "failed", "canceled", "timeout"]
POLL_S = 0.1
SAMPLE_EVERY_S = 0.5


@dataclass
class RunRequest:
    backend: str
    data_path: Path
    spec_kwargs: dict[str, Any]
    out_dir: Path
    active_dir: Path | None
    holdout_fraction: float
    timeout_s: float
    grace_s: float
    nice: int = 10
    memory_mb: int = 0  # the child's data limit (0 = none); see child_guard
    job_id: str = ""  # names the job in the worker's log lines


@dataclass
class RunResult:
    outcome: Outcome
    error: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    cpu_percent: float | None = None
    peak_rss_mb: float | None = None
    duration_s: float = 0.0
    exitcode: int | None = None


@dataclass
class _Usage:
    peak_rss_mb: float = 0.0
    cpu_s: float = 0.0

    def sample(self, proc: psutil.Process) -> None:
        try:
            with proc.oneshot():
                self.peak_rss_mb = max(self.peak_rss_mb, proc.memory_info().rss / 2**20)
                t = proc.cpu_times()
                self.cpu_s = max(self.cpu_s, t.user + t.system)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass


ProgressCb = Callable[[float, str], Awaitable[None]]
LogCb = Callable[[str], Awaitable[None]]
CancelCb = Callable[[], Awaitable[bool]]


class _Guarded:
    """The parent's callbacks, never allowed to end the training: an exception is logged (the first
    with its traceback, later ones in one line) and the message is lost, a failed cancel check counts
    as "no cancel asked"."""

    def __init__(self, on_progress: ProgressCb, on_log: LogCb, cancel_requested: CancelCb, job_id: str):
        self._progress, self._log, self._cancel, self.job_id = on_progress, on_log, cancel_requested, job_id
        self.errors = 0

    def _failed(self, what: str, exc: Exception) -> None:
        self.errors += 1
        log.warning(
            "training job %s: %s callback failed (%s: %s); the training goes on",
            self.job_id,
            what,
            type(exc).__name__,
            exc,
            exc_info=self.errors == 1,
        )

    async def progress(self, pct: float, message: str) -> None:
        try:
            await self._progress(pct, message)
        except Exception as exc:  # noqa: BLE001 - logged; a callback never ends the training
            self._failed("progress", exc)

    async def log(self, line: str) -> None:
        try:
            await self._log(line)
        except Exception as exc:  # noqa: BLE001 - logged; a callback never ends the training
            self._failed("log", exc)

    async def cancel_requested(self) -> bool:
        try:
            return await self._cancel()
        except Exception as exc:  # noqa: BLE001 - logged; checked again at the next sample
            self._failed("cancel check", exc)
            return False


async def run(
    req: RunRequest, on_progress: ProgressCb, on_log: LogCb, cancel_requested: CancelCb
) -> RunResult:
    """Train in a child process; every way it can end is a RunResult (never raises for the child's faults)."""
    guarded = _Guarded(on_progress, on_log, cancel_requested, req.job_id)
    on_progress, on_log, cancel_requested = guarded.progress, guarded.log, guarded.cancel_requested
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    stop = ctx.Event()
    proc = ctx.Process(
        target=child.run,
        args=(
            req.backend,
            str(req.data_path),
            req.spec_kwargs,
            str(req.out_dir),
            str(req.active_dir) if req.active_dir else None,
            req.holdout_fraction,
            q,
            stop,
            req.nice,
            req.memory_mb,
            os.getpid(),
        ),
        name="kilowatch-training",
        daemon=True,
    )
    started = time.monotonic()
    await asyncio.to_thread(proc.start)  # spawn start-up is a blocking fork+exec handshake
    ps = psutil.Process(proc.pid)
    usage = _Usage()
    final: tuple[str, Any] | None = None
    child_usage: dict[str, float] = {}
    ended_by: Outcome | None = None
    next_sample = 0.0
    try:
        while True:
            drained = await _drain(q, on_progress, on_log, job_id=req.job_id)
            for kind, payload in drained:
                if kind == "usage":
                    child_usage = payload
                elif final is None:
                    final = (kind, payload)
            now = time.monotonic()
            if now >= next_sample:
                usage.sample(ps)
                next_sample = now + SAMPLE_EVERY_S
                if ended_by is None and final is None:
                    if await cancel_requested():
                        ended_by = "canceled"
                    elif now - started > req.timeout_s:
                        ended_by = "timeout"
                    if ended_by is not None:
                        await on_log(
                            f"{'cancel requested' if ended_by == 'canceled' else 'timed out'}: "
                            "stopping the training process"
                        )
                        await _stop(proc, stop, req.grace_s)
            if not proc.is_alive():
                for kind, payload in await _drain(q, on_progress, on_log, settle=True, job_id=req.job_id):
                    if kind == "usage":
                        child_usage = payload
                    elif final is None:
                        final = (kind, payload)
                break
            await asyncio.sleep(POLL_S)
    finally:
        if proc.is_alive():  # our task was cancelled (worker shutting down): never leave an orphan
            await _stop(proc, stop, min(req.grace_s, 2.0))
        await asyncio.to_thread(proc.join, 5)
        q.close()
    duration = time.monotonic() - started
    cpu_s = max(usage.cpu_s, child_usage.get("cpu_s", 0.0))
    res = RunResult(
        outcome="failed",
        duration_s=duration,
        cpu_percent=100.0 * cpu_s / duration if duration > 0 else None,
        peak_rss_mb=max(usage.peak_rss_mb, child_usage.get("peak_rss_mb", 0.0)) or None,
        exitcode=proc.exitcode,
    )
    if ended_by == "timeout":
        res.outcome, res.error = "timeout", f"training timed out after {req.timeout_s:g} s"
    elif ended_by == "canceled" or (final is not None and final[0] == "canceled"):
        res.outcome, res.error = "canceled", "training canceled"
    elif final is None:
        res.error = f"training process died without a result (exit code {proc.exitcode})"
    elif final[0] == "result":
        res.outcome, res.result = "ok", final[1]
    elif final[0] == "error" and final[1] == OUT_OF_MEMORY:  # fixed text: says nothing of the data
        log.warning("training job %s: %s (limit %d MiB)", req.job_id, OUT_OF_MEMORY, req.memory_mb)
        res.error = OUT_OF_MEMORY
    else:  # the child's error: shown only if it quotes nothing of the data (job_errors)
        res.error = job_errors.public_training_error(str(final[1]), req.job_id)
    return res


async def _drain(
    q: Any, on_progress: ProgressCb, on_log: LogCb, settle: bool = False, job_id: str = ""
) -> list[tuple[str, Any]]:
    """Forward progress/log messages; return the others. ``settle`` waits briefly for the queue's
    feeder thread to flush what a just-exited child wrote."""
    out: list[tuple[str, Any]] = []
    deadline = time.monotonic() + (1.0 if settle else 0.0)
    while True:
        try:
            msg = q.get_nowait()
        except queue_mod.Empty:
            if time.monotonic() >= deadline:
                return out
            await asyncio.sleep(0.05)
            continue
        except (EOFError, OSError, ValueError):  # a killed child can leave a truncated message
            return out
        kind = msg[0]
        if kind == "progress":
            await on_progress(float(msg[1]), str(msg[2]))
        elif kind == "log":
            await on_log(str(msg[1]))
        elif kind == "detail":  # exception text, tracebacks: the worker's log, never the job's
            log.warning("training job %s: %s", job_id, msg[1])
        else:
            out.append((kind, msg[1]))
            if settle and kind == "usage":
                return out


async def _stop(proc: Any, stop: Any, grace_s: float) -> None:
    """Cooperative stop, then SIGTERM, then SIGKILL."""
    stop.set()
    if await _wait_exit(proc, grace_s):
        return
    log.warning("training process %s ignored the stop request for %.1f s: terminating", proc.pid, grace_s)
    proc.terminate()
    if await _wait_exit(proc, 3.0):
        return
    log.warning("training process %s survived SIGTERM: killing", proc.pid)
    proc.kill()
    await _wait_exit(proc, 5.0)


async def _wait_exit(proc: Any, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while proc.is_alive():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True
