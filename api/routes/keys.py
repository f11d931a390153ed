"""API keys (admin): create (the key is shown once), list (prefixes only), revoke."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminKey, PoolDep, ResourcesDep
from api.http.envelope import COMMON_RESPONSES, Envelope, Page, ok
from api.http.pagination import PageDep, paged
from api.services import keystore
from api.services.keys import KeyRecord, Scope

router = APIRouter(prefix="/api-keys", tags=["api-keys"], responses=COMMON_RESPONSES)


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="Who or what uses the key.")
    scopes: list[Scope] = Field(
        min_length=1,
        max_length=4,
        description="read, write (ingestion), model (training and model control) and/or admin.",
    )
    rate_limit: int | None = Field(
        None, ge=1, le=1_000_000, description="Requests per minute (default: the server's setting)."
    )


class ApiKeyPublic(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str = Field(
        description="The key's public prefix (kw_<prefix>_...); the key is never shown again."
    )
    scopes: list[str]
    rate_limit: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, rec: KeyRecord) -> ApiKeyPublic:
        return cls(
            id=rec.id,
            name=rec.name,
            prefix=rec.prefix,
            scopes=list(rec.scopes),
            rate_limit=rec.rate_limit,
            created_at=rec.created_at,
            last_used_at=rec.last_used_at,
            revoked_at=rec.revoked_at,
        )


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The new key. Store it now: only its hash is kept.")


@router.post("", status_code=201, response_model=Envelope[ApiKeyCreated], summary="Create a key")
async def create_key(body: ApiKeyCreate, _key: AdminKey, pool: PoolDep) -> Envelope[ApiKeyCreated]:
    rec, key = await keystore.create(pool, body.name, body.scopes, body.rate_limit)
    return ok(ApiKeyCreated(**ApiKeyPublic.of(rec).model_dump(), key=key))


@router.get("", response_model=Envelope[Page[ApiKeyPublic]], summary="List keys (prefixes only)")
async def list_keys(_key: AdminKey, pool: PoolDep, page: PageDep) -> Envelope[Page[ApiKeyPublic]]:
    rows = await keystore.list_keys(pool, page)
    return paged(rows, page, lambda r: (r.created_at, r.id), ApiKeyPublic.of)


@router.delete("/{key_id}", response_model=Envelope[ApiKeyPublic], summary="Revoke a key")
async def revoke_key(
    key_id: uuid.UUID, _key: AdminKey, pool: PoolDep, resources: ResourcesDep
) -> Envelope[ApiKeyPublic]:
    """Revoked at once in this process; other API processes stop trusting it within api_key_cache_s."""
    rec = await keystore.revoke(pool, key_id)
    resources.key_cache.forget(rec.id)
    return ok(ApiKeyPublic.of(rec))
