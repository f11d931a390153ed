"""Request context (pure ASGI): a request id on every response and log line, one access-log line per
request, and the 500 answer to anything unexpected. (Body limits: :mod:`api.http.body_limits`.)"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from api.http.errors import ApiError, Code
from api.http.i18n import Language
from stream_app.logging_setup import log_context
from stream_app.metrics import route_template

log = logging.getLogger("kilowatch.api.access")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]


def request_id_of(scope: Scope) -> str | None:
    state = scope.get("state") or {}
    value = state.get("request_id")
    return value if isinstance(value, str) else None


class RequestContextMiddleware:
    """Takes the caller's ``X-Request-ID`` when it is sane, else makes one; echoes it."""

    def __init__(
        self, app: Callable[[Scope, Receive, Send], Awaitable[None]], default_lang: Language = "en-US"
    ) -> None:
        self.app, self.default_lang = app, default_lang

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("x-request-id", "")
        request_id = given if _CLIENT_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()
        status_sent = False

        async def send_with_id(message: Any) -> None:
            nonlocal status, status_sent
            if message["type"] == "http.response.start":
                status, status_sent = int(message["status"]), True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        with log_context(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
                if status_sent:
                    raise
                err = ApiError(500, Code.PROCESSING_ERROR, "processing")
                await send_error(scope, send_with_id, err, self.default_lang)
            finally:
                log.info(
                    "%s %s -> %s in %.1f ms",
                    scope.get("method"),
                    route_template(scope),
                    status,
                    (time.perf_counter() - started) * 1000,
                    extra={"http_status": status, "path": scope.get("path")},
                )


async def send_error(scope: Scope, send: Send, err: ApiError, default_lang: Language) -> None:
    """An error envelope sent from a middleware (a body refused before it is read; a 500 without
    internals, its traceback logged)."""
    from urllib.parse import parse_qs

    from api.http.error_handlers import error_body
    from api.http.i18n import negotiate

    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    query = parse_qs((scope.get("query_string") or b"").decode("latin-1"))
    lang = negotiate((query.get("lang") or [None])[0], headers.get("accept-language"), default_lang)
    body = orjson.dumps(error_body(err, lang, request_id_of(scope)))
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in err.headers.items()]
    await send(
        {
            "type": "http.response.start",
            "status": err.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
