"""Payload models of every topic. Timestamps are timezone-aware UTC; floats are finite."""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

ASSET_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
MAX_COVARIATES = 32
# The largest magnitude of a reading's value or covariate, wherever readings enter (Kafka, POST /readings,
# the inference routes): beyond it the models' arithmetic (squares of errors) would overflow. The one
# source of truth: the stream's fast decoder and the API's inference bodies import it from here.
MAX_ABS = 1e15
# A dead letter keeps at most this much of a message: its first bytes, with the size and hash of the
# whole (JSON-escaping control characters can make 16 KiB of payload ~96 KiB of dead letter).
DEAD_LETTER_PAYLOAD_BYTES = 16 * 1024
DEAD_LETTER_KEY_BYTES = 1024
# Namespace of deterministic anomaly event ids (uuid5); never change it, consumers de-duplicate by id.
EVENT_NAMESPACE = uuid.UUID("6f1c3f0e-2d7a-5b7e-9a53-6b696c6f7761")

# The anomaly kinds. Their order is part of the worker's state record (scoring.state stores the
# position): append new kinds at the end, never reorder.
AnomalyKind = Literal["spike", "dip", "sustained_high", "sustained_low", "pattern_shift", "flatline"]
ANOMALY_KINDS: tuple[AnomalyKind, ...] = get_args(AnomalyKind)
# scored: in time order, learned unless flagged; late: older than the asset's newest reading (scored,
# never learned, never flagged); duplicate: same timestamp and value as the newest reading (skipped).
ReadingStatus = Literal["scored", "late", "duplicate"]
# Covariate names (a reading's extra numeric fields): identifiers of at most 64 characters.
COVARIATE_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
# A reading's unit: up to 16 printable characters (no control characters: they end up in logs and UIs).
UNIT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
# The earliest reading time accepted: a meter dated before the Unix epoch has a clock that was never set
# (the far-future bound is the worker's clock-skew rule, core.decode.too_far_ahead).
MIN_READING_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def _to_utc(v: datetime) -> datetime:
    """Naive timestamps are taken as UTC; offset timestamps are converted to UTC (a time whose UTC
    form is outside years 1-9999, e.g. 9999-12-31T23:00:00-05:00, is refused)."""
    if v.tzinfo is None:
        return v.replace(tzinfo=UTC)
    try:
        return v.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError("must be a finite number (NaN and infinity are rejected)")
    return v


def _bounded(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError("must be a finite number (NaN and infinity are rejected)")
    if not -MAX_ABS <= v <= MAX_ABS:
        raise ValueError(f"magnitude {v!r} is out of range: must be between -1e15 and 1e15")
    return v


_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")


def _no_number(v: Any) -> Any:
    """A reading's timestamp is ISO 8601 text: a bare number could be seconds or milliseconds (and
    so could a number in a string, which pydantic would take as Unix seconds)."""
    if isinstance(v, int | float) or (isinstance(v, str) and not _DATE_TEXT.match(v)):
        raise ValueError(
            "must be an ISO 8601 string starting YYYY-MM-DD (a number could be seconds or milliseconds)"
        )
    return v


def _not_before_epoch(v: datetime) -> datetime:
    if v < MIN_READING_TIME:
        raise ValueError("is before 1970-01-01T00:00:00Z: the meter's clock was never set")
    return v


UtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]
# A reading's time as devices send it: text, UTC after conversion, not before the Unix epoch.
ReadingTime = Annotated[
    datetime, BeforeValidator(_no_number), AfterValidator(_to_utc), AfterValidator(_not_before_epoch)
]
FiniteFloat = Annotated[float, Field(allow_inf_nan=True), AfterValidator(_finite)]
# A measured quantity as it enters kilowatch: finite and within ±MAX_ABS (readings and covariates).
MeterFloat = Annotated[
    float,
    Field(allow_inf_nan=True, json_schema_extra={"minimum": -MAX_ABS, "maximum": MAX_ABS}),
    AfterValidator(_bounded),
]
AssetId = Annotated[
    str, Field(pattern=ASSET_ID_PATTERN, description="Meter / asset identifier; the topic key.")
]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Reading(_Event):
    """One meter reading. Unknown top-level numeric fields (``temp``, ``production``...) become covariates."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, title="Reading")

    asset_id: AssetId
    timestamp: ReadingTime = Field(
        description="ISO 8601 text; naive = UTC, offsets converted to UTC; not before 1970-01-01."
    )
    value: MeterFloat = Field(
        strict=True,
        description="Consumption (or any metered quantity) at `timestamp`; finite, |value| <= 1e15.",
    )
    unit: str | None = Field(
        None, max_length=16, pattern=UNIT_PATTERN, description="e.g. kWh, kW, MW (printable characters)."
    )
    covariates: dict[Annotated[str, Field(pattern=COVARIATE_NAME)], MeterFloat] = Field(
        default_factory=dict,
        description="Exogenous values sent with the reading (temp, production ...); finite, |v| <= 1e15.",
    )

    @model_validator(mode="before")
    @classmethod
    def _collect_covariates(cls, data: Any) -> Any:
        """Devices send covariates as top-level fields; fold them into ``covariates``."""
        if not isinstance(data, dict):
            return data
        known = {"asset_id", "timestamp", "value", "unit", "covariates"}
        extra = {k: v for k, v in data.items() if k not in known}
        if not extra:
            return data
        cov = dict(data.get("covariates") or {})
        for k, v in extra.items():
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ValueError(f"unknown field {k!r}: extra fields must be numeric covariates")
            cov[k] = v
        if len(cov) > MAX_COVARIATES:
            raise ValueError(f"at most {MAX_COVARIATES} covariates per reading")
        return {**{k: v for k, v in data.items() if k in known}, "covariates": cov}

    @field_validator("covariates")
    @classmethod
    def _bounded(cls, v: dict[str, float]) -> dict[str, float]:
        if len(v) > MAX_COVARIATES:
            raise ValueError(f"at most {MAX_COVARIATES} covariates per reading")
        return v


# A wire timestamp: years 1971-9998 (whatever the offset, after the epoch and within year 9999 in
# UTC), seconds 00-59 (no leap second: Python's datetime has none).
_WIRE_TIME = (
    "^(19[89][0-9]|197[1-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
    "-[0-9]{2}-[0-9]{2}.[0-9]{2}:[0-9]{2}:[0-5][0-9]"
)


def _wire_form(schema: dict[str, Any]) -> None:
    """The JSON Schema of a reading as devices publish it: covariates as top-level numeric fields
    (at most ``MAX_COVARIATES``, named like identifiers), not a ``covariates`` object; the number
    of fields is bounded accordingly (``asset_id`` and ``unit`` are optional)."""
    props = schema["properties"]
    props.pop("covariates")
    props["timestamp"]["pattern"] = _WIRE_TIME
    props["timestamp"]["description"] = (
        "RFC 3339 date-time (naive = UTC is also taken); the schema asks for years 1971-9998, the "
        "worker takes anything from 1970-01-01T00:00:00Z, and dead-letters readings dated further ahead of "
        "its clock than max_clock_skew_s."
    )
    schema["additionalProperties"] = {
        "type": "number",
        "minimum": -MAX_ABS,
        "maximum": MAX_ABS,
        "description": "A covariate (temp, production ...): finite, |v| <= 1e15.",
    }
    schema["propertyNames"] = {
        "anyOf": [{"enum": sorted(props)}, {"pattern": COVARIATE_NAME, "not": {"const": "covariates"}}]
    }
    most = 2 + MAX_COVARIATES  # timestamp, value and the covariates
    schema["if"] = {"required": ["asset_id", "unit"]}
    schema["then"] = {"maxProperties": most + 2}
    schema["else"] = {
        "if": {"anyOf": [{"required": ["asset_id"]}, {"required": ["unit"]}]},
        "then": {"maxProperties": most + 1},
        "else": {"maxProperties": most},
    }


class ReadingMessage(Reading):
    """A reading as published to the readings topic (the wire form; the worker's decoder,
    ``stream_app.core.decode.decode_reading``, applies it).

    The asset id travels in the message key, in the body's ``asset_id``, or both: when both are
    there they must be equal; when neither is, the message is dead-lettered. The key is the asset
    id as UTF-8 (an empty key counts as none). Every other numeric top-level field is a covariate."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        str_strip_whitespace=True,
        title="ReadingMessage",
        json_schema_extra=_wire_form,
    )

    asset_id: AssetId | None = Field(  # type: ignore[assignment]
        None,
        description="Meter / asset identifier; may be left out when the message key carries it "
        "(if both are given they must be equal).",
    )


class ForecastPointModel(_Event):
    model_config = ConfigDict(frozen=True, extra="forbid", title="ForecastPoint")

    timestamp: UtcDatetime
    predicted_value: FiniteFloat
    lower: FiniteFloat
    upper: FiniteFloat


class Forecast(_Event):
    """A forecast of one asset for the next ``len(points)`` steps."""

    asset_id: AssetId
    issued_at: UtcDatetime = Field(description="Timestamp of the last reading the forecast used.")
    model_id: str = Field(description="Model family, e.g. online-seasonal, lightgbm.")
    model_version: str
    points: list[ForecastPointModel] = Field(min_length=1)


class Anomaly(_Event):
    """A flagged reading. ``event_id`` is deterministic so consumers can de-duplicate redeliveries."""

    event_id: uuid.UUID = Field(description="uuid5 of asset_id, timestamp and detector.")
    asset_id: AssetId
    timestamp: UtcDatetime
    value: FiniteFloat
    expected: FiniteFloat
    lower: FiniteFloat
    upper: FiniteFloat
    score: float = Field(
        ge=0.0, le=1.0, description="Calibrated: on normal data P(score >= s) is about 1 - s."
    )
    type: AnomalyKind
    reason: str = Field(description='Human explanation, e.g. "Exceeds predicted value by 45%".')
    detector: str
    model_version: str
    detected_at: UtcDatetime = Field(description="Wall-clock time the worker scored the reading.")


class ScoreRecord(_Event):
    """Every scored reading (optional audit stream, setting ``emit_scores``)."""

    asset_id: AssetId
    timestamp: UtcDatetime
    value: FiniteFloat
    expected: FiniteFloat
    score: float = Field(ge=0.0, le=1.0)
    status: ReadingStatus
    is_anomaly: bool
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)


class TrainingRequest(_Event):
    """Ask for a new model version of one asset."""

    request_id: uuid.UUID
    asset_id: AssetId
    model_type: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    data_url: str | None = Field(
        None, max_length=2048, description="http(s):// or file:// CSV; None = history."
    )
    requested_at: UtcDatetime


class ModelUpdated(_Event):
    """A model version became active (promotion or rollback); every worker swaps to it."""

    asset_id: AssetId
    model_id: str
    model_version: str
    model_type: str
    artifact_uri: str
    action: Literal["promoted", "rolled_back"]
    updated_at: UtcDatetime


class DeadLetter(_Event):
    """A message that could not be used, with where it came from and why.

    Bounded whatever arrived: the payload is its first ``DEAD_LETTER_PAYLOAD_BYTES`` bytes (with the
    size and SHA-256 of the whole), the key its first ``DEAD_LETTER_KEY_BYTES``, so a dead letter of any
    message fits the dead-letter topic (a poison message costs one dead letter, never the worker)."""

    source_topic: str
    partition: int
    offset: int
    key: str | None = Field(
        description="Message key, UTF-8 (undecodable bytes replaced), at most 1 KiB of it."
    )
    payload: str = Field(
        description="The raw payload (its first 16 KiB when truncated): UTF-8 text, or base64 when not UTF-8."
    )
    payload_encoding: Literal["utf-8", "base64"]
    payload_bytes: int | None = Field(None, ge=0, description="Size of the whole raw payload.")
    payload_sha256: str | None = Field(None, description="SHA-256 (hex) of the whole raw payload.")
    payload_truncated: bool = Field(False, description="True when ``payload`` holds only the first 16 KiB.")
    error: str
    received_at: UtcDatetime


class AssetReset(_Event):
    """Admin control message: forget one asset's detector state (``kilowatch reset-asset``,
    ``POST /api/v1/assets/{id}/reset``).

    Published to the *readings* topic keyed by ``asset_id``, so it lands in the asset's partition and
    reaches the one worker that owns the asset's state, in order with its readings: readings before it
    are scored with the old state, readings after it start from a fresh one. That worker deletes
    (tombstones) the asset's state records in its table and changelog and drops its cached state. A
    payload with a ``control`` field is never a reading (readings have numeric extra fields only)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, title="AssetReset")

    control: Literal["reset_asset"] = Field(description="Marks a control message on the readings topic.")
    reset_id: uuid.UUID = Field(description="Unique per request; names it in the audit log and worker logs.")
    asset_id: AssetId
    requested_by: str = Field(min_length=1, max_length=200, description="API key prefix/name, or cli:<user>.")
    reason: str = Field("", max_length=500, description="Free text from the operator.")
    requested_at: UtcDatetime


def anomaly_event_id(asset_id: str, timestamp: datetime, detector: str) -> uuid.UUID:
    """Deterministic id: the same reading scored twice (redelivery, restart) yields the same event."""
    ts = _to_utc(timestamp).isoformat()
    return uuid.uuid5(EVENT_NAMESPACE, f"{asset_id}|{ts}|{detector}")


def utc_now() -> datetime:
    return datetime.now(UTC)
