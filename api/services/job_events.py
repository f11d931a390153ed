"""A training job's events as Server-Sent Events, tailed from its Redis stream (``JobChannel.tail``).

The backlog comes first, then live events (framed by :mod:`api.http.sse`: each event's ``id`` is its
Redis stream id, so a client resumes with ``Last-Event-ID``). When the job is finished (a terminal
status event, or its record says so) the trailing events are sent, then a final ``event: end`` whose
data is the job in the one job shape (``GenericJobPublic``); the server closes the stream. A stream older
than ``api_sse_max_s`` is closed without ``end``: the client reconnects with its Last-Event-ID.

Events speak the one job vocabulary (:func:`public_event`): a ``status`` event's ``status`` is queued,
running, succeeded, failed or canceled and its ``stage`` the training's finer state (PENDING ...
CANCELED); a ``progress`` event's ``progress`` is 0..1.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator

import asyncpg
import orjson
from redis.exceptions import RedisError

from api.http.sse import KEEPALIVE, RETRY_MS, frame
from api.services.jobs_view import training_public
from schemas.jobs import TERMINAL, TRAINING_AS_GENERIC, JobStatus
from stream_app import metrics as prom
from stream_app.lifecycle.coord import JobChannel
from stream_app.store import repository as repo

log = logging.getLogger(__name__)
TRAIL_MS = 200  # after the job ended: how long to wait for the lines written right after its status
BATCH = 500
_TERMINAL = {s.value for s in TERMINAL}


def public_event(kind: str, fields: dict[str, str]) -> dict[str, object]:
    """A Redis event of the training runner in the one job vocabulary (others unchanged)."""
    out: dict[str, object] = dict(fields)
    if kind == "status" and fields.get("status") in JobStatus.__members__:
        stage = JobStatus(fields["status"])
        out["status"], out["stage"] = TRAINING_AS_GENERIC[stage].value, stage.value
    elif kind == "progress":
        try:
            out["progress"] = round(min(max(float(fields.get("progress", "0")) / 100.0, 0.0), 1.0), 4)
        except ValueError:
            out.pop("progress", None)
    return out


async def job_events(
    channel: JobChannel,
    pool: asyncpg.Pool,
    job: repo.Job,
    last_id: str,
    *,
    keepalive_s: float,
    max_s: float,
) -> AsyncGenerator[bytes, None]:
    """The job's SSE body. Ends with ``event: end`` once the job is finished (see the module doc)."""
    prom.API_SSE_STREAMS.inc()
    block_ms = max(10, int(keepalive_s * 1000))
    deadline = time.monotonic() + max_s
    finished = job.terminal
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        while True:
            events = await channel.tail(
                job.id, last_id, block_ms=TRAIL_MS if finished else block_ms, count=BATCH
            )
            for event_id, fields in events:
                last_id = event_id
                kind = fields.get("kind", "message")
                yield frame(orjson.dumps(public_event(kind, fields)), kind, event_id)
                if kind == "status" and fields.get("status") in _TERMINAL:
                    finished = True
            if events and not finished and time.monotonic() >= deadline:
                return
            if events:
                continue
            if finished:
                break
            job = await repo.get_job(pool, job.id)  # the events may have expired or been missed
            if job.terminal:
                finished = True
                continue
            if time.monotonic() >= deadline:
                return
            yield KEEPALIVE
        job = await repo.get_job(pool, job.id)
        yield frame(training_public(job).model_dump_json().encode(), "end")
    except repo.NotFound:
        log.info("log stream of job %s ended: the job was deleted", job.id)
    except (RedisError, OSError) as exc:
        # The client reconnects (retry) with its Last-Event-ID and resumes where it stopped.
        log.warning("log stream of job %s stopped: Redis unavailable: %s", job.id, exc)
    finally:
        prom.API_SSE_STREAMS.dec()
