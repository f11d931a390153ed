"""The alerting agent: reads the anomaly topic in batches and hands each batch to the AlertService.

At-least-once: a batch (at most ``alert_batch_max`` anomalies, or what arrived within
``alert_tick_s``) is acknowledged only after ``AlertService.store_batch`` stored its episodes and
alerts in PostgreSQL, so its offsets are committed after that. While PostgreSQL is down the agent
waits on its batch (retrying with back-off) and stops consuming: memory stays bounded and the
anomalies wait in Kafka. Redeliveries never notify twice (see the service).

Sending (SMTP, webhooks) and digests run in timers through ``agents.periodic.Backoff``, never per
event; the scoring agent is a different agent, so a mail server outage cannot hold up scoring.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import faust
from pydantic import ValidationError

from agents.context import AgentContext
from agents.periodic import Backoff
from schemas.events import Anomaly
from stream_app.alerting.service import AlertService

log = logging.getLogger(__name__)
HOUR = 3600.0
DAY = 24 * HOUR


def readable(values: list[bytes]) -> list[Anomaly]:
    """The valid anomalies of a batch (an unreadable event is skipped with a warning, never fatal)."""
    out: list[Anomaly] = []
    for value in values:
        try:
            out.append(Anomaly.model_validate_json(value))
        except ValidationError as exc:
            log.warning("alerting: unreadable anomaly event skipped: %s", exc.errors(include_input=False)[:3])
    return out


def register(app: faust.App, ctx: AgentContext) -> AlertService:
    """Attach the alerting agent and its timers to ``app``; returns the service (tests)."""
    settings = ctx.settings
    svc = AlertService(settings)
    max_s = settings.worker.timer_backoff_max_s

    @app.agent(ctx.anomalies_topic, name="alerting", concurrency=1)
    async def alert_on_anomalies(stream: faust.StreamT) -> None:
        # take_events acknowledges a batch only when this loop comes back for the next one.
        batches = stream.take_events(settings.alerting.batch_max, within=settings.alerting.tick_s)  # type: ignore[attr-defined]
        async for events in batches:
            await svc.store_batch(readable([ev.value for ev in events]))

    def timer(task: str, body: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        backoff = Backoff(task, max_s)

        async def tick() -> None:
            await backoff.run(body)

        return tick

    app.timer(settings.alerting.tick_s, name="alert-flush")(
        timer("alert-flush", lambda: svc.flush(time.time()))
    )
    app.timer(HOUR, name="alert-hourly-digest")(
        timer("alert-hourly-digest", lambda: svc.send_digest("hourly", time.time()))
    )
    app.timer(DAY, name="alert-daily-digest")(
        timer("alert-daily-digest", lambda: svc.send_digest("daily_digest", time.time()))
    )
    return svc
