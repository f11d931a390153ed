"""agents.periodic: a failing timer body pauses with back-off and resumes; start-up steps retry."""

from __future__ import annotations

import asyncio
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.periodic import Backoff, keep_running, retry_forever
from stream_app import metrics
from stream_app.core.backoff import pause_after


def _failures(task: str) -> float:
    return metrics.PERIODIC_FAILURES.labels(task)._value.get()


@given(failures=st.integers(min_value=0, max_value=10_000), max_s=st.floats(min_value=1.0, max_value=3600.0))
def test_the_pause_doubles_and_is_capped(failures: int, max_s: float) -> None:
    pause = pause_after(failures, max_s)
    assert 1.0 <= pause <= max_s
    if failures >= 1:
        assert pause_after(failures + 1, max_s) in (min(max_s, 2 * pause), max_s)


async def test_a_failing_body_is_logged_counted_paused_and_run_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "agents.periodic")
    now = [100.0]
    backoff = Backoff("unit-timer", max_s=8.0, clock=lambda: now[0])
    calls: list[float] = []
    down = [True]

    async def body() -> None:
        calls.append(now[0])
        if down[0]:
            raise ConnectionRefusedError(111, "Connect call failed")

    before = _failures("unit-timer")
    assert await backoff.run(body) is False  # raised inside: never out of the timer
    assert _failures("unit-timer") - before == 1
    assert "unit-timer failed (ConnectionRefusedError" in caplog.text and "next try in 1 s" in caplog.text
    now[0] += 0.5
    assert await backoff.run(body) is False and len(calls) == 1  # pausing: not run
    now[0] += 0.6
    assert await backoff.run(body) is False and len(calls) == 2  # ran, failed again: pause 2 s
    now[0] += 1.9
    assert await backoff.run(body) is False and len(calls) == 2
    down[0] = False
    now[0] += 0.2
    assert await backoff.run(body) is True and len(calls) == 3  # the backend is back
    assert backoff.failures == 0 and "unit-timer works again after 2 failures" in caplog.text
    assert await backoff.run(body) is True and len(calls) == 4  # no pause after a success


async def test_cancellation_is_not_swallowed() -> None:
    async def body() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await Backoff("unit-cancel", 1.0).run(body)


async def test_retry_forever_retries_a_start_up_step_until_it_works() -> None:
    slept: list[float] = []
    attempts = [0]

    async def step() -> str:
        attempts[0] += 1
        if attempts[0] < 5:
            raise OSError("down")
        return "pool"

    async def sleep(s: float) -> None:
        slept.append(s)

    assert await retry_forever("unit-start", step, 4.0, sleep=sleep) == "pool"
    assert slept == [1.0, 2.0, 4.0, 4.0]


async def test_keep_running_restarts_a_failed_task_with_back_off() -> None:
    slept: list[float] = []
    runs = [0]

    async def body() -> None:
        runs[0] += 1
        if runs[0] < 4:
            raise ConnectionError("broker down")

    async def sleep(s: float) -> None:
        slept.append(s)

    before = _failures("unit-follow")
    await keep_running("unit-follow", body, 60.0, sleep=sleep)
    assert runs[0] == 4 and slept == [1.0, 2.0, 4.0]
    assert _failures("unit-follow") - before == 3


async def test_keep_running_survives_a_real_consumer_without_a_broker() -> None:
    """A Kafka consumer that cannot reach its broker raises at start: restarted, never out."""
    from aiokafka import AIOKafkaConsumer

    starts = [0]

    async def follow() -> None:
        starts[0] += 1
        consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9", request_timeout_ms=1000)
        try:
            await consumer.start()
        finally:
            await consumer.stop()

    async def sleep(s: float) -> None:
        if starts[0] >= 2:
            raise asyncio.CancelledError  # end the test after two restarts

    with pytest.raises(asyncio.CancelledError):
        await keep_running("unit-consumer", follow, 1.0, sleep=sleep)
    assert starts[0] == 2
