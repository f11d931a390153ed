"""What every Server-Sent Events route shares: its documented 200 answer, its resume parameters and
its streaming response.

``sse_doc`` writes the ``text/event-stream`` answer of the OpenAPI document (the event names, what
``data`` and ``id`` hold); ``last_event_header`` and ``LastEventIdQuery`` are the two ways a client
says where to resume (the Last-Event-ID header, or ``?last_event_id=`` for links); ``event_stream``
wraps an event body in the response with the headers that keep proxies from buffering it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Annotated, Any

from fastapi import Header, Query
from fastapi.responses import StreamingResponse

LastEventIdQuery = Annotated[
    str | None, Query(alias="last_event_id", max_length=64, description="Same as Last-Event-ID (for links).")
]


def last_event_header(description: str) -> Any:
    """The Last-Event-ID header parameter of a stream (``description``: what the client resumes after)."""
    return Header(alias="Last-Event-ID", max_length=64, description=description)


def sse_doc(*, events: str, data: str, event_id: str, description: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route that answers Server-Sent Events: ``events`` names them, ``data`` and
    ``event_id`` say what an event's data and id hold."""
    return {
        200: {
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "object",
                        "description": "One Server-Sent Event.",
                        "properties": {
                            "event": {"type": "string", "description": events},
                            "data": {"type": "string", "description": data},
                            "id": {"type": "string", "description": event_id},
                            "retry": {"type": "integer"},
                        },
                    }
                }
            },
            "description": description,
        }
    }


def event_stream(body: AsyncIterable[bytes]) -> StreamingResponse:
    """The streaming response of an SSE body: never cached, never buffered by a proxy."""
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
