"""NAB scorer on synthetic cases whose score follows from the rules by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stream_app.evaluation.nab import (
    MAX_TP,
    PROFILES,
    Profile,
    ScoredFile,
    prepare,
    probation_length,
    scaled_sigmoid,
    score_corpus,
    window_rows,
)

STD = PROFILES["standard"]
N = 1000  # probation: 150 rows
WINDOWS = [(400, 499), (700, 799)]


def run(scores: np.ndarray, profile: str = "standard", windows: list[tuple[int, int]] = WINDOWS) -> float:
    prof = PROFILES[profile]
    return score_corpus([prepare("f", scores, windows, prof)], prof).normalized


def test_sigmoid_shape() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert scaled_sigmoid(0.0) == pytest.approx(0.0)
    assert scaled_sigmoid(3.0) == -1.0
    assert scaled_sigmoid(-0.5) > scaled_sigmoid(-0.2) > 0 > scaled_sigmoid(0.5)


def test_probation_is_fifteen_percent_capped_at_750() -> None:
    assert probation_length(1000) == 150
    assert probation_length(10_000) == 750


def test_perfect_detector_scores_100_and_null_0() -> None:
    perfect = np.zeros(N)
    perfect[[400, 700]] = 1.0
    assert run(perfect) == pytest.approx(100.0)
    assert run(np.zeros(N)) == pytest.approx(0.0)
    assert run(np.full(N, 0.5)) == pytest.approx(0.0)  # constant output: best is to detect nothing


def test_one_false_positive_costs_a_fp() -> None:
    """Both windows detected at their first row (+2) and one FP before any window (-0.11)."""
    s = np.zeros(N)
    s[[400, 700]] = 1.0
    s[300] = 1.0
    prof = STD
    res = score_corpus([prepare("f", s, WINDOWS, prof)], prof)
    assert res.raw == pytest.approx(2.0 - 0.11)
    assert res.normalized == pytest.approx(100 * (2.0 - 0.11 + 2.0) / 4.0)
    # the low-FP profile charges twice as much
    low = PROFILES["reward_low_FP_rate"]
    assert score_corpus([prepare("f", s, WINDOWS, low)], low).raw == pytest.approx(2.0 - 0.22)


def test_fp_just_after_a_window_is_cheaper_than_far_away() -> None:
    s_near, s_far = np.zeros(N), np.zeros(N)
    for s in (s_near, s_far):
        s[[400, 700]] = 1.0
    s_near[510] = 1.0  # 11 rows after the first window: pos = 11/99
    s_far[650] = 1.0  # 151 rows after it: pos = 151/99
    near, far = run(s_near), run(s_far)
    assert near > far
    raw_near = 2.0 + scaled_sigmoid(11 / 99) * 0.11
    assert near == pytest.approx(100 * (raw_near + 2.0) / 4.0)


def test_earliest_detection_counts_and_early_beats_late() -> None:
    early, late, both = np.zeros(N), np.zeros(N), np.zeros(N)
    early[[420, 700]] = 1.0
    late[[480, 700]] = 1.0
    both[[420, 480, 700]] = 1.0
    assert run(early) > run(late)
    assert run(both) == pytest.approx(run(early))  # a later detection in the same window adds nothing
    expected = 1.0 + scaled_sigmoid(-(499 - 420 + 1) / 100) / MAX_TP
    res = score_corpus([prepare("f", early, WINDOWS, STD)], STD)
    assert res.raw == pytest.approx(expected)


def test_missed_window_costs_fn_weight_per_profile() -> None:
    s = np.zeros(N)
    s[400] = 1.0  # second window missed
    assert score_corpus([prepare("f", s, WINDOWS, STD)], STD).raw == pytest.approx(0.0)
    fn2 = PROFILES["reward_low_FN_rate"]
    assert score_corpus([prepare("f", s, WINDOWS, fn2)], fn2).raw == pytest.approx(1.0 - 2.0)


def test_probation_rows_and_windows_are_ignored() -> None:
    s = np.zeros(N)
    s[[10, 400, 700]] = 1.0  # a detection in probation costs nothing
    assert run(s) == pytest.approx(100.0)
    # a window entirely inside probation is not scored at all
    res = score_corpus([prepare("f", np.zeros(N), [(20, 60), *WINDOWS], STD)], STD)
    assert res.null == pytest.approx(-2.0) and res.perfect == pytest.approx(2.0)


def test_threshold_is_swept_over_the_corpus() -> None:
    """A high score in the window and a lower one outside: the sweep keeps only the first."""
    s = np.zeros(N)
    s[400], s[700], s[300] = 0.9, 0.9, 0.5
    res = score_corpus([prepare("f", s, WINDOWS, STD)], STD)
    assert res.threshold == 0.9
    assert res.normalized == pytest.approx(100.0)
    # one threshold for all files: a second file whose only high scores are false positives
    other = np.zeros(N)
    other[[200, 201, 202]] = 0.95
    files = [prepare("a", s, WINDOWS, STD), prepare("b", other, WINDOWS, STD)]
    res2 = score_corpus(files, STD)
    assert res2.threshold == 0.9
    assert res2.raw == pytest.approx(2.0 - 0.33 - 2.0)
    assert [f.false_positives for f in res2.files] == [0, 3]


def test_window_rows_match_timestamps_in_file_order() -> None:
    stamps = ["a", "b", "c", "d", "b", "e"]
    assert window_rows(stamps, [("b", "d")]) == [(1, 3)]
    with pytest.raises(KeyError):
        window_rows(stamps, [("x", "d")])


def reference_sweep(files: list[ScoredFile], profile: Profile) -> tuple[float, float]:
    """NAB's sweep row by row (the implementation score_corpus replaced): (best raw score, threshold)."""
    from stream_app.evaluation.nab import OUTSIDE, PROBATION

    windows = [(fi, w) for fi, f in enumerate(files) for w in range(f.n_windows) if np.isfinite(f.best_tp[w])]
    current = -profile.fn * len(windows)
    rows = [
        (float(s), fi, int(wid), float(wt))
        for fi, f in enumerate(files)
        for s, wid, wt in zip(f.scores, f.window_of, f.weights, strict=True)
        if wid != PROBATION
    ]
    rows.sort(key=lambda r: -r[0])
    best_w: dict[tuple[int, int], float] = {}
    best_score, best_thr = current, math.inf
    i = 0
    while i < len(rows):
        thr = rows[i][0]
        while i < len(rows) and rows[i][0] == thr:
            _, fi, wid, wt = rows[i]
            if wid == OUTSIDE:
                current += wt
            else:
                old = best_w.get((fi, wid), -profile.fn)
                if (fi, wid) not in best_w or wt > old:
                    best_w[(fi, wid)] = wt
                    current += wt - old
            i += 1
        if current > best_score:
            best_score, best_thr = current, thr
    return best_score, best_thr


@pytest.mark.parametrize("seed", range(12))
def test_vectorised_sweep_equals_the_row_by_row_sweep(seed: int) -> None:
    """Random corpora; scores quantised (ties within and across files) or sparse like a detector's."""
    rng = np.random.default_rng(seed)
    prof = PROFILES[list(PROFILES)[seed % 3]]
    files = []
    for k in range(4):
        n = int(rng.integers(300, 1500))
        scores = rng.random(n)
        # odd seeds: ties; even seeds: mostly zero, as the detector's output
        scores = np.round(scores * 20) / 20 if seed % 2 else np.where(rng.random(n) < 0.97, 0.0, scores)
        starts = sorted(rng.choice(np.arange(0, n - 60), size=int(rng.integers(0, 4)), replace=False))
        wins = [(int(a), int(a) + int(rng.integers(5, 50))) for a in starts]
        wins = [w for i, w in enumerate(wins) if i == 0 or w[0] > wins[i - 1][1]]
        files.append(prepare(f"c{k % 2}/f{k}.csv", scores, wins, prof))
    raw, thr = reference_sweep(files, prof)
    res = score_corpus(files, prof)
    assert res.threshold == thr
    assert res.raw == pytest.approx(raw, abs=1e-9)
    assert sum(f.score for f in res.files) == pytest.approx(raw, abs=1e-9)
