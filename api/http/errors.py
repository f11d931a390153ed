"""API errors: one exception type carrying a code, an HTTP status, a message key and details.

Domain errors raised deeper down (registry ``NotFound``, ``RegistryConflict``, invalid input) are
mapped to these at the request boundary by the handlers in :mod:`api.http.error_handlers`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from schemas.errors import KilowatchError


class Code(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    RESOURCE_NOT_FOUND = "RESOURCE_NOT_FOUND"
    FILE_FORMAT_ERROR = "FILE_FORMAT_ERROR"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    PROCESSING_ERROR = "PROCESSING_ERROR"
    MODEL_INFERENCE_ERROR = "MODEL_INFERENCE_ERROR"
    JOB_CANCELED = "JOB_CANCELED"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    CONFLICT = "CONFLICT"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    SMTP_ERROR = "SMTP_ERROR"  # the mail server could not be reached or refused a message (502)


class ApiError(KilowatchError):
    """An error response: ``status`` is the HTTP status, ``key`` picks the translated message."""

    def __init__(
        self,
        status: int,
        code: Code,
        key: str,
        *,
        details: list[dict[str, Any]] | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(f"{code}: {key} {params}")
        self.status, self.code, self.key = status, code, key
        self.details = details
        self.headers = headers or {}
        self.params = params


def not_found(what: str) -> ApiError:
    return ApiError(404, Code.RESOURCE_NOT_FOUND, "not_found", what=what)


RETRY_AFTER_S = 5  # what a 503 asks the caller to wait: backing services reconnect on the next request


def unavailable(what: str) -> ApiError:
    """503 with Retry-After: a backing service (PostgreSQL, Redis, Kafka, the training backend) cannot
    be used now."""
    return ApiError(
        503,
        Code.SERVICE_UNAVAILABLE,
        "unavailable",
        headers={"Retry-After": str(RETRY_AFTER_S)},
        what=what,
    )


def rate_limited(retry_after_s: int, loc: list[str | int], msg: str, kind: str) -> ApiError:
    """429 RATE_LIMITED with Retry-After: a per-key limit is used up; ``loc``, ``msg`` and ``kind``
    name it in the details (as a field error names its field)."""
    return ApiError(
        429,
        Code.RATE_LIMITED,
        "rate_limited",
        headers={"Retry-After": str(retry_after_s)},
        details=[{"loc": loc, "msg": msg, "type": kind}],
        retry_after=retry_after_s,
    )


def conflict(reason: str) -> ApiError:
    return ApiError(409, Code.CONFLICT, "conflict", reason=reason)


def field_error(loc: list[str | int], msg: str, kind: str = "value_error", status: int = 422) -> ApiError:
    """One field-level validation error (``loc`` as pydantic gives it, e.g. ["body", "points", 3])."""
    return ApiError(
        status,
        Code.VALIDATION_ERROR,
        "validation",
        details=[{"loc": loc, "msg": msg, "type": kind}],
    )


def bad_request(reason: str, loc: list[str | int] | None = None) -> ApiError:
    """400 for input that is well-formed but unusable (unsorted, duplicates, too short ...)."""
    details = [{"loc": loc or ["body"], "msg": reason, "type": "value_error"}]
    return ApiError(400, Code.VALIDATION_ERROR, "validation", details=details)
