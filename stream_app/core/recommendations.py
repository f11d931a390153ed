"""Dashboard recommendations (pure): rules over a dataset's statistics, load curve, load patterns and
anomalies, each answering a :class:`schemas.analytics.Recommendation` in the request's language with the
figures that triggered it.

The thresholds are set from the rules' own definitions, not fitted to any data (docs/analytics.md):

- ``shift_peak_load``: the peak period's share of the energy is at least ``PEAK_EXCESS`` times its share
  of the day's hours (a flat load would use exactly its time share); ``warning`` from ``PEAK_EXCESS_WARN``.
  With the tariff's prices (those of the dataset's latest statistics job) it says what moving a tenth
  of the peak energy to the valley would save over the data's period.
- ``standby_loads``: the mean load of the night hours ``NIGHT_HOURS`` (last 30 days) is at least
  ``NIGHT_SHARE`` of the mean load of the day (``warning`` from ``NIGHT_SHARE_WARN``): loads that never
  stop (standby, old fridges, pumps, heating left on).
- ``check_appliance``: the latest anomalies job flagged events ending in the last ``RECENT_DAYS`` days
  of the data (``warning`` from ``RECENT_WARN_COUNT`` events or a score from ``RECENT_WARN_SCORE``).
- ``rising_consumption``: the trend test says increasing; ``warning`` when its slope adds at least
  ``RISE_WARN`` of the daily average in 30 days.
- ``high_consumption_days``: the latest load patterns job labels at least ``HIGH_DAYS_SHARE`` of the
  days ``high_consumption``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.analytics import (
    DatasetAnomaly,
    Lang,
    LoadPatternsResult,
    PeriodShare,
    Recommendation,
    RecommendationId,
    Severity,
    TariffPrices,
    Trend,
)

PEAK_EXCESS = 1.25
PEAK_EXCESS_WARN = 1.5
SHIFT_FRACTION = 0.1
NIGHT_HOURS = (1, 2, 3, 4)
NIGHT_SHARE = 0.5
NIGHT_SHARE_WARN = 0.75
RECENT_DAYS = 7
RECENT_WARN_COUNT = 3
RECENT_WARN_SCORE = 0.95
RISE_WARN = 0.10
HIGH_DAYS_SHARE = 0.2
HOURS_PER_YEAR = 8760.0

Figures = dict[str, float | int | str]


@dataclass(frozen=True)
class Evidence:
    """What the rules look at (every part the dashboard has; None / empty when no job made it)."""

    periods: Sequence[PeriodShare]
    load_curve: Sequence[float]  # mean kWh of each local hour 0..23 (kW), last 30 days
    daily_average_kwh: float
    trend: Trend
    data_end: datetime
    anomalies: Sequence[DatasetAnomaly] = ()
    prices: TariffPrices | None = None
    patterns: LoadPatternsResult | None = None


TEXTS: dict[RecommendationId, dict[Lang, tuple[str, str]]] = {
    "shift_peak_load": {
        "en-US": (
            "Shift load out of peak hours",
            "{peak_share_pct}% of your energy is used in peak hours, which are {peak_time_share_pct}% of "
            "the day. Run flexible loads (washing, dishwasher, water heater, charging) in valley hours.",
        ),
        "zh-CN": (
            "将用电转移出峰时段",
            "您 {peak_share_pct}% 的用电量发生在峰时段，而峰时段只占全天的 {peak_time_share_pct}%。"
            "请把可调整的负荷（洗衣、洗碗、热水器、充电）安排在谷时段。",
        ),
    },
    "standby_loads": {
        "en-US": (
            "Check standby and always-on loads",
            "At night the load stays at {night_kw} kW, {night_share_pct}% of your average {average_kw} kW: "
            "about {standby_kwh_per_year} kWh a year. Switch off standby devices and check old appliances.",
        ),
        "zh-CN": (
            "检查待机和常开负荷",
            "夜间负荷保持在 {night_kw} kW，达到平均负荷 {average_kw} kW 的 {night_share_pct}%，"
            "每年约 {standby_kwh_per_year} kWh。请关闭待机设备并检查老旧电器。",
        ),
    },
    "check_appliance": {
        "en-US": (
            "Check your appliances",
            "{recent_count} unusual consumption event(s) in the last {recent_days} days, the latest at "
            "{latest_at} ({latest_type_shown}). Check the appliances running then.",
        ),
        "zh-CN": (
            "检查用电设备",
            "最近 {recent_days} 天内有 {recent_count} 次异常用电，"
            "最近一次在 {latest_at}（{latest_type_shown}）。请检查当时运行的电器。",
        ),
    },
    "rising_consumption": {
        "en-US": (
            "Your consumption is rising",
            "Daily consumption grows by {slope_kwh_per_day} kWh a day ({change_30d_pct}% of the daily "
            "average in 30 days; {test} p = {p_value}). Look for new or ageing appliances.",
        ),
        "zh-CN": (
            "用电量呈上升趋势",
            "日用电量每天增加 {slope_kwh_per_day} kWh（30 天内相当于日均的 {change_30d_pct}%；"
            "{test} 检验 p = {p_value}）。请留意新增或老化的电器。",
        ),
    },
    "high_consumption_days": {
        "en-US": (
            "Many high-consumption days",
            "{high_days_pct}% of the days follow a high-consumption pattern ({pattern_daily_kwh} kWh a "
            "day against {daily_average_kwh} kWh on average). See what runs on those days.",
        ),
        "zh-CN": (
            "高耗能天数较多",
            "{high_days_pct}% 的天数属于高耗能模式（每天 {pattern_daily_kwh} kWh，平均为 "
            "{daily_average_kwh} kWh）。请查看这些天运行了哪些设备。",
        ),
    },
}


def _shown(v: float | int | str) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


def _advice(
    rid: RecommendationId,
    severity: Severity,
    lang: Lang,
    figures: Figures,
    words: dict[str, str] | None = None,
) -> Recommendation:
    """The advice with its text filled from ``figures`` (numbers rounded for reading) and ``words`` (the
    text's own wording in ``lang``, not figures)."""
    title, template = TEXTS[rid][lang]
    text = template.format(**{k: _shown(v) for k, v in figures.items()}, **(words or {}))
    return Recommendation(id=rid, severity=severity, language=lang, title=title, text=text, figures=figures)


def shift_peak_load(ev: Evidence, lang: Lang) -> Recommendation | None:
    peak = next((p for p in ev.periods if p.period == "peak"), None)
    if peak is None or not peak.hours or peak.kwh <= 0:
        return None
    time_share = len(peak.hours) / 24.0
    excess = peak.ratio / time_share
    if excess < PEAK_EXCESS:
        return None
    figures: Figures = {
        "peak_share_pct": round(100 * peak.ratio, 1),
        "peak_time_share_pct": round(100 * time_share, 1),
        "peak_kwh": peak.kwh,
        "excess": excess,
        "threshold": PEAK_EXCESS,
    }
    if ev.prices is not None and ev.prices.peak > ev.prices.valley:
        figures["saving_if_10pct_shifted"] = SHIFT_FRACTION * peak.kwh * (ev.prices.peak - ev.prices.valley)
        figures["currency"] = ev.prices.currency
    return _advice("shift_peak_load", "warning" if excess >= PEAK_EXCESS_WARN else "info", lang, figures)


def standby_loads(ev: Evidence, lang: Lang) -> Recommendation | None:
    if len(ev.load_curve) != 24:
        return None
    average = sum(ev.load_curve) / 24.0
    if average <= 0:
        return None
    night = sum(ev.load_curve[h] for h in NIGHT_HOURS) / len(NIGHT_HOURS)
    share = night / average
    if share < NIGHT_SHARE:
        return None
    figures: Figures = {
        "night_kw": night,
        "average_kw": average,
        "night_share_pct": round(100 * share, 1),
        "standby_kwh_per_year": round(night * HOURS_PER_YEAR),
        "night_hours": ",".join(str(h) for h in NIGHT_HOURS),
        "threshold": NIGHT_SHARE,
    }
    return _advice("standby_loads", "warning" if share >= NIGHT_SHARE_WARN else "info", lang, figures)


def check_appliance(ev: Evidence, lang: Lang) -> Recommendation | None:
    since = ev.data_end - timedelta(days=RECENT_DAYS)
    recent = [a for a in ev.anomalies if a.end >= since]
    if not recent:
        return None
    latest = max(recent, key=lambda a: a.end)
    top = max(a.score for a in recent)
    figures: Figures = {
        "recent_count": len(recent),
        "recent_days": RECENT_DAYS,
        "max_score": top,
        "latest_at": latest.peak_at.isoformat(),
        "latest_type": latest.type,
    }
    warn = len(recent) >= RECENT_WARN_COUNT or top >= RECENT_WARN_SCORE
    words = {"latest_type_shown": latest.type_display[lang]}
    return _advice("check_appliance", "warning" if warn else "info", lang, figures, words)


def rising_consumption(ev: Evidence, lang: Lang) -> Recommendation | None:
    t = ev.trend
    if t.direction != "increasing" or ev.daily_average_kwh <= 0:
        return None
    change = 30 * t.slope_kwh_per_day / ev.daily_average_kwh
    if not math.isfinite(change):  # a daily average next to nothing: no share to speak of
        return None
    figures: Figures = {
        "slope_kwh_per_day": t.slope_kwh_per_day,
        "change_30d_pct": round(100 * change, 1),
        "p_value": t.p_value,
        "test": t.test,
        "days_used": t.days_used,
    }
    return _advice("rising_consumption", "warning" if change >= RISE_WARN else "info", lang, figures)


def high_consumption_days(ev: Evidence, lang: Lang) -> Recommendation | None:
    if ev.patterns is None:
        return None
    high = [p for p in ev.patterns.patterns if p.label == "high_consumption"]
    share = sum(p.share for p in high)
    if not high or share < HIGH_DAYS_SHARE:
        return None
    days = sum(p.days for p in high)
    figures: Figures = {
        "high_days_pct": round(100 * share, 1),
        "high_days": days,
        "pattern_daily_kwh": sum(p.daily_kwh * p.days for p in high) / max(days, 1),
        "daily_average_kwh": ev.daily_average_kwh,
        "threshold": HIGH_DAYS_SHARE,
    }
    return _advice("high_consumption_days", "info", lang, figures)


RULES: tuple[Callable[[Evidence, Lang], Recommendation | None], ...] = (
    shift_peak_load,
    standby_loads,
    check_appliance,
    rising_consumption,
    high_consumption_days,
)


def recommend(ev: Evidence, lang: Lang) -> list[Recommendation]:
    """Every rule that fires, warnings first (then in the rules' order)."""
    found = [r for rule in RULES if (r := rule(ev, lang)) is not None]
    return sorted(found, key=lambda r: r.severity != "warning")
