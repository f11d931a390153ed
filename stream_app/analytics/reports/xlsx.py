"""The XLSX report (openpyxl): one sheet per view, each with its data and a native Excel chart.

Sheets: summary; 24-hour load curve (line chart); tariff periods (pie); daily totals with the 30-day
rolling mean (line); monthly totals with the change against the previous month (bar); the daily heatmap
(days x hours, an Excel colour scale: Excel has no heatmap chart type). Sheet titles and headers are in
the report's language; Excel draws them with the reader's own fonts.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from schemas.analytics import Lang, ReportParams
from stream_app.analytics.reports.content import ReportContent
from stream_app.analytics.reports.pdf import summary_lines
from stream_app.analytics.reports.text import period_name, t

SHEETS: dict[str, dict[Lang, str]] = {
    "summary": {"zh-CN": "概要", "en-US": "Summary"},
    "load_curve": {"zh-CN": "负荷曲线", "en-US": "Load curve"},
    "periods": {"zh-CN": "峰谷平", "en-US": "Periods"},
    "daily": {"zh-CN": "每日趋势", "en-US": "Daily trend"},
    "monthly": {"zh-CN": "月度对比", "en-US": "Monthly"},
    "heatmap": {"zh-CN": "热力图", "en-US": "Heatmap"},
}


def _num(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _sheet(wb: Any, key: str, lang: Lang, headers: list[str]) -> Any:
    from openpyxl.styles import Font

    ws = wb.create_sheet(SHEETS[key][lang])
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    return ws


def render_xlsx(content: ReportContent, params: ReportParams) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, LineChart, PieChart, Reference
    from openpyxl.chart.label import DataLabelList
    from openpyxl.formatting.rule import ColorScaleRule
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    lang = params.language
    wb = Workbook()
    ws = wb.active
    ws.title = SHEETS["summary"][lang]
    ws.append([params.title or t("title", lang)])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([t("metric", lang), t("value", lang)])
    for k, v in summary_lines(content, lang):
        ws.append([k, v])
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 70

    ws = _sheet(wb, "load_curve", lang, [t("hour", lang), t("kwh", lang)])
    for hour, kwh in content.load_curve.items():
        ws.append([int(hour), float(kwh)])
    chart: Any = LineChart()
    chart.title, chart.x_axis.title, chart.y_axis.title = (
        t("load_curve", lang),
        t("hour", lang),
        t("kwh", lang),
    )
    chart.add_data(Reference(ws, min_col=2, min_row=1, max_row=25), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=25))
    ws.add_chart(chart, "D2")

    ws = _sheet(wb, "periods", lang, [t("period", lang), t("hours", lang), t("kwh", lang), t("ratio", lang)])
    for p in content.stats.periods:
        ws.append([period_name(p.period, lang), ",".join(map(str, p.hours)), p.kwh, p.ratio])
    pie: Any = PieChart()
    pie.title = t("period_pie", lang)
    pie.add_data(Reference(ws, min_col=3, min_row=1, max_row=4), titles_from_data=True)
    pie.set_categories(Reference(ws, min_col=1, min_row=2, max_row=4))
    pie.dataLabels = DataLabelList()
    pie.dataLabels.showPercent = True
    ws.add_chart(pie, "F2")

    ws = _sheet(wb, "daily", lang, [t("date", lang), t("daily_total", lang), t("rolling", lang)])
    for day, total in content.daily.items():
        ws.append([day.date(), float(total), float(content.rolling.loc[day])])
    n = len(content.daily) + 1
    for row in ws.iter_rows(min_row=2, max_col=1):
        row[0].number_format = "yyyy-mm-dd"
    line: Any = LineChart()
    line.title, line.x_axis.title, line.y_axis.title = t("trend_line", lang), t("date", lang), t("kwh", lang)
    line.add_data(Reference(ws, min_col=2, max_col=3, min_row=1, max_row=n), titles_from_data=True)
    line.set_categories(Reference(ws, min_col=1, min_row=2, max_row=n))
    line.width, line.height = 24, 10
    ws.add_chart(line, "E2")

    ws = _sheet(wb, "monthly", lang, [t("month", lang), t("kwh", lang), t("change", lang)])
    for month, total in content.monthly.items():
        ws.append([str(month), float(total), _num(float(content.month_change.loc[month]))])
    m = len(content.monthly) + 1
    bar: Any = BarChart()
    bar.title, bar.x_axis.title, bar.y_axis.title = t("monthly", lang), t("month", lang), t("kwh", lang)
    bar.add_data(Reference(ws, min_col=2, min_row=1, max_row=m), titles_from_data=True)
    bar.set_categories(Reference(ws, min_col=1, min_row=2, max_row=m))
    bar.width, bar.height = 24, 10
    ws.add_chart(bar, "E2")

    ws = _sheet(wb, "heatmap", lang, [t("date", lang), *[str(h) for h in range(24)]])
    for day, row in content.heatmap.iterrows():
        ws.append([day.date(), *[_num(float(v)) for v in row.to_numpy()]])
    last = len(content.heatmap) + 1
    for cells in ws.iter_rows(min_row=2, max_col=1):
        cells[0].number_format = "yyyy-mm-dd"
    ws.column_dimensions["A"].width = 12
    cells = f"B2:{get_column_letter(25)}{last}"
    ws.conditional_formatting.add(
        cells, ColorScaleRule(start_type="min", start_color="FFFFFFCC", end_type="max", end_color="FFBD0026")
    )
    ws.freeze_panes = "B2"

    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
