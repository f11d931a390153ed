"""Training data sources refuse what they must with fixed messages: file:// off without a data folder,
paths outside the folders, http(s) to internal addresses (the outbound guard), oversized downloads; a
message never holds the path, the URL's secrets or anything the server answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from stream_app.lifecycle import datasource as ds
from stream_app.settings import Settings


def test_file_urls_are_off_by_default() -> None:
    assert Settings().training.data_file_roots == ()
    with pytest.raises(ds.DataSourceError) as info:
        ds.resolve_file("file:///etc/passwd", Settings().training.data_file_roots)
    assert str(info.value) == ds.FILE_OFF


def test_file_urls_outside_the_folders_are_refused_without_the_path(tmp_path: Path) -> None:
    roots = (tmp_path,)
    for url in ("file:///etc/passwd", f"file://{tmp_path}/../../etc/shadow", "file:///proc/self/environ"):
        with pytest.raises(ds.DataSourceError) as info:
            ds.resolve_file(url, roots)
        assert str(info.value) == ds.FILE_OUTSIDE
        assert "/etc" not in str(info.value) and "/proc" not in str(info.value)
    with pytest.raises(ds.DataSourceError) as info:
        ds.resolve_file("file://otherhost/data.csv", roots)
    assert str(info.value) == ds.FILE_HOST
    inside = tmp_path / "a.csv"
    assert ds.resolve_file(inside.as_uri(), roots) == inside.resolve()


async def test_a_missing_file_names_no_path(tmp_path: Path) -> None:
    settings = Settings(data_file_roots=(tmp_path,))
    with pytest.raises(ds.DataSourceError) as info:
        await ds.fetch((tmp_path / "nope.csv").as_uri(), "a", tmp_path / "out.csv", settings, None)  # type: ignore[arg-type]
    assert str(info.value) == ds.FILE_MISSING and str(tmp_path) in info.value.detail


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:{port}/secret", ds.REFUSED_ADDRESS),
        ("http://localhost:{port}/secret", ds.REFUSED_ADDRESS),
        ("http://[::1]:{port}/secret", ds.REFUSED_ADDRESS),
        ("http://2130706433:{port}/secret", ds.REFUSED_ADDRESS),
        ("http://0x7f.1:{port}/secret", ds.REFUSED_ADDRESS),
        ("http://[::ffff:127.0.0.1]:{port}/secret", ds.REFUSED_ADDRESS),
        ("http://127.1:{port}/secret", ds.REFUSED_ADDRESS),
        ("http://10.0.0.1/", ds.REFUSED_ADDRESS),
        ("http://169.254.169.254/latest/meta-data/", ds.REFUSED_ADDRESS),
        ("http://user:pw-123456@127.0.0.1:{port}/secret?token=tok-123456", ds.REFUSED_ADDRESS),
    ],
)
async def test_http_to_internal_addresses_is_refused(tmp_path: Path, url: str, message: str) -> None:
    async with secret_server() as (port, hits):
        dest = tmp_path / "out.csv"
        with pytest.raises(ds.DataSourceError) as info:
            await ds.fetch(url.format(port=port), "a", dest, Settings(), None)  # type: ignore[arg-type]
        assert str(info.value) == message
        assert hits == [] and not dest.exists()
        for text in (str(info.value), info.value.detail):
            assert "pw-123456" not in text and "tok-123456" not in text and "SECRET" not in text


async def test_redirect_to_loopback_is_refused(tmp_path: Path) -> None:
    """The first hop is allowed (allow-private + allow-list naming 127.0.0.1); the redirect target is not."""
    async with secret_server() as (port, hits):
        settings = Settings(outbound_allow_private=True, outbound_allow_hosts=("127.0.0.1",))
        url = f"http://127.0.0.1:{port}/r?to=http://localhost:{port}/secret"
        with pytest.raises(ds.DataSourceError) as info:
            await ds.fetch(url, "a", tmp_path / "o.csv", settings, None)  # type: ignore[arg-type]
        assert str(info.value) == ds.REFUSED_HOST and hits == []
        # Allowed, the same server gives its data; over the size limit it is a fixed message.
        size = await ds.fetch(f"http://127.0.0.1:{port}/secret", "a", tmp_path / "o.csv", settings, None)  # type: ignore[arg-type]
        assert size == len(BODY) and hits == ["/secret"]
        small = settings.with_changes(data_url_max_bytes=1024)
        with pytest.raises(ds.DataSourceError) as info:
            await ds.fetch(f"http://127.0.0.1:{port}/big", "a", tmp_path / "o.csv", small, None)  # type: ignore[arg-type]
        assert "over the 1024-byte limit" in str(info.value) and "SECRET" not in str(info.value)
        with pytest.raises(ds.DataSourceError) as info:
            await ds.fetch(f"http://127.0.0.1:{port}/missing", "a", tmp_path / "o.csv", settings, None)  # type: ignore[arg-type]
        assert str(info.value) == f"{ds.DOWNLOAD_FAILED}: the server answered HTTP 404"


BODY = b"timestamp,SECRET-COLUMN\n2024-01-01,1\n"


@asynccontextmanager
async def secret_server() -> AsyncIterator[tuple[int, list[str]]]:
    hits: list[str] = []

    async def secret(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=BODY)

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"SECRET" * 1000)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    app = web.Application()
    app.router.add_get("/secret", secret)
    app.router.add_get("/big", big)
    app.router.add_get("/r", redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1], hits  # type: ignore[union-attr]
    finally:
        await runner.cleanup()
