"""Supplied future covariates: values known ahead for the steps a model forecasts (a weather forecast, a
production plan), as the predict route takes them and as the covariate-forecasts topic carries them.

A model trained with ``params.future_covariates = ["temperature"]`` reads the column ``temperature``
over its input window (sent on every history point or reading, like a past covariate) and its
*forecast* values over the horizon (supplied here). Values are bounded like readings' (finite,
|v| <= 1e15), names like readings' covariates, lists to the largest trained horizon.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from schemas.events import (
    COVARIATE_NAME,
    MAX_ABS,
    MAX_COVARIATES,
    AssetId,
    ReadingTime,
    _bounded,
    _Event,
)

# The longest horizon a model is trained for (trainers.backend.TrainSpec: 1..1000): more values than
# this can never be read.
MAX_FUTURE_STEPS = 1000
# One step of a covariate forecast: a second to a week.
MAX_STEP_SECONDS = 7 * 24 * 3600.0

# A supplied value: a JSON number (no "12.5" strings, no booleans), finite and within +-MAX_ABS.
FutureValue = Annotated[
    float,
    Field(strict=True, allow_inf_nan=True, json_schema_extra={"minimum": -MAX_ABS, "maximum": MAX_ABS}),
    AfterValidator(_bounded),
]
FutureValues = Annotated[list[FutureValue], Field(min_length=1, max_length=MAX_FUTURE_STEPS)]
CovariateName = Annotated[str, Field(pattern=COVARIATE_NAME)]


def _few(v: dict[str, list[float]]) -> dict[str, list[float]]:
    if len(v) > MAX_COVARIATES:
        raise ValueError(f"at most {MAX_COVARIATES} future covariates")
    return v


FutureCovariates = Annotated[
    dict[CovariateName, FutureValues],
    AfterValidator(_few),
    Field(
        description="Per future covariate the model was trained with, one value per forecast step "
        f"(the first is the step after the history); at most {MAX_COVARIATES} names, "
        f"{MAX_FUTURE_STEPS} values each, finite, |v| <= 1e15.",
        examples=[{"temperature": [11.5, 11.0, 10.2]}],
    ),
]


class CovariateForecast(_Event):
    """Supplied future covariates of one asset, published to the covariate-forecasts topic (key: the asset
    id). Value ``i`` of each covariate holds at ``start + i * step_seconds``. A newer message for the
    same stamps replaces the older values; the worker keeps the latest ``covariate_forecast_steps``
    stamps per asset."""

    asset_id: AssetId
    start: ReadingTime = Field(description="Timestamp of the first value (ISO 8601; naive = UTC).")
    step_seconds: float = Field(
        gt=0, le=MAX_STEP_SECONDS, allow_inf_nan=False, description="Seconds between values."
    )
    covariates: FutureCovariates

    @model_validator(mode="after")
    def _same_length(self) -> CovariateForecast:
        lengths = {len(v) for v in self.covariates.values()}
        if not lengths:
            raise ValueError("covariates: at least one covariate is needed")
        if len(lengths) > 1:
            raise ValueError("covariates: every covariate needs the same number of values")
        return self
