"""The response envelope every route uses, and the error body (documented in OpenAPI for every route).

Success: ``{"status": "success", "data": ..., "meta": {"next_cursor": ..., "has_more": ...}}``;
error: ``{"status": "error", "error": {"code", "message", "details"}, "request_id": ...}``.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Meta(BaseModel):
    """Pagination of list routes (``next_cursor`` is null on the last page)."""

    next_cursor: str | None = None
    has_more: bool = False


class Envelope(BaseModel, Generic[T]):
    status: Literal["success"] = "success"
    data: T
    meta: Meta | None = None


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable code, e.g. VALIDATION_ERROR.")
    message: str = Field(description="Human-readable message in the negotiated language.")
    details: list[dict[str, Any]] | dict[str, Any] | None = Field(
        None, description="Field-level details: [{loc, msg, type}] for validation errors."
    )


class ErrorResponse(BaseModel):
    status: Literal["error"] = "error"
    error: ErrorDetail
    request_id: str | None = None


def ok(data: T, meta: Meta | None = None) -> Envelope[T]:
    return Envelope[T](data=data, meta=meta)


def _err(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


# Documented on every route so clients (and schemathesis) know each error's shape.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _err("Unusable input (VALIDATION_ERROR with field details)."),
    401: _err("Missing or invalid API key (UNAUTHORIZED)."),
    403: _err("The key lacks the scope (FORBIDDEN)."),
    404: _err("Unknown resource (RESOURCE_NOT_FOUND)."),
    405: _err("Method not allowed on this path."),
    413: _err("Body too large (FILE_TOO_LARGE)."),
    422: _err("Invalid fields (VALIDATION_ERROR with field details)."),
    429: _err("Rate limit hit (RATE_LIMITED, Retry-After header)."),
    503: _err("A backing service is unavailable (SERVICE_UNAVAILABLE)."),
}
