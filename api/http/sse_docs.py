"""What every Server-Sent Events route shares: its documented 200 answer and its streaming response.

``sse_doc`` writes the ``text/event-stream`` answer of the OpenAPI document (the event names, what
``data`` and ``id`` hold); ``event_stream`` wraps an event body in the response with the headers that
keep proxies from buffering it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from fastapi.responses import StreamingResponse


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
