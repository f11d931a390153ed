"""What the API process holds open: the PostgreSQL pool, Redis, a Kafka producer, the key cache.

Each backing service is connected lazily and re-tried on the next request, so the API starts (and
answers /healthz) while a service is down; requests that need it get 503 SERVICE_UNAVAILABLE and
/readyz says which one is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from api.http.client_address import networks
from api.http.errors import unavailable
from api.http.ratelimit import RateLimiter
from api.services.keys import Principal, VerifiedCache
from schemas.errors import InfraError
from stream_app.lifecycle.coord import redis_client
from stream_app.settings import Settings
from stream_app.store.pool import create_pool

log = logging.getLogger(__name__)


class Resources:
    """Shared by every request of one API process (``app.state.resources``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = redis_client(settings)
        self.key_cache = VerifiedCache(settings.api.key_cache_s)
        self.limiter = RateLimiter(self.redis, settings.kafka.topic_prefix)
        self.limiter_paused_until = 0.0  # monotonic time; set while Redis fails (fail open)
        self.trusted_proxies = networks(settings.api.trusted_proxies)  # (a bad entry fails at start)
        # key fingerprint -> the argon2 verification in flight (concurrent requests share it)
        self.verifying: dict[str, asyncio.Future[Principal | None]] = {}
        # Room for what other parts of the API keep per process (e.g. the model cache).
        self.extensions: dict[str, Any] = {}
        self._pool: asyncpg.Pool | None = None
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._topics_ready = False

    async def pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                try:
                    self._pool = await create_pool(self.settings)
                except InfraError as exc:
                    log.warning("%s", exc)
                    raise unavailable("PostgreSQL") from None
        return self._pool

    async def producer(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                if not self._topics_ready:
                    await self._ensure_topics()
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.settings.kafka.bootstrap,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=5,
                    request_timeout_ms=15_000,
                )
                try:
                    await producer.start()
                except (KafkaError, OSError) as exc:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    log.warning("Kafka at %s is not usable: %s", self.settings.kafka.bootstrap, exc)
                    raise unavailable("Kafka") from None
                self._producer = producer
        return self._producer

    async def _ensure_topics(self) -> None:
        from stream_app.kafka.topics import ensure_topics

        try:
            await asyncio.to_thread(ensure_topics, self.settings, 15.0)
        except Exception as exc:  # noqa: BLE001 - confluent admin raises KafkaException and others
            log.warning("topics at %s could not be checked: %s", self.settings.kafka.bootstrap, exc)
            raise unavailable("Kafka") from None
        self._topics_ready = True

    async def publish(self, topic: str, items: Iterable[tuple[bytes, bytes]]) -> int:
        """Send (key, value) pairs and wait until the broker has them all (acks=all)."""
        producer = await self.producer()
        try:
            futures = [await producer.send(topic, value=v, key=k) for k, v in items]
            for f in futures:
                await f
        except KafkaError as exc:
            log.warning("publishing to %s failed: %s", topic, exc)
            raise unavailable("Kafka") from None
        return len(futures)

    async def close(self) -> None:
        for ext in self.extensions.values():
            close = getattr(ext, "close", None)
            if callable(close):  # per-process objects with threads or files (e.g. the model cache)
                close()
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
        if self._pool is not None:
            await self._pool.close()
        await self.redis.aclose()
