"""Model versions of an asset: list, read, activate, roll back, delete a candidate.

Activation and rollback go through ``TrainingService.activate``: the previous active version is
retired in the same transaction and a ModelUpdated is published to the model-updates topic, so
running workers hot-swap exactly as after an automatic promotion.

Rollback without a body returns to the version that was active before the current one (the retired
version activated most recently); ``{"version": n}`` rolls back to a chosen version.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ModelKey, PoolDep, ReadKey, ServiceDep
from api.http.envelope import COMMON_RESPONSES, Envelope, Page, ok
from api.http.errors import conflict
from api.http.pagination import PageDep, keyset, paged
from api.routes.assets import AssetPath
from schemas.jobs import VersionStatus
from stream_app.lifecycle.artifacts import ArtifactError
from stream_app.store import registry_admin as admin
from stream_app.store import repository as repo

log = logging.getLogger(__name__)
router = APIRouter(prefix="/assets", tags=["models"], responses=COMMON_RESPONSES)
VersionPath = Annotated[int, Path(ge=1, le=2_147_483_647, description="The version number.")]


class ModelVersionPublic(BaseModel):
    asset_id: str
    version: int
    model_type: str
    params: dict[str, Any]
    metrics: dict[str, Any] = Field(description="holdout, training, champion_holdout, holdout_rows.")
    status: VersionStatus = Field(description="candidate, active (at most one) or retired.")
    reason: str = Field(description="Why it was (not) promoted, activated or rolled back.")
    job_id: uuid.UUID | None = Field(description="The training job that made it, if any.")
    artifact_uri: str
    created_at: datetime
    activated_at: datetime | None

    @classmethod
    def of(cls, v: repo.ModelVersion) -> ModelVersionPublic:
        return cls(
            asset_id=v.asset_id,
            version=v.version,
            model_type=v.model_type,
            params=v.params,
            metrics=v.metrics,
            status=v.status,
            reason=v.reason,
            job_id=v.job_id,
            artifact_uri=v.artifact_uri,
            created_at=v.created_at,
            activated_at=v.activated_at,
        )


class ModelRollback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        None, ge=1, description="Version to return to; default: the one active before the current one."
    )


@router.get(
    "/{asset_id:path}/models",
    response_model=Envelope[Page[ModelVersionPublic]],
    summary="List an asset's model versions",
)
async def list_models(
    asset_id: AssetPath, _key: ReadKey, pool: PoolDep, page: PageDep
) -> Envelope[Page[ModelVersionPublic]]:
    """Newest first by default, with metrics and status (404 for an unknown asset)."""
    await repo.get_asset(pool, asset_id)
    rows = await admin.list_versions(pool, asset_id, functools.partial(keyset, page))
    return paged(rows, page, lambda v: (v.created_at, v.version), ModelVersionPublic.of)


@router.post(
    "/{asset_id:path}/models/rollback",
    response_model=Envelope[ModelVersionPublic],
    summary="Roll back to the previous (or a chosen) version",
    responses={409: {"description": "No earlier version to return to, or it is already active."}},
)
async def rollback(
    asset_id: AssetPath,
    _key: ModelKey,
    pool: PoolDep,
    service: ServiceDep,
    body: Annotated[ModelRollback | None, Body()] = None,
) -> Envelope[ModelVersionPublic]:
    await repo.get_asset(pool, asset_id)
    if body is not None and body.version is not None:
        target = await repo.get_version(pool, asset_id, body.version)
    else:
        found = await admin.rollback_target(pool, asset_id)
        if found is None:
            raise conflict(f"asset {asset_id!r} has no earlier active version to roll back to")
        target = found
    if target.status is VersionStatus.ACTIVE:
        raise conflict(f"version {target.version} of {asset_id!r} is already active")
    mv = await service.activate(asset_id, target.version, rollback=True)
    return ok(ModelVersionPublic.of(mv))


@router.get(
    "/{asset_id:path}/models/{version}",
    response_model=Envelope[ModelVersionPublic],
    summary="A model version",
)
async def get_model(
    asset_id: AssetPath, version: VersionPath, _key: ReadKey, pool: PoolDep
) -> Envelope[ModelVersionPublic]:
    return ok(ModelVersionPublic.of(await repo.get_version(pool, asset_id, version)))


@router.post(
    "/{asset_id:path}/models/{version}/activate",
    response_model=Envelope[ModelVersionPublic],
    summary="Make a version the active one",
)
async def activate(
    asset_id: AssetPath, version: VersionPath, _key: ModelKey, service: ServiceDep
) -> Envelope[ModelVersionPublic]:
    """The previous active version is retired; workers swap to this one (ModelUpdated, promoted).
    Activating the active version changes nothing but announces it again."""
    mv = await service.activate(asset_id, version, rollback=False)
    return ok(ModelVersionPublic.of(mv))


@router.delete(
    "/{asset_id:path}/models/{version}",
    response_model=Envelope[ModelVersionPublic],
    summary="Delete a candidate version and its bundle",
    responses={409: {"description": "The version is active or retired (only candidates are deleted)."}},
)
async def delete_model(
    asset_id: AssetPath, version: VersionPath, _key: ModelKey, pool: PoolDep, service: ServiceDep
) -> Envelope[ModelVersionPublic]:
    """Only candidates: the active version serves, retired ones are rollback targets."""
    mv = await repo.delete_candidate(pool, asset_id, version)
    try:
        await asyncio.to_thread(service.store.delete, mv.artifact_uri)
    except (ArtifactError, OSError) as exc:
        log.warning(
            "bundle %s of deleted version %s/%d not removed: %s", mv.artifact_uri, asset_id, version, exc
        )
    return ok(ModelVersionPublic.of(mv))
