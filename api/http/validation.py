"""Checks shared by request models for free-form JSON (asset metadata, training params)."""

from __future__ import annotations

from typing import Any

import orjson


def storable_json(v: Any, what: str, max_bytes: int) -> Any:
    """``v`` if PostgreSQL's jsonb can store it within ``max_bytes``; else a ValueError naming ``what``
    (pydantic turns it into a 422 with the field's loc)."""
    try:
        raw = orjson.dumps(v)
    except TypeError:  # integers beyond 64 bits, values JSON cannot carry
        raise ValueError(f"{what} may hold only JSON values with 64-bit integers") from None
    if len(raw) > max_bytes:
        raise ValueError(f"{what} must be at most {max_bytes} bytes of JSON")
    if b"\\u0000" in raw:
        raise ValueError(f"{what} may not contain NUL characters")
    return v
