"""The job-type registry: a job type is ``(name, params model, handler(frame, params) -> result model)``.

A handler gets the dataset's series as the analytics' frame (tz-aware ``DatetimeIndex`` named
``timestamp``, float column ``value`` in kWh per interval, NaN = missing; ``frame.attrs`` holds
``dataset_id``, ``interval_s``, ``timezone`` and ``series``) and the validated params. It may be a plain
function (run in the runner's child process: frame, params and result are pickled; a handler that
cannot be, e.g. a closure, is looked up by its type name in the child's catalog) or a coroutine
function (run on the API's event loop: only for work that awaits, never for CPU). It returns a pydantic
model (stored as JSON, its id is the job's ``result_id``) or a :class:`Derived` (the model plus a new
processed series for the dataset). It
raises :class:`schemas.jobs.JobFailed` for a failure the caller should read (code, message, details);
anything else fails the job with a fixed PROCESSING_ERROR message (the traceback goes to the log).

Register at import time in a module listed in :mod:`stream_app.jobs.catalog`::

    registry.register("statistics", StatisticsParams, statistics.compute)
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel

from schemas.errors import KilowatchError

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Derived:
    """A handler's answer that also replaces the dataset's processed series with ``frame``."""

    result: BaseModel
    frame: pd.DataFrame


HandlerResult = BaseModel | Derived
Handler = Callable[[pd.DataFrame, Any], HandlerResult | Awaitable[HandlerResult]]


@dataclass(frozen=True)
class JobType:
    name: str
    params: type[BaseModel]
    handler: Handler
    # Which series the handler gets: "best" = the processed series when the dataset has one, else the
    # series as uploaded; "raw" = always as uploaded (preprocessing starts from the upload).
    series: Literal["best", "raw"] = "best"
    # The job writes the dataset's processed series: the dataset shows "processing" while it runs.
    derives: bool = False


class DuplicateJobType(KilowatchError):
    """Two modules registered the same job type name."""


_TYPES: dict[str, JobType] = {}


def register(
    name: str,
    params: type[BaseModel],
    handler: Handler,
    *,
    series: Literal["best", "raw"] = "best",
    derives: bool = False,
) -> JobType:
    if not _NAME.match(name) or name == "training":
        raise ValueError(f"job type name {name!r}: lowercase letters, digits, _ (and not 'training')")
    existing = _TYPES.get(name)
    if existing is not None and existing.handler is not handler:
        raise DuplicateJobType(f"job type {name!r} is registered twice")
    jt = JobType(name, params, handler, series, derives)
    _TYPES[name] = jt
    return jt


def get(name: str) -> JobType | None:
    return _TYPES.get(name)


def names() -> list[str]:
    return sorted(_TYPES)
