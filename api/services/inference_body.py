"""Predict/detect bodies parsed in one pass: the common shape fast, everything else through pydantic.

Why: FastAPI's own body handling (``json.loads``, then pydantic over 168 dicts, then a walk over the
points) was a quarter of the GIL time of a predict request under load. The common shape — points with
exactly ``timestamp`` ("YYYY-MM-DDTHH:MM:SS", optionally "Z") and a numeric ``value`` — is read with
``orjson`` and vectorised numpy checks. Any other body (covariates, offsets, epoch seconds, anything
wrong) goes through ``model.model_validate_json`` and the checks of ``api.services.inference_input``,
so errors are reported exactly as FastAPI would (422 with ``loc`` starting at "body"). Both paths give
the same series for the bodies the fast one accepts (tests/unit/test_inference_input.py checks it).
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import orjson
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from api.services.inference_input import Series, check_size, checked, series_of
from schemas.events import MAX_ABS

M = TypeVar("M", bound=BaseModel)
_WIDTH = 20  # "YYYY-MM-DDTHH:MM:SSZ"
_FORMAT = "0000-00-00T00:00:00"  # 0 = a digit, else that character
_LO = np.array([ord(c) for c in _FORMAT], dtype=np.uint8)
_HI = np.array([ord("9") if c == "0" else ord(c) for c in _FORMAT], dtype=np.uint8)
_MIN_NS = np.datetime64("1900-01-01T00:00:00", "ns").astype(np.int64)  # (as stamps_ns allows)
_MAX_NS = np.datetime64("2200-01-01T00:00:00", "ns").astype(np.int64)


def fast_stamps(stamps: list[Any]) -> np.ndarray | None:
    """int64 ns for "YYYY-MM-DDTHH:MM:SS[Z]" strings (naive = UTC), or None for anything else."""
    if not all(type(s) is str for s in stamps):
        return None
    try:
        text = np.array(stamps, dtype="S")  # width of the longest; shorter ones padded with NUL
    except UnicodeEncodeError:
        return None
    width = text.dtype.itemsize
    if width not in (_WIDTH - 1, _WIDTH):
        return None  # a string longer than the format, or every one shorter
    codes = text.view(np.uint8).reshape(len(stamps), width)
    if not ((codes[:, :19] >= _LO) & (codes[:, :19] <= _HI)).all():
        return None
    if width == _WIDTH and not ((codes[:, 19] == ord("Z")) | (codes[:, 19] == 0)).all():
        return None
    try:  # numpy parses ASCII bytes ~7x faster than str
        ns = (text.astype("S19") if width == _WIDTH else text).astype("datetime64[ns]").view(np.int64)
    except ValueError:  # a day, hour ... out of range: pydantic says which
        return None
    if ns.min() < _MIN_NS or ns.max() > _MAX_NS:
        return None
    return ns


def fast_points(points: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(stamps ns, values) for a non-empty list of {"timestamp", "value"} objects, else None."""
    if type(points) is not list or not points:
        return None
    if not all(type(p) is dict and len(p) == 2 for p in points):
        return None
    try:
        stamps = [p["timestamp"] for p in points]
        values = [p["value"] for p in points]
    except KeyError:
        return None
    if not all(type(v) is float or type(v) is int for v in values):
        return None
    arr = np.asarray(values, dtype=float)
    if not (np.abs(arr) <= MAX_ABS).all():  # (NaN fails this too)
        return None
    ns = fast_stamps(stamps)
    return None if ns is None else (ns, arr)


def _invalid(exc: ValidationError) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("body", *e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    )


def parse(
    raw: bytes, model: type[BaseModel], options: type[M], field: str, max_points: int
) -> tuple[Series, M]:
    """(the points as a Series, the other fields) of a body of ``model`` = ``options`` + ``field``."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        obj = None
    if type(obj) is dict and field in obj:
        points = obj.pop(field)
        if type(points) is list:
            check_size(len(points), field, max_points)
        fast = fast_points(points)
        if fast is not None:
            try:
                opts = options.model_validate(obj)
            except ValidationError:
                opts = None
            if opts is not None:
                return checked(field, *fast), opts
    try:
        body = model.model_validate_json(raw)
    except ValidationError as exc:
        raise _invalid(exc) from None
    series = series_of(getattr(body, field), field, max_points)
    return series, options.model_validate(body.model_dump(include=set(options.model_fields)))
