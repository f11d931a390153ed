"""Every error leaves as the error envelope with a translated message and the request id.

Domain errors of the layers below are mapped here, at the request boundary; anything unexpected is
logged with its traceback and answered 500 PROCESSING_ERROR without internals. An outage of a backing
service (:mod:`api.http.outages`) is answered 503 with Retry-After.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.http.body_limits import BodyTooLarge, too_large
from api.http.errors import ApiError, Code, unavailable
from api.http.i18n import Language, language, message
from api.http.outages import OUTAGE_ERRORS, service_of
from schemas.jobs import InvalidTransition
from stream_app.store.repository import NotFound, RegistryConflict

log = logging.getLogger(__name__)


def _details(errors: Any) -> list[dict[str, Any]]:
    """pydantic errors without the offending input (it may be huge or secret)."""
    out = []
    for e in errors:
        out.append(
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        )
    return out


def error_body(err: ApiError, lang: Language, request_id: str | None) -> dict[str, Any]:
    return {
        "status": "error",
        "error": {
            "code": str(err.code),
            "message": message(err.key, lang, **err.params),
            "details": err.details,
        },
        "request_id": request_id,
    }


def error_response(request: Request, err: ApiError) -> JSONResponse:
    body = error_body(err, language(request), getattr(request.state, "request_id", None))
    return JSONResponse(body, status_code=err.status, headers=err.headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(
            request, ApiError(422, Code.VALIDATION_ERROR, "validation", details=_details(exc.errors()))
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            err = ApiError(404, Code.RESOURCE_NOT_FOUND, "route_not_found")
        elif exc.status_code == 405:
            err = ApiError(405, Code.VALIDATION_ERROR, "method_not_allowed")
        elif isinstance(exc, BodyTooLarge):
            err = too_large(exc.limit)
        elif exc.status_code in (401, 403):
            err = ApiError(401, Code.UNAUTHORIZED, "unauthorized", headers={"WWW-Authenticate": "Bearer"})
        else:
            err = ApiError(exc.status_code, Code.VALIDATION_ERROR, "bad_request", reason=str(exc.detail))
        return error_response(request, err)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return error_response(request, ApiError(404, Code.RESOURCE_NOT_FOUND, "missing", what=str(exc)))

    @app.exception_handler(RegistryConflict)
    @app.exception_handler(InvalidTransition)
    async def _conflict(request: Request, exc: Exception) -> JSONResponse:
        return error_response(request, ApiError(409, Code.CONFLICT, "conflict", reason=str(exc)))

    @app.exception_handler(asyncpg.DataError)
    async def _unstorable(request: Request, exc: asyncpg.DataError) -> JSONResponse:
        # Values JSON allows but PostgreSQL cannot store (a NUL character in text or jsonb ...).
        detail = {"loc": ["body"], "msg": f"a value cannot be stored: {exc}", "type": "value_error"}
        return error_response(request, ApiError(422, Code.VALIDATION_ERROR, "validation", details=[detail]))

    async def _outage(request: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL or Redis (or a socket) went away mid-request: 503 + Retry-After, no traceback.
        what = service_of(exc)
        log.warning("%s unavailable on %s %s: %r", what, request.method, request.url.path, exc)
        return error_response(request, unavailable(what))

    for kind in OUTAGE_ERRORS:
        app.add_exception_handler(kind, _outage)

    # Anything else is answered by RequestContextMiddleware (500 PROCESSING_ERROR, logged there).
