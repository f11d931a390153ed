"""Request body limits, enforced before the body is read, parsed or the key is verified (pure ASGI).

- Each route has a limit: ``POST /readings`` and predict/detect take ``api_max_body_bytes``, every other
  route ``api_small_body_bytes``. A declared Content-Length over it is answered 413 at once, without
  reading a byte; a chunked body is counted while it streams and refused (413) as soon as it is over.
- A body sent to ``/api/v1`` without a well-formed ``Authorization: Bearer kw_...`` key (or a well-formed
  console session cookie) is answered 401 at once: nobody unauthenticated makes the API read, buffer or
  parse a body. The sign-in route (``open_paths``) takes its small body without either.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import cookie_parser

from api.http.errors import ApiError, Code

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
Reply = Callable[[Scope, Send, ApiError], Awaitable[None]]

API_PREFIX = "/api/v1/"
_BULK = re.compile(r"^/api/v1/(readings|assets/.+/(predict|detect_anomalies))/?$")
_UPLOAD = re.compile(r"^/api/v1/datasets/?$")  # multipart dataset files (api_upload_max_bytes)
_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


@dataclass(frozen=True)
class BodyLimits:
    bulk: int  # readings batches, predict/detect
    small: int  # everything else
    upload: int = 0  # POST /datasets (the file plus the multipart envelope); 0 = small

    def of(self, method: str, path: str) -> int:
        if self.upload and method == "POST" and _UPLOAD.match(path):
            return self.upload
        return self.bulk if method == "POST" and _BULK.match(path) else self.small


class BodyTooLarge(StarletteHTTPException):
    """Raised by the counting ``receive`` once a streamed body passes its route's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413)
        self.limit = limit


def too_large(limit: int) -> ApiError:
    return ApiError(413, Code.FILE_TOO_LARGE, "too_large", limit=limit)


def _has_body(method: str, headers: dict[bytes, bytes]) -> bool:
    declared = headers.get(b"content-length", b"")
    if declared.strip() not in (b"", b"0"):
        return True
    return b"transfer-encoding" in headers and method not in _BODYLESS


def _bearer(headers: dict[bytes, bytes]) -> str | None:
    value = headers.get(b"authorization", b"").decode("latin-1").strip()
    scheme, _, key = value.partition(" ")
    return key.strip() if scheme.lower() == "bearer" else None


def _cookie(headers: dict[bytes, bytes], name: str) -> str | None:
    raw = headers.get(b"cookie")
    return cookie_parser(raw.decode("latin-1")).get(name) if raw else None


class BodyLimitMiddleware:
    """``key_ok`` tells a well-formed key, ``session_ok`` a well-formed session cookie (their shape only:
    verifying them is the route's job); ``open_paths`` take a body from anyone (sign-in)."""

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        limits: BodyLimits,
        key_ok: Callable[[str], bool],
        reply: Reply,
        session_cookie: str = "",
        session_ok: Callable[[str], bool] = lambda _token: False,
        open_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app, self.limits, self.key_ok, self.reply = app, limits, key_ok, reply
        self.session_cookie, self.session_ok, self.open_paths = session_cookie, session_ok, open_paths

    def _credentials_shaped(self, headers: dict[bytes, bytes], path: str) -> bool:
        key = _bearer(headers)
        if key is not None or b"authorization" in headers:
            return bool(key and self.key_ok(key))
        if path in self.open_paths:
            return True
        token = _cookie(headers, self.session_cookie) if self.session_cookie else None
        return bool(token and self.session_ok(token))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope.get("method", "GET"), scope.get("path", "")
        headers = dict(scope.get("headers") or [])
        limit = self.limits.of(method, path)
        declared = headers.get(b"content-length", b"").strip()
        if declared.isdigit() and int(declared) > limit:
            await self.reply(scope, send, too_large(limit))
            return
        if (
            path.startswith(API_PREFIX)
            and _has_body(method, headers)
            and not self._credentials_shaped(headers, path)
        ):
            err = ApiError(401, Code.UNAUTHORIZED, "unauthorized", headers={"WWW-Authenticate": "Bearer"})
            await self.reply(scope, send, err)
            return
        received = 0

        async def counted() -> Any:
            nonlocal received
            message = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)
