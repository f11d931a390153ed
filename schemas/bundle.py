"""The metadata of a trained model bundle (``metadata.json``), typed.

The trainers write it (``trainers.backend.train``); serving, the API and the registry read it through
this model instead of string keys. Unknown keys are kept (a newer trainer may add some), missing
optional ones get their defaults; a bundle whose metadata does not fit is refused at load time.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

# How a trained model judges readings: its residual rule (every served verdict), or its autoencoder
# (only versions trained with params.detector = "autoencoder", only when a detect request asks).
DetectorName = Literal["residual", "autoencoder"]
DETECTORS: tuple[DetectorName, ...] = get_args(DetectorName)


class BundleFeatures(BaseModel):
    """Which columns the model reads."""

    model_config = ConfigDict(extra="allow", frozen=True)

    target: str = "value"
    past_covariates: list[str] = Field(default_factory=list)
    future_covariates: list[str] = Field(default_factory=list)
    # the future covariates a forecast needs supplied for its horizon (data columns, not the calendar)
    supplied_future_covariates: list[str] = Field(default_factory=list)
    past_covariates_calendar: bool = False


class DataRange(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    start: str
    end: str
    rows: int


class BundleMetadata(BaseModel):
    """``metadata.json`` of one model version."""

    model_config = ConfigDict(extra="allow", frozen=True, protected_namespaces=())

    format_version: int
    model_type: str
    horizon: int = Field(ge=1)
    input_length: int = Field(ge=1)
    freq_seconds: float = Field(gt=0)
    output_chunk_length: int = Field(ge=1)
    residual_floor: float = Field(ge=0)
    features: BundleFeatures = Field(default_factory=BundleFeatures)
    detector: DetectorName = "residual"
    params: dict[str, Any] = Field(default_factory=dict)
    freq: str | None = None
    day_steps: int | None = None
    season: int | None = None
    future_covariates: bool = False
    scaler: dict[str, list[float]] = Field(default_factory=dict)
    quantile: float | None = None
    quantiles: list[float] = Field(default_factory=list)
    holdout_fraction: float | None = None
    seed: int | None = None
    training_range: DataRange | None = None
    holdout_range: DataRange | None = None
    library_versions: dict[str, str] = Field(default_factory=dict)
    created_at: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict)
