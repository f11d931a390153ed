"""Real PostgreSQL schema, SMTP server (aiosmtpd) and HTTP server for the alerting tests."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from schemas.events import Anomaly, anomaly_event_id
from stream_app.settings import Settings

MIGRATION = Path(__file__).resolve().parents[2] / "stream_app/store/migrations/0050_alerting.sql"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def apply_migration(conn: asyncpg.Connection) -> None:
    """Until `kilowatch db upgrade` lands, the tests apply the migration file directly."""
    await conn.execute(MIGRATION.read_text())


@pytest.fixture
async def pg_pool() -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh schema of the local PostgreSQL with the alerting tables."""
    settings = Settings()
    schema = f"alert_it_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(settings.postgres.dsn())
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    pool = await asyncpg.create_pool(
        settings.postgres.dsn(), min_size=1, max_size=4, server_settings={"search_path": schema}
    )
    assert pool is not None
    async with pool.acquire() as conn:
        await apply_migration(conn)
    try:
        yield pool
    finally:
        await pool.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


class Hook:
    """An HTTP endpoint answering the queued statuses in turn (then 200), recording JSON bodies."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[dict[str, Any]] = []
        self.answers: list[int] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        status = self.statuses.pop(0) if self.statuses else 200
        self.answers.append(status)
        return web.Response(status=status, text="ok")


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[Hook, str]]:
    hook = Hook([])
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield hook, f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


def anomaly(
    asset: str, ts: datetime, score: float = 0.999, kind: str = "spike", value: float = 180.0
) -> Anomaly:
    return Anomaly(
        event_id=anomaly_event_id(asset, ts, "online-seasonal"),
        asset_id=asset,
        timestamp=ts,
        value=value,
        expected=100.0,
        lower=80.0,
        upper=120.0,
        score=score,
        type=kind,  # type: ignore[arg-type]
        reason=f"Exceeds predicted value by {value - 100:.0f}%",
        detector="online-seasonal",
        model_version="online-1",
        detected_at=datetime.now(UTC),
    )
