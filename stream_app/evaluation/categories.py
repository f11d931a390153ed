"""NAB scoring per category, pure: the corpus score and each category's, from prepared files.

A file's category is the first part of its key (``realTweets/Twitter_volume_CVS.csv`` ->
``realTweets``).  For every profile this module reports

* the **corpus** result: NAB's one threshold swept over all files (``nab.score_corpus``);
* per category, **at its own threshold**: ``score_corpus`` over that category's files alone, i.e. NAB
  scoring as if the category were the whole corpus (what a per-category table of published results
  usually means);
* per category, **at the corpus threshold**: the category's files scored at the threshold chosen over
  all files, normalised with the category's own null and perfect scores (what the category
  contributes when the detector runs with one setting for everything);
* for a category without windows (``artificialNoAnomaly``) a normalised score is undefined
  (null = perfect = 0): its detections after probation are counted instead, every one a false alarm.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from stream_app.evaluation.nab import (
    PROBATION,
    CorpusResult,
    FileResult,
    Profile,
    ScoredFile,
    _file_result,
    score_corpus,
)

NO_ANOMALY = "artificialNoAnomaly"


def category_of(key: str) -> str:
    """``realTweets/x.csv`` -> ``realTweets``; a key without a folder is its own corpus, ``all``."""
    head, sep, _ = key.partition("/")
    return head if sep else "all"


def categories_in(keys: Iterable[str]) -> list[str]:
    """Categories in first-seen order."""
    seen: dict[str, None] = {}
    for k in keys:
        seen.setdefault(category_of(k), None)
    return list(seen)


def scorable_windows(f: ScoredFile) -> int:
    return int(np.isfinite(f.best_tp).sum())


@dataclass(frozen=True, slots=True)
class CategoryResult:
    """One category under one profile.

    ``own`` is NAB scoring restricted to the category (its own optimal threshold); ``at_corpus_*`` is
    the category at the corpus threshold.  ``normalized`` fields are None when the category has no
    scorable window (a no-anomaly category: see ``detections``, all false alarms).
    """

    category: str
    files: int
    windows: int
    own: CorpusResult
    at_corpus_raw: float
    at_corpus_normalized: float | None
    detections: int  # after probation, at the corpus threshold
    false_positives: int  # at the corpus threshold
    windows_hit: int  # at the corpus threshold

    @property
    def own_normalized(self) -> float | None:
        return self.own.normalized if self.windows else None


@dataclass(frozen=True, slots=True)
class ProfileEvaluation:
    """Corpus and per-category results of one profile."""

    profile: str
    corpus: CorpusResult
    categories: tuple[CategoryResult, ...]

    def category(self, name: str) -> CategoryResult:
        for c in self.categories:
            if c.category == name:
                return c
        raise KeyError(name)


def normalize(raw: float, null: float, perfect: float) -> float | None:
    denom = perfect - null
    return 100.0 * (raw - null) / denom if denom > 0 else None


def category_at_threshold(
    files: Sequence[ScoredFile], threshold: float, profile: Profile
) -> tuple[float, list[FileResult]]:
    """Raw NAB score of ``files`` at a given threshold, and the per-file results."""
    results = [_file_result(f, threshold, profile) for f in files]
    return sum(r.score for r in results), results


def evaluate_profile(files: Sequence[ScoredFile], profile: Profile) -> ProfileEvaluation:
    """The corpus score and each category's (own threshold and corpus threshold) under ``profile``."""
    corpus = score_corpus(files, profile)
    cats = []
    for cat in categories_in(f.name for f in files):
        members = [f for f in files if category_of(f.name) == cat]
        own = score_corpus(members, profile)
        raw, results = category_at_threshold(members, corpus.threshold, profile)
        windows = sum(scorable_windows(f) for f in members)
        cats.append(
            CategoryResult(
                category=cat,
                files=len(members),
                windows=windows,
                own=own,
                at_corpus_raw=raw,
                at_corpus_normalized=normalize(raw, own.null, own.perfect),
                detections=sum(r.detections for r in results),
                false_positives=sum(r.false_positives for r in results),
                windows_hit=sum(r.detected_windows for r in results),
            )
        )
    return ProfileEvaluation(profile.name, corpus, tuple(cats))


def detections_after_probation(f: ScoredFile, threshold: float) -> int:
    return int(((f.scores >= threshold) & (f.window_of != PROBATION)).sum())
