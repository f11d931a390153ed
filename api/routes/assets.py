"""Assets (meters): register, list, read, change, delete.

``retrain_interval`` is written as seconds (a number) or an ISO 8601 duration (``"PT6H"``, ``"P1D"``)
and read back as seconds; null means no scheduled retraining. Deleting an asset needs an admin key:
its model versions and training jobs go with it (database cascade) and so do its model bundles in the
artifact store; its readings history stays until the history retention removes it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import datetime, timedelta
from typing import Annotated, Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from api.deps import AdminKey, ModelKey, PoolDep, ReadKey, ResourcesDep, ServiceDep
from api.http.envelope import COMMON_RESPONSES, Envelope, Page, ok
from api.http.errors import ApiError
from api.http.pagination import PageDep, keyset, paged
from api.http.validation import storable_json
from api.services.resources import Resources
from schemas.events import ASSET_ID_PATTERN, AssetId
from stream_app.lifecycle.artifacts import ArtifactError
from stream_app.store import registry_admin as admin
from stream_app.store import repository as repo

log = logging.getLogger(__name__)
router = APIRouter(prefix="/assets", tags=["assets"], responses=COMMON_RESPONSES)

MAX_METADATA_BYTES = 16 * 1024
MIN_INTERVAL = timedelta(minutes=1)
MAX_INTERVAL = timedelta(days=366)
# ``path`` lets ids with '/' (allowed in asset ids) through: /assets/site-1/meter-2 is asset "site-1/meter-2".
AssetPath = Annotated[str, Path(pattern=ASSET_ID_PATTERN, description="The asset id ('/' allowed).")]


def _interval(v: timedelta) -> timedelta:
    if not MIN_INTERVAL <= v <= MAX_INTERVAL:
        raise ValueError("retrain_interval must be between 60 s and 366 days")
    return v


RetrainInterval = Annotated[
    timedelta,
    AfterValidator(_interval),
    Field(description="Seconds, or an ISO 8601 duration such as PT6H; null = no scheduled retraining."),
]


def _metadata(v: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if v is None else storable_json(v, "metadata", MAX_METADATA_BYTES)


class AssetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    asset_id: AssetId
    name: str = Field("", max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free JSON (at most 16 KiB).")
    retrain_interval: RetrainInterval | None = None

    _meta = field_validator("metadata")(_metadata)


class AssetUpdate(BaseModel):
    """Fields to change; absent fields stay. ``retrain_interval: null`` turns scheduled retraining off."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, max_length=200)
    metadata: dict[str, Any] | None = Field(None, description="Replaces the whole metadata object.")
    retrain_interval: RetrainInterval | None = None

    _meta = field_validator("metadata")(_metadata)

    @model_validator(mode="after")
    def _something(self) -> AssetUpdate:
        if not self.model_fields_set:
            raise ValueError("give at least one of name, metadata, retrain_interval")
        for field in ("name", "metadata"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


class AssetPublic(BaseModel):
    asset_id: str
    name: str
    metadata: dict[str, Any]
    retrain_interval: float | None = Field(description="Seconds; null = no scheduled retraining.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, a: repo.Asset) -> AssetPublic:
        interval = None if a.retrain_interval is None else a.retrain_interval.total_seconds()
        return cls(
            asset_id=a.asset_id,
            name=a.name,
            metadata=a.metadata,
            retrain_interval=interval,
            created_at=a.created_at,
            updated_at=a.updated_at,
        )


class AssetDeletedPublic(BaseModel):
    asset_id: str
    versions_deleted: int = Field(description="Model versions removed with the asset.")
    artifacts_deleted: int = Field(description="Of their bundles, removed from the artifact store.")


@router.post(
    "",
    status_code=201,
    response_model=Envelope[AssetPublic],
    summary="Register an asset",
    responses={409: {"description": "The asset exists."}},
)
async def create_asset(body: AssetCreate, _key: ModelKey, pool: PoolDep) -> Envelope[AssetPublic]:
    asset = await admin.create_asset(
        pool,
        body.asset_id,
        name=body.name,
        metadata=body.metadata,
        retrain_interval=body.retrain_interval,
    )
    return ok(AssetPublic.of(asset))


@router.get("", response_model=Envelope[Page[AssetPublic]], summary="List assets")
async def list_assets(_key: ReadKey, pool: PoolDep, page: PageDep) -> Envelope[Page[AssetPublic]]:
    rows = await admin.list_assets(pool, functools.partial(keyset, page))
    return paged(rows, page, lambda a: (a.created_at, a.asset_id), AssetPublic.of)


@router.get("/{asset_id:path}", response_model=Envelope[AssetPublic], summary="An asset")
async def get_asset(asset_id: AssetPath, _key: ReadKey, pool: PoolDep) -> Envelope[AssetPublic]:
    return ok(AssetPublic.of(await repo.get_asset(pool, asset_id)))


@router.patch("/{asset_id:path}", response_model=Envelope[AssetPublic], summary="Change an asset")
async def update_asset(
    asset_id: AssetPath, body: AssetUpdate, _key: ModelKey, pool: PoolDep
) -> Envelope[AssetPublic]:
    changes = body.model_dump(include=body.model_fields_set)
    return ok(AssetPublic.of(await admin.update_asset(pool, asset_id, changes)))


@router.delete(
    "/{asset_id:path}",
    response_model=Envelope[AssetDeletedPublic],
    summary="Delete an asset, its versions, jobs and bundles (admin)",
    responses={409: {"description": "The asset has an open training job (cancel it first)."}},
)
async def delete_asset(
    asset_id: AssetPath, _key: AdminKey, pool: PoolDep, service: ServiceDep, resources: ResourcesDep
) -> Envelope[AssetDeletedPublic]:
    """The database rows go first (in one transaction), then the bundles: a failure in between leaves
    unreferenced files, never versions pointing at missing ones."""
    async with pool.acquire() as conn:
        uris = await admin.delete_asset(conn, asset_id)
    removed = 0
    for uri in uris:
        try:
            await asyncio.to_thread(service.store.delete, uri)
            removed += 1
        except (ArtifactError, OSError) as exc:
            log.warning("bundle %s of deleted asset %s not removed: %s", uri, asset_id, exc)
    if uris:
        await _forget_model(resources, asset_id)
    log.info("asset %s deleted with %d versions", asset_id, len(uris))
    return ok(AssetDeletedPublic(asset_id=asset_id, versions_deleted=len(uris), artifacts_deleted=removed))


async def _forget_model(resources: Resources, asset_id: str) -> None:
    """A tombstone for the asset on the compacted model-updates topic, so compaction drops its last
    ModelUpdated and restarted workers stop looking for the deleted bundle. Best effort: the asset is
    already deleted."""
    try:
        async with asyncio.timeout(resources.settings.api.publish_timeout_s):
            producer = await resources.producer()
            await producer.send_and_wait(
                resources.settings.kafka.topic("model-updates"), key=asset_id.encode(), value=None
            )
    except (ApiError, KafkaError, TimeoutError):
        log.warning("no model-updates tombstone for deleted asset %s: Kafka unavailable", asset_id)
