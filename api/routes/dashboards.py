"""The dashboard of a dataset, computed on request: summary, 24-hour load curve (last 30 days), daily
trend (last 90 days), tariff-period distribution (the caller's periods, else the default ones) and the
anomalies of the latest ``anomalies`` job. Scope ``read``."""

from __future__ import annotations

import asyncio
import functools
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import ValidationError

from api.deps import LangDep, PoolDep, ReadKey
from api.http.envelope import COMMON_RESPONSES, Envelope, ok
from api.http.errors import ApiError, Code, field_error
from api.services.analytics import best_frame, latest_anomalies, latest_patterns, latest_prices
from schemas.analytics import DEFAULT_PERIODS, Dashboard, TariffPeriods
from schemas.errors import DataError
from stream_app.analytics.dashboard import dashboard

router = APIRouter(prefix="/dashboards", tags=["analytics"], responses=COMMON_RESPONSES)


Hours = Annotated[list[int] | None, Query(max_length=24, description="Repeat the parameter per hour.")]


def _periods(peak: list[int] | None, valley: list[int] | None, flat: list[int] | None) -> TariffPeriods:
    if peak is None and valley is None and flat is None:
        return DEFAULT_PERIODS
    body = {"peak_hours": peak or [], "valley_hours": valley or [], "flat_hours": flat or []}
    try:
        return TariffPeriods.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise field_error(["query", *first["loc"]], first["msg"]) from None


@router.get("/{dataset_id}", response_model=Envelope[Dashboard], summary="A dataset's dashboard")
async def get_dashboard(
    dataset_id: uuid.UUID,
    _key: ReadKey,
    pool: PoolDep,
    lang: LangDep,
    peak_hours: Hours = None,
    valley_hours: Hours = None,
    flat_hours: Hours = None,
) -> Envelope[Dashboard]:
    """Tariff periods: give all three hour sets (``?peak_hours=8&peak_hours=9...``; together the 24
    hours without overlap, else 422 naming the query field) or none (peak 8-10 and 18-20, valley 23-06,
    flat the rest). 422 PROCESSING_ERROR when the dataset holds no finite reading.

    ``recommendations`` come from these figures, the latest load patterns and anomalies jobs and the
    prices of the latest statistics job given prices, in the request's language (``?lang=`` or
    ``Accept-Language``); docs/analytics.md lists the rules."""
    periods = _periods(peak_hours, valley_hours, flat_hours)
    frame = await best_frame(pool, dataset_id)
    anomalies = await latest_anomalies(pool, dataset_id)
    patterns = await latest_patterns(pool, dataset_id)
    prices = await latest_prices(pool, dataset_id)
    try:
        board = await asyncio.to_thread(
            functools.partial(dashboard, lang=lang, prices=prices, patterns=patterns),
            frame,
            anomalies,
            periods,
        )
    except DataError as exc:
        raise ApiError(422, Code.PROCESSING_ERROR, "processing", details={"reason": str(exc)}) from exc
    return ok(board)
