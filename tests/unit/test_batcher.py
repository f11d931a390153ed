"""Micro-batching: a lone job runs at once; jobs arriving during a batch share the next one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from stream_app.serving.batcher import MicroBatcher


class Recorder:
    """A batch function that records its batches and can be held inside a batch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def __call__(self, jobs: Sequence[int]) -> list[int | BaseException]:
        self.batches.append(list(jobs))
        self.entered.set()
        self.release.wait(10)
        return [ValueError(f"job {j}") if j < 0 else j * 10 for j in jobs]


@pytest.fixture
def pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(1)


async def test_a_lone_job_runs_at_once(pool: ThreadPoolExecutor) -> None:
    rec = Recorder()
    batcher = MicroBatcher(rec, pool)
    assert await batcher.submit(1) == 10
    assert rec.batches == [[1]]


async def test_jobs_arriving_during_a_batch_share_the_next(pool: ThreadPoolExecutor) -> None:
    rec = Recorder()
    rec.release.clear()
    batcher = MicroBatcher(rec, pool, max_batch=3)
    first = asyncio.create_task(batcher.submit(1))
    await asyncio.to_thread(rec.entered.wait, 10)  # batch [1] is running and held
    later = [asyncio.create_task(batcher.submit(j)) for j in (2, 3, 4, 5)]
    await asyncio.sleep(0)  # let them queue
    rec.release.set()
    assert await first == 10
    assert [await t for t in later] == [20, 30, 40, 50]
    assert rec.batches == [[1], [2, 3, 4], [5]]  # max_batch splits what queued


async def test_a_failing_job_fails_alone(pool: ThreadPoolExecutor) -> None:
    rec = Recorder()
    rec.release.clear()
    batcher = MicroBatcher(rec, pool)
    first = asyncio.create_task(batcher.submit(0))
    await asyncio.to_thread(rec.entered.wait, 10)
    good, bad = asyncio.create_task(batcher.submit(7)), asyncio.create_task(batcher.submit(-1))
    await asyncio.sleep(0)
    rec.release.set()
    assert await first == 0 and await good == 70
    with pytest.raises(ValueError, match="job -1"):
        await bad
    assert rec.batches == [[0], [7, -1]]


async def test_a_failing_batch_fails_every_job(pool: ThreadPoolExecutor) -> None:
    def broken(jobs: Sequence[int]) -> list[int | BaseException]:
        raise RuntimeError("booster gone")

    batcher: MicroBatcher[int, int] = MicroBatcher(broken, pool)
    results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    with pytest.raises(RuntimeError, match="booster gone"):  # later jobs still get a batch
        await batcher.submit(3)


async def test_a_caller_that_went_away_is_skipped(pool: ThreadPoolExecutor) -> None:
    rec = Recorder()
    rec.release.clear()
    batcher = MicroBatcher(rec, pool)
    first = asyncio.create_task(batcher.submit(1))
    await asyncio.to_thread(rec.entered.wait, 10)
    gone, kept = asyncio.create_task(batcher.submit(2)), asyncio.create_task(batcher.submit(3))
    await asyncio.sleep(0)
    gone.cancel()
    rec.release.set()
    assert await first == 10 and await kept == 30
    assert rec.batches == [[1], [3]]


async def test_without_an_executor_jobs_queued_in_one_turn_share_a_batch_on_the_loop() -> None:
    """No executor: the batch runs on the event loop's own thread, with every job queued before it."""
    threads: list[int] = []
    rec = Recorder()

    def on_loop(jobs: Sequence[int]) -> list[int | BaseException]:
        threads.append(threading.get_ident())
        return rec(jobs)

    batcher: MicroBatcher[int, int] = MicroBatcher(on_loop, None)
    results = await asyncio.gather(*(batcher.submit(j) for j in (1, 2, -3)), return_exceptions=True)
    assert results[:2] == [10, 20] and isinstance(results[2], ValueError)
    assert rec.batches == [[1, 2, -3]]
    assert threads == [threading.get_ident()]
    assert await batcher.submit(4) == 40  # the next request starts the next batch
    assert rec.batches[-1] == [4]
