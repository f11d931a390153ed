"""Training data: a ``data_url`` (file:// or http(s):// CSV, or ``dataset:<uuid>``, an uploaded
dataset) or the asset's own history, into a file.

A dataset's series (its preprocessed series when it has one, else the readings as uploaded) is written
as the history path writes it: ``timestamp,value`` in UTC, the newest ``history_max_rows`` readings
(missing values left out), at most ``data_url_max_bytes``.

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
import csv
import io
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

import aiohttp
import asyncpg
import numpy as np
import numpy.typing as npt
import pandas as pd

from schemas.errors import KilowatchError
from stream_app import outbound
from stream_app.settings import Settings
from stream_app.store import datasets, history
from stream_app.store.repository import NotFound

HISTORY = "history"
DATASET = "dataset:"

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
DATASET_ID = "data_url must be dataset:<uuid> (the id of an uploaded dataset)"
DATASET_MISSING = "dataset does not exist"
DATASET_EMPTY = "dataset has no readings"
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


def dataset_id(data_url: str) -> uuid.UUID | None:
    """The dataset a ``dataset:<uuid>`` data_url names (pure); None for any other data_url;
    DataSourceError(DATASET_ID) when it starts ``dataset:`` but the rest is not a UUID."""
    if data_url[: len(DATASET)].lower() != DATASET:
        return None
    text = data_url[len(DATASET) :]
    if len(text) != 36:  # the canonical 8-4-4-4-12 form only
        raise DataSourceError(DATASET_ID)
    try:
        return uuid.UUID(text)
    except ValueError:
        raise DataSourceError(DATASET_ID) from None


def dataset_url(ident: uuid.UUID) -> str:
    return f"{DATASET}{ident}"


def describe(data_url: str | None) -> str:
    """The source as shown in logs: URLs without credentials or query strings."""
    if data_url is None or data_url == HISTORY:
        return "the asset's readings history"
    if data_url.lower().startswith(DATASET):
        return f"dataset {data_url[len(DATASET) :]}"
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
    ident = dataset_id(data_url)
    if ident is not None:
        data = await _dataset_csv(pool, ident, settings)
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
        f"unsupported data_url scheme {scheme!r} (use file://, http://, https://, dataset:<uuid> or history)"
    )


async def _dataset_csv(pool: asyncpg.Pool, ident: uuid.UUID, settings: Settings) -> bytes:
    """The dataset's series (preprocessed if it has one) as ``timestamp,value`` CSV bytes."""
    async with pool.acquire() as conn:
        try:
            dataset = await datasets.get(conn, ident)
        except NotFound:
            raise DataSourceError(DATASET_MISSING, str(ident)) from None
        series = datasets.PROCESSED if await datasets.has_processed(conn, ident) else datasets.RAW
        frame = await datasets.frame(conn, dataset, series)
    values = frame["value"].dropna().tail(settings.training.history_max_rows)
    if values.empty:
        raise DataSourceError(DATASET_EMPTY, str(ident))
    data = await asyncio.to_thread(_series_csv, values.index.tz_convert("UTC"), values.to_numpy())
    limit = settings.training.data_url_max_bytes
    if len(data) > limit:
        raise DataSourceError(f"dataset series is {len(data)} bytes, over the {limit}-byte limit", str(ident))
    return data


def _series_csv(index: pd.DatetimeIndex, values: npt.NDArray[np.float64]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["timestamp", "value"])
    for t, v in zip(index, values, strict=True):
        writer.writerow([t.isoformat(), repr(float(v))])
    return buf.getvalue().encode()


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
