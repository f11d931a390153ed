"""Training data: a ``data_url`` (file:// or http(s):// CSV) or the asset's own history, into a file.

The bytes land in the job's work folder; the child process parses them (parsing is CPU work and must
not run on the worker's event loop). Limits: size (``data_url_max_bytes``), time
(``data_url_timeout_s``), and file:// only under ``data_file_roots`` (a training request must not read
arbitrary server files).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import unquote, urlparse

import aiohttp
import asyncpg

from schemas.errors import KilowatchError
from stream_app.settings import Settings
from stream_app.store import history

HISTORY = "history"


class DataSourceError(KilowatchError):
    """The training data could not be obtained (bad URL, unreachable, too large, too few rows)."""


def describe(data_url: str | None) -> str:
    """The source as shown in logs: URLs without credentials or query strings."""
    if data_url is None or data_url == HISTORY:
        return "the asset's readings history"
    p = urlparse(data_url)
    host = p.hostname or ""
    return f"{p.scheme}://{host}{p.path}" if p.scheme in ("http", "https") else data_url


def resolve_file(data_url: str, roots: tuple[Path, ...]) -> Path:
    """The local path of a file:// URL, which must lie under one of ``roots`` (pure)."""
    p = urlparse(data_url)
    if p.netloc not in ("", "localhost"):
        raise DataSourceError(f"file URL with a host is not supported: {data_url}")
    path = Path(unquote(p.path)).resolve()
    if not any(path.is_relative_to(r.resolve()) for r in roots):
        raise DataSourceError(f"{path} is outside the allowed data folders (setting data_file_roots)")
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
        raise DataSourceError(f"data file {src} does not exist")
    size = src.stat().st_size
    if size > limit:
        raise DataSourceError(f"data file {src} is {size} bytes, more than the {limit}-byte limit")
    dest.write_bytes(src.read_bytes())
    return size


async def _download(url: str, dest: Path, settings: Settings) -> int:
    limit = settings.training.data_url_max_bytes
    timeout = aiohttp.ClientTimeout(total=settings.training.data_url_timeout_s)
    shown = describe(url)
    size = 0
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as resp:
            if resp.status != 200:
                raise DataSourceError(f"GET {shown} answered HTTP {resp.status}")
            if resp.content_length is not None and resp.content_length > limit:
                raise DataSourceError(f"{shown} is {resp.content_length} bytes, over the {limit}-byte limit")
            with dest.open("wb") as out:
                async for chunk in resp.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if size > limit:
                        raise DataSourceError(f"{shown} is larger than the {limit}-byte limit")
                    out.write(chunk)
    except TimeoutError:
        raise DataSourceError(
            f"GET {shown} timed out after {settings.training.data_url_timeout_s:g} s"
        ) from None
    except aiohttp.ClientError as exc:
        raise DataSourceError(f"GET {shown} failed: {type(exc).__name__}: {exc}") from None
    return size
