"""stream_app.lifecycle.outage: a training job's writes through a PostgreSQL or Redis outage.

Progress is coalesced (only the latest value is written once the database answers), events are
skipped and counted with one log line per outage, final writes are retried for a bounded time; and the
runner never lets a failing parent callback end the training.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis import exceptions as redis_errors

from stream_app import metrics
from stream_app.lifecycle import runner
from stream_app.lifecycle.outage import (
    DatabaseUnavailable,
    Outage,
    ProgressCoalescer,
    until_answered,
)


def _misses(backend: str, kind: str) -> float:
    return metrics.TRAINING_BACKEND_MISSES.labels(backend, kind)._value.get()


class FakeDb:
    """A progress column behind a connection that is up or down."""

    def __init__(self) -> None:
        self.up = True
        self.written: list[float] = []
        self.tries = 0

    async def write(self, pct: float) -> None:
        self.tries += 1
        if not self.up:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        self.written.append(pct)


async def test_progress_during_an_outage_is_coalesced_to_the_latest_value() -> None:
    db = FakeDb()
    progress = ProgressCoalescer(db.write, Outage("postgres", "job-1", clock=lambda: 0.0))
    progress.offer(5.0)
    assert await progress.flush() and db.written == [5.0]
    db.up = False
    for pct in (10.0, 20.0, 30.0):
        progress.offer(pct)
        assert not await progress.flush()
    assert progress.pending == 30.0 and db.written == [5.0]
    db.up = True
    assert await progress.flush()
    assert db.written == [5.0, 30.0]  # one write, of the latest value: 10 and 20 are gone
    assert progress.pending is None
    assert await progress.flush() and db.written == [5.0, 30.0]  # nothing left to write


@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("offer"), st.floats(min_value=0, max_value=100)),
            st.tuples(st.just("flush"), st.booleans()),
        ),
        max_size=40,
    )
)
def test_any_offers_and_outages_end_with_the_latest_progress_written(
    ops: list[tuple[str, float | bool]],
) -> None:
    """Whatever the offers and outages: writes follow the offers' order, no value is written twice in a
    row, and once the database answers the last value offered is the last one written."""

    async def scenario() -> None:
        db = FakeDb()
        progress = ProgressCoalescer(db.write, Outage("postgres", "job-h", clock=lambda: 0.0))
        offered: list[float] = []
        for op, arg in ops:
            if op == "offer":
                progress.offer(float(arg))
                offered.append(float(arg))
            else:
                db.up = bool(arg)
                await progress.flush()
        db.up = True
        assert await progress.flush()
        if offered:
            assert db.written[-1] == offered[-1]
        # Written values are a subsequence of the offers (in order), each offer written at most once.
        it = iter(range(len(offered)))
        positions = []
        for value in db.written:
            positions.append(next(i for i in it if offered[i] == value))
        assert positions == sorted(set(positions))

    asyncio.run(scenario())


async def test_the_writer_task_retries_after_the_pause_and_writes_the_latest() -> None:
    db = FakeDb()
    db.up = False
    slept: list[float] = []
    now = [0.0]
    progress = ProgressCoalescer(db.write, Outage("postgres", "job-2", clock=lambda: now[0]))

    async def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s
        if len(slept) == 2:
            progress.offer(70.0)  # training went on during the outage
        if len(slept) == 3:
            db.up = True
        await asyncio.sleep(0)

    writer = asyncio.create_task(progress.run(sleep))
    progress.offer(40.0)
    for _ in range(50):
        await asyncio.sleep(0)
        if db.written:
            break
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer
    assert db.written == [70.0]
    assert slept == [1.0, 2.0, 4.0]  # the back-off of agents.periodic


async def test_a_bug_in_the_progress_write_is_not_taken_for_an_outage() -> None:
    async def broken(pct: float) -> None:
        raise ValueError("a bug")

    progress = ProgressCoalescer(broken, Outage("postgres", "job-3"))
    progress.offer(1.0)
    with pytest.raises(ValueError):
        await progress.flush()


async def test_an_outage_is_logged_once_counted_every_time_and_skipped_during_the_pause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "stream_app.lifecycle.outage")
    now = [0.0]
    outage = Outage("redis", "job-4", max_pause_s=4.0, clock=lambda: now[0])
    calls = [0]
    up = [False]

    async def op() -> str:
        calls[0] += 1
        if not up[0]:
            raise redis_errors.ConnectionError("Error 111 connecting to 127.0.0.1:6379")
        return "ok"

    before = _misses("redis", "log")
    for _ in range(20):
        assert await outage.call("log", op, "skipped") == "skipped"
        now[0] += 0.5
    assert _misses("redis", "log") - before == 20  # every miss counted
    assert calls[0] < 20  # most were skipped during the back-off pause, without touching Redis
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "redis is down" in warnings[0].getMessage()
    now[0] += 10.0
    up[0] = True
    assert await outage.call("log", op, "skipped") == "ok"
    assert any("answers again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    up[0] = False
    await outage.call("log", op, "skipped")
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2  # a new outage


async def test_a_final_write_is_retried_until_the_database_answers() -> None:
    now = [0.0]
    slept: list[float] = []
    tries = [0]

    async def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    async def step() -> str:
        tries[0] += 1
        if tries[0] <= 5:
            raise ConnectionRefusedError(111, "refused")
        return "TRAINED"

    before = _misses("postgres", "final")
    assert await until_answered("x", step, 300.0, "job-5", sleep=sleep, clock=lambda: now[0]) == "TRAINED"
    assert slept == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert _misses("postgres", "final") - before == 5


async def test_a_final_write_gives_up_after_the_bound() -> None:
    now = [0.0]

    async def sleep(s: float) -> None:
        now[0] += s

    async def step() -> str:
        raise OSError("Multiple exceptions: [Errno 111] Connect call failed")

    with pytest.raises(DatabaseUnavailable):
        await until_answered("x", step, 60.0, "job-6", sleep=sleep, clock=lambda: now[0])
    assert 60.0 <= now[0] <= 61.0  # bounded by db_retry_max_s, not one pause more


async def test_a_final_write_raises_a_bug_at_once() -> None:
    async def step() -> str:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await until_answered("x", step, 60.0, "job-7")


async def test_the_runner_never_lets_a_failing_callback_end_the_training(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def progress(pct: float, message: str) -> None:
        raise ConnectionRefusedError(111, "PostgreSQL down")

    async def log_line(line: str) -> None:
        raise redis_errors.ConnectionError("Redis down")

    async def cancel() -> bool:
        raise redis_errors.ConnectionError("Redis down")

    guarded = runner._Guarded(progress, log_line, cancel, "job-8")
    await guarded.progress(10.0, "stage")
    await guarded.log("a line")
    assert await guarded.cancel_requested() is False
    assert guarded.errors == 3
