"""The response envelope every route uses, and the error body (documented in OpenAPI for every route).

Success: ``{"status": "success", "data": ..., "meta": {"next_cursor": ..., "has_more": ...}}``; a list
route answers ``data: {"items": [...], "next_cursor": ..., "has_more": ...}`` (:class:`Page`, built by
:func:`ok_page`), with the same paging values repeated in ``meta`` for clients of the old shape;
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


class Page(BaseModel, Generic[T]):
    """One page of a list route: the rows and how to get the next page."""

    items: list[T]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last.")
    has_more: bool = Field(False, description="Whether another page exists.")


def ok(data: T, meta: Meta | None = None) -> Envelope[T]:
    return Envelope[T](data=data, meta=meta)


def ok_page(items: list[T], meta: Meta) -> Envelope[Page[T]]:
    """A list route's answer: ``data.items`` plus the paging fields (also in ``meta``)."""
    page = Page[T](items=items, next_cursor=meta.next_cursor, has_more=meta.has_more)
    return Envelope[Page[T]](data=page, meta=meta)


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
