"""Datasets (issue 17): uploaded consumption files, their detection, preprocessing and public shapes.

Values are stored as kWh per interval after the upload's unit conversion; timestamps are instants
(``timestamptz``), shown in the dataset's ``timezone``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # the documented limit of POST /datasets
MAX_NAME = 200


class DatasetStatus(StrEnum):
    READY = "ready"  # uploaded and parsed: analytics run on the readings as uploaded
    PROCESSING = "processing"  # a preprocess job is running
    PROCESSED = "processed"  # a preprocessed series exists and analytics use it


class EnergyUnit(StrEnum):
    WH = "Wh"
    KWH = "kWh"
    MWH = "MWh"
    KW = "kW"  # mean power over the interval: kWh = kW x interval hours


class FileFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


def check_timezone(v: str) -> str:
    """An IANA zone name (``Europe/Paris``) or ``UTC``; ValueError otherwise."""
    if not v or len(v) > 64 or v.startswith(("/", ".")) or ".." in v:
        raise ValueError("not an IANA time zone name (e.g. Europe/Paris)")
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {v!r} (IANA names, e.g. Europe/Paris)") from None
    return v


class IngestOptions(BaseModel):
    """What the uploader may set instead of the detection (every field optional)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=MAX_NAME)
    timestamp_column: str | None = Field(None, min_length=1, max_length=200)
    value_column: str | None = Field(None, min_length=1, max_length=200)
    timezone: str | None = Field(
        None, description="IANA zone of naive timestamps (default UTC) and of the dataset's display."
    )
    unit: EnergyUnit | None = None
    scale: float = Field(
        1.0,
        gt=0,
        le=1e9,
        allow_inf_nan=False,
        description="Multiplies the values before the unit conversion (e.g. 1/60 for an hourly sum of "
        "minute-average kW).",
    )
    sheet: str | None = Field(None, min_length=1, max_length=200, description="Excel: the sheet to read.")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return None if v is None else check_timezone(v)


class Detection(BaseModel):
    """What the upload found (and what was overridden)."""

    timestamp_column: str
    value_column: str
    columns: list[str]
    timezone: str
    timezone_source: Literal["offsets", "override", "default"]
    unit: EnergyUnit
    unit_source: Literal["column name", "override", "default"]
    scale: float
    interval_s: int
    rows_read: int
    missing_values: int = Field(description="Rows kept with no usable value (empty, text, non-finite).")
    duplicates_dropped: int = Field(description="Rows with an already seen timestamp (the first is kept).")
    dst_dropped: int = Field(
        0, description="Naive local times that do not exist or are ambiguous at a clock change (dropped)."
    )
    sheet: str | None = None


class DatasetPublic(BaseModel):
    id: UUID
    name: str
    status: DatasetStatus
    file_name: str
    file_format: FileFormat
    file_bytes: int
    timezone: str
    unit: EnergyUnit = Field(description="Unit of the file; stored values are kWh per interval.")
    interval_s: int
    row_count: int
    start_at: datetime | None
    end_at: datetime | None
    detection: dict[str, Any]
    processed: dict[str, Any] | None = Field(None, description="Summary of the latest preprocessing.")
    created_at: datetime
    updated_at: datetime


class DatasetPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=MAX_NAME)
    timezone: str | None = Field(None, description="IANA zone the dataset is shown and analysed in.")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return None if v is None else check_timezone(v)


class DataPoint(BaseModel):
    timestamp: datetime
    value: float | None = Field(description="kWh in the interval; null = missing.")


class DataPage(BaseModel):
    """``format=compact`` sends ``points`` as ``[timestamp, value]`` pairs (chart libraries' shape)."""

    dataset_id: UUID
    series: Literal["raw", "processed"]
    timezone: str
    unit: Literal["kWh"] = "kWh"
    items: list[DataPoint] | list[tuple[datetime, float | None]]
    next_cursor: str | None = None
    has_more: bool = False


# ---- preprocessing ---------------------------------------------------------------------------------

Resample = Literal["15min", "30min", "1h", "1d"]
RESAMPLE_SECONDS: dict[str, int] = {"15min": 900, "30min": 1800, "1h": 3600, "1d": 86400}


class PreprocessParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    missing: Literal["interpolate", "forward_fill", "drop"] = "interpolate"
    outliers: Literal["clip", "remove", "none"] = "clip"
    outlier_k: float = Field(
        3.0,
        ge=1.0,
        le=20.0,
        allow_inf_nan=False,
        description="Outliers lie beyond k interquartile ranges outside the quartiles (Tukey's far fences).",
    )
    resample: Resample | None = Field(None, description="Sum into intervals of this length (energy adds).")
    timezone: str | None = Field(None, description="Align the series to this IANA zone (days, hours).")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return None if v is None else check_timezone(v)


class PreprocessSummary(BaseModel):
    rows_in: int
    rows_out: int
    gaps_found: int = Field(description="Intervals absent from the file, added to the regular grid.")
    missing_before: int = Field(description="Missing values on the regular grid before filling.")
    filled: int
    dropped: int
    clipped: int
    removed: int
    lower_fence: float | None
    upper_fence: float | None
    interval_s_in: int
    interval_s_out: int
    timezone: str
    missing_after: int
