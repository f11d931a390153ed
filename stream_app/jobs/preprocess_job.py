"""The ``preprocess`` job type: the pure :func:`stream_app.analytics.preprocess.preprocess` on the series
as uploaded; its output replaces the dataset's processed series."""

from __future__ import annotations

import pandas as pd

from schemas.datasets import PreprocessParams
from stream_app.analytics.preprocess import preprocess
from stream_app.jobs.registry import Derived, register

TYPE = "preprocess"


def run(frame: pd.DataFrame, params: PreprocessParams) -> Derived:
    out, summary = preprocess(frame, params, int(frame.attrs["interval_s"]), str(frame.attrs["timezone"]))
    return Derived(result=summary, frame=out)


register(TYPE, PreprocessParams, run, series="raw", derives=True)
