"""Console users (admin): list, create (with a role), delete. Passwords are never shown again."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.deps import AdminKey, PoolDep
from api.http.envelope import COMMON_RESPONSES, Envelope, ErrorResponse, Meta, Page, ok, ok_page
from api.http.request_context import request_id_of
from api.services import users
from api.services.keys import Principal
from api.services.users import Role
from stream_app.store import audit
from stream_app.store import users as rows

UsernamePath = Annotated[str, Path(max_length=64, description="The user's name.")]
router = APIRouter(prefix="/users", tags=["users"], responses=COMMON_RESPONSES)
USERNAME_PATTERN = users.USERNAME_RE.pattern


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(
        pattern=USERNAME_PATTERN,
        description="1 to 64 characters: letters, digits and _ . @ - (not first).",
    )
    password: str = Field(
        min_length=users.PASSWORD_MIN,
        max_length=users.PASSWORD_MAX,
        description=f"{users.PASSWORD_MIN} to {users.PASSWORD_MAX} characters; only its hash is kept.",
    )
    role: Role = Field(description="admin (everything), operator (read + models), viewer (read).")

    @field_validator("password")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the password is only white space")
        return value


class UserPublic(BaseModel):
    username: str
    role: Role
    scopes: list[str] = Field(description="The scopes the role grants.")
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, row: rows.UserRow) -> UserPublic:
        return cls(
            username=row.username,
            role=row.role,
            scopes=list(users.scopes_of(row.role)),
            created_at=row.created_at,
            last_login_at=row.last_login_at,
        )


@router.get("", response_model=Envelope[Page[UserPublic]], summary="List console users")
async def list_users(_key: AdminKey, pool: PoolDep) -> Envelope[Page[UserPublic]]:
    """Every user in one page (accounts are made by hand: a handful)."""
    return ok_page([UserPublic.of(r) for r in await rows.list_users(pool)], Meta())


@router.post(
    "",
    status_code=201,
    response_model=Envelope[UserPublic],
    summary="Create a console user",
    responses={409: {"model": ErrorResponse, "description": "A user of that name exists (CONFLICT)."}},
)
async def create_user(
    body: UserCreate, key: AdminKey, pool: PoolDep, request: Request
) -> Envelope[UserPublic]:
    """409 CONFLICT when the name is taken. On the audit log as ``user.create`` (never the password)."""
    row = await users.create(pool, body.username, body.role, body.password)
    await audit.record(
        pool, actor_of(key), "user.create", row.username, {"role": row.role}, request_id_of(request.scope)
    )
    return ok(UserPublic.of(row))


@router.delete(
    "/{username}",
    response_model=Envelope[UserPublic],
    summary="Delete a console user",
    responses={409: {"model": ErrorResponse, "description": "The last admin cannot be deleted (CONFLICT)."}},
)
async def delete_user(
    username: UsernamePath, key: AdminKey, pool: PoolDep, request: Request
) -> Envelope[UserPublic]:
    """Ends every session of theirs at once. 409 CONFLICT for the last admin. Audited as ``user.delete``."""
    row = await rows.delete_user(pool, username)
    await audit.record(
        pool, actor_of(key), "user.delete", row.username, {"role": row.role}, request_id_of(request.scope)
    )
    return ok(UserPublic.of(row))


def actor_of(principal: Principal) -> str:
    """Who did it, as the audit log names callers: a console user, or a key by prefix and name."""
    if principal.prefix == "session":
        return principal.name
    return f"api-key:{principal.prefix} ({principal.name})"
