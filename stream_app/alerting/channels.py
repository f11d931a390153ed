"""Delivery channels: SMTP e-mail (stdlib smtplib, in a thread so the event loop never waits on a
mail server) and webhook (aiohttp POST). Each raises DeliveryError with a loggable reason."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from typing import Any

import aiohttp
import orjson

from schemas.errors import KilowatchError
from stream_app.settings import Settings


class DeliveryError(KilowatchError):
    """A channel could not deliver a message (retried later)."""


def _send_email_sync(settings: Settings, to: str, subject: str, body: str, timeout_s: float) -> None:
    msg = EmailMessage()
    msg["From"] = settings.alerting.sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    with smtplib.SMTP(settings.alerting.smtp_host, settings.alerting.smtp_port, timeout=timeout_s) as smtp:
        if settings.alerting.smtp_starttls:
            smtp.starttls()
        if settings.alerting.smtp_user and settings.alerting.smtp_password:
            smtp.login(settings.alerting.smtp_user, settings.alerting.smtp_password.get_secret_value())
        smtp.send_message(msg)


async def send_email(settings: Settings, to: str, subject: str, body: str, timeout_s: float = 10.0) -> None:
    try:
        await asyncio.to_thread(_send_email_sync, settings, to, subject, body, timeout_s)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(
            f"smtp {settings.alerting.smtp_host}:{settings.alerting.smtp_port}: {exc}"
        ) from exc


async def post_webhook(
    session: aiohttp.ClientSession, url: str, payload: dict[str, Any], timeout_s: float = 10.0
) -> None:
    try:
        async with session.post(
            url,
            data=orjson.dumps(payload),
            headers={"Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            if resp.status >= 300:
                raise DeliveryError(f"webhook answered HTTP {resp.status}")
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        # The URL may carry a token: the message names the error, never the URL.
        raise DeliveryError(
            f"webhook: {type(exc).__name__}: {str(exc).replace(url, '<webhook url>')}"
        ) from exc
