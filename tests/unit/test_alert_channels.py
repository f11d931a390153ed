"""A webhook error never carries the webhook URL (it may hold a token)."""

from __future__ import annotations

import aiohttp
import pytest

from stream_app.alerting.channels import DeliveryError, post_webhook


@pytest.mark.parametrize("url", ["http://[bad-host/hooks/tok-123456", "ftp://hooks.example/tok-123456"])
async def test_webhook_errors_do_not_leak_the_url(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(DeliveryError) as info:
            await post_webhook(session, url, {"kind": "alert"}, timeout_s=2)
    assert "tok-123456" not in str(info.value)
    assert str(info.value).startswith("webhook: ")
