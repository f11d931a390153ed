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
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError

from api.http.client_address import networks
from api.http.errors import unavailable
from api.http.ratelimit import RateLimiter
from api.services import log_throttle
from api.services.keys import Principal, VerifiedCache
from schemas.errors import InfraError
from stream_app.kafka.security import aiokafka_security
from stream_app.lifecycle.coord import redis_client
from stream_app.settings import Settings
from stream_app.store.pool import create_pool

log = logging.getLogger(__name__)

# Errors about one request's records, not the producer: the producer stays.
_REQUEST_ERRORS = (MessageSizeTooLargeError, RecordTooLargeError)
# Seconds a discarded producer gets to deliver what it still holds before it is closed.
_RETIRE_S = 5.0


def breaks_producer(exc: BaseException) -> bool:
    """Whether an error leaves the idempotent producer unusable, so it must be replaced.

    aiokafka retries retriable errors itself. A non-retriable one surfacing from a delivery (a batch
    that expired while the broker was down, OutOfOrderSequenceNumber after the broker came back,
    ProducerFenced, UnknownProducerId, InvalidProducerEpoch, a closed producer ...) means its
    producer id and sequence numbers no longer match the broker's: every later send fails the same
    way until a new producer (a new producer id) is made."""
    return isinstance(exc, KafkaError) and not exc.retriable and not isinstance(exc, _REQUEST_ERRORS)


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
        self._topics_check: asyncio.Future[list[str]] | None = None  # the check in flight (a thread)
        self._producer_broken = False  # set by a delivery's fatal error: the next publish replaces it
        self._retiring: set[asyncio.Task[None]] = set()  # discarded producers being closed
        log_throttle.install()  # aiokafka logs every failed reconnect (thousands/s while Kafka is down)

    async def pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                bound = self.settings.api.db_timeout_s
                try:
                    # Every wait on PostgreSQL is bounded (a frozen server answers nothing): a pooled
                    # connection, a new one, a statement, and the release of a timed-out one.
                    self._pool = await create_pool(
                        self.settings,
                        acquire_timeout=bound,
                        release_timeout=min(1.0, bound),
                        command_timeout=bound,
                        timeout=bound,
                    )
                except InfraError as exc:
                    log.warning("%s", exc)
                    raise unavailable("PostgreSQL") from None
        return self._pool

    def _usable(self, producer: AIOKafkaProducer) -> bool:
        """Not marked broken, and its sender still runs (aiokafka ends the sender task on some fatal
        errors; its sends would then never complete)."""
        sender = getattr(producer, "_sender", None)
        task = getattr(sender, "sender_task", None)
        return not self._producer_broken and not (task is not None and task.done())

    async def producer(self) -> AIOKafkaProducer:
        if self._producer is not None and self._usable(self._producer):
            return self._producer
        async with self._lock:
            if self._producer is not None and not self._usable(self._producer):
                self._retire(self._producer)
            if self._producer is None:
                if not self._topics_ready:
                    await self._ensure_topics()
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.settings.kafka.bootstrap,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=5,
                    request_timeout_ms=15_000,
                    retry_backoff_ms=500,  # also paces reconnects and metadata refreshes in an outage
                    **aiokafka_security(self.settings.kafka),
                )
                try:
                    await producer.start()
                except (KafkaError, OSError, asyncio.CancelledError) as exc:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    if isinstance(exc, asyncio.CancelledError):  # the caller's deadline passed
                        raise
                    log.warning("Kafka at %s is not usable: %s", self.settings.kafka.bootstrap, exc)
                    raise unavailable("Kafka") from None
                self._producer = producer
                self._producer_broken = False
        return self._producer

    def _retire(self, producer: AIOKafkaProducer) -> None:
        """Replace a broken producer: the next caller makes a new one; this one is closed aside."""
        self._producer = None
        self._producer_broken = False

        async def close() -> None:
            try:
                await asyncio.wait_for(producer.stop(), _RETIRE_S)
            except Exception as exc:  # noqa: BLE001 - closing a broken client: any failure is logged
                log.warning("a discarded Kafka producer did not close cleanly: %r", exc)

        task = asyncio.create_task(close())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def _watch(self, producer: AIOKafkaProducer) -> Any:
        """A delivery callback: a fatal error (even after the request gave up waiting) marks the
        producer broken, so the next publish replaces it instead of failing the same way forever."""

        def done(fut: asyncio.Future[Any]) -> None:
            if fut.cancelled():
                return
            exc = fut.exception()
            if exc is not None and breaks_producer(exc) and producer is self._producer:
                if not self._producer_broken:
                    log.warning("Kafka producer unusable (%r): it is replaced on the next publish", exc)
                self._producer_broken = True

        return done

    async def _ensure_topics(self) -> None:
        from stream_app.kafka.topics import ensure_topics

        check = self._topics_check
        if check is None or check.done():
            # One check at a time: a caller whose deadline passes leaves it running (its thread
            # cannot be cancelled) and the next caller waits for the same one instead of starting
            # another thread (requests every few ms while Kafka is down would pile them up).
            check = asyncio.ensure_future(asyncio.to_thread(ensure_topics, self.settings, 15.0))
            check.add_done_callback(lambda f: f.cancelled() or f.exception())  # always retrieved
            self._topics_check = check
        try:
            await asyncio.shield(check)
        except Exception as exc:  # noqa: BLE001 - confluent admin raises KafkaException and others
            log.warning("topics at %s could not be checked: %s", self.settings.kafka.bootstrap, exc)
            raise unavailable("Kafka") from None
        self._topics_ready = True

    async def publish(self, topic: str, items: Iterable[tuple[bytes, bytes]]) -> int:
        """Send (key, value) pairs and wait until the broker has them all (acks=all).

        At most ``api.publish_timeout_s`` in all (connecting, metadata, a full buffer, the acks):
        beyond, 503 with Retry-After. Some records may still be delivered after a 503 (the client's
        retry then duplicates them: at-least-once, as any producer retry)."""
        bound = self.settings.api.publish_timeout_s
        futures: list[asyncio.Future[Any]] = []
        producer: AIOKafkaProducer | None = None
        try:
            async with asyncio.timeout(bound):
                producer = await self.producer()
                watch = self._watch(producer)
                for k, v in items:
                    fut = await producer.send(topic, value=v, key=k)
                    fut.add_done_callback(watch)
                    futures.append(fut)
                if futures:
                    # wait (not gather): on the deadline the deliveries go on and are still watched
                    await asyncio.wait(futures)
            for fut in futures:
                if (exc := fut.exception()) is not None:
                    raise exc
        except TimeoutError:
            log.warning("publishing to %s: no acknowledgement within %.1f s", topic, bound)
            raise unavailable("Kafka") from None
        except KafkaError as exc:
            if breaks_producer(exc) and producer is not None and producer is self._producer:
                self._producer_broken = True
            log.warning("publishing to %s failed: %s", topic, exc)
            raise unavailable("Kafka") from None
        return len(futures)

    async def close(self) -> None:
        for ext in self.extensions.values():
            close = getattr(ext, "close", None)
            if callable(close):  # per-process objects with threads or files (e.g. the model cache)
                close()
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
        if self._pool is not None:
            await self._pool.close()
        await self.redis.aclose()
