"""Stop and restart one of this checkout's real services (``kilowatch infra down/up --only``) for
outage tests. Run these tests on an infra of their own: stopping a service hits every user of it."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from stream_app.settings import Settings
from tests.integration.harness import KILOWATCH, ROOT


def infra(action: str, service: str) -> None:
    subprocess.run(
        [KILOWATCH, "infra", action, "--only", service],
        cwd=ROOT,
        check=True,
        timeout=180,
        capture_output=True,
    )


async def postgres_reachable(settings: Settings) -> bool:
    try:
        _reader, writer = await asyncio.open_connection(settings.postgres.host, settings.postgres.port)
    except OSError:
        return False
    writer.close()
    return True


@asynccontextmanager
async def stopped(service: str) -> AsyncIterator[None]:
    """``service`` is down inside the block and up (started again) after it, also on failure."""
    await asyncio.to_thread(infra, "down", service)
    try:
        yield
    finally:
        await asyncio.to_thread(infra, "up", service)
