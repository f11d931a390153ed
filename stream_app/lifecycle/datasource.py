"""Training data: a ``data_url`` (file:// or http(s):// CSV) or the asset's own history, into a file.

The bytes land in the job's work folder; the child process parses them (parsing is CPU work and must
not run on the worker's event loop). Limits: size (``data_url_max_bytes``), time
(``data_url_timeout_s``), file:// only under ``data_file_roots`` (none by default: file:// is off until
an operator names a data folder), and http(s) only to addresses the outbound guard allows
(``stream_app.outbound``: no loopback, private, link-local ... hosts, each redirect hop checked).

A :class:`DataSourceError`'s message is a fixed text a job error and the API may show: it never holds
the URL's credentials, a server path, an address or anything the server answered. What went wrong in
detail is in ``detail``, for the worker's log only.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import unquote, urlparse

import aiohttp
import asyncpg

from schemas.errors import KilowatchError
from stream_app import outbound
from stream_app.settings import Settings
from stream_app.store import history

HISTORY = "history"

# Fixed messages (tests and docs name them).
REFUSED_ADDRESS = "data_url refused: address not allowed"
REFUSED_HOST = "data_url refused: host not on the allow-list (setting outbound_allow_hosts)"
REFUSED_REDIRECTS = "data_url refused: too many redirects"
REFUSED_URL = "data_url refused: not an http(s) URL with a host"
UNRESOLVABLE = "data download failed: host does not resolve"
FILE_OFF = "data_url refused: file:// data is off (no data folder configured: setting data_file_roots)"
FILE_HOST = "data_url refused: file URL with a host is not supported"
FILE_OUTSIDE = "data_url refused: the file is outside the allowed data folders (setting data_file_roots)"
FILE_MISSING = "data file does not exist"
DOWNLOAD_FAILED = "data download failed"
_BY_REASON = {
    outbound.ADDRESS_NOT_ALLOWED: REFUSED_ADDRESS,
    outbound.HOST_NOT_ALLOWED: REFUSED_HOST,
    outbound.TOO_MANY_REDIRECTS: REFUSED_REDIRECTS,
    outbound.BAD_URL: REFUSED_URL,
    outbound.UNRESOLVABLE: UNRESOLVABLE,
}


class DataSourceError(KilowatchError):
    """The training data could not be obtained (refused URL, unreachable, too large, no history).
    ``str()`` is a fixed message safe to show; ``detail`` is for the worker's log."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def describe(data_url: str | None) -> str:
    """The source as shown in logs: URLs without credentials or query strings."""
    if data_url is None or data_url == HISTORY:
        return "the asset's readings history"
    p = urlparse(data_url)
    host = p.hostname or ""
    return f"{p.scheme}://{host}{p.path}" if p.scheme in ("http", "https") else data_url


def resolve_file(data_url: str, roots: tuple[Path, ...]) -> Path:
    """The local path of a file:// URL, which must lie under one of ``roots`` (pure; no roots: refused)."""
    if not roots:
        raise DataSourceError(FILE_OFF)
    p = urlparse(data_url)
    if p.netloc not in ("", "localhost"):
        raise DataSourceError(FILE_HOST, f"host {p.netloc!r}")
    path = Path(unquote(p.path)).resolve()
    if not any(path.is_relative_to(r.resolve()) for r in roots):
        raise DataSourceError(FILE_OUTSIDE, str(path))
    return path


async def fetch(
    data_url: str | None, asset_id: str, dest: Path, settings: Settings, pool: asyncpg.Pool
) -> int:
    """Write the training CSV to ``dest``; returns its size in bytes."""
    if data_url is None or data_url == HISTORY:
        data, rows = await history.fetch_csv(pool, asset_id, settings.training.history_max_rows)
        if rows == 0:
            raise DataSourceError(f"no readings history for asset {asset_id!r} (is the history sink on?)")
        await asyncio.to_thread(dest.write_bytes, data)
        return len(data)
    scheme = urlparse(data_url).scheme.lower()
    if scheme == "file":
        return await asyncio.to_thread(
            _copy_file,
            resolve_file(data_url, settings.training.data_file_roots),
            dest,
            settings.training.data_url_max_bytes,
        )
    if scheme in ("http", "https"):
        return await _download(data_url, dest, settings)
    raise DataSourceError(
        f"unsupported data_url scheme {scheme!r} (use file://, http://, https:// or history)"
    )


def _copy_file(src: Path, dest: Path, limit: int) -> int:
    if not src.is_file():
        raise DataSourceError(FILE_MISSING, str(src))
    size = src.stat().st_size
    if size > limit:
        raise DataSourceError(f"data file is {size} bytes, over the {limit}-byte limit", str(src))
    dest.write_bytes(src.read_bytes())
    return size


async def _download(url: str, dest: Path, settings: Settings) -> int:
    limit = settings.training.data_url_max_bytes
    timeout_s = settings.training.data_url_timeout_s
    shown = describe(url)
    policy = outbound.Policy.from_settings(settings.outbound)
    size = 0
    try:
        async with (
            outbound.guarded_session(policy, timeout_s) as session,
            outbound.open_following(session, url) as resp,
        ):
            if resp.status != 200:
                raise DataSourceError(
                    f"{DOWNLOAD_FAILED}: the server answered HTTP {resp.status}", f"GET {shown}"
                )
            if resp.content_length is not None and resp.content_length > limit:
                raise DataSourceError(
                    f"{DOWNLOAD_FAILED}: {resp.content_length} bytes, over the {limit}-byte limit",
                    f"GET {shown}",
                )
            with dest.open("wb") as out:
                async for chunk in resp.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if size > limit:
                        raise DataSourceError(
                            f"{DOWNLOAD_FAILED}: larger than the {limit}-byte limit", f"GET {shown}"
                        )
                    out.write(chunk)
    except outbound.OutboundRefused as exc:
        raise DataSourceError(
            _BY_REASON.get(exc.reason, REFUSED_ADDRESS), f"GET {shown}: {exc.detail}"
        ) from None
    except TimeoutError:
        raise DataSourceError(f"{DOWNLOAD_FAILED}: timed out after {timeout_s:g} s", f"GET {shown}") from None
    except aiohttp.ClientError as exc:
        detail = f"GET {shown}: {type(exc).__name__}: {str(exc).replace(url, shown)}"
        raise DataSourceError(DOWNLOAD_FAILED, detail) from None
    return size
