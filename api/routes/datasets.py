"""Datasets: upload (CSV or Excel), list, get, rename/re-zone, delete, readings by time, preprocess.

Scopes: reading datasets and their readings needs ``read``; uploading, changing, deleting and
preprocessing (it rewrites the processed series) need ``write`` (the data-ingestion scope).
An upload is parsed before anything is stored, then stored in one transaction: a refused file leaves
nothing behind.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd
from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from pydantic import BaseModel

from api.deps import PoolDep, ReadKey, SettingsDep, WriteKey
from api.http.envelope import COMMON_RESPONSES, Envelope, ErrorResponse, Page, ok
from api.http.errors import ApiError, Code, field_error
from api.http.pagination import MAX_PAGE, PageDep, encode_cursor, keyset, paged
from api.services.job_submit import submit
from schemas.datasets import (
    MAX_NAME,
    RESAMPLE_SECONDS,
    DataPage,
    DataPoint,
    DatasetPatch,
    DatasetPublic,
    DatasetStatus,
    EnergyUnit,
    FileFormat,
    IngestOptions,
    PreprocessParams,
    check_timezone,
)
from schemas.jobs import GenericJobPublic
from stream_app.analytics.ingest import IngestError, ingest
from stream_app.analytics.rezone import naive_source, rezone
from stream_app.jobs import preprocess_job
from stream_app.store import datasets as ds

router = APIRouter(prefix="/datasets", tags=["datasets"], responses=COMMON_RESPONSES)


class DatasetDeleted(BaseModel):
    id: uuid.UUID
    deleted: bool


def public(d: ds.Dataset) -> DatasetPublic:
    return DatasetPublic(
        id=d.id,
        name=d.name,
        status=d.status,
        file_name=d.file_name,
        file_format=FileFormat(d.file_format),
        file_bytes=d.file_bytes,
        timezone=d.timezone,
        unit=EnergyUnit(d.unit),
        interval_s=d.interval_s,
        row_count=d.row_count,
        start_at=d.start_at,
        end_at=d.end_at,
        detection=d.detection,
        processed=d.processed,
        created_at=d.created_at,
        updated_at=d.updated_at,
    )


def _file_error(exc: IngestError) -> ApiError:
    detail: dict[str, Any] = {"loc": ["body", exc.field], "msg": exc.message, "type": exc.code.lower()}
    detail.update({k: v for k, v in exc.details.items() if v is not None})
    if exc.code == "FILE_TOO_LARGE":
        return ApiError(413, Code.FILE_TOO_LARGE, "file_format", reason=exc.message, details=[detail])
    return ApiError(422, Code.FILE_FORMAT_ERROR, "file_format", reason=exc.message, details=[detail])


async def _read_capped(file: UploadFile, limit: int) -> bytes:
    """The upload's bytes; 413 FILE_TOO_LARGE (field ``file``) past ``limit``."""
    if file.size is not None and file.size > limit:
        raise _file_error(IngestError(f"the file is over {limit} bytes", code="FILE_TOO_LARGE"))
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise _file_error(IngestError(f"the file is over {limit} bytes", code="FILE_TOO_LARGE"))
    return data


@router.post(
    "",
    status_code=201,
    response_model=Envelope[DatasetPublic],
    summary="Upload a dataset (CSV or Excel)",
    responses={
        413: {"description": "FILE_TOO_LARGE: the file is over api_upload_max_bytes (50 MiB)."},
        422: {"description": "FILE_FORMAT_ERROR naming the field (file, sheet, timestamp_column ...)."},
    },
)
async def upload(
    _key: WriteKey,
    pool: PoolDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="CSV text or an .xlsx workbook (told by content).")],
    name: Annotated[str | None, Form(min_length=1, max_length=MAX_NAME)] = None,
    timestamp_column: Annotated[str | None, Form(min_length=1, max_length=200)] = None,
    value_column: Annotated[str | None, Form(min_length=1, max_length=200)] = None,
    timezone: Annotated[
        str | None, Form(max_length=64, description="IANA zone of naive timestamps (default UTC).")
    ] = None,
    unit: Annotated[EnergyUnit | None, Form(description="Unit of the values (default: detected).")] = None,
    scale: Annotated[float, Form(gt=0, le=1e9, description="Multiplies the values first.")] = 1.0,
    sheet: Annotated[str | None, Form(min_length=1, max_length=200)] = None,
) -> Envelope[DatasetPublic]:
    """Parses and detects (timestamp/value columns, zone, unit, interval), converts to kWh per interval
    and stores the readings; the detection is in ``detection``."""
    if timezone is not None:
        try:
            check_timezone(timezone)
        except ValueError as exc:
            raise field_error(["body", "timezone"], str(exc)) from None
    opts = IngestOptions(
        name=name,
        timestamp_column=timestamp_column,
        value_column=value_column,
        timezone=timezone,
        unit=unit,
        scale=scale,
        sheet=sheet,
    )
    data = await _read_capped(file, settings.api.upload_max_bytes)
    try:
        parsed = await asyncio.to_thread(ingest, data, opts)
    except IngestError as exc:
        raise _file_error(exc) from None
    file_name = (file.filename or "")[:255]
    det = parsed.detection
    dataset = await ds.create(
        pool,
        name=name or file_name or "dataset",
        file_name=file_name,
        file_format=parsed.file_format.value,
        file_bytes=len(data),
        timezone=det.timezone,
        unit=det.unit.value,
        detection=det.model_dump(mode="json"),
        interval_s=det.interval_s,
        frame=parsed.frame,
    )
    return ok(public(dataset))


@router.get("", response_model=Envelope[Page[DatasetPublic]], summary="List datasets")
async def list_datasets(
    _key: ReadKey,
    pool: PoolDep,
    page: PageDep,
    status: Annotated[DatasetStatus | None, Query(description="Only datasets in this state.")] = None,
) -> Envelope[Page[DatasetPublic]]:
    """Newest first (``sort``), ``from``/``to`` on the upload time, cursor paging."""
    rows = await ds.list_datasets(
        pool, functools.partial(keyset, page), status=None if status is None else status.value
    )
    return paged(rows, page, lambda d: (d.created_at, d.id), public)


@router.get("/{dataset_id}", response_model=Envelope[DatasetPublic], summary="A dataset")
async def get_dataset(dataset_id: uuid.UUID, _key: ReadKey, pool: PoolDep) -> Envelope[DatasetPublic]:
    return ok(public(await ds.get(pool, dataset_id)))


@router.patch(
    "/{dataset_id}",
    response_model=Envelope[DatasetPublic],
    summary="Rename or re-zone a dataset",
    responses={
        409: {
            "model": ErrorResponse,
            "description": "A new time zone while a job on the dataset is queued or running (CONFLICT).",
        }
    },
)
async def patch_dataset(
    dataset_id: uuid.UUID, body: DatasetPatch, _key: WriteKey, pool: PoolDep
) -> Envelope[DatasetPublic]:
    """``timezone``: the zone the readings are shown and analysed in. When the upload's timestamps were
    naive (read in the dataset's zone) the same wall-clock times are read again in the new zone, so the
    stored readings move (times the new zone lacks at its clock changes are dropped); timestamps that
    carried offsets keep their instants. Either way what was derived with the old local time (the
    processed series, finished jobs and their results) is removed; ``detection.rezoned`` says what
    changed. 409 CONFLICT while a job on the dataset is queued or running."""
    if body.timezone is not None:
        await ds.rezone(pool, dataset_id, body.timezone, _reframe)
    return ok(public(await ds.update(pool, dataset_id, name=body.name)))


def _reframe(raw: pd.DataFrame, dataset: ds.Dataset, zone: str) -> tuple[pd.DataFrame, bool, int]:
    out = rezone(raw, dataset.timezone, zone, naive=naive_source(dataset.detection))
    return out.frame, out.shifted, out.dropped


@router.delete("/{dataset_id}", response_model=Envelope[DatasetDeleted], summary="Delete a dataset")
async def delete_dataset(dataset_id: uuid.UUID, _key: WriteKey, pool: PoolDep) -> Envelope[DatasetDeleted]:
    """Deletes its readings, processed series, jobs and their results with it."""
    if not await ds.delete(pool, dataset_id):
        await ds.get(pool, dataset_id)  # 404 RESOURCE_NOT_FOUND
    return ok(DatasetDeleted(id=dataset_id, deleted=True))


@router.get("/{dataset_id}/data", response_model=Envelope[DataPage], summary="A dataset's readings by time")
async def dataset_data(
    dataset_id: uuid.UUID,
    _key: ReadKey,
    pool: PoolDep,
    page: PageDep,
    series: Annotated[
        Literal["raw", "processed"], Query(description="As uploaded, or the latest preprocessing output.")
    ] = "raw",
    format: Annotated[
        Literal["full", "compact"], Query(description="compact: [timestamp, value] pairs.")
    ] = "full",
) -> Envelope[DataPage]:
    """Oldest first from ``from`` (inclusive) to ``to`` (exclusive), at most ``limit`` (≤ 1000) a page;
    values in kWh per interval (null = missing), timestamps in the dataset's zone."""
    dataset = await ds.get(pool, dataset_id)
    after = page.after[0] if page.after is not None else None
    rows = await ds.points(
        pool,
        dataset_id,
        ds.PROCESSED if series == "processed" else ds.RAW,
        start=page.start,
        end=page.end,
        after=after,
        limit=min(page.limit, MAX_PAGE),
    )
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    zone = ZoneInfo(dataset.timezone)
    pairs = [(r["ts"].astimezone(zone), r["value"]) for r in rows]
    cursor = encode_cursor(rows[-1]["ts"], "") if has_more and rows else None
    items: list[DataPoint] | list[tuple[Any, float | None]] = (
        pairs if format == "compact" else [DataPoint(timestamp=t, value=v) for t, v in pairs]
    )
    return ok(
        DataPage(
            dataset_id=dataset_id,
            series=series,
            timezone=dataset.timezone,
            items=items,
            next_cursor=cursor,
            has_more=has_more,
        )
    )


@router.post(
    "/{dataset_id}/preprocess",
    status_code=202,
    response_model=Envelope[GenericJobPublic],
    summary="Preprocess a dataset (a job)",
)
async def preprocess(
    dataset_id: uuid.UUID, body: PreprocessParams, _key: WriteKey, pool: PoolDep, response: Response
) -> Envelope[GenericJobPublic]:
    """Queues a ``preprocess`` job (202; follow it at ``GET /jobs/{id}``): missing values, outliers,
    resampling, zone. Its output becomes the series analytics use; the summary is the job's result."""
    dataset = await ds.get(pool, dataset_id)
    if body.resample is not None and RESAMPLE_SECONDS[body.resample] < dataset.interval_s:
        raise field_error(
            ["body", "resample"],
            f"finer than the data's interval ({dataset.interval_s} s): energy is not upsampled",
        )
    job = await submit(pool, preprocess_job.TYPE, body, dataset_id)
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    return ok(job)
