"""One report: the numbers (:mod:`content`), then the PDF or the XLSX, with its file name and digest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from schemas.analytics import REPORT_CONTENT_TYPES, ReportParams, ReportResult
from stream_app.analytics.reports.content import report_content
from stream_app.analytics.reports.fonts import CJK_FONTS, font_for
from stream_app.analytics.reports.pdf import CHARTS, render_pdf
from stream_app.analytics.reports.xlsx import render_xlsx


def render_report(
    frame: pd.DataFrame, params: ReportParams, fonts: tuple[Path, ...] = CJK_FONTS
) -> tuple[ReportResult, bytes]:
    """(what was made, the file's bytes). ConfigError when a zh-CN PDF has no CJK font to draw with."""
    content = report_content(frame, params)
    if params.format == "pdf":
        data = render_pdf(content, params, font_for(params.language, fonts))
    else:
        data = render_xlsx(content, params)
    s = content.stats
    name = f"kilowatch-report-{s.start:%Y%m%d}-{s.end:%Y%m%d}-{params.language}.{params.format}"
    result = ReportResult(
        format=params.format,
        language=params.language,
        filename=name,
        content_type=REPORT_CONTENT_TYPES[params.format],
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        charts=list(CHARTS),
    )
    return result, data
