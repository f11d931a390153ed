"""Request context (pure ASGI): a request id on every response and log line, a body-size limit, and
one access-log line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    """Takes the caller's ``X-Request-ID`` when it is sane, else makes one; echoes it; refuses bodies
    over ``max_body`` bytes (413) by Content-Length or while streaming."""

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        max_body: int,
        default_lang: Language = "en-US",
    ) -> None:
        self.app, self.max_body, self.default_lang = app, max_body, default_lang

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("x-request-id", "")
        request_id = given if _CLIENT_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        declared = headers.get("content-length", "")
        too_large = declared.isdigit() and int(declared) > self.max_body
        status = 500
        started = time.perf_counter()
        received = 0
        limit = self.max_body

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # a chunked body that grew too large (FastAPI re-raises these)
                    raise StarletteHTTPException(413)
            return message

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
                if too_large:
                    err = ApiError(413, Code.FILE_TOO_LARGE, "too_large", limit=self.max_body)
                    await self._reply(scope, headers, request_id, send_with_id, err)
                else:
                    await self.app(scope, limited_receive, send_with_id)
            except Exception:
                log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
                if status_sent:
                    raise
                err = ApiError(500, Code.PROCESSING_ERROR, "processing")
                await self._reply(scope, headers, request_id, send_with_id, err)
            finally:
                log.info(
                    "%s %s -> %s in %.1f ms",
                    scope.get("method"),
                    route_template(scope),
                    status,
                    (time.perf_counter() - started) * 1000,
                    extra={"http_status": status, "path": scope.get("path")},
                )

    async def _reply(
        self, scope: Scope, headers: dict[str, str], request_id: str, send: Send, err: ApiError
    ) -> None:
        """An error envelope sent from here (body too large; 500 without internals, traceback logged)."""
        from urllib.parse import parse_qs

        from api.http.error_handlers import error_body
        from api.http.i18n import negotiate

        query = parse_qs((scope.get("query_string") or b"").decode("latin-1"))
        lang = negotiate((query.get("lang") or [None])[0], headers.get("accept-language"), self.default_lang)
        body = orjson.dumps(error_body(err, lang, request_id))
        await send(
            {
                "type": "http.response.start",
                "status": err.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
