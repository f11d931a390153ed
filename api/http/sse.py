"""Server-Sent Events framing: one event's bytes, the keep-alive comment, the resume point.

Each event's ``id`` is its Redis stream id, so a client resumes after a drop with ``Last-Event-ID``
(or ``?last_event_id=``) and misses nothing the stream still holds. An idle stream gets a keep-alive
comment every ``api_sse_keepalive_s``. What a training job's stream sends: :mod:`api.services.job_events`.
"""

from __future__ import annotations

import re

from api.http.errors import field_error

STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")
KEEPALIVE = b": keep-alive\n\n"
RETRY_MS = 2000  # the client's reconnection delay


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


def idle_seconds(keepalive_s: float, redis_timeout_s: float) -> float:
    """An XREAD must return before the Redis socket timeout, so the keep-alive is capped below it."""
    return min(keepalive_s, redis_timeout_s / 2)
