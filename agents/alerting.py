"""The alerting agent: reads the anomaly topic and hands each event to the AlertService.

Everything slow (PostgreSQL, SMTP, webhooks) runs in timers, never per event; the scoring agent is
a different agent, so a mail server outage cannot hold up scoring.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from pydantic import ValidationError

from agents.context import AgentContext
from schemas.events import Anomaly
from stream_app.alerting.service import AlertService

log = logging.getLogger(__name__)
HOUR = 3600.0
DAY = 24 * HOUR


def register(app: faust.App, ctx: AgentContext) -> AlertService:
    """Attach the alerting agent and its timers to ``app``; returns the service (tests)."""
    settings = ctx.settings
    svc = AlertService(settings)

    @app.agent(ctx.anomalies_topic, name="alerting", concurrency=1)
    async def alert_on_anomalies(stream: faust.StreamT) -> None:
        async for value in stream:
            try:
                anomaly = Anomaly.model_validate_json(value)
            except ValidationError as exc:
                log.warning("alerting: unreadable anomaly event skipped: %s", exc.errors()[:3])
                continue
            svc.handle(anomaly)

    async def guarded(what: str, coro: Any) -> None:
        try:
            await coro
        except Exception:
            log.exception("alerting: %s failed; retried at the next tick", what)

    @app.timer(settings.alerting.tick_s)
    async def alert_flush() -> None:
        await guarded("flush", svc.flush(time.time()))

    @app.timer(HOUR)
    async def hourly_digest() -> None:
        await guarded("hourly digest", svc.send_digest("hourly", time.time()))

    @app.timer(DAY)
    async def daily_digest() -> None:
        await guarded("daily digest", svc.send_digest("daily_digest", time.time()))

    return svc
