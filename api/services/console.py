"""Which file of the built console (``console/dist``) answers a path under /admin, with its cache policy.

- ``assets/...`` (Vite's content-hashed names): cached for a year, immutable — a new build has new names.
- any other existing file (favicon, index.html itself): revalidated on every load (``no-cache``).
- a path that is not a file and has no extension: a client route of the single-page application, answered
  with index.html (``no-cache``) so a reload of /admin/assets/... in the browser's address bar works.
- a missing path with an extension (``/admin/assets/gone.js``): 404, not index.html (a stale page must
  see its script fail, not parse HTML as JavaScript).
Paths are resolved inside the console folder only (no ``..``, no symlinks out of it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# The console's own scripts and styles only; the API is the same origin. ECharts sets inline styles.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class Found:
    path: Path
    cache_control: str


def built(root: Path) -> bool:
    return (root / "index.html").is_file()


def resolve(root: Path, sub: str) -> Found | None:
    """The file that answers ``/admin/<sub>``, or None (404). Assumes :func:`built`."""
    parts = PurePosixPath(sub).parts
    if any(p in ("..", "") or p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
        return None
    index = Found(root / "index.html", REVALIDATE)
    if not parts:
        return index
    base = root.resolve()
    candidate = (root.joinpath(*parts)).resolve()
    if not candidate.is_relative_to(base):
        return None
    if candidate.is_file():
        hashed = parts[0] == "assets" and len(parts) > 1
        return Found(candidate, IMMUTABLE if hashed else REVALIDATE)
    if "." in parts[-1]:
        return None
    return index


UNBUILT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kilowatch console not built</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>The kilowatch console is not built</h1>
<p>This API serves the console from <code>{folder}</code>, which has no <code>index.html</code>.</p>
<p>Build it with <code>make console</code> (Node.js 20 and npm), or set
<code>KILOWATCH_API_CONSOLE_DIR</code> to a built console, then reload this page.
The REST API under <code>/api/v1</code> works without it.</p>
<p lang="zh-CN">管理控制台尚未构建。请运行 <code>make console</code> 后刷新此页面。</p>
</body></html>
"""
