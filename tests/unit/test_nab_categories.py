"""Per-category NAB scoring on synthetic files whose scores follow from the rules by hand."""

from __future__ import annotations

import numpy as np
import pytest

from stream_app.evaluation.categories import category_of, evaluate_profile, normalize
from stream_app.evaluation.nab import PROFILES, prepare, score_corpus

STD = PROFILES["standard"]
N = 1000  # probation: 150 rows
WINDOWS = [(400, 499), (700, 799)]


def scores(*hits: tuple[int, float]) -> np.ndarray:
    s = np.zeros(N)
    for row, value in hits:
        s[row] = value
    return s


def test_category_is_the_key_folder() -> None:
    assert category_of("realTweets/Twitter_volume_CVS.csv") == "realTweets"
    assert category_of("plain.csv") == "all"


def test_each_category_own_threshold_and_at_the_corpus_threshold() -> None:
    """A's detections score 0.9; B's 0.5, without false alarms; the no-window file C has 50 false alarms
    at 0.5 and two at 0.95 (and one at 0.99 in its probation period, which never counts).

    Corpus: admitting 0.5 gains B's two windows (+4) but costs C's 50 false alarms (-5.5), so the
    threshold is 0.9: A perfect, B missed, C's two at 0.95 (2 - 2 - 0.22). A alone: 100. B alone: its
    own sweep picks 0.5 (100), while at the corpus threshold B detects nothing (normalised 0).
    """
    a = prepare("A/a.csv", scores((400, 0.9), (700, 0.9)), WINDOWS, STD)
    b = prepare("B/b.csv", scores((400, 0.5), (700, 0.5)), WINDOWS, STD)
    fps = [(row, 0.5) for row in range(160, 210)]
    c = prepare("C/c.csv", scores((300, 0.95), (600, 0.95), (100, 0.99), *fps), [], STD)
    pe = evaluate_profile([a, b, c], STD)
    assert pe.corpus.threshold == pytest.approx(0.9)
    assert pe.corpus.raw == pytest.approx(2.0 - 2.0 - 0.22)
    ca, cb, cc = pe.category("A"), pe.category("B"), pe.category("C")
    assert ca.own_normalized == pytest.approx(100.0) and ca.at_corpus_normalized == pytest.approx(100.0)
    assert cb.own.threshold == pytest.approx(0.5) and cb.own_normalized == pytest.approx(100.0)
    assert cb.at_corpus_normalized == pytest.approx(0.0)
    assert (cb.windows_hit, cb.detections, cb.false_positives) == (0, 0, 0)
    assert (ca.windows_hit, ca.windows) == (2, 2)
    assert cc.windows == 0 and cc.own_normalized is None and cc.at_corpus_normalized is None
    assert (cc.detections, cc.false_positives) == (2, 2)  # the one in probation does not count
    # per-category scores are not additive; the corpus one is computed over all files at once
    assert score_corpus([a, b, c], STD).normalized == pytest.approx(pe.corpus.normalized)
    assert pe.corpus.normalized == pytest.approx(100 * (-0.22 + 4.0) / 8.0)


def test_normalize_is_undefined_without_windows() -> None:
    assert normalize(0.0, 0.0, 0.0) is None
    assert normalize(0.0, -2.0, 2.0) == pytest.approx(50.0)
