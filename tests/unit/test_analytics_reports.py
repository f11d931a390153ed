"""Reports from a year of the real household file: the PDF opened and rendered to PNG pages (CJK text
embedded in the CJK font and drawn), the XLSX opened with openpyxl with its native charts."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pypdfium2 as pdfium
import pytest

from schemas.analytics import ReportParams, TariffPrices
from schemas.errors import ConfigError
from stream_app.analytics.reports.fonts import cjk_font, font_for
from stream_app.analytics.reports.render import render_report
from tests.unit.analytics_frames import household

PRICES = TariffPrices(peak=0.27, valley=0.12, flat=0.18, currency="EUR")


@pytest.fixture(scope="module")
def year(data_dir: Path) -> pd.DataFrame:
    return household(data_dir).loc["2009-01-01":"2009-12-31"]


def _pages(data: bytes) -> list[tuple[str, np.ndarray]]:
    doc = pdfium.PdfDocument(data)
    out = []
    for i in range(len(doc)):
        page = doc[i]
        text = page.get_textpage().get_text_range()
        out.append((text, np.asarray(page.render(scale=1).to_pil().convert("L"))))
    return out


def test_the_cjk_font_is_installed() -> None:
    assert cjk_font() is not None, "install fonts-wqy-zenhei: make cjk-font"


@pytest.mark.parametrize("lang", ["zh-CN", "en-US"])
def test_pdf_renders_in_its_language(year: pd.DataFrame, lang: str) -> None:
    params = ReportParams(format="pdf", language=lang, prices=PRICES)  # type: ignore[arg-type]
    result, data = render_report(year, params)
    assert data[:5] == b"%PDF-" and result.size_bytes == len(data)
    assert result.content_type == "application/pdf" and result.filename.endswith(f"{lang}.pdf")
    assert set(result.charts) == {
        "load_curve",
        "period_pie",
        "trend_line",
        "month_over_month",
        "daily_heatmap",
    }
    pages = _pages(data)
    assert len(pages) == 3
    first_text, first_image = pages[0]
    if lang == "zh-CN":
        assert b"WenQuanYi" in data or b"NotoSansCJK" in data  # the CJK font is embedded
        for words in ("用电分析报告", "24 小时平均负荷曲线", "峰谷平用电占比", "谷时"):
            assert words in first_text
        assert "每日用电趋势" in pages[1][0] and "月度用电对比" in pages[1][0]
        assert "每日用电热力图" in pages[2][0]
    else:
        assert "Energy consumption report" in first_text and "Consumption by tariff period" in first_text
    assert "EUR" in first_text
    # the title is drawn: dark pixels in the top band of page 1 (a missing glyph would be an empty box
    # outline; the check above shows the text maps back to the characters)
    band = first_image[: first_image.shape[0] // 25]
    assert (band < 100).sum() > 200
    for _, image in pages:
        assert image.shape[0] > image.shape[1]  # portrait A4
        assert (image < 250).mean() > 0.05  # charts drawn, not a blank page


def test_zh_cn_without_a_cjk_font_is_refused(year: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="fonts-wqy-zenhei"):
        render_report(year, ReportParams(language="zh-CN"), fonts=(Path("/nonexistent/font.ttc"),))
    assert font_for("en-US", (Path("/nonexistent/font.ttc"),)) is None
    _, data = render_report(year, ReportParams(language="en-US"), fonts=(Path("/nonexistent/font.ttc"),))
    assert "Energy consumption report" in _pages(data)[0][0]


@pytest.mark.parametrize("lang", ["zh-CN", "en-US"])
def test_xlsx_holds_the_data_and_native_charts(year: pd.DataFrame, lang: str) -> None:
    result, data = render_report(year, ReportParams(format="xlsx", language=lang, prices=PRICES))  # type: ignore[arg-type]
    assert result.content_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert len(wb.worksheets) == 6
    summary, curve, periods, daily, monthly, heat = wb.worksheets
    charts = {ws.title: [type(c).__name__ for c in ws._charts] for ws in wb.worksheets}
    assert charts[curve.title] == ["LineChart"] and charts[periods.title] == ["PieChart"]
    assert charts[daily.title] == ["LineChart"] and charts[monthly.title] == ["BarChart"]
    assert (
        len([n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if n.startswith("xl/charts/chart")]) == 4
    )
    assert len(heat.conditional_formatting) == 1  # the heatmap's colour scale
    assert heat.max_row == 1 + 365 and heat.max_column == 25
    assert daily.max_row == 1 + 365
    assert sum(daily.cell(row=r, column=2).value for r in range(2, 367)) == pytest.approx(year["value"].sum())
    assert [monthly.cell(row=r, column=1).value for r in range(2, 14)] == [
        f"2009-{m:02d}" for m in range(1, 13)
    ]
    assert monthly.cell(row=2, column=3).value is None  # no month before the first
    jan, feb = monthly.cell(row=2, column=2).value, monthly.cell(row=3, column=2).value
    assert monthly.cell(row=3, column=3).value == pytest.approx((feb - jan) / jan * 100)
    assert [periods.cell(row=r, column=3).value for r in range(2, 5)] == pytest.approx(
        [
            year[year.index.hour.isin(h)]["value"].sum()
            for h in ([8, 9, 10, 18, 19, 20], [23, 0, 1, 2, 3, 4, 5, 6])
        ]
        + [year[~year.index.hour.isin([8, 9, 10, 18, 19, 20, 23, 0, 1, 2, 3, 4, 5, 6])]["value"].sum()]
    )
    if lang == "zh-CN":
        assert summary.title == "概要" and heat.title == "热力图"
