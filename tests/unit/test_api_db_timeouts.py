"""The API's pool against a database that accepts connections and never answers (what a SIGSTOP'd
PostgreSQL looks like to a client): every wait ends within the bound, as an outage of PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import pytest

from api.http.outages import OUTAGE_ERRORS, service_of
from stream_app.settings import Settings
from stream_app.store.pool import BoundedPool, create_pool


async def _silent_server() -> tuple[asyncio.Server, int, list[asyncio.StreamWriter]]:
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # keep the socket open, answer nothing

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], held


async def test_a_silent_database_is_a_postgres_outage_within_the_bound() -> None:
    server, port, held = await _silent_server()
    try:
        settings = Settings(postgres_port=port, postgres_pool_min=0)  # type: ignore[call-arg]
        pool = await create_pool(settings, acquire_timeout=0.3, command_timeout=0.3, timeout=0.3)
        assert isinstance(pool, BoundedPool)
        started = time.monotonic()
        with pytest.raises(OUTAGE_ERRORS) as caught:
            await pool.fetchval("SELECT 1")
        assert time.monotonic() - started < 1.5
        assert service_of(caught.value) == "PostgreSQL"
        pool.terminate()
    finally:
        for w in held:
            w.close()
        server.close()
        await server.wait_closed()


async def test_acquire_is_bounded_even_when_connecting_is_not() -> None:
    """``acquire_timeout`` bounds the wait for a connection whatever it waits on (here a connect
    with asyncpg's 30 s timeout): the caller gets TimeoutError from asyncpg's pool in 0.3 s."""
    server, port, held = await _silent_server()
    try:
        settings = Settings(postgres_port=port, postgres_pool_min=0)  # type: ignore[call-arg]
        pool = await create_pool(settings, acquire_timeout=0.3, command_timeout=30, timeout=30)
        started = time.monotonic()
        with pytest.raises(TimeoutError) as caught:
            async with pool.acquire():
                pass
        assert time.monotonic() - started < 1.5
        assert service_of(caught.value) == "PostgreSQL"
        pool.terminate()
    finally:
        for w in held:
            w.close()
        server.close()
        await server.wait_closed()
