"""While Kafka does not answer, POST /readings gives up after ``api_publish_timeout_s``, but the
topic check it started (a thread, 15 s) cannot be cancelled: later requests wait for that same check
instead of each starting a thread of their own."""

from __future__ import annotations

import threading
import time

import pytest

from api.http.errors import ApiError
from api.services.resources import Resources
from stream_app.kafka import topics
from stream_app.settings import Settings


async def test_requests_during_a_slow_topic_check_share_one_check(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    release = threading.Event()

    def slow_check(_settings: Settings, _timeout: float) -> list[str]:
        started.append(threading.get_ident())
        release.wait(10.0)  # a broker that does not answer
        raise RuntimeError("no broker")

    monkeypatch.setattr(topics, "ensure_topics", slow_check)
    resources = Resources(Settings(api_publish_timeout_s=0.2))  # type: ignore[call-arg]
    try:
        for _ in range(5):
            t0 = time.monotonic()
            with pytest.raises(ApiError) as caught:
                await resources.publish("t", [(b"k", b"v")])
            assert caught.value.status == 503 and time.monotonic() - t0 < 1.0
        assert len(started) == 1
        release.set()
        with pytest.raises(ApiError):  # the check failed: 503, and the next request checks again
            await resources.publish("t", [(b"k", b"v")])
    finally:
        release.set()
        await resources.close()
