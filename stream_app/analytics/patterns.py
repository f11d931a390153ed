"""Daily load patterns of a dataset: k-means over 24-hour profiles, or rules applied day by day (pure).

A day's profile is its kWh in each local hour 0-23; only days holding every interval are used. k-means
(numpy; k-means++ seeding, ``N_INIT`` restarts, the lowest inertia kept) clusters the profiles, and each
centroid is named by the same rules the rules method applies to each day (:func:`label_of`):

* level (the profile's daily kWh against the median day of the dataset): ``high_consumption`` at
  >= ``HIGH_LEVEL`` times the median, ``energy_saver`` at <= ``LOW_LEVEL`` times;
* shape (shares of the daily total): ``night_usage`` when 22:00-06:00 holds >= ``NIGHT_SHARE``;
  ``daytime_usage`` when 09:00-17:00 holds >= ``DAY_SHARE``, ``home_office`` >= ``HOME_SHARE``;
  ``office_worker`` when the working day holds <= ``OFFICE_DAY_SHARE`` and the mornings (06-09) and
  evenings (17-22) together >= ``OFFICE_EDGE_SHARE``; ``balanced`` otherwise.

Every rule compares ratios, so multiplying a dataset by a constant (Wh instead of kWh) changes no label,
no assignment and no confidence; the seed makes runs repeatable; patterns are numbered by days (most
first). Confidence: k-means, the members' mean silhouette against the nearest other centroid (0 when a
cluster is no closer than its neighbour); rules, the mean margin by which the days pass the deciding
rule (relative distance from its threshold, capped at 1). The thresholds are round values of a common
residential reading of these shapes, not fitted to any dataset.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from schemas.analytics import (
    PATTERN_DISPLAY,
    DayAssignment,
    LoadPattern,
    LoadPatternsParams,
    LoadPatternsResult,
    Localized,
    PatternLabel,
)
from schemas.errors import DataError
from stream_app.analytics.statistics import clean, interval_hours

N_INIT = 10
MAX_ITER = 100
HIGH_LEVEL = 1.4
LOW_LEVEL = 0.6
NIGHT_SHARE = 0.45
DAY_SHARE = 0.50
HOME_SHARE = 0.38
OFFICE_DAY_SHARE = 0.25
OFFICE_EDGE_SHARE = 0.45
NIGHT = [22, 23, 0, 1, 2, 3, 4, 5]
DAY = [9, 10, 11, 12, 13, 14, 15, 16]
EDGES = [6, 7, 8, 17, 18, 19, 20, 21]

_WHAT: dict[PatternLabel, Localized] = {
    "high_consumption": {"en-US": "Days using far more than the typical day", "zh-CN": "用电量远高于典型日"},
    "energy_saver": {"en-US": "Days using far less than the typical day", "zh-CN": "用电量远低于典型日"},
    "night_usage": {
        "en-US": "Most energy used at night (22:00-06:00)",
        "zh-CN": "主要在夜间（22:00-06:00）用电",  # noqa: RUF001
    },
    "daytime_usage": {
        "en-US": "Most energy used in working hours (09:00-17:00)",
        "zh-CN": "主要在白天（09:00-17:00）用电",  # noqa: RUF001
    },
    "home_office": {
        "en-US": "Steady use through the working day as well as the evening",
        "zh-CN": "白天与晚间均有稳定用电",
    },
    "office_worker": {
        "en-US": "Use in the morning and evening, little while at work",
        "zh-CN": "早晚用电，白天用电少",  # noqa: RUF001
    },
    "balanced": {"en-US": "Use spread evenly over the day", "zh-CN": "全天用电较均衡"},
}


def daily_profiles(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """(complete days x 24 hourly kWh, number of days skipped for missing intervals)."""
    data = clean(frame)
    per_hour = max(1, round(1.0 / interval_hours(data)))
    local = data.index
    key = pd.DataFrame({"day": local.normalize(), "hour": local.hour, "value": data["value"].to_numpy()})
    agg = key.groupby(["day", "hour"])["value"].agg(["sum", "count"])
    sums = agg["sum"].unstack("hour")
    counts = agg["count"].unstack("hour")
    sums = sums.reindex(columns=range(24))
    counts = counts.reindex(columns=range(24)).fillna(0)
    # every hour present, and no more intervals than a 24-hour day holds (a 25-hour daylight-saving day
    # would count its repeated hour twice)
    complete = (counts >= per_hour).all(axis=1) & (counts.sum(axis=1) <= 24 * per_hour)
    return sums[complete].astype(float), int((~complete).sum())


def _shares(profile: np.ndarray) -> np.ndarray:
    total = float(profile.sum())
    return profile / total if total > 0 else np.full(24, 1.0 / 24)


def _margin(value: float, threshold: float) -> float:
    return float(min(1.0, abs(value - threshold) / threshold))


def label_of(profile: np.ndarray, median_daily: float) -> tuple[PatternLabel, float]:
    """(label, margin in [0, 1]) of one 24-hour profile against the dataset's median daily kWh."""
    daily = float(profile.sum())
    level = daily / median_daily if median_daily > 0 else 1.0
    p = _shares(profile)
    night, day, edges = float(p[NIGHT].sum()), float(p[DAY].sum()), float(p[EDGES].sum())
    if level >= HIGH_LEVEL:
        return "high_consumption", _margin(level, HIGH_LEVEL)
    if level <= LOW_LEVEL:
        return "energy_saver", _margin(level, LOW_LEVEL)
    if night >= NIGHT_SHARE:
        return "night_usage", _margin(night, NIGHT_SHARE)
    if day >= DAY_SHARE:
        return "daytime_usage", _margin(day, DAY_SHARE)
    if day >= HOME_SHARE:
        return "home_office", min(_margin(day, HOME_SHARE), _margin(day, DAY_SHARE))
    if day <= OFFICE_DAY_SHARE and edges >= OFFICE_EDGE_SHARE:
        return "office_worker", min(_margin(day, OFFICE_DAY_SHARE), _margin(edges, OFFICE_EDGE_SHARE))
    # balanced: how far it is from the nearest rule that would have named it otherwise
    return "balanced", min(
        _margin(level, HIGH_LEVEL),
        _margin(level, LOW_LEVEL),
        _margin(night, NIGHT_SHARE),
        _margin(day, HOME_SHARE),
        max(_margin(day, OFFICE_DAY_SHARE), _margin(edges, OFFICE_EDGE_SHARE)),
    )


def _plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    centers = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d2 = np.min(((x[:, None, :] - np.asarray(centers)[None, :, :]) ** 2).sum(axis=2), axis=1)
        total = d2.sum()
        idx = rng.integers(len(x)) if total <= 0 else rng.choice(len(x), p=d2 / total)
        centers.append(x[idx])
    return np.asarray(centers, dtype=float)


def kmeans(x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(centroids k x d, assignment per row): Lloyd from k-means++ seeds, best of ``N_INIT``."""
    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(N_INIT):
        centers = _plus_plus(x, k, rng)
        assign = np.zeros(len(x), dtype=int)
        for it in range(MAX_ITER):
            d2 = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
            new = np.argmin(d2, axis=1)
            if it > 0 and np.array_equal(new, assign):
                break
            assign = new
            for c in range(k):
                members = x[assign == c]
                if len(members):
                    centers[c] = members.mean(axis=0)
        inertia = float(((x - centers[assign]) ** 2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, centers.copy(), assign.copy())
    assert best is not None
    return best[1], best[2]


def _silhouettes(x: np.ndarray, centers: np.ndarray, assign: np.ndarray) -> np.ndarray:
    d = np.sqrt(((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2))
    own = d[np.arange(len(x)), assign]
    d[np.arange(len(x)), assign] = np.inf
    other = d.min(axis=1)
    denom = np.maximum(own, other)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(denom > 0, (other - own) / denom, 1.0)
    return np.clip(s, 0.0, 1.0)


def _pattern(
    pid: int, label: PatternLabel, confidence: float, members: np.ndarray, total_days: int
) -> LoadPattern:
    centroid = members.mean(axis=0)
    return LoadPattern(
        id=pid,
        label=label,
        display_name=PATTERN_DISPLAY[label],
        description=_WHAT[label],
        confidence=float(np.clip(confidence, 0.0, 1.0)),
        days=len(members),
        share=len(members) / total_days,
        centroid=[float(v) for v in centroid],
        profile=[float(v) for v in _shares(centroid)],
        daily_kwh=float(centroid.sum()),
    )


def load_patterns(frame: pd.DataFrame, params: LoadPatternsParams) -> LoadPatternsResult:
    """The load_patterns job's result for one dataset."""
    profiles, skipped = daily_profiles(clean(frame, params))
    x = profiles.to_numpy()
    dates = [d.date() for d in profiles.index]
    need = params.k if params.method == "kmeans" else 1
    if len(x) < max(need, 2):
        raise DataError(f"load patterns need at least {max(need, 2)} complete days, the data hold {len(x)}")
    median = float(np.median(x.sum(axis=1)))
    groups: list[tuple[PatternLabel, float, np.ndarray]] = []
    if params.method == "kmeans":
        centers, assign = kmeans(x, params.k, params.seed)
        sil = _silhouettes(x, centers, assign)
        for c in range(params.k):
            idx = np.flatnonzero(assign == c)
            if len(idx) == 0:
                continue
            label, _ = label_of(x[idx].mean(axis=0), median)
            groups.append((label, float(sil[idx].mean()), idx))
    else:
        decided = [label_of(row, median) for row in x]
        labels = np.array([lab for lab, _ in decided])
        margins = np.array([m for _, m in decided])
        for label in dict.fromkeys(labels.tolist()):
            idx = np.flatnonzero(labels == label)
            groups.append((label, float(margins[idx].mean()), idx))
    # number patterns by days (most first), then by daily kWh: independent of k-means' cluster order
    groups.sort(key=lambda g: (-len(g[2]), -float(x[g[2]].sum(axis=1).mean())))
    patterns, assignments = [], [DayAssignment(date=d, pattern_id=0) for d in dates]
    for pid, (label, conf, idx) in enumerate(groups):
        patterns.append(_pattern(pid, label, conf, x[idx], len(x)))
        for i in idx:
            assignments[i] = DayAssignment(date=dates[i], pattern_id=pid)
    return LoadPatternsResult(
        method=params.method,
        k=len(patterns),
        days_used=len(x),
        days_skipped=skipped,
        patterns=patterns,
        assignments=assignments,
    )
