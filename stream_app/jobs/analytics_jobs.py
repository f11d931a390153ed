"""The analytics job types: ``statistics``, ``load_patterns``, ``anomalies`` and ``report``, each the
pure function of :mod:`stream_app.analytics` on the dataset's best series (processed if it has one).

A dataset the analysis cannot use (too few days, nothing in the requested range ...) fails the job with
``PROCESSING_ERROR`` and the reason; a zh-CN report on a machine without a CJK font fails with
``PROCESSING_ERROR`` whose details name the Debian package to install.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd
from pydantic import BaseModel

from schemas.analytics import (
    DatasetAnomaliesParams,
    DatasetAnomaliesResult,
    LoadPatternsParams,
    LoadPatternsResult,
    ReportFile,
    ReportParams,
    StatisticsParams,
    StatisticsResult,
)
from schemas.errors import ConfigError, DataError
from schemas.jobs import JobFailed
from stream_app.analytics.anomalies import dataset_anomalies
from stream_app.analytics.patterns import load_patterns
from stream_app.analytics.reports.render import render_report
from stream_app.analytics.statistics import statistics
from stream_app.jobs.registry import register

STATISTICS, LOAD_PATTERNS, ANOMALIES, REPORT = "statistics", "load_patterns", "anomalies", "report"

P = TypeVar("P", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


def _explained(fn: Callable[[pd.DataFrame, P], R]) -> Callable[[pd.DataFrame, P], R]:
    """``fn`` with the analytics' own errors turned into a job error the caller reads."""

    def run(frame: pd.DataFrame, params: P) -> R:
        try:
            return fn(frame, params)
        except DataError as exc:
            raise JobFailed(str(exc), code="PROCESSING_ERROR") from exc
        except ConfigError as exc:
            raise JobFailed(
                str(exc), details={"missing": "cjk_font", "debian_package": "fonts-wqy-zenhei"}
            ) from exc

    run.__name__ = getattr(fn, "__name__", "run")
    return run


def run_statistics(frame: pd.DataFrame, params: StatisticsParams) -> StatisticsResult:
    return statistics(frame, params)


def run_load_patterns(frame: pd.DataFrame, params: LoadPatternsParams) -> LoadPatternsResult:
    return load_patterns(frame, params)


def run_anomalies(frame: pd.DataFrame, params: DatasetAnomaliesParams) -> DatasetAnomaliesResult:
    return dataset_anomalies(frame, params)


def run_report(frame: pd.DataFrame, params: ReportParams) -> ReportFile:
    result, data = render_report(frame, params)
    return ReportFile(**result.model_dump(), content_base64=base64.b64encode(data).decode("ascii"))


HANDLERS: dict[str, tuple[type[BaseModel], Any]] = {
    STATISTICS: (StatisticsParams, _explained(run_statistics)),
    LOAD_PATTERNS: (LoadPatternsParams, _explained(run_load_patterns)),
    ANOMALIES: (DatasetAnomaliesParams, _explained(run_anomalies)),
    REPORT: (ReportParams, _explained(run_report)),
}
for _name, (_params, _handler) in HANDLERS.items():
    register(_name, _params, _handler)
