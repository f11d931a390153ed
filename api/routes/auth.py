"""Console sign-in: ``POST /auth/login`` sets the session cookies, ``POST /auth/logout`` ends the session,
``GET /auth/me`` says who is calling (a session or a key) and with which scopes."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ReadKey, ResourcesDep, SettingsDep, sign_in_failed, throttle_sign_in
from api.http.envelope import COMMON_RESPONSES, Envelope, ok
from api.http.errors import ApiError, Code
from api.services import sessions, users
from api.services.users import Role
from stream_app.settings import Settings

router = APIRouter(prefix="/auth", tags=["auth"], responses=COMMON_RESPONSES)
LOGIN_PATH = "/auth/login"


class LoginCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64, description="The console user's name.")
    password: str = Field(min_length=1, max_length=users.PASSWORD_MAX, description="Their password.")


class SessionPublic(BaseModel):
    username: str = Field(description="The user (for an API key: the key's name).")
    role: Role | None = Field(description="admin, operator or viewer; null for an API key.")
    scopes: list[str] = Field(description="What the caller may do (the role's scopes, or the key's).")
    expires_at: datetime | None = Field(description="When the session ends; null for an API key.")


class LogoutPublic(BaseModel):
    signed_out: bool = Field(description="Whether a session was ended (false: it had ended already).")


def same_origin(request: Request, settings: Settings) -> bool:
    """Whether a sign-in may come from where the browser says it comes from: no Origin header (not a
    browser's cross-site form), the API's own origin, or an origin allowed by ``api_cors_origins``.
    Refuses login CSRF: a page elsewhere signing the visitor in to an account of its choosing."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin in settings.api.cors_origins:
        return True
    host = request.headers.get("host", "")
    return bool(host) and origin in (f"http://{host}", f"https://{host}")


def _set_cookies(response: Response, request: Request, settings: Settings, new: sessions.NewSession) -> None:
    secure = settings.api.cookie_secure or request.url.scheme == "https"
    max_age = int(settings.api.session_ttl_s)
    response.set_cookie(
        sessions.SESSION_COOKIE,
        new.token,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )
    response.set_cookie(
        sessions.CSRF_COOKIE,
        new.csrf,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=False,  # the page reads it and echoes it in X-CSRF-Token
        samesite="strict",
    )


def _clear_cookies(response: Response) -> None:
    for name in (sessions.SESSION_COOKIE, sessions.CSRF_COOKIE):
        response.delete_cookie(name, path="/", samesite="strict", httponly=name == sessions.SESSION_COOKIE)


@router.post(
    "/login",
    response_model=Envelope[SessionPublic],
    summary="Sign in to the console (sets the kw_session and kw_csrf cookies)",
)
async def login(
    body: LoginCreate, request: Request, response: Response, resources: ResourcesDep, settings: SettingsDep
) -> Envelope[SessionPublic]:
    """401 on a wrong name or password (the same answer for both); 429 after too many attempts from one
    address or at one user name in a minute; 403 when a browser sends it from another origin."""
    if not same_origin(request, settings):
        raise ApiError(403, Code.FORBIDDEN, "cross_origin")
    await throttle_sign_in(request, resources, body.username)
    pool = await resources.pool()
    user = await users.check_password(pool, body.username, body.password)
    if user is None:
        await sign_in_failed(request, resources, body.username)
        raise ApiError(401, Code.UNAUTHORIZED, "login_failed")
    new = await sessions.open_session(pool, user.username, settings.api.session_ttl_s)
    _set_cookies(response, request, settings, new)
    scopes = list(users.scopes_of(user.role))
    return ok(SessionPublic(username=user.username, role=user.role, scopes=scopes, expires_at=new.expires_at))


@router.post("/logout", response_model=Envelope[LogoutPublic], summary="Sign out (ends the session)")
async def logout(
    request: Request, response: Response, _key: ReadKey, resources: ResourcesDep
) -> Envelope[LogoutPublic]:
    """Ends the calling session at once (the row is deleted) and clears the cookies. With the session
    cookie it needs X-CSRF-Token like every state-changing call; with an API key it does nothing."""
    token = request.cookies.get(sessions.SESSION_COOKIE)
    ended = False
    if getattr(request.state, "session", None) is not None and token:
        ended = await sessions.close(await resources.pool(), token)
        _clear_cookies(response)
    return ok(LogoutPublic(signed_out=ended))


@router.get("/me", response_model=Envelope[SessionPublic], summary="Who is calling")
async def me(request: Request, key: ReadKey) -> Envelope[SessionPublic]:
    session: sessions.Session | None = getattr(request.state, "session", None)
    if session is not None:
        return ok(
            SessionPublic(
                username=session.username,
                role=session.role,
                scopes=sorted(session.principal.scopes),
                expires_at=session.expires_at,
            )
        )
    return ok(SessionPublic(username=key.name, role=None, scopes=sorted(key.scopes), expires_at=None))
