"""Value types shared by the core, the agents and the offline tools."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.events import AnomalyKind as AnomalyType
from schemas.events import ReadingStatus

__all__ = ["AnomalyType", "ForecastPoint", "ReadingStatus", "Verdict"]


@dataclass(slots=True)
class Verdict:
    """What scoring one reading yields. ``score`` is calibrated in [0, 1].

    Not frozen: one is built per reading on the hot path, and a frozen dataclass costs ~1 µs more."""

    ts: float  # epoch seconds, UTC
    value: float
    expected: float
    lower: float
    upper: float
    score: float
    is_anomaly: bool
    kind: AnomalyType | None  # set when is_anomaly
    reason: str  # human text, e.g. "Exceeds predicted value by 45%"; "" when normal
    status: ReadingStatus = "scored"
    # False when the asset already had a score at least this high within the repeat window (a day by
    # default): the reading repeats an alarm already raised rather than raising a new one
    novel: bool = True


@dataclass(frozen=True, slots=True)
class ForecastPoint:
    ts: float
    value: float
    lower: float
    upper: float
