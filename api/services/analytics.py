"""What the analytics routes share: queue a job on a dataset, load a dataset's series, read the latest
stored result of a job type."""

from __future__ import annotations

import uuid

import asyncpg
import pandas as pd
from fastapi import Response
from pydantic import BaseModel

from api.services.job_submit import submit
from schemas.analytics import DatasetAnomaliesResult, LoadPatternsResult, TariffPrices
from schemas.jobs import GenericJobPublic
from stream_app.jobs import analytics_jobs
from stream_app.store import analytics_results
from stream_app.store import datasets as ds


async def queue(
    pool: asyncpg.Pool, dataset_id: uuid.UUID, type_name: str, params: BaseModel, response: Response
) -> GenericJobPublic:
    """Queue a job on an existing dataset (404 otherwise); ``Location`` points at the job."""
    await ds.get(pool, dataset_id)
    job = await submit(pool, type_name, params, dataset_id)
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    return job


async def best_frame(pool: asyncpg.Pool, dataset_id: uuid.UUID) -> pd.DataFrame:
    """The dataset's processed series if it has one, else the series as uploaded (as the jobs use)."""
    dataset = await ds.get(pool, dataset_id)
    series = ds.PROCESSED if await ds.has_processed(pool, dataset_id) else ds.RAW
    return await ds.frame(pool, dataset, series)


async def latest_anomalies(pool: asyncpg.Pool, dataset_id: uuid.UUID) -> DatasetAnomaliesResult | None:
    data = await analytics_results.latest(pool, dataset_id, analytics_jobs.ANOMALIES)
    return None if data is None else DatasetAnomaliesResult.model_validate(data)


async def latest_patterns(pool: asyncpg.Pool, dataset_id: uuid.UUID) -> LoadPatternsResult | None:
    data = await analytics_results.latest(pool, dataset_id, analytics_jobs.LOAD_PATTERNS)
    return None if data is None else LoadPatternsResult.model_validate(data)


async def latest_prices(pool: asyncpg.Pool, dataset_id: uuid.UUID) -> TariffPrices | None:
    """The prices of the dataset's latest statistics job given prices (its tariff), if any."""
    data = await analytics_results.latest_prices(pool, dataset_id)
    return None if data is None else TariffPrices.model_validate(data)
