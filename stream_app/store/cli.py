"""``kilowatch db upgrade | status``."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from stream_app.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("db", help="PostgreSQL schema migrations")
    actions = parser.add_subparsers(dest="db_action", required=True)
    actions.add_parser("upgrade", help="apply pending migrations (idempotent)").set_defaults(handler=_upgrade)
    actions.add_parser("status", help="applied and pending migrations; exit 1 if any pending").set_defaults(
        handler=_status
    )


def _upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from stream_app.store import migrations
    from stream_app.store.pool import connect

    async def go() -> list[str]:
        conn = await connect(settings)
        try:
            return await migrations.upgrade(conn)
        finally:
            await conn.close()

    done = asyncio.run(go())
    print("\n".join(f"applied {label}" for label in done) if done else "schema is current")
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from stream_app.store import migrations
    from stream_app.store.pool import connect

    async def go() -> tuple[list[migrations.Applied], list[migrations.Migration]]:
        conn = await connect(settings)
        try:
            return await migrations.status(conn)
        finally:
            await conn.close()

    applied, todo = asyncio.run(go())
    for a in applied:
        print(f"applied  {a.version:04d}_{a.name}")
    for m in todo:
        print(f"pending  {m.label}")
    return 1 if todo else 0
