"""A training job's events as Server-Sent Events, tailed from its Redis stream (``JobChannel.tail``).

Each event's ``id`` is its Redis stream id, so a client resumes after a drop with ``Last-Event-ID``
and misses nothing the stream still holds. The backlog comes first, then live events; an idle stream
gets a keep-alive comment every ``api_sse_keepalive_s``. When the job is finished (a terminal status
event, or its record says so) the trailing events are sent, then a final ``event: end`` whose data is
the job; the server closes the stream. A stream older than ``api_sse_max_s`` is closed without
``end``: the client reconnects with its Last-Event-ID.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator

import asyncpg
import orjson
from redis.exceptions import RedisError

from api.errors import field_error
from api.jobs_view import job_public
from schemas.jobs import TERMINAL
from stream_app import metrics as prom
from stream_app.lifecycle.coord import JobChannel
from stream_app.store import repository as repo

log = logging.getLogger(__name__)
STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")
KEEPALIVE = b": keep-alive\n\n"
RETRY_MS = 2000  # the client's reconnection delay
TRAIL_MS = 200  # after the job ended: how long to wait for the lines written right after its status
BATCH = 500
_TERMINAL = {s.value for s in TERMINAL}


def parse_last_id(header: str | None, query: str | None) -> str:
    """The stream id to resume after (Last-Event-ID header, else ?last_event_id=, else the start)."""
    given: list[tuple[list[str | int], str | None]] = [
        (["header", "Last-Event-ID"], header),
        (["query", "last_event_id"], query),
    ]
    for loc, value in given:
        if value:
            if not STREAM_ID.fullmatch(value.strip()):
                raise field_error(loc, "not an event id of this stream (expected <ms>-<seq>)", status=400)
            return value.strip()
    return "0-0"


def frame(data: bytes, event: str | None = None, event_id: str | None = None) -> bytes:
    """One SSE event (data is single-line JSON)."""
    out = b""
    if event_id is not None:
        out += b"id: " + event_id.encode() + b"\n"
    if event is not None:
        out += b"event: " + event.encode() + b"\n"
    return out + b"data: " + data + b"\n\n"


async def job_events(
    channel: JobChannel,
    pool: asyncpg.Pool,
    job: repo.Job,
    last_id: str,
    *,
    keepalive_s: float,
    max_s: float,
) -> AsyncIterator[bytes]:
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
                yield frame(orjson.dumps(fields), kind, event_id)
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
        yield frame(job_public(job).model_dump_json().encode(), "end")
    except repo.NotFound:
        log.info("log stream of job %s ended: the job was deleted", job.id)
    except (RedisError, OSError) as exc:
        # The client reconnects (retry) with its Last-Event-ID and resumes where it stopped.
        log.warning("log stream of job %s stopped: Redis unavailable: %s", job.id, exc)
    finally:
        prom.API_SSE_STREAMS.dec()


def idle_seconds(keepalive_s: float, redis_timeout_s: float) -> float:
    """An XREAD must return before the Redis socket timeout, so the keep-alive is capped below it."""
    return min(keepalive_s, redis_timeout_s / 2)
