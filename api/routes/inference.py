"""Synchronous inference: forecast the next steps of an asset, or judge a batch of its readings.

Reads of models (ReadKey). The asset's active trained version answers (the same bundle and rules the
stream uses); a registered asset without one, an asset nobody registered (``asset_registered`` false:
ad-hoc prediction from the posted history, nothing stored) and a history shorter than the trained model
reads get the online model, and the response says which (``model.kind``, ``model.fallback_reason``,
``model.note``). See ``api.services.inference`` for caching, batching and fallbacks.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

import numpy as np
import orjson
from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from api.deps import ReadKey, ResourcesDep
from api.http.envelope import COMMON_RESPONSES, Envelope
from api.http.openapi_body import body_doc
from api.services.inference import Detection, Forecast, InferenceService, ModelInfo
from api.services.inference_body import parse
from api.services.inference_input import DetectCreate, DetectOptions, PredictCreate, PredictOptions
from schemas.events import ASSET_ID_PATTERN

router = APIRouter(prefix="/assets", tags=["inference"], responses=COMMON_RESPONSES)
AssetPath = Annotated[
    str,
    Path(
        pattern=ASSET_ID_PATTERN,
        description="The asset; one nobody registered is answered by the online model from the body alone.",
    ),
]


class ModelPublic(BaseModel):
    kind: Literal["trained", "online"] = Field(
        description="trained: the asset's active registry version; online: the streaming online model."
    )
    model_type: str = Field(description="lightgbm, tide, lstm, tft, seasonal_naive or online-seasonal.")
    version: int | None = Field(description="Registry version (null for the online model).")
    engine: Literal["native", "darts", "online"] = Field(
        description="native: LightGBM boosters called directly (same numbers as darts); darts; online."
    )
    input_length: int = Field(description="Points the model needs before its first output.")
    trained_horizon: int | None = Field(description="Horizon the model was trained and calibrated for.")
    fallback_reason: str | None = Field(
        description="Why the online model answered although the asset has an active trained version "
        "(it could not be loaded, failed on this input, or needs more points than were given)."
    )
    note: str | None = Field(
        None, description="A caveat of this answer, e.g. a history shorter than the online model's warm-up."
    )


class ForecastPointPublic(BaseModel):
    timestamp: datetime
    predicted_value: float
    lower: float = Field(description="Lower bound (10 % quantile for trained models).")
    upper: float = Field(description="Upper bound (90 % quantile for trained models).")


class PredictionPublic(BaseModel):
    asset_id: str
    forecast_data: list[ForecastPointPublic]
    model_version: str | None = Field(description="The registry version that answered (null: online).")
    model: ModelPublic
    asset_registered: bool = Field(
        True,
        description="False: no asset with this id is registered; the online model answered from the body.",
    )


class AnomalyPublic(BaseModel):
    timestamp: datetime
    value: float
    expected: float
    lower: float
    upper: float
    score: float = Field(description="Calibrated anomaly score in [0, 1].")
    type: str = Field(description="spike, dip, sustained_high, sustained_low, pattern_shift or flatline.")
    reason: str = Field(description='Plain words, e.g. "Exceeds predicted value by 45%".')


class DetectionPublic(BaseModel):
    asset_id: str
    anomalies: list[AnomalyPublic]
    points_scored: int = Field(
        description="Points judged (a trained model cannot judge its first input_length points)."
    )
    model_version: str | None
    model: ModelPublic
    asset_registered: bool = Field(
        True,
        description="False: no asset with this id is registered; the online model answered from the body.",
    )


def service(resources: ResourcesDep) -> InferenceService:
    svc: InferenceService | None = resources.extensions.get("inference")
    if svc is None:
        svc = InferenceService(resources.settings)
        resources.extensions["inference"] = svc
    return svc


def _version(info: ModelInfo) -> str | None:
    return None if info.version is None else str(info.version)


_JSON = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z  # naive datetimes are UTC, written with "Z"


def iso(stamps: np.ndarray) -> list[str]:
    """int64 ns -> the ISO 8601 strings the responses carry (as pydantic writes datetimes)."""
    out: list[str] = orjson.loads(orjson.dumps(utc(stamps), option=_JSON))
    return out


def utc(stamps: np.ndarray) -> list[datetime]:
    """int64 ns -> naive UTC datetimes (orjson writes them as ``Envelope`` would: "...Z")."""
    out: list[datetime] = (
        np.asarray(stamps, dtype=np.int64).view("datetime64[ns]").astype("datetime64[us]").tolist()
    )
    return out


def _json(data: dict[str, Any]) -> Response:
    """The success envelope as ``Envelope[...]`` writes it, without pydantic re-validating what the
    service built (a tenth of a predict request's CPU); tests check it against the response model."""
    body = orjson.dumps({"status": "success", "data": data, "meta": None}, option=_JSON)
    return Response(body, media_type="application/json")


def _model(info: ModelInfo) -> dict[str, Any]:
    return {
        "kind": info.kind,
        "model_type": info.model_type,
        "version": info.version,
        "engine": info.engine,
        "input_length": info.input_length,
        "trained_horizon": info.trained_horizon,
        "fallback_reason": info.fallback_reason,
        "note": info.note,
    }


def _prediction(asset_id: str, f: Forecast) -> dict[str, Any]:
    lower, value, upper = f.triples.T.tolist()
    points = [
        {"timestamp": t, "predicted_value": v, "lower": lo, "upper": hi}
        for t, v, lo, hi in zip(utc(f.stamps), value, lower, upper, strict=True)
    ]
    return {
        "asset_id": asset_id,
        "forecast_data": points,
        "model_version": _version(f.info),
        "model": _model(f.info),
        "asset_registered": f.registered,
    }


def _detection(asset_id: str, d: Detection) -> dict[str, Any]:
    stamps = utc(np.array([a.timestamp for a in d.anomalies], dtype=np.int64))
    anomalies = [{**asdict(a), "timestamp": t} for t, a in zip(stamps, d.anomalies, strict=True)]
    return {
        "asset_id": asset_id,
        "anomalies": anomalies,
        "points_scored": d.points_scored,
        "model_version": _version(d.info),
        "model": _model(d.info),
        "asset_registered": d.registered,
    }


@router.post(
    "/{asset_id}/predict",
    response_model=Envelope[PredictionPublic],
    summary="Forecast the steps after a history",
    openapi_extra=body_doc(PredictCreate),
)
async def predict(asset_id: AssetPath, request: Request, _key: ReadKey, resources: ResourcesDep) -> Response:
    """Body: ``PredictCreate``. 400 for unsorted/repeated timestamps or fewer than 2 points (the detail's
    ``ctx`` says how many are needed), 400 for a future covariate the model needs and did not get, 422 for
    invalid fields, a horizon out of range or a future covariate of the wrong length, 422
    MODEL_INFERENCE_ERROR when the model rejects the input. An unregistered asset or a history shorter
    than its trained model reads is answered by the online model (the response says so)."""
    # (settings and the pool come from ``resources``: each FastAPI dependency costs CPU per request)
    limit = resources.settings.api.max_points
    series, opts = parse(await request.body(), PredictCreate, PredictOptions, "historical_data", limit)
    result = await service(resources).predict(
        await resources.pool(), asset_id, series, opts.forecast_horizon, opts.future_covariates
    )
    return _json(_prediction(asset_id, result))


@router.post(
    "/{asset_id}/detect_anomalies",
    response_model=Envelope[DetectionPublic],
    summary="Judge a batch of readings",
    openapi_extra=body_doc(DetectCreate),
)
async def detect_anomalies(
    asset_id: AssetPath, request: Request, _key: ReadKey, resources: ResourcesDep
) -> Response:
    """Body: ``DetectCreate``. The flagged readings with their expected value, score, type and reason.
    Errors as for predict; the online model flags from ``detector.warmup`` (32) points on, fewer is a
    400 whose detail's ``ctx`` says so."""
    limit = resources.settings.api.max_points
    series, opts = parse(await request.body(), DetectCreate, DetectOptions, "data_stream", limit)
    result = await service(resources).detect(await resources.pool(), asset_id, series, opts.detector)
    return _json(_detection(asset_id, result))
