"""The alerting service: episode hygiene in memory, everything else off the agent's path.

The agent hands each batch of anomalies to ``store_batch``: it folds them into the episode tracker
(``handle``, no I/O) and returns only once the resulting work is in PostgreSQL — episodes, immediate
alerts as deliveries, digest items — retrying with back-off while the database is down. The agent
commits the batch's offsets after that, so delivery is at-least-once, and during an outage the agent
stops consuming (at most one batch of ``alert_batch_max`` anomalies in memory) instead of growing a
queue. A redelivered anomaly cannot alert twice: the tracker drops event ids it has seen, a restored
episode keeps its ``alerted`` flag, and a delivery's id is derived from its episode (ON CONFLICT DO
NOTHING). ``flush`` (a faust timer) closes recovered episodes and sends due deliveries. A failed
send is retried with exponential back-off and, after the last attempt, stays in ``alert_deliveries``
with status ``failed``: nothing is dropped silently, and nothing here can slow the scoring agent
(another agent, and SMTP runs in a thread).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg

from schemas.events import Anomaly
from stream_app import metrics
from stream_app.alerting import channels
from stream_app.alerting import store as alert_store
from stream_app.alerting.config import AlertConfig
from stream_app.alerting.hygiene import Episode, EpisodeTracker
from stream_app.alerting.messages import alert_message, backoff_delay, digest_message, episode_summary
from stream_app.settings import Settings

log = logging.getLogger(__name__)
WEBHOOK_RECIPIENT = "settings:alert_webhook_url"  # the URL may hold a token: never stored or logged
CONFIG_REFRESH_S = 30.0
LEASE_S = 60.0
RETRY_MAX_S = 30.0
# PostgreSQL unreachable, restarting or refusing connections: the batch is retried until it is stored.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
)


@dataclass(slots=True)
class Work:
    """One state change to persist: an episode snapshot, plus the anomaly when it must alert."""

    episode: Episode
    alert_summary: dict[str, Any] | None = None


class AlertService:
    def __init__(self, settings: Settings, pool: Any = None) -> None:
        self.settings = settings
        self.pool = pool
        self.tracker = EpisodeTracker(
            settings.alerting.recovery_s,
            settings.alerting.cooldown_s,
            max_assets=settings.worker.tracked_assets_max,
        )
        self.config = AlertConfig(email="nobody@localhost", enabled=False)  # until one is stored
        self.pending: deque[Work] = deque()
        # Anomalies that arrive before the configuration and open episodes are loaded wait here.
        self.early: deque[Anomaly] = deque()
        self._config_at = float("-inf")
        self._session: aiohttp.ClientSession | None = None
        self.started = False
        self._writing = asyncio.Lock()  # the agent's store_batch and the flush timer share `pending`
        self.sleep = asyncio.sleep  # tests replace it

    async def start(self) -> None:
        """Connect, resume open episodes, read the configuration (``flush`` retries until it works)."""
        if self.pool is None:
            import asyncpg

            self.pool = await asyncpg.create_pool(self.settings.postgres.dsn(), min_size=1, max_size=4)
        self.tracker.restore(await alert_store.open_episodes(self.pool))
        await self.refresh_config(force=True)
        self.started = True
        while self.early:
            self.handle(self.early.popleft())

    async def refresh_config(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._config_at >= CONFIG_REFRESH_S:
            stored = await alert_store.get_alert_config(self.pool)
            self.config = stored or AlertConfig(email="nobody@localhost", enabled=False)
            self._config_at = now

    def handle(self, anomaly: Anomaly) -> None:
        """Fold one anomaly in (no I/O)."""
        if not self.started:
            self.early.append(anomaly)
            metrics.ALERT_QUEUE.set(len(self.pending) + len(self.early))
            return
        out = self.tracker.observe(
            self.config,
            anomaly.event_id,
            anomaly.asset_id,
            anomaly.detected_at.timestamp(),
            anomaly.score,
            anomaly.type,
        )
        if out.action == "duplicate" or out.episode is None:
            return
        if out.closed is not None:
            metrics.ALERT_EPISODES.labels("closed").inc()
            self.pending.append(Work(out.closed))
        if out.action == "opened":
            metrics.ALERT_EPISODES.labels("opened").inc()
        summary = episode_summary(out.episode, anomaly) if out.alert else None
        self.pending.append(Work(out.episode, summary))
        metrics.ALERT_QUEUE.set(len(self.pending))

    async def store_batch(self, anomalies: list[Anomaly], now: float | None = None) -> None:
        """Fold a batch in and return once its work is stored (the caller then commits its offsets).
        While PostgreSQL is unavailable this waits, retrying with back-off (logged, counted): the agent
        stops consuming and nothing of the batch is lost, even if the worker dies meanwhile."""
        failures = 0
        while True:
            try:
                if not self.started:
                    await self.start()
                for anomaly in anomalies:
                    self.handle(anomaly)
                anomalies = []
                await self.persist_pending(time.time() if now is None else now)
                return
            except Exception as exc:  # noqa: BLE001 - retried: the batch is not acknowledged meanwhile
                failures += 1
                delay = min(RETRY_MAX_S, backoff_delay(failures, 0.5))
                metrics.PERIODIC_FAILURES.labels("alerting-store").inc()
                # An outage is expected (a warning); anything else (schema missing, a bug) is an error
                # an operator must see, but it must not stop the worker either.
                level = logging.WARNING if isinstance(exc, UNAVAILABLE) else logging.ERROR
                what = "PostgreSQL unavailable" if level == logging.WARNING else "cannot store alerts"
                log.log(
                    level,
                    "alerting: %s (%s: %s); %d episode changes wait, retry in %.1f s",
                    what,
                    type(exc).__name__,
                    exc,
                    len(self.pending) + len(anomalies),
                    delay,
                )
                await self.sleep(delay)

    async def persist_pending(self, now: float) -> None:
        """Store the pending work in order; each item leaves the queue only once it is committed."""
        async with self._writing:
            while self.pending:
                try:
                    await self._persist(self.pending[0], now)
                except UNAVAILABLE:
                    raise  # kept at the head of the queue: retried in order
                except asyncpg.PostgresError as exc:  # refused for its data: retrying cannot help
                    metrics.PERIODIC_FAILURES.labels("alerting-refused").inc()
                    log.error("alerting: PostgreSQL refused an episode change, skipped: %s", exc)
                self.pending.popleft()  # only once stored: a database outage loses nothing
                metrics.ALERT_QUEUE.set(len(self.pending))

    async def flush(self, now: float) -> None:
        """Persist pending work, close recovered episodes, send what is due."""
        if not self.started:
            await self.start()
        await self.refresh_config()
        for ep in self.tracker.close_idle(now):
            metrics.ALERT_EPISODES.labels("closed").inc()
            self.pending.append(Work(ep))
        await self.persist_pending(now)
        # Open episodes of assets no worker here owns (or whose worker died) close by the database.
        self.tracker.forget_dormant(now - self.settings.alerting.recovery_s)
        closed = await alert_store.close_abandoned(self.pool, now, self.settings.alerting.recovery_s)
        if closed:
            metrics.ALERT_EPISODES.labels("closed").inc(closed)
        await self.deliver_due(now)

    async def _persist(self, work: Work, now: float) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await alert_store.save_episode(conn, work.episode)
            if work.alert_summary is None:
                return
            config = self.config
            if config.frequency == "immediate":
                subject, body, payload = alert_message(work.alert_summary)
                key = f"alert|{work.episode.episode_id}"
                await self._enqueue(conn, key, "alert", config.email, subject, body, payload, now)
            else:
                await alert_store.queue_digest_item(
                    conn, work.episode.episode_id, config.frequency, config.email, work.alert_summary
                )

    async def _enqueue(
        self,
        conn: Any,
        key: str,
        kind: str,
        email: str,
        subject: str,
        body: str,
        payload: dict[str, Any],
        now: float,
    ) -> None:
        await alert_store.enqueue_delivery(
            conn,
            key=key,
            kind=kind,
            channel="email",
            recipient=email,
            subject=subject,
            payload={"body": body},
            now=now,
        )
        if (
            self.settings.alerting.webhook_url is not None
            and self.settings.alerting.webhook_url.get_secret_value()
        ):
            await alert_store.enqueue_delivery(
                conn,
                key=key,
                kind=kind,
                channel="webhook",
                recipient=WEBHOOK_RECIPIENT,
                subject=subject,
                payload=payload,
                now=now,
            )

    async def send_digest(self, frequency: str, now: float) -> int:
        """Turn the pending digest items of ``frequency`` into one delivery per recipient."""
        if not self.started:
            await self.start()
        sent = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for recipient, items in (await alert_store.take_digest(conn, frequency)).items():
                subject, body, payload = digest_message(frequency, items)
                key = f"digest|{frequency}|{recipient}|{int(now)}"
                await self._enqueue(conn, key, "digest", recipient, subject, body, payload, now)
                sent += 1
        return sent

    async def deliver_due(self, now: float, limit: int = 50) -> int:
        """Try every due delivery once; returns how many were sent."""
        sent = 0
        for d in await alert_store.claim_due(self.pool, now, limit, LEASE_S):
            try:
                await self._send(d)
            except channels.DeliveryError as exc:
                attempt = d.attempts + 1
                final = attempt >= self.settings.alerting.max_attempts
                retry_at = (
                    None if final else now + backoff_delay(attempt, self.settings.alerting.retry_base_s)
                )
                await alert_store.mark_attempt_failed(self.pool, d.delivery_id, str(exc), retry_at)
                metrics.ALERT_DELIVERIES.labels(d.channel, "failed" if final else "retry").inc()
                level = logging.ERROR if final else logging.WARNING
                log.log(
                    level,
                    "alert delivery %s by %s failed (attempt %d): %s",
                    d.delivery_id,
                    d.channel,
                    attempt,
                    exc,
                )
            else:
                await alert_store.mark_sent(self.pool, d.delivery_id, now)
                metrics.ALERT_DELIVERIES.labels(d.channel, "sent").inc()
                sent += 1
        return sent

    async def _send(self, d: alert_store.Delivery) -> None:
        if d.channel == "email":
            await channels.send_email(self.settings, d.recipient, d.subject, d.payload["body"])
            return
        secret = self.settings.alerting.webhook_url
        url = secret.get_secret_value() if secret is not None else ""
        if not url:
            raise channels.DeliveryError("no KILOWATCH_ALERT_WEBHOOK_URL configured")
        if self._session is None:
            self._session = channels.webhook_session(self.settings)
        await channels.post_webhook(self._session, url, d.payload)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
