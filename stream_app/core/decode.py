"""Decode one raw Kafka message into a validated ``Reading`` or an ``InvalidReading`` with the reason."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Literal, NamedTuple

import orjson
from pydantic import ValidationError

from schemas.errors import InvalidReading
from schemas.events import (
    ASSET_ID_PATTERN,
    COVARIATE_NAME,
    DEAD_LETTER_KEY_BYTES,
    DEAD_LETTER_PAYLOAD_BYTES,
    MAX_ABS,
    MAX_COVARIATES,
    MIN_READING_TIME,
    AssetReset,
    DeadLetter,
    Reading,
)


def _describe(exc: ValidationError) -> str:
    """Field-level, one line: ``value: must be a finite number; timestamp: ...``."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"]) or "payload"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def decode_reading(key: bytes | None, payload: bytes | None, *, max_bytes: int) -> Reading:
    """Parse and validate the wire form (``schemas.events.ReadingMessage``): the message key supplies
    ``asset_id`` when the payload has none; when both have it they must be equal. The asset id is
    taken exactly as sent (no whitespace stripped: a key of " m1" would hash to another partition
    than "m1", splitting one asset's state)."""
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
    asset = data["asset_id"]
    if type(asset) is str and not _ASSET_ID.fullmatch(asset):
        raise InvalidReading(f"asset_id: {asset[:140]!r} does not match {ASSET_ID_PATTERN}")
    try:
        return Reading.model_validate(data)
    except ValidationError as exc:
        raise InvalidReading(_describe(exc)) from None


def decode_control(key: bytes | None, payload: bytes | None, *, max_bytes: int) -> AssetReset | None:
    """The control message in a readings-topic payload, ``None`` when it is not one (a payload
    without a ``control`` field). Only called for payloads that failed as readings, so the hot path
    never pays for it. A malformed control message, or one whose key is not its asset, is refused
    with the reason (``InvalidReading``: it is dead-lettered like a bad reading)."""
    if payload is None or len(payload) > max_bytes:
        return None
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or "control" not in data:
        return None
    try:
        event = AssetReset.model_validate(data)
    except ValidationError as exc:
        raise InvalidReading(f"control message: {_describe(exc)}") from None
    if key is None or key.decode("utf-8", "replace") != event.asset_id:
        # Keyed by asset_id, or it would not reach the partition (and the worker) that holds the asset.
        raise InvalidReading(f"control message: the message key must be the asset_id {event.asset_id!r}")
    return event


class DeadPayload(NamedTuple):
    """A message payload as a dead letter carries it (bounded, see ``schemas.events.DeadLetter``)."""

    text: str
    encoding: Literal["utf-8", "base64"]
    size: int
    sha256: str
    truncated: bool


def dead_payload(payload: bytes | None) -> DeadPayload:
    """The first ``DEAD_LETTER_PAYLOAD_BYTES`` of a payload as text (UTF-8 when it is, else base64),
    with the size and SHA-256 of the whole. A UTF-8 payload cut inside a character keeps its whole
    characters."""
    raw = payload or b""
    head = raw[:DEAD_LETTER_PAYLOAD_BYTES]
    truncated = len(raw) > len(head)
    digest = hashlib.sha256(raw).hexdigest()
    try:
        return DeadPayload(head.decode("utf-8"), "utf-8", len(raw), digest, truncated)
    except UnicodeDecodeError as exc:
        if truncated and exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            return DeadPayload(head[: exc.start].decode("utf-8"), "utf-8", len(raw), digest, True)
        return DeadPayload(base64.b64encode(head).decode("ascii"), "base64", len(raw), digest, truncated)


def dead_key_bytes(key: bytes | None) -> bytes | None:
    """The Kafka key a dead letter is produced with: the message's, at most 1 KiB of it."""
    return key[:DEAD_LETTER_KEY_BYTES] if key is not None else None


def dead_key(key: bytes | None) -> str | None:
    """A message key as a dead letter carries it: UTF-8 (bad bytes replaced), at most 1 KiB of it."""
    cut = dead_key_bytes(key)
    return cut.decode("utf-8", "replace") if cut is not None else None


MAX_ERROR_CHARS = 2000


def dead_letter(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: str,
    received_at: datetime,
) -> DeadLetter:
    """The dead letter of one message, bounded in every field whatever the message holds."""
    body = dead_payload(value)
    return DeadLetter(
        source_topic=topic,
        partition=partition,
        offset=offset,
        key=dead_key(key),
        payload=body.text,
        payload_encoding=body.encoding,
        payload_bytes=body.size,
        payload_sha256=body.sha256,
        payload_truncated=body.truncated,
        error=error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 1] + "…",
        received_at=received_at,
    )


NO_COVARIATES: Mapping[str, float] = MappingProxyType({})


class DecodedReading(NamedTuple):
    """What scoring needs of a reading: asset, epoch seconds (UTC), value and its covariates (the
    reading's extra numeric fields: a trained model that was trained with them reads them)."""

    asset_id: str
    ts: float
    value: float
    covariates: Mapping[str, float] = NO_COVARIATES


_ASSET_ID = re.compile(ASSET_ID_PATTERN)
_COVARIATE = re.compile(COVARIATE_NAME)
_FIELDS = frozenset(("asset_id", "timestamp", "value", "unit"))
_MIN_TS = MIN_READING_TIME.timestamp()


def _fast(key: bytes | None, data: dict[str, object]) -> DecodedReading | None:
    """The common well-formed reading, checked by hand; ``None`` = let pydantic decide.

    Every check here is stricter than (or equal to) the ``Reading`` model, so a payload accepted
    here is one the model accepts with the same values (a unit test compares both on a corpus)."""
    asset = data.get("asset_id")
    if asset is None and key is not None:
        try:
            asset = key.decode("utf-8")
        except UnicodeDecodeError:
            return None
    elif key is not None and asset != key.decode("utf-8", "replace"):
        return None
    if type(asset) is not str or not _ASSET_ID.match(asset) or asset[-1].isspace():
        return None
    value = data.get("value")
    # The comparison also refuses NaN and infinity (every comparison with NaN is false); an int is
    # compared exactly, as the model compares it after its (exact, below 2**53) conversion.
    if (type(value) is not float and type(value) is not int) or not -MAX_ABS <= value <= MAX_ABS:
        return None
    stamp = data.get("timestamp")
    if (
        type(stamp) is not str
        or len(stamp) < 10
        or stamp[4] != "-"
        or stamp[7] != "-"
        or stamp != stamp.strip()
    ):
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if when.year == 9999:  # an offset may carry it past year 9999 in UTC: the model refuses that
        return None
    unit = data.get("unit")
    if unit is not None and (
        type(unit) is not str or len(unit) > 16 or unit != unit.strip() or not unit.isprintable()
    ):
        return None
    covariates = NO_COVARIATES
    if len(data) > 2:
        extra = [k for k in data if k not in _FIELDS]
        if len(extra) > MAX_COVARIATES:
            return None
        found: dict[str, float] = {}
        for k in extra:
            v = data[k]
            if (
                (type(v) is not float and type(v) is not int)
                or not -MAX_ABS <= v <= MAX_ABS
                or not _COVARIATE.match(k)
            ):
                return None
            found[k] = float(v)
        if found:
            covariates = found
    ts = (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp()
    if ts < _MIN_TS:
        return None
    return DecodedReading(asset, ts, float(value), covariates)


def decode_fast(key: bytes | None, payload: bytes | None, *, max_bytes: int) -> DecodedReading:
    """``decode_reading`` for the hot path: hand checks for the common case, the model otherwise."""
    if payload is not None and len(payload) <= max_bytes:
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            data = None
        if type(data) is dict:
            hit = _fast(key, data)
            if hit is not None:
                return hit
    reading = decode_reading(key, payload, max_bytes=max_bytes)
    return DecodedReading(
        reading.asset_id,
        reading.timestamp.timestamp(),
        reading.value,
        dict(reading.covariates) if reading.covariates else NO_COVARIATES,
    )


def too_far_ahead(ts: float, now: float, max_skew_s: float) -> bool:
    """The clock-skew rule: a reading dated more than ``max_skew_s`` after ``now`` (epoch seconds) is
    refused (the worker dead-letters it, the API's POST /readings answers 422)."""
    return ts > now + max_skew_s
