"""Request bodies of predict / detect_anomalies and the checks pydantic cannot make (pure).

Type-level problems (a missing field, a non-numeric or non-finite value, a string "NaN") are pydantic's
422s. Here: too many points (422), and 400s for well-formed but unusable series — timestamps out of
order or repeated, fewer points than the model needs. Every error names its field (``loc``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, NotRequired

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from api.http.errors import ApiError, Code
from schemas.bundle import DetectorName
from schemas.covariates import FutureCovariates
from schemas.events import MAX_ABS, MAX_COVARIATES

NS = 1_000_000_000
MAX_DETAILS = 20  # field errors listed per response
_EPOCH_NAIVE = datetime(1970, 1, 1)  # naive timestamps are UTC
MIN_SECONDS, MAX_SECONDS = -2208988800.0, 7258118400.0  # 1900-01-01, 2200-01-01 (int64 ns reach 2262)

# MAX_ABS (schemas.events, shared with ingestion): larger magnitudes would overflow the models' arithmetic.
# Strict: numbers only (no "12.5", no "NaN" strings, no booleans); JSON's 1e400 parses as inf: refused.
FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-MAX_ABS, le=MAX_ABS)]


class PointIn(TypedDict):
    """One observation. Naive timestamps are UTC. Further numeric fields are covariates (``temp``,
    ``production`` ...; at most 32), used by models trained with them."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    timestamp: Annotated[datetime, Field(description="ISO 8601 (naive = UTC) or epoch seconds.")]
    value: Annotated[FiniteFloat, Field(description="The target (e.g. kWh in the step).")]
    temp: NotRequired[Annotated[FiniteFloat, Field(description="Optional covariate: temperature.")]]
    production: NotRequired[
        Annotated[FiniteFloat, Field(description="Optional covariate: production volume.")]
    ]


class PredictOptions(BaseModel):
    """The fields of a predict body besides the points."""

    model_config = ConfigDict(extra="forbid")

    forecast_horizon: int = Field(
        24,
        ge=1,
        strict=True,
        description="Steps to forecast, at most KILOWATCH_API_MAX_HORIZON. Torch models (tide, lstm, "
        "tft) forecast at most their trained horizon; LightGBM and seasonal naive go on step by step, "
        "their intervals past the trained horizon reusing the last calibrated step's.",
    )

    future_covariates: FutureCovariates | None = Field(
        None,
        description="Values known ahead for the forecast steps (a weather forecast, a production plan), "
        "for a model trained with `params.future_covariates`: exactly `forecast_horizon` values per "
        "covariate it names (its past values go on the history points). 400 when the model needs one "
        "that is missing, 422 for a wrong number of values (the detail's `ctx` says how many are needed). "
        "Ignored by a model that needs none (and by the online model).",
    )


class PredictCreate(PredictOptions):
    historical_data: list[PointIn] = Field(
        min_length=1, description="The recent history, oldest first, on the asset's regular step."
    )


class DetectOptions(BaseModel):
    """The fields of a detect body besides the points."""

    model_config = ConfigDict(extra="forbid")

    detector: DetectorName = Field(
        "residual",
        description="Which rule judges the readings. `residual` (default): the trained model's residual "
        "rule, the verdicts the stream emits on the anomaly topic for the same model version. "
        "`autoencoder`: the model version's autoencoder (only versions trained with "
        '`params.detector = "autoencoder"`; 422 otherwise); the stream never uses it.',
    )


class DetectCreate(DetectOptions):
    data_stream: list[PointIn] = Field(min_length=1, description="The readings to judge, oldest first.")


@dataclass(frozen=True)
class Series:
    """A validated request series: strictly increasing int64 ns UTC stamps, finite values."""

    field: str  # the body field it came from (for error locations)
    stamps: np.ndarray
    values: np.ndarray
    covariates: dict[str, np.ndarray]  # only covariates every point carries
    missing: dict[str, int]  # covariates some points lack -> the first point without it

    def __len__(self) -> int:
        return len(self.values)

    @property
    def seconds(self) -> list[float]:
        """Epoch seconds (what the online model takes)."""
        return (self.stamps / NS).tolist()

    def frame(self) -> Any:
        """The series as the trainers' ``predict``/``detect`` take it (timestamp, value, covariates)."""
        import pandas as pd

        data: dict[str, Any] = {"timestamp": pd.to_datetime(self.stamps, unit="ns", utc=True)}
        data["value"] = self.values
        data.update(self.covariates)
        return pd.DataFrame(data)

    def require(self, covariates: list[str]) -> None:
        """400 naming the first point without a covariate the model needs."""
        for name in covariates:
            if name not in self.covariates:
                i = self.missing.get(name, 0)
                raise _bad(
                    [self.field, i, name], f"the model needs covariate {name!r} on every point", "missing"
                )


def _error(status: int, loc: list[str | int], msg: str, kind: str) -> ApiError:
    return ApiError(status, Code.VALIDATION_ERROR, "validation", details=[_detail(loc, msg, kind)])


def _detail(loc: list[str | int], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": kind}


def _bad(loc: list[str | int], msg: str, kind: str) -> ApiError:
    return _error(400, loc, msg, kind)


def stamps_ns(stamps: list[datetime], field: str) -> np.ndarray:
    """int64 ns since the epoch (UTC; naive = UTC), exact to the microsecond; 422 outside 1900-2200."""
    sec = np.asarray(
        [t.timestamp() if t.tzinfo is not None else (t - _EPOCH_NAIVE).total_seconds() for t in stamps],
        dtype=float,
    )
    out = np.flatnonzero((sec < MIN_SECONDS) | (sec > MAX_SECONDS))
    if len(out):
        raise _error(
            422, [field, int(out[0]), "timestamp"], "timestamps must lie in 1900-2200", "out_of_range"
        )
    # float seconds carry ~0.2 us of rounding error at today's epochs: round to whole microseconds
    return np.round(sec * 1e6).astype(np.int64) * 1000


def _covariates(points: list[PointIn], field: str) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Covariate columns every point carries, and the first point lacking each of the others. Extra
    fields are checked here (finite numbers, at most MAX_COVARIATES per point)."""
    seen: dict[str, list[float | None]] = {}
    n = len(points)
    for i, p in enumerate(points):
        if len(p) == 2:
            continue
        names = [k for k in p if k not in ("timestamp", "value")]
        if len(names) > MAX_COVARIATES:
            raise _error(422, [field, i], f"at most {MAX_COVARIATES} covariates per point", "too_long")
        for name in names:
            v = p[name]  # type: ignore[literal-required]
            if isinstance(v, bool) or not isinstance(v, int | float) or not abs(v) <= MAX_ABS:
                msg = f"covariates must be finite numbers within +-{MAX_ABS:g}"
                raise _error(422, [field, i, name], msg, "finite_number")
            seen.setdefault(name, [None] * n)[i] = float(v)
    full: dict[str, np.ndarray] = {}
    missing: dict[str, int] = {}
    for name, col in sorted(seen.items()):
        gap = next((i for i, v in enumerate(col) if v is None), None)
        if gap is None:
            full[name] = np.asarray(col, dtype=float)
        else:
            missing[name] = gap
    return full, missing


def check_size(n: int, field: str, max_points: int) -> None:
    """422 at ``field`` over ``max_points``."""
    if n > max_points:
        raise _error(422, [field], f"at most {max_points} points per request, got {n}", "too_long")


def checked(
    field: str,
    stamps: np.ndarray,
    values: np.ndarray,
    covariates: dict[str, np.ndarray] | None = None,
    missing: dict[str, int] | None = None,
) -> Series:
    """The series once its timestamps are strictly increasing (400 naming each offending point)."""
    # compared, not subtracted: 1900 and 2200 in ns are further apart than int64 can hold
    later, earlier = stamps[1:], stamps[:-1]
    bad = np.flatnonzero(later <= earlier)
    if len(bad):
        details = [
            _detail(
                [field, int(i) + 1, "timestamp"],
                f"timestamp {'repeats' if later[i] == earlier[i] else 'is before'} the one of point "
                f"{int(i)}: points must be strictly increasing in time",
                "duplicate_timestamp" if later[i] == earlier[i] else "unsorted_timestamps",
            )
            for i in bad[:MAX_DETAILS]
        ]
        raise ApiError(400, Code.VALIDATION_ERROR, "validation", details=details)
    return Series(field, stamps, values, covariates or {}, missing or {})


def series_of(points: list[PointIn], field: str, max_points: int) -> Series:
    """Validated points -> Series; 422 over ``max_points``, 400 for unsorted or repeated timestamps."""
    check_size(len(points), field, max_points)
    stamps = stamps_ns([p["timestamp"] for p in points], field)
    values = np.asarray([p["value"] for p in points], dtype=float)
    series = checked(field, stamps, values)
    covariates, missing = _covariates(points, field)
    return Series(field, series.stamps, series.values, covariates, missing)


def require_points(series: Series, needed: int, who: str) -> None:
    """400 when the series is shorter than what the model reads before its first output; the detail's
    ``ctx`` says how many points are needed and how many came (``{"needed": n, "got": m}``)."""
    if len(series) < needed:
        detail = _detail(
            [series.field], f"{who} needs at least {needed} points, got {len(series)}", "too_short"
        )
        detail["ctx"] = {"needed": needed, "got": len(series)}
        raise ApiError(400, Code.VALIDATION_ERROR, "validation", details=[detail])


def check_future(
    needed: list[str], future: dict[str, list[float]] | None, horizon: int
) -> dict[str, list[float]] | None:
    """The supplied future covariates a trained model needs: 400 at ``future_covariates.<name>`` for a
    missing one, 422 for a wrong number of values; ``ctx`` = ``{"needed": horizon, "got": n}``."""
    if not needed:
        return None
    out: dict[str, list[float]] = {}
    for name in needed:
        given = (future or {}).get(name)
        got = 0 if given is None else len(given)
        if given is not None and got == horizon:
            out[name] = given
            continue
        if given is None:
            status, kind = 400, "missing"
            msg = f"the model needs future covariate {name!r}: {horizon} values, one per forecast step"
        else:
            status, kind = 422, "wrong_length"
            msg = f"future covariate {name!r} needs {horizon} values (one per forecast step), got {got}"
        detail = _detail(["future_covariates", name], msg, kind)
        detail["ctx"] = {"needed": horizon, "got": got}
        raise ApiError(status, Code.VALIDATION_ERROR, "validation", details=[detail])
    return out


def check_span(series: Series, step_seconds: float, max_steps: int) -> None:
    """400 when the points span more steps of the model's grid than ``max_steps`` (gaps get filled)."""
    steps = int((series.stamps[-1] - series.stamps[0]) / (step_seconds * NS)) + 1
    if steps > max_steps:
        raise _bad(
            [series.field],
            f"the points span {steps} steps of {step_seconds:g} s (gaps are filled); at most {max_steps}",
            "too_long",
        )


def check_horizon(horizon: int, limit: int, who: str = "the API") -> None:
    """422 at forecast_horizon beyond ``limit``."""
    if horizon > limit:
        raise _error(
            422,
            ["forecast_horizon"],
            f"{who} forecasts at most {limit} steps, got {horizon}",
            "less_than_equal",
        )
