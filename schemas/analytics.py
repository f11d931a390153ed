"""Parameters and results of the dataset analytics (issue 17): statistics with tariff periods, load
patterns, dataset anomalies, the dashboard and reports.

A job's params model is what the caller posts; its result model is what the job stores (JSON) and the
result route returns. Display names are given in both supported languages (``zh-CN``, ``en-US``).
Vocabularies (period names, pattern labels, anomaly types) live here, the one source of truth.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from schemas.events import AnomalyKind

Lang = Literal["zh-CN", "en-US"]
LANGS: tuple[Lang, ...] = get_args(Lang)
Localized = dict[Lang, str]

Period = Literal["peak", "valley", "flat"]
PERIODS: tuple[Period, ...] = get_args(Period)
PERIOD_DISPLAY: dict[Period, Localized] = {
    "peak": {"zh-CN": "峰时", "en-US": "Peak"},
    "valley": {"zh-CN": "谷时", "en-US": "Valley"},
    "flat": {"zh-CN": "平时", "en-US": "Flat"},
}

PatternLabel = Literal[
    "daytime_usage",
    "night_usage",
    "balanced",
    "office_worker",
    "home_office",
    "energy_saver",
    "high_consumption",
]
PATTERN_LABELS: tuple[PatternLabel, ...] = get_args(PatternLabel)
PATTERN_DISPLAY: dict[PatternLabel, Localized] = {
    "daytime_usage": {"zh-CN": "日间用电型", "en-US": "Daytime usage"},
    "night_usage": {"zh-CN": "夜间用电型", "en-US": "Night usage"},
    "balanced": {"zh-CN": "均衡用电型", "en-US": "Balanced"},
    "office_worker": {"zh-CN": "上班族型", "en-US": "Office worker"},
    "home_office": {"zh-CN": "居家办公型", "en-US": "Home office"},
    "energy_saver": {"zh-CN": "节能型", "en-US": "Energy saver"},
    "high_consumption": {"zh-CN": "高耗能型", "en-US": "High consumption"},
}

ANOMALY_TYPE_DISPLAY: dict[AnomalyKind, Localized] = {
    "spike": {"zh-CN": "突增", "en-US": "Spike"},
    "dip": {"zh-CN": "骤降", "en-US": "Dip"},
    "sustained_high": {"zh-CN": "持续偏高", "en-US": "Sustained high"},
    "sustained_low": {"zh-CN": "持续偏低", "en-US": "Sustained low"},
    "pattern_shift": {"zh-CN": "模式变化", "en-US": "Pattern shift"},
    "flatline": {"zh-CN": "数值停滞", "en-US": "Flatline"},
}

TrendDirection = Literal["increasing", "stable", "decreasing"]
AnomalyMethod = Literal["autoencoder", "streaming"]
PatternMethod = Literal["kmeans", "rules"]
ReportFormat = Literal["pdf", "xlsx"]
REPORT_CONTENT_TYPES: dict[ReportFormat, str] = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

# Largest price per kWh accepted (any currency): beyond it a cost is not a tariff but a typo.
MAX_PRICE = 1e6
# The default autoencoder threshold (the design document's 0.85) and the streaming detector's own.
AUTOENCODER_THRESHOLD = 0.85
# Anomalies returned at most (the highest scores are kept; ``anomalies_total`` counts all of them).
MAX_ANOMALIES = 1000


def _hour_set(hours: list[int]) -> list[int]:
    if len(set(hours)) != len(hours):
        dup = sorted({h for h in hours if hours.count(h) > 1})
        raise ValueError(f"hours listed twice: {dup}")
    return sorted(hours)


Hour = Annotated[int, Field(ge=0, le=23)]
HourSet = Annotated[list[Hour], Field(max_length=24), AfterValidator(_hour_set)]


class TariffPeriods(BaseModel):
    """Which hours of the day (0-23, local time of the dataset) are peak, valley and flat.

    The three sets must cover the 24 hours without overlap; the error names the field where the
    conflict is found (an hour in two sets, or the hours no set holds)."""

    model_config = ConfigDict(extra="forbid")

    peak_hours: HourSet = Field(description="Hours billed at the peak price.")
    valley_hours: HourSet = Field(description="Hours billed at the valley price.")
    flat_hours: HourSet = Field(description="Hours billed at the flat price; with the others, all 24.")

    @field_validator("valley_hours")
    @classmethod
    def _valley_apart(cls, v: list[int], info: ValidationInfo) -> list[int]:
        both = sorted(set(v) & set(info.data.get("peak_hours", [])))
        if both:
            raise ValueError(f"hours {both} are both peak and valley")
        return v

    @field_validator("flat_hours")
    @classmethod
    def _flat_apart_and_cover(cls, v: list[int], info: ValidationInfo) -> list[int]:
        peak, valley = info.data.get("peak_hours"), info.data.get("valley_hours")
        if peak is None or valley is None:
            return v  # their own errors are reported
        both = sorted(set(v) & (set(peak) | set(valley)))
        if both:
            raise ValueError(f"hours {both} are flat and also peak or valley")
        missing = sorted(set(range(24)) - set(v) - set(peak) - set(valley))
        if missing:
            raise ValueError(f"hours {missing} are in no period: peak, valley and flat must cover 0-23")
        return v

    def period_of_hour(self) -> list[Period]:
        """The period of each hour 0..23."""
        out: list[Period] = ["flat"] * 24
        for h in self.peak_hours:
            out[h] = "peak"
        for h in self.valley_hours:
            out[h] = "valley"
        return out


# A common time-of-use split (peak 08-11 and 18-21, valley 23-07, flat otherwise), used when a caller
# gives none (the dashboard, a report without periods).
DEFAULT_PERIODS = TariffPeriods(
    peak_hours=[8, 9, 10, 18, 19, 20],
    valley_hours=[23, 0, 1, 2, 3, 4, 5, 6],
    flat_hours=[7, 11, 12, 13, 14, 15, 16, 17, 21, 22],
)


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError("must be a finite number")
    return v


Price = Annotated[float, Field(ge=0.0, le=MAX_PRICE), AfterValidator(_finite)]


class TariffPrices(BaseModel):
    """Price per kWh in each period."""

    model_config = ConfigDict(extra="forbid")

    peak: Price
    valley: Price
    flat: Price
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")


class Window(BaseModel):
    """An optional time range of the dataset (inclusive start, exclusive end; timezone-aware)."""

    model_config = ConfigDict(extra="forbid")

    start: datetime | None = Field(default=None, description="Only readings at or after this instant.")
    end: datetime | None = Field(default=None, description="Only readings before this instant.")

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.utcoffset() is None:
            raise ValueError("must carry a timezone (e.g. 2024-01-01T00:00:00Z)")
        return v


class StatisticsParams(Window):
    periods: TariffPeriods = Field(default=DEFAULT_PERIODS, description="Peak/valley/flat hours.")
    prices: TariffPrices | None = Field(default=None, description="When given, the cost is computed.")


class LoadPoint(BaseModel):
    timestamp: datetime
    kwh: float = Field(description="Energy of the interval.")
    kw: float = Field(description="Average power over the interval (kWh / interval hours).")


class PeriodShare(BaseModel):
    period: Period
    display_name: Localized
    hours: list[int]
    kwh: float
    ratio: float = Field(description="Share of the total, 0-1.")
    cost: float | None = None


class Trend(BaseModel):
    direction: TrendDirection
    test: Literal["mann_kendall"] = Field(
        default="mann_kendall",
        description="Mann-Kendall on daily totals (tie-corrected variance, normal approximation).",
    )
    statistic_z: float
    p_value: float
    alpha: float = Field(description="Significance level: stable when p_value >= alpha.")
    slope_kwh_per_day: float = Field(description="Theil-Sen slope of the daily totals.")
    days_used: int


class Cost(BaseModel):
    currency: str
    total: float
    by_period: dict[Period, float]


class StatisticsResult(BaseModel):
    points: int
    start: datetime
    end: datetime
    interval_minutes: float
    days: int = Field(description="Calendar days holding at least one reading.")
    total_kwh: float
    daily_average_kwh: float = Field(description="total_kwh / days.")
    peak_load: LoadPoint = Field(description="The interval with the highest energy (first if tied).")
    valley_load: LoadPoint = Field(description="The interval with the lowest energy (first if tied).")
    periods: list[PeriodShare]
    trend: Trend
    cost: Cost | None


class LoadPatternsParams(Window):
    method: PatternMethod = "kmeans"
    k: int = Field(default=3, ge=2, le=5, description="Clusters (k-means only).")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="k-means++ seed; same seed, same result.")


class LoadPattern(BaseModel):
    id: int = Field(description="0 is the pattern with the most days.")
    label: PatternLabel
    display_name: Localized
    description: Localized
    confidence: float = Field(ge=0.0, le=1.0)
    days: int
    share: float = Field(description="Share of the days, 0-1.")
    centroid: list[float] = Field(description="Mean kWh of each hour 0-23 over the pattern's days.")
    profile: list[float] = Field(description="The centroid as shares of its daily total (sums to 1).")
    daily_kwh: float


class DayAssignment(BaseModel):
    date: date
    pattern_id: int


class LoadPatternsResult(BaseModel):
    method: PatternMethod
    k: int
    days_used: int = Field(description="Days with all 24 hours present.")
    days_skipped: int = Field(description="Days with missing hours, not clustered.")
    patterns: list[LoadPattern]
    assignments: list[DayAssignment]


class DatasetAnomaliesParams(Window):
    method: AnomalyMethod = Field(
        default="autoencoder",
        description="autoencoder (torch, the 'deep' extra) or streaming (the stream's online detector).",
    )
    threshold: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="Flag scores at or above it. Default 0.85 for the autoencoder, the stream's own "
        "(0.996) for the streaming detector; the scores differ in meaning (docs/analytics.md).",
    )
    window_hours: int = Field(default=24, ge=2, le=168, description="Autoencoder window length.")


class DatasetAnomaly(BaseModel):
    start: datetime
    end: datetime = Field(description="The last flagged reading of the event.")
    peak_at: datetime
    value_kwh: float
    expected_kwh: float | None
    score: float = Field(ge=0.0, le=1.0)
    type: AnomalyKind
    type_display: Localized
    points: int


class DatasetAnomaliesResult(BaseModel):
    method: AnomalyMethod
    threshold: float
    window_hours: int | None
    points_scored: int
    points_flagged: int
    anomalies_total: int
    anomalies: list[DatasetAnomaly] = Field(description=f"Newest first, at most {MAX_ANOMALIES}.")
    score: str = Field(description="What the score means for this method.")


class HourLoad(BaseModel):
    hour: int
    kwh: float


class DayLoad(BaseModel):
    date: date
    kwh: float


class DashboardSummary(BaseModel):
    start: datetime
    end: datetime
    days: int
    total_kwh: float
    daily_average_kwh: float
    peak_load: LoadPoint
    valley_load: LoadPoint
    trend: TrendDirection


RecommendationId = Literal[
    "shift_peak_load",
    "standby_loads",
    "check_appliance",
    "rising_consumption",
    "high_consumption_days",
]
RECOMMENDATION_IDS: tuple[RecommendationId, ...] = get_args(RecommendationId)
Severity = Literal["warning", "info"]


class Recommendation(BaseModel):
    """A rule-based advice of the dashboard (docs/analytics.md lists the rules and their thresholds)."""

    id: RecommendationId
    severity: Severity = Field(description="warning before info.")
    language: Lang = Field(description="The request's language (?lang= or Accept-Language).")
    title: str
    text: str
    figures: dict[str, float | int | str] = Field(
        description="The figures that triggered it (and the thresholds they passed)."
    )


class Dashboard(BaseModel):
    summary: DashboardSummary
    load_curve: list[HourLoad] = Field(description="Mean kWh of each hour of the day, last 30 days.")
    daily_trend: list[DayLoad] = Field(description="Daily totals, last 90 days.")
    period_distribution: list[PeriodShare]
    recent_anomalies: list[DatasetAnomaly] = Field(description="From the latest anomalies job, newest first.")
    recommendations: list[Recommendation] = Field(
        default_factory=list,
        description="From the statistics above, the latest load patterns and anomalies jobs; warnings first.",
    )


class ReportParams(Window):
    format: ReportFormat = "pdf"
    language: Lang = "zh-CN"
    title: str | None = Field(default=None, max_length=200)
    periods: TariffPeriods = Field(default=DEFAULT_PERIODS)
    prices: TariffPrices | None = None


class ReportResult(BaseModel):
    format: ReportFormat
    language: Lang
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    charts: list[str] = Field(description="The charts the report holds.")


class ReportFile(ReportResult):
    """What a report job stores: the description and the file itself (base64), served by
    ``GET /reports/{job_id}/download``."""

    content_base64: str
