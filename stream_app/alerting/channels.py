"""Delivery channels: SMTP e-mail (stdlib smtplib, in a thread so the event loop never waits on a
mail server) and webhook (aiohttp POST). Each raises DeliveryError with a loggable reason.

Webhooks go out only through a session from :func:`webhook_session` (the outbound guard: no loopback,
private or link-local address unless the operator allows private ones, checked when the request is made
and again for the address connected) and never follow a redirect."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from typing import Any

import aiohttp
import orjson

from schemas.errors import KilowatchError
from stream_app import outbound
from stream_app.settings import Settings

# Fixed texts of a refused webhook (never the URL, which may carry a token, nor the address).
_REFUSED = {
    outbound.ADDRESS_NOT_ALLOWED: "webhook: refused (address not allowed)",
    outbound.HOST_NOT_ALLOWED: "webhook: refused (host not on the allow-list)",
    outbound.BAD_URL: "webhook: refused (not an http(s) URL with a host)",
    outbound.UNRESOLVABLE: "webhook: host does not resolve",
}
UNGUARDED = "webhook: refused (the session has no outbound guard: use channels.webhook_session)"


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


def webhook_session(settings: Settings) -> aiohttp.ClientSession:
    """The session :func:`post_webhook` needs: guarded by ``settings.outbound`` (call in the event loop)."""
    return outbound.guarded_session(outbound.Policy.from_settings(settings.outbound))


async def post_webhook(
    session: aiohttp.ClientSession, url: str, payload: dict[str, Any], timeout_s: float = 10.0
) -> None:
    """POST the alert; a redirect (3xx) is a failure, never followed. ``session`` must come from
    :func:`webhook_session` (any other session is refused: fail closed)."""
    if not isinstance(session.connector, outbound.GuardedConnector):
        raise DeliveryError(UNGUARDED)
    try:
        async with outbound.request(
            session,
            "POST",
            url,
            data=orjson.dumps(payload),
            headers={"Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            if resp.status >= 300:
                raise DeliveryError(f"webhook answered HTTP {resp.status}")
    except outbound.OutboundRefused as exc:
        # Fixed text: the URL (it may carry a token) and the address stay out of the message.
        raise DeliveryError(_REFUSED.get(exc.reason, _REFUSED[outbound.ADDRESS_NOT_ALLOWED])) from None
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        # The URL may carry a token: the message names the error, never the URL.
        raise DeliveryError(
            f"webhook: {type(exc).__name__}: {str(exc).replace(url, '<webhook url>')}"
        ) from exc
