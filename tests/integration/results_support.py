"""Helpers of the results tests: real detector events for assets of their own, sent to a topic."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from stream_app.settings import Settings
from stream_app.sinks import sink
from tests.integration.data import AssetSeries, detector_events, steel_assets


def tagged_steel_assets(data_dir: Path, n_assets: int, n_rows: int, faults_every: int) -> list[AssetSeries]:
    """Steel-plant stretches with planted faults, renamed so that each test run has its own assets
    (the database is shared by every run)."""
    tag = uuid.uuid4().hex[:8]
    series = steel_assets(data_dir, n_assets, n_rows, faults_every)
    for s in series:
        s.asset_id = f"{tag}-{s.asset_id}"
    return series


def real_events(
    settings: Settings, data_dir: Path, n_assets: int = 2, n_rows: int = 1500
) -> tuple[list[AssetSeries], list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    series = tagged_steel_assets(data_dir, n_assets, n_rows, faults_every=300)
    anomalies, forecasts = detector_events(settings, series)
    return series, anomalies, forecasts


async def run_until(settings: Settings, spec: sink.Sink[object], messages: int) -> list[sink.BatchReport]:
    """Run the sink until it has committed ``messages`` messages; the reports of its batches."""
    reports: list[sink.BatchReport] = []
    done, stop = asyncio.Event(), asyncio.Event()

    def on_batch(report: sink.BatchReport) -> None:
        reports.append(report)
        if sum(r.messages for r in reports) >= messages:
            done.set()

    task = asyncio.create_task(sink.run(settings, spec, stop, on_batch))
    try:
        waiter = asyncio.create_task(done.wait())
        finished, _ = await asyncio.wait({waiter, task}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
        assert waiter in finished, f"sink did not store {messages} messages: {reports} {task}"
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert all(r.committed for r in reports)
    return reports
