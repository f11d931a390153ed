"""The job runners an API process starts with its lifespan (``api.job_runners`` of them)."""

from __future__ import annotations

import asyncio
import contextlib

from api.services.resources import Resources
from stream_app.jobs.runner import JobRunner


def start(resources: Resources) -> list[asyncio.Task[None]]:
    api = resources.settings.api
    return [
        asyncio.create_task(
            JobRunner(resources.pool, lease_s=api.job_lease_s).run_forever(), name=f"job-runner-{i}"
        )
        for i in range(api.job_runners)
    ]


async def stop(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the runners; a job one was running goes back to the queue (JobRunner.run_once)."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
