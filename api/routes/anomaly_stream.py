"""Live anomalies of one asset over Server-Sent Events: ``GET /assets/{asset_id}/anomalies/stream``.

Pushed, not polled: the stream LISTENs to PostgreSQL, which announces every anomaly the results sink
stores (see :mod:`api.services.anomaly_events`). Read scope, and one of the caller's stream slots
(``api_sse_streams_per_key``, shared with the job log streams: 429 beyond). Keep-alive comments every
``api_sse_keepalive_s``; closed after ``api_sse_max_s`` (the client resumes with Last-Event-ID).
"""

from __future__ import annotations

import uuid
from typing import Annotated

import asyncpg
from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from api.deps import PoolDep, ReadKey, ResourcesDep, SettingsDep
from api.http.envelope import COMMON_RESPONSES
from api.http.errors import field_error, unavailable
from api.http.sse_docs import LastEventIdQuery, event_stream, last_event_header, sse_doc
from api.routes.anomalies import AnomalyPublic, AssetIdPath, require_known
from api.services import sse_slots
from api.services.anomaly_events import anomaly_events
from stream_app.settings import Settings
from stream_app.store.pool import connect_kwargs

router = APIRouter(prefix="/assets", tags=["results"], responses=COMMON_RESPONSES)


def parse_event_id(header: str | None, query: str | None) -> uuid.UUID | None:
    """The anomaly to resume after (Last-Event-ID header, else ?last_event_id=), or None."""
    given: list[tuple[list[str | int], str | None]] = [
        (["header", "Last-Event-ID"], header),
        (["query", "last_event_id"], query),
    ]
    for loc, value in given:
        if value and value.strip():
            try:
                return uuid.UUID(value.strip())
            except ValueError:
                raise field_error(
                    loc, "not an event id of this stream (an anomaly's event_id)", status=400
                ) from None
    return None


APPLICATION_NAME = "kw-anomaly-stream"  # how the connections show in pg_stat_activity (+ the asset id)


async def listening_connection(settings: Settings, asset_id: str) -> asyncpg.Connection:
    """A connection of the stream's own (503 when PostgreSQL cannot be reached in db_timeout_s), named
    for its asset in ``pg_stat_activity.application_name`` (63 bytes at most)."""
    bound = settings.api.db_timeout_s
    name = f"{APPLICATION_NAME} {asset_id}".encode()[:63].decode(errors="ignore")
    try:
        conn: asyncpg.Connection = await asyncpg.connect(
            **connect_kwargs(settings),
            timeout=bound,
            command_timeout=bound,
            server_settings={"application_name": name},
        )
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        raise unavailable("PostgreSQL") from None
    return conn


def _show(r: asyncpg.Record) -> bytes:
    return AnomalyPublic.of(r).model_dump_json().encode()


@router.get(
    "/{asset_id:path}/anomalies/stream",
    response_class=StreamingResponse,
    summary="Stream an asset's new anomalies (Server-Sent Events)",
    responses=sse_doc(
        events="anomaly or reset.",
        data="JSON of the anomaly.",
        event_id="The anomaly's event_id.",
        description="`anomaly` events (data: the anomaly as the anomalies list shows it; id: its "
        "event_id), keep-alive comments, and `reset` (then the stream ends) when anomalies came "
        "faster than they could be sent: read the list again and reconnect.",
    ),
)
async def stream_anomalies(
    asset_id: AssetIdPath,
    key: ReadKey,
    pool: PoolDep,
    settings: SettingsDep,
    resources: ResourcesDep,
    last_event_id: Annotated[str | None, last_event_header("Resume after this anomaly.")] = None,
    last_event_id_query: LastEventIdQuery = None,
) -> StreamingResponse:
    """404 for an asset nothing knows; new anomalies from the moment the stream opens (and after
    Last-Event-ID, those stored since that one)."""
    after = parse_event_id(last_event_id, last_event_id_query)
    await require_known(pool, asset_id)
    slot = await sse_slots.take(resources, key)  # 429 when the caller holds all its streams
    try:
        listen = await listening_connection(settings, asset_id)
    except BaseException:
        await slot.release()
        raise
    body = anomaly_events(
        listen,
        pool,
        asset_id,
        after,
        _show,
        keepalive_s=settings.api.sse_keepalive_s,
        max_s=settings.api.sse_max_s,
    )
    return event_stream(sse_slots.holding(slot, body))
