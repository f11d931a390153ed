"""Webhooks: an error never carries the webhook URL (it may hold a token); the sender refuses internal
addresses (the outbound guard), sessions without the guard, and never follows a redirect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from stream_app.alerting import channels
from stream_app.alerting.channels import DeliveryError, post_webhook, webhook_session
from stream_app.settings import Settings


@pytest.mark.parametrize("url", ["http://[bad-host/hooks/tok-123456", "ftp://hooks.example/tok-123456"])
async def test_webhook_errors_do_not_leak_the_url(url: str) -> None:
    async with webhook_session(Settings()) as session:
        with pytest.raises(DeliveryError) as info:
            await post_webhook(session, url, {"kind": "alert"}, timeout_s=2)
    assert "tok-123456" not in str(info.value)
    assert str(info.value).startswith("webhook: ")


@asynccontextmanager
async def sink() -> AsyncIterator[tuple[int, list[str]]]:
    got: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(request.path)
        return web.Response(status=204)

    async def moved(request: web.Request) -> web.Response:
        got.append(request.path)
        raise web.HTTPTemporaryRedirect("/hook")

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/moved", moved)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1], got  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook?token=tok-123456",
        "http://localhost:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
    ],
)
async def test_webhooks_to_internal_addresses_are_refused(url: str) -> None:
    async with sink() as (port, got), webhook_session(Settings()) as session:
        with pytest.raises(DeliveryError) as info:
            await post_webhook(session, url.format(port=port), {"kind": "alert"}, timeout_s=2)
    assert str(info.value) == "webhook: refused (address not allowed)"
    assert got == []


async def test_an_unguarded_session_is_refused() -> None:
    async with sink() as (port, got), aiohttp.ClientSession() as session:
        with pytest.raises(DeliveryError) as info:
            await post_webhook(session, f"http://127.0.0.1:{port}/hook", {"kind": "alert"}, timeout_s=2)
    assert str(info.value) == channels.UNGUARDED and got == []


async def test_with_private_addresses_allowed_a_local_sink_works_and_redirects_are_not_followed() -> None:
    settings = Settings(outbound_allow_private=True)
    async with sink() as (port, got), webhook_session(settings) as session:
        await post_webhook(session, f"http://127.0.0.1:{port}/hook", {"kind": "alert"}, timeout_s=2)
        assert got == ["/hook"]
        with pytest.raises(DeliveryError, match="answered HTTP 307"):
            await post_webhook(session, f"http://127.0.0.1:{port}/moved", {"kind": "alert"}, timeout_s=2)
        assert got == ["/hook", "/moved"]  # the redirect target was not posted to
