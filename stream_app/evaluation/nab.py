"""NAB scoring (Numenta Anomaly Benchmark, v1.1 rules), pure: arrays in, scores out.

Rules, as in NAB's sweeper: the first ``min(floor(0.15 n), 750)`` rows of a file are a probation
period and are not scored.  A detection inside an anomaly window scores
``A_TP * sigma(pos) / sigma(-1)`` with ``sigma(x) = 2 / (1 + e^(5x)) - 1`` and
``pos = -(right - i + 1) / width`` (the earliest detection in a window counts, so early is better);
a window without a detection costs ``A_FN``.  A detection outside every window costs
``A_FP * sigma(pos)`` where ``pos`` is its distance past the end of the preceding window relative to
that window's width (-A_FP when no window precedes it; mild just after a window).  One threshold
per detector is chosen over the whole corpus by sweeping every distinct anomaly score, and the
corpus score is normalised: ``100 (S - S_null) / (S_perfect - S_null)`` where the null detector
misses every window and the perfect one detects each at its first scorable row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

PROBATION_PERCENT = 0.15
OUTSIDE = -1  # row is outside every window
PROBATION = -2  # row is in the probation period (not scored)


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    tp: float
    fp: float
    fn: float


PROFILES: dict[str, Profile] = {
    "standard": Profile("standard", 1.0, 0.11, 1.0),
    "reward_low_FP_rate": Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    "reward_low_FN_rate": Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
}


def scaled_sigmoid(pos: float) -> float:
    """NAB's scoring curve: ~1 at the left edge of a window (-1), 0 at its right edge, -1 far past it."""
    if pos >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * pos)) - 1.0


MAX_TP = scaled_sigmoid(-1.0)


def probation_length(n_rows: int, percent: float = PROBATION_PERCENT) -> float:
    return min(math.floor(percent * n_rows), percent * 5000)


def window_rows(timestamps: Sequence[str], windows: Sequence[tuple[str, str]]) -> list[tuple[int, int]]:
    """Row ranges (inclusive) of the windows: first row at the start stamp, first row at the end stamp.

    Rows are matched in file order as NAB does (a file that jumps back in time keeps its first match).
    """
    first: dict[str, int] = {}
    for i, t in enumerate(timestamps):
        first.setdefault(t, i)
    out = []
    for t1, t2 in windows:
        if t1 not in first or t2 not in first:
            raise KeyError(f"window {t1} .. {t2} does not match the file's timestamps")
        lo, hi = first[t1], first[t2]
        if hi < lo:
            raise ValueError(f"window {t1} .. {t2} ends before it starts")
        out.append((lo, hi))
    return sorted(out)


@dataclass
class ScoredFile:
    """One file prepared for sweeping: the weight of a detection at each row and its window id."""

    name: str
    scores: np.ndarray  # anomaly score per row
    weights: np.ndarray  # contribution of a detection at this row (profile-dependent)
    window_of: np.ndarray  # window id (0..), OUTSIDE or PROBATION
    n_windows: int
    best_tp: np.ndarray = field(default_factory=lambda: np.zeros(0))  # best reachable per window


def prepare(
    name: str, scores: np.ndarray, windows: Sequence[tuple[int, int]], profile: Profile
) -> ScoredFile:
    """Weights of detections per row (NAB sweeper rules) for one file and one profile."""
    n = len(scores)
    probation = probation_length(n)
    weights = np.zeros(n)
    window_of = np.full(n, OUTSIDE, dtype=np.int64)
    wins = sorted(windows)
    k = 0  # index of the next window to enter
    prev: tuple[int, int] | None = None
    for i in range(n):
        while k < len(wins) and wins[k][1] < i:
            prev = wins[k]
            k += 1
        if k < len(wins) and wins[k][0] <= i <= wins[k][1]:
            lo, hi = wins[k]
            width = hi - lo + 1
            weights[i] = scaled_sigmoid(-(hi - i + 1) / width) * profile.tp / MAX_TP
            window_of[i] = k
        else:
            if prev is None:
                pos = 3.0
            else:
                width = prev[1] - prev[0] + 1
                pos = abs(prev[1] - i) / float(width - 1) if width > 1 else 3.0
            weights[i] = scaled_sigmoid(pos) * profile.fp
        if i < probation:
            window_of[i] = PROBATION
    best = np.full(len(wins), -np.inf)
    for w in range(len(wins)):
        rows = window_of == w
        if rows.any():
            best[w] = weights[rows].max()
    return ScoredFile(name, np.asarray(scores, dtype=float), weights, window_of, len(wins), best)


@dataclass(frozen=True, slots=True)
class FileResult:
    name: str
    score: float  # raw NAB score of the file at the corpus threshold
    detected_windows: int
    windows: int  # scorable windows
    false_positives: int
    detections: int


@dataclass(frozen=True, slots=True)
class CorpusResult:
    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    normalized: float
    files: tuple[FileResult, ...]


def _file_result(f: ScoredFile, threshold: float, profile: Profile) -> FileResult:
    det = (f.scores >= threshold) & (f.window_of != PROBATION)
    fp_rows = det & (f.window_of == OUTSIDE)
    score = float(f.weights[fp_rows].sum())
    hit = 0
    scorable = 0
    for w in range(f.n_windows):
        if not np.isfinite(f.best_tp[w]):
            continue  # the whole window lies in the probation period
        scorable += 1
        rows = det & (f.window_of == w)
        if rows.any():
            score += float(f.weights[rows].max())
            hit += 1
        else:
            score -= profile.fn
    return FileResult(f.name, score, hit, scorable, int(fp_rows.sum()), int(det.sum()))


def _sweep_events(f: ScoredFile, fn: float) -> tuple[np.ndarray, np.ndarray]:
    """(score, change of the corpus score) of every row of ``f`` whose admission changes the score.

    A row outside every window adds its (negative) weight; inside a window a row matters only when its
    weight beats every higher-scored row of that window (the earliest detection counts), and then adds
    the difference to the best so far (-fn: the window was missed)."""
    keep = f.window_of != PROBATION
    s, wid, wt = f.scores[keep], f.window_of[keep], f.weights[keep]
    out = wid == OUTSIDE
    scores, deltas = [s[out]], [wt[out]]
    for w in np.unique(wid[~out]):
        rows = wid == w
        order = np.argsort(-s[rows], kind="stable")
        ws, ww = s[rows][order], wt[rows][order]
        best = np.maximum.accumulate(ww)
        prev = np.concatenate(([-fn], best[:-1]))
        up = best > prev
        scores.append(ws[up])
        deltas.append(best[up] - prev[up])
    return np.concatenate(scores), np.concatenate(deltas)


def score_corpus(files: Sequence[ScoredFile], profile: Profile) -> CorpusResult:
    """Sweep every distinct score as the threshold (detection: score >= threshold); keep the best.

    Thresholds are visited from the highest score down; a threshold admits every row with that score;
    the highest threshold reaching the best score wins (none, i.e. ``inf``, unless it beats the null)."""
    windows = [(fi, w) for fi, f in enumerate(files) for w in range(f.n_windows) if np.isfinite(f.best_tp[w])]
    null = -profile.fn * len(windows)
    perfect = float(sum(files[fi].best_tp[w] for fi, w in windows))
    events = [_sweep_events(f, profile.fn) for f in files]
    scores = np.concatenate([e[0] for e in events]) if events else np.zeros(0)
    deltas = np.concatenate([e[1] for e in events]) if events else np.zeros(0)
    best_score, best_thr = null, math.inf
    if len(scores):
        order = np.argsort(-scores, kind="stable")
        scores, deltas = scores[order], deltas[order]
        current = null + np.cumsum(deltas)
        ends = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])  # last row of each threshold
        k = int(np.argmax(current[ends]))  # first (highest) threshold reaching the maximum
        if current[ends[k]] > null:
            best_score, best_thr = float(current[ends[k]]), float(scores[ends[k]])
    results = tuple(_file_result(f, best_thr, profile) for f in files)
    denom = perfect - null
    norm = 100.0 * (best_score - null) / denom if denom > 0 else 0.0
    return CorpusResult(profile.name, best_thr, best_score, null, perfect, norm, results)
