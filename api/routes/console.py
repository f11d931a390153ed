"""The built console under /admin (same origin as the API; not in the OpenAPI document). The page itself
is public, as any sign-in page is: everything it shows comes from /api/v1, which needs a session or key."""

from __future__ import annotations

import html

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from api.deps import SettingsDep
from api.http.errors import RETRY_AFTER_S
from api.services import console

router = APIRouter(include_in_schema=False)


@router.get("/admin")
async def admin_root() -> RedirectResponse:
    return RedirectResponse("/admin/", status_code=308)


@router.get("/admin/{sub:path}")
async def admin_file(sub: str, settings: SettingsDep) -> Response:
    root = settings.api.console_dir
    if not console.built(root):
        page = console.UNBUILT_PAGE.format(folder=html.escape(str(root)))
        headers = {"Retry-After": str(RETRY_AFTER_S), "Cache-Control": "no-store", **console.SECURITY_HEADERS}
        return HTMLResponse(page, status_code=503, headers=headers)
    found = console.resolve(root, sub)
    if found is None:
        return HTMLResponse(
            "<!doctype html><title>Not found</title><p>Not found.</p>",
            status_code=404,
            headers={"Cache-Control": "no-cache", **console.SECURITY_HEADERS},
        )
    return FileResponse(
        found.path, headers={"Cache-Control": found.cache_control, **console.SECURITY_HEADERS}
    )
