"""Resetting one asset's detector state: ``kilowatch reset-asset ASSET_ID`` (and the API's
``POST /api/v1/assets/{id}/reset``, which uses the same event and audit entry).

Why a message and not a direct delete: the state lives in the worker that owns the asset's readings
partition (its RocksDB table, backed by a changelog topic), and only that worker may change it. The
reset is an ``AssetReset`` control message on the *readings* topic keyed by ``asset_id``, so Kafka
routes it to that partition and its owner meets it in order with the asset's readings: it tombstones
the asset's records (table and changelog) and drops its cached state (``ScoringPipeline.reset``).
This holds with any number of workers, across rebalances (the message waits in the partition for
whoever owns it next) and across crashes (an uncommitted reset is redelivered and applied again).

The action is audit-logged in PostgreSQL (``audit_log``) before it is published.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import uuid
from typing import Any

from schemas.errors import InfraError, KilowatchError
from schemas.events import ASSET_ID_PATTERN, AssetReset, utc_now
from stream_app.settings import Settings

AUDIT_ACTION = "asset.reset"


def reset_event(asset_id: str, requested_by: str, reason: str = "") -> AssetReset:
    """The control message (validates the asset id and the lengths)."""
    return AssetReset(
        control="reset_asset",
        reset_id=uuid.uuid4(),
        asset_id=asset_id,
        requested_by=requested_by[:200],
        reason=reason,
        requested_at=utc_now(),
    )


def message(event: AssetReset) -> tuple[bytes, bytes]:
    """(key, value) on the readings topic: keyed by the asset, so it reaches the asset's partition."""
    return event.asset_id.encode(), event.model_dump_json().encode()


def audit_details(event: AssetReset) -> dict[str, Any]:
    return {"reset_id": str(event.reset_id), "reason": event.reason, "outcome": "requested"}


def publish(settings: Settings, event: AssetReset, timeout: float = 30.0) -> tuple[int, int]:
    """Publish with the murmur2 producer and wait for the broker; (partition, offset)."""
    from stream_app.kafka.clients import producer
    from stream_app.kafka.topics import ensure_topics

    ensure_topics(settings)
    prod = producer(settings, acks="all")
    key, value = message(event)
    result: dict[str, Any] = {}

    def delivered(err: Any, msg: Any) -> None:
        result["err"], result["msg"] = err, msg

    prod.produce(settings.kafka.topic("readings"), key=key, value=value, on_delivery=delivered)
    if prod.flush(timeout) != 0 or "msg" not in result:
        raise InfraError(f"the reset of {event.asset_id} was not delivered to Kafka within {timeout:g} s")
    if result["err"] is not None:
        raise InfraError(f"the reset of {event.asset_id} was not published: {result['err']}")
    return result["msg"].partition(), result["msg"].offset()


async def _cli_reset(settings: Settings, event: AssetReset, actor: str) -> tuple[int, int]:
    from stream_app.store import audit
    from stream_app.store.pool import connect

    conn = await connect(settings)
    try:
        entry = await audit.record(conn, actor, AUDIT_ACTION, event.asset_id, audit_details(event))
        try:
            partition, offset = await asyncio.to_thread(publish, settings, event)
        except KilowatchError as exc:
            await audit.complete(conn, entry, {"outcome": "failed", "error": str(exc)})
            raise
        await audit.complete(conn, entry, {"outcome": "published", "partition": partition, "offset": offset})
        return partition, offset
    finally:
        await conn.close()


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "reset-asset",
        help="forget one asset's detector state (its worker deletes it; the next reading starts fresh)",
    )
    p.add_argument("asset_id", help="the asset (meter) id")
    p.add_argument("--reason", default="", help="why (kept in the audit log)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import re

    if not re.match(ASSET_ID_PATTERN, args.asset_id):
        print(f"kilowatch: error: {args.asset_id!r} is not a valid asset id", file=sys.stderr)
        return 2
    try:
        event = reset_event(args.asset_id, f"cli:{getpass.getuser()}", args.reason)
    except ValueError as exc:  # pydantic's ValidationError: e.g. a reason over 500 characters
        print(f"kilowatch: error: {exc}", file=sys.stderr)
        return 2
    partition, offset = asyncio.run(_cli_reset(settings, event, event.requested_by))
    print(
        f"reset {event.reset_id} of asset {event.asset_id} published to {settings.kafka.topic('readings')} "
        f"partition {partition} offset {offset}; the owning worker applies it when it reaches it"
    )
    return 0
