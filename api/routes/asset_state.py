"""The streaming state of an asset: ``POST /api/v1/assets/{id}/reset`` (admin) forgets it.

The detector state of an asset lives in the worker that owns the asset's readings partition (a
RocksDB table backed by a changelog topic), so a restart does not cure a poisoned state. The route
publishes an ``AssetReset`` control message to the readings topic keyed by the asset id: the owning
worker meets it in order with the asset's readings, tombstones the asset's state records and drops
its cached state, and the asset's next reading is scored from a fresh state (see
``stream_app/admin/reset.py``). 202: the reset is in Kafka; the worker applies it when it reaches it.

The asset need not be registered (readings of any asset are scored). Every reset is written to the
audit log (``audit_log``, with the key, the reason and the request id) before it is published.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime
from typing import Annotated

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.deps import AdminKey, PoolDep, ResourcesDep
from api.http.envelope import COMMON_RESPONSES, Envelope, ok
from api.http.errors import unavailable
from api.http.request_context import request_id_of
from api.routes.assets import AssetPath
from stream_app.admin.reset import AUDIT_ACTION, audit_details, message, reset_event
from stream_app.store import audit

log = logging.getLogger(__name__)
audit_log = logging.getLogger("kilowatch.audit")
router = APIRouter(prefix="/assets", tags=["assets"], responses=COMMON_RESPONSES)


class AssetResetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field("", max_length=500, description="Why (kept in the audit log).")

    @field_validator("reason")
    @classmethod
    def _storable(cls, v: str) -> str:
        if "\x00" in v:  # PostgreSQL cannot store it (the audit log)
            raise ValueError("reason may not contain NUL characters")
        return v


class AssetResetPublic(BaseModel):
    asset_id: str
    reset_id: uuid.UUID = Field(description="Names this reset in the audit log and the worker's log.")
    requested_at: datetime
    topic: str = Field(description="The readings topic the control message was published to.")
    partition: int = Field(description="The asset's partition: its owning worker applies the reset.")
    offset: int = Field(description="Readings of the asset after this offset are scored from a fresh state.")


@router.post(
    "/{asset_id:path}/reset",
    status_code=202,
    response_model=Envelope[AssetResetPublic],
    summary="Forget an asset's detector state (admin): its next reading starts fresh",
)
async def reset_asset(
    asset_id: AssetPath,
    key: AdminKey,
    request: Request,
    pool: PoolDep,
    resources: ResourcesDep,
    body: Annotated[AssetResetCreate | None, Body()] = None,
) -> Envelope[AssetResetPublic]:
    actor = f"api-key:{key.prefix} ({key.name})"
    event = reset_event(asset_id, actor, body.reason if body is not None else "")
    entry = await audit.record(
        pool, actor, AUDIT_ACTION, asset_id, audit_details(event), request_id_of(request.scope)
    )
    topic = resources.settings.kafka.topic("readings")
    k, v = message(event)
    try:
        async with asyncio.timeout(resources.settings.api.publish_timeout_s):
            producer = await resources.producer()
            meta = await producer.send_and_wait(topic, key=k, value=v)
    except (KafkaError, TimeoutError) as exc:
        log.warning("reset of %s not published: %r", asset_id, exc)
        await audit.complete(pool, entry, {"outcome": "failed", "error": repr(exc)})
        raise unavailable("Kafka") from None
    except Exception as exc:
        await audit.complete(pool, entry, {"outcome": "failed", "error": type(exc).__name__})
        raise
    await audit.complete(
        pool, entry, {"outcome": "published", "partition": meta.partition, "offset": meta.offset}
    )
    audit_log.warning(
        "asset %s: reset %s requested by %s (reason %r), published to %s[%d]@%d",
        asset_id,
        event.reset_id,
        actor,
        event.reason,
        topic,
        meta.partition,
        meta.offset,
    )
    return ok(
        AssetResetPublic(
            asset_id=asset_id,
            reset_id=event.reset_id,
            requested_at=event.requested_at,
            topic=topic,
            partition=meta.partition,
            offset=meta.offset,
        )
    )
