"""One asset's new anomalies as Server-Sent Events, pushed by PostgreSQL.

The results sink stores every anomaly in ``anomalies``; a trigger (migration 0080) announces each new
row on the channel ``kw_anomalies`` when its transaction commits. A stream holds one connection of its
own that LISTENs there (not a pooled one: a stream lasts up to ``api_sse_max_s``), keeps the
announcements of its asset in a bounded queue, and reads their rows by primary key from the pool.

What the client receives: ``retry``, then (after ``Last-Event-ID``, an anomaly's ``event_id``) the
asset's anomalies stored after that one (at most BATCH), then each new anomaly as ``event: anomaly``
(``id`` = its event_id, ``data`` = the anomaly as ``GET /assets/{id}/anomalies`` shows it), and a
keep-alive comment after ``api_sse_keepalive_s`` without one. When more than QUEUE_MAX announcements
wait (a storm faster than the client reads), the stream sends ``event: reset`` and ends: the client
reads the list again and reconnects. It also ends after ``api_sse_max_s`` or when its connection to
PostgreSQL is lost (the client reconnects with its Last-Event-ID); nothing is sent after an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Callable
from typing import Any

import asyncpg
import orjson

from api.http.sse import KEEPALIVE, RETRY_MS, frame
from api.services.results_store import ANOMALY_COLUMNS
from stream_app import metrics as prom

log = logging.getLogger(__name__)
CHANNEL = "kw_anomalies"
QUEUE_MAX = 1_000
BATCH = 200


class Announcements:
    """The event ids announced for one asset, in arrival order (bounded: see :attr:`overflowed`)."""

    def __init__(self, asset_id: str, limit: int = QUEUE_MAX) -> None:
        self.asset_id = asset_id
        self.queue: asyncio.Queue[uuid.UUID] = asyncio.Queue(maxsize=limit)
        self.overflowed = False

    def on_payload(self, payload: str) -> None:
        """A NOTIFY payload: kept when it names this asset; anything malformed is ignored."""
        try:
            note = orjson.loads(payload)
            if not isinstance(note, dict) or note.get("asset_id") != self.asset_id:
                return
            event_id = uuid.UUID(str(note["event_id"]))
        except (orjson.JSONDecodeError, KeyError, ValueError):
            log.warning("malformed %s notification ignored", CHANNEL)
            return
        try:
            self.queue.put_nowait(event_id)
        except asyncio.QueueFull:
            self.overflowed = True

    def listener(self) -> Callable[[Any, int, str, str], None]:
        def callback(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            self.on_payload(payload)

        return callback

    def drain(self, first: uuid.UUID, most: int) -> list[uuid.UUID]:
        ids = [first]
        while len(ids) < most and not self.queue.empty():
            ids.append(self.queue.get_nowait())
        return ids


async def rows_by_id(pool: asyncpg.Pool, asset_id: str, ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            f"SELECT {ANOMALY_COLUMNS} FROM anomalies WHERE event_id = ANY($1::uuid[]) AND asset_id = $2 "
            "ORDER BY ts, event_id::text",
            ids,
            asset_id,
        )
    )


async def rows_after(pool: asyncpg.Pool, asset_id: str, after: uuid.UUID) -> list[asyncpg.Record]:
    """The asset's anomalies stored after ``after`` (by storage order), at most BATCH."""
    return list(
        await pool.fetch(
            f"""SELECT {ANOMALY_COLUMNS} FROM anomalies a,
                  (SELECT stored_at AS s0 FROM anomalies WHERE event_id = $2 AND asset_id = $1) prev
                WHERE a.asset_id = $1 AND a.stored_at >= prev.s0
                  AND (a.stored_at, a.event_id::text) > (prev.s0, $2::text)
                ORDER BY a.stored_at, a.event_id::text LIMIT {BATCH}""",
            asset_id,
            after,
        )
    )


async def anomaly_events(
    listen: asyncpg.Connection,
    pool: asyncpg.Pool,
    asset_id: str,
    after: uuid.UUID | None,
    show: Callable[[asyncpg.Record], bytes],
    *,
    keepalive_s: float,
    max_s: float,
) -> AsyncGenerator[bytes, None]:
    """The SSE body (see the module doc). Owns ``listen`` and closes it however the stream ends."""
    box = Announcements(asset_id)
    callback = box.listener()
    deadline = time.monotonic() + max_s
    prom.API_ANOMALY_STREAMS.inc()
    try:
        await listen.add_listener(CHANNEL, callback)  # before the backlog: nothing falls in between
        yield f"retry: {RETRY_MS}\n\n".encode()
        sent: set[uuid.UUID] = set()
        if after is not None:
            for r in await rows_after(pool, asset_id, after):
                sent.add(r["event_id"])
                yield frame(show(r), "anomaly", str(r["event_id"]))
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                first = await asyncio.wait_for(box.queue.get(), timeout=min(keepalive_s, remaining))
            except TimeoutError:
                if listen.is_closed():
                    log.warning("anomaly stream of %s ended: its PostgreSQL connection closed", asset_id)
                    return
                yield KEEPALIVE
                continue
            if box.overflowed:
                yield frame(b'{"reason": "too many anomalies at once: read the list again"}', "reset")
                return
            ids = [i for i in box.drain(first, BATCH) if i not in sent]  # (sent: the backlog's, bounded)
            for r in await rows_by_id(pool, asset_id, ids) if ids else []:
                yield frame(show(r), "anomaly", str(r["event_id"]))
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        # The client reconnects (retry) with its Last-Event-ID and resumes where it stopped.
        log.warning("anomaly stream of %s stopped: PostgreSQL unavailable: %r", asset_id, exc)
    finally:
        prom.API_ANOMALY_STREAMS.dec()
        close_soon(listen)


_closing: set[asyncio.Task[None]] = set()


def close_soon(conn: asyncpg.Connection) -> None:
    """Close the listening connection in a task of its own: a client that went away cancels the stream,
    and an await in its ``finally`` would be cancelled again. Closing also ends the LISTEN."""
    if conn.is_closed():
        return

    async def close() -> None:
        try:
            await conn.close(timeout=2.0)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
            conn.terminate()

    task = asyncio.get_running_loop().create_task(close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)
