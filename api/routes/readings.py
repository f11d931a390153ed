"""HTTP ingestion: ``POST /api/v1/readings`` publishes a batch of readings to the readings topic.

Every item is validated with the stream's own ``Reading`` model (finite numbers only, ISO 8601
timestamps, numeric covariates as top-level fields) plus the worker's clock-skew rule, so what the API
accepts the worker scores rather than dead-letters. A batch is all or nothing: one invalid item
rejects the whole request (422, one detail per bad item, ``loc`` = ["body", "readings", i, field]) and
nothing is published, so a client can fix and resend the same batch without creating duplicates of
the good part. 202 means every reading is in Kafka (acks from all in-sync replicas), keyed by
``asset_id``; scoring happens asynchronously in the workers. A batch carries at most
``api_max_points`` readings (413 beyond, counted on the raw JSON array before any item is validated;
the body size limit ``api_max_body_bytes`` is checked before the body is read). A key may introduce
at most ``api_new_assets_per_hour`` never-seen asset ids per hour (429 beyond).
"""

from __future__ import annotations

import json
import time
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.deps import ResourcesDep, SettingsDep, WriteKey
from api.http.envelope import COMMON_RESPONSES, Envelope, ok
from api.http.errors import ApiError, Code
from api.http.openapi_body import body_doc
from api.services import new_assets
from schemas.events import Reading
from stream_app.core.decode import too_far_ahead

router = APIRouter(prefix="/readings", tags=["readings"], responses=COMMON_RESPONSES)


class ReadingsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    readings: list[Reading] = Field(
        min_length=1,
        description="Readings as devices send them to Kafka, each with its asset_id; at most "
        "KILOWATCH_API_MAX_POINTS per request.",
    )


class ReadingsAcceptedPublic(BaseModel):
    accepted: int = Field(description="Readings published to the readings topic.")
    assets: int = Field(description="Distinct assets among them.")


def device_payload(r: Reading) -> bytes:
    """The reading in the devices' wire format (covariates as top-level fields), which the worker's
    fast decoder takes without falling back to the model."""
    body: dict[str, Any] = {"asset_id": r.asset_id, "timestamp": r.timestamp.isoformat(), "value": r.value}
    if r.unit is not None:
        body["unit"] = r.unit
    body.update(r.covariates)
    return orjson.dumps(body)


def future_errors(readings: list[Reading], max_skew_s: float) -> list[dict[str, Any]]:
    """The worker dead-letters readings dated further ahead than the allowed clock skew: refuse them here
    (one rule: ``stream_app.core.decode.too_far_ahead``)."""
    now = time.time()
    return [
        {
            "loc": ["body", "readings", i, "timestamp"],
            "msg": f"timestamp is more than {max_skew_s:g} s in the future",
            "type": "value_error",
        }
        for i, r in enumerate(readings)
        if too_far_ahead(r.timestamp.timestamp(), now, max_skew_s)
    ]


def too_many(count: int, limit: int) -> ApiError:
    return ApiError(
        413,
        Code.FILE_TOO_LARGE,
        "too_many_items",
        details=[
            {
                "loc": ["body", "readings"],
                "msg": f"at most {limit} readings per request, got {count}",
                "type": "too_long",
            }
        ],
        limit=limit,
        count=count,
    )


def _lenient(raw: bytes) -> Any:
    """JSON that orjson refuses but Python's parser takes (bare NaN, Infinity): parsed as FastAPI would,
    so such a value is reported on its field by validation. (The body's size is already bounded.)"""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        pos = getattr(exc, "pos", 0)
        detail = {"loc": ["body", pos], "msg": "JSON decode error", "type": "json_invalid"}
        raise ApiError(422, Code.VALIDATION_ERROR, "validation", details=[detail]) from None


def parse_batch(raw: bytes, max_points: int) -> ReadingsCreate:
    """The batch, its count checked on the raw JSON array before any item is validated (413): a
    request over the limit costs one orjson parse, not max_points pydantic validations."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        obj = _lenient(raw)
    if type(obj) is dict and type(obj.get("readings")) is list and len(obj["readings"]) > max_points:
        raise too_many(len(obj["readings"]), max_points)
    try:
        return ReadingsCreate.model_validate(obj)
    except ValidationError as exc:
        raise RequestValidationError(
            [{"loc": ("body", *e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        ) from None


@router.post(
    "",
    status_code=202,
    response_model=Envelope[ReadingsAcceptedPublic],
    summary="Publish a batch of readings to the stream (all or nothing)",
    openapi_extra=body_doc(ReadingsCreate),
)
async def post_readings(
    request: Request, key: WriteKey, resources: ResourcesDep, settings: SettingsDep
) -> Envelope[ReadingsAcceptedPublic]:
    """Body: ``ReadingsCreate``."""
    body = parse_batch(await request.body(), settings.api.max_points)
    errors = future_errors(body.readings, settings.worker.max_clock_skew_s)
    if errors:
        raise ApiError(422, Code.VALIDATION_ERROR, "validation", details=errors)
    assets = {r.asset_id for r in body.readings}
    await new_assets.admit(resources, key, assets)
    items = [(r.asset_id.encode(), device_payload(r)) for r in body.readings]
    published = await resources.publish(settings.kafka.topic("readings"), items)
    return ok(ReadingsAcceptedPublic(accepted=published, assets=len(assets)))
