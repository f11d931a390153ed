"""Decode one raw Kafka message into a validated ``Reading`` or an ``InvalidReading`` with the reason."""

from __future__ import annotations

import base64
from typing import Literal

import orjson
from pydantic import ValidationError

from schemas.events import Reading
from stream_app.errors import InvalidReading


def _describe(exc: ValidationError) -> str:
    """Field-level, one line: ``value: must be a finite number; timestamp: ...``."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"]) or "payload"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def decode_reading(key: bytes | None, payload: bytes | None, *, max_bytes: int) -> Reading:
    """Parse and validate; the message key supplies ``asset_id`` when the payload has none."""
    if payload is None:
        raise InvalidReading("empty payload (tombstone)")
    if len(payload) > max_bytes:
        raise InvalidReading(f"payload of {len(payload)} bytes exceeds the limit of {max_bytes}")
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidReading(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidReading(f"payload must be a JSON object, got {type(data).__name__}")
    key_id = key.decode("utf-8", "replace") if key else None
    body_id = data.get("asset_id")
    if body_id is None:
        if key_id is None:
            raise InvalidReading("asset_id: missing from payload and message key")
        data["asset_id"] = key_id
    elif key_id is not None and body_id != key_id:
        raise InvalidReading(f"asset_id: payload says {body_id!r} but the message key is {key_id!r}")
    try:
        return Reading.model_validate(data)
    except ValidationError as exc:
        raise InvalidReading(_describe(exc)) from None


def raw_payload_text(payload: bytes | None) -> tuple[str, Literal["utf-8", "base64"]]:
    """The payload as stored in a dead letter: UTF-8 text when possible, else base64."""
    if payload is None:
        return "", "utf-8"
    try:
        return payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(payload).decode("ascii"), "base64"
