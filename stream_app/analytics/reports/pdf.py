"""The PDF report: three A4 pages drawn with matplotlib (Agg figures, no pyplot), text in the report's
language with the font of :mod:`fonts` embedded (TrueType, ``pdf.fonttype`` 42).

Page 1: title, summary and cost, the 24-hour load curve and the tariff-period pie. Page 2: the daily
trend line with its 30-day rolling mean and the month-over-month bars. Page 3: the daily heatmap.
matplotlib's rc parameters are process-global, so rendering holds a lock (one report at a time).
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import numpy as np

from schemas.analytics import Lang, ReportParams
from stream_app.analytics.reports.content import ReportContent
from stream_app.analytics.reports.text import period_name, t, trend_name

A4 = (8.27, 11.69)
CHARTS = ("load_curve", "period_pie", "trend_line", "month_over_month", "daily_heatmap")
PERIOD_COLORS = {"peak": "#d62728", "valley": "#1f77b4", "flat": "#2ca02c"}
_LOCK = threading.Lock()


def _font_name(path: Path | None) -> list[str]:
    if path is None:
        return ["DejaVu Sans"]
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(path))  # idempotent
    return [font_manager.FontProperties(fname=str(path)).get_name()]


def _page() -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=A4, layout="constrained")


def summary_lines(content: ReportContent, lang: Lang) -> list[tuple[str, str]]:
    s = content.stats
    lines = [
        (t("range", lang), f"{s.start:%Y-%m-%d %H:%M} - {s.end:%Y-%m-%d %H:%M} ({s.start.tzname()})"),
        (t("days", lang), f"{s.days}"),
        (t("total", lang), f"{s.total_kwh:,.1f}"),
        (t("daily_avg", lang), f"{s.daily_average_kwh:,.2f}"),
        (
            t("peak_load", lang),
            f"{s.peak_load.kw:,.2f}  ({t('at', lang)} {s.peak_load.timestamp:%Y-%m-%d %H:%M})",
        ),
        (
            t("valley_load", lang),
            f"{s.valley_load.kw:,.3f}  ({t('at', lang)} {s.valley_load.timestamp:%Y-%m-%d %H:%M})",
        ),
        (
            t("trend", lang),
            f"{trend_name(s.trend.direction, lang)}: "
            + t("trend_test", lang).format(p=s.trend.p_value, slope=s.trend.slope_kwh_per_day),
        ),
    ]
    for p in s.periods:
        value = f"{p.kwh:,.1f} kWh, {p.ratio:.1%}"
        if p.cost is not None and s.cost is not None:
            value += f", {p.cost:,.2f} {s.cost.currency}"
        lines.append((f"{period_name(p.period, lang)} ({_hours(p.hours)})", value))
    if s.cost is not None:
        lines.append((t("cost", lang), f"{s.cost.total:,.2f} {s.cost.currency}"))
    return lines


def _hours(hours: list[int]) -> str:
    return ",".join(str(h) for h in hours)


def _first_page(content: ReportContent, params: ReportParams) -> Any:
    lang = params.language
    fig = _page()
    top, curve, pie = fig.subplots(3, 1, height_ratios=[1.25, 1.0, 1.0])
    top.axis("off")
    top.set_title(params.title or t("title", lang), fontsize=18, loc="left")
    lines = summary_lines(content, lang)
    for i, (k, v) in enumerate(lines):
        y = 1.0 - (i + 0.5) / max(len(lines), 8)
        top.text(0.0, y, k, fontsize=9, transform=top.transAxes, va="center")
        top.text(0.36, y, v, fontsize=9, transform=top.transAxes, va="center", wrap=True)
    hours = np.arange(24)
    curve.bar(hours, content.load_curve.to_numpy(), color="#1f77b4")
    curve.set_title(t("load_curve", lang))
    curve.set_xlabel(t("hour", lang))
    curve.set_ylabel(t("kwh", lang))
    curve.set_xticks(hours[::2])
    shares = [p for p in content.stats.periods if p.kwh > 0]
    pie.pie(
        [p.kwh for p in shares],
        labels=[f"{period_name(p.period, lang)}\n{p.kwh:,.0f} kWh" for p in shares],
        colors=[PERIOD_COLORS[p.period] for p in shares],
        autopct="%1.1f%%",
        startangle=90,
        counterclock=False,
    )
    pie.set_title(t("period_pie", lang))
    return fig


def _second_page(content: ReportContent, lang: Lang) -> Any:
    fig = _page()
    line, bars = fig.subplots(2, 1)
    days = (
        content.daily.index.tz_localize(None) if content.daily.index.tz is not None else content.daily.index
    )
    line.plot(days, content.daily.to_numpy(), color="#9ecae1", linewidth=0.8, label=t("daily_total", lang))
    line.plot(days, content.rolling.to_numpy(), color="#08519c", linewidth=1.8, label=t("rolling", lang))
    line.set_title(t("trend_line", lang))
    line.set_xlabel(t("date", lang))
    line.set_ylabel(t("kwh", lang))
    line.legend(loc="upper right")
    months = list(content.monthly.index)
    x = np.arange(len(months))
    bars.bar(x, content.monthly.to_numpy(), color="#6baed6")
    step = max(1, len(months) // 16)
    bars.set_xticks(x[::step], months[::step], rotation=60, ha="right", fontsize=8)
    for i, change in enumerate(content.month_change.to_numpy()):
        if np.isfinite(change) and len(months) <= 24:
            bars.annotate(
                f"{change:+.0f}%", (i, content.monthly.iloc[i]), ha="center", va="bottom", fontsize=7
            )
    bars.set_title(t("monthly", lang))
    bars.set_xlabel(t("month", lang))
    bars.set_ylabel(t("kwh", lang))
    return fig


def _third_page(content: ReportContent, lang: Lang) -> Any:
    fig = _page()
    ax = fig.subplots(1, 1)
    matrix = content.heatmap.to_numpy(dtype=float)
    image = ax.imshow(matrix, aspect="auto", interpolation="nearest", cmap="YlOrRd")
    ax.set_title(t("heatmap", lang))
    ax.set_xlabel(t("hour", lang))
    ax.set_ylabel(t("date", lang))
    ax.set_xticks(np.arange(0, 24, 2))
    labels = [f"{d:%Y-%m-%d}" for d in content.heatmap.index]
    step = max(1, len(labels) // 24)
    ax.set_yticks(np.arange(0, len(labels), step), labels[::step], fontsize=7)
    fig.colorbar(image, ax=ax, label=t("kwh", lang))
    return fig


def render_pdf(content: ReportContent, params: ReportParams, font: Path | None) -> bytes:
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    buf = io.BytesIO()
    # WenQuanYi Zen Hei has one weight, 500: asking for it keeps matplotlib from warning on every text
    rc: Any = {"font.family": _font_name(font), "pdf.fonttype": 42, "axes.unicode_minus": False}
    if font is not None:
        rc |= {
            "font.weight": 500,
            "axes.titleweight": 500,
            "axes.labelweight": 500,
            "figure.titleweight": 500,
        }
    with _LOCK, matplotlib.rc_context(rc):
        pages = (
            _first_page(content, params),
            _second_page(content, params.language),
            _third_page(content, params.language),
        )
        with PdfPages(buf, metadata={"Title": params.title or t("title", params.language)}) as pdf:
            for fig in pages:
                pdf.savefig(fig)
    return buf.getvalue()
