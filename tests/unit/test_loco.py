"""Leave-one-category-out selection on small synthetic corpora, candidate parsing and constant patches."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from stream_app.core import online
from stream_app.core.online import OnlineParams
from stream_app.evaluation.harness import DetectorSpec, copies_of, patched
from stream_app.evaluation.loco import candidate_specs, loco_select, parse_param
from stream_app.evaluation.nab import PROFILES, ScoredFile, prepare
from stream_app.settings import Settings

STD = PROFILES["standard"]
N = 1000  # probation: 150 rows
WINDOWS = [(400, 499), (700, 799)]
NONE = "artificialNoAnomaly"


def file(
    name: str, hits: list[int], windows: list[tuple[int, int]] = WINDOWS, value: float = 0.9
) -> ScoredFile:
    s = np.zeros(N)
    s[hits] = value
    return prepare(name, s, windows, STD)


def corpus(a: list[int], b: list[int], c: list[int], n: list[int], n_value: float = 0.95) -> list[ScoredFile]:
    """Three files in category A, one each in B and C, one no-anomaly file (hits: detected rows)."""
    return [
        *(file(f"A/a{i}.csv", a) for i in range(3)),
        file("B/b.csv", b),
        file("C/c.csv", c),
        file(f"{NONE}/n.csv", n, [], n_value),
    ]


# x: perfect on A, weak on B and C; y: blind on A, perfect on B and C.  Over all files x is far better
# (70 vs 40), so any leak of the held-out category into the choice picks x when A is held out.
X = corpus(a=[400, 700], b=[400], c=[], n=[])
Y = corpus(a=[], b=[400, 700], c=[400, 700], n=[])


def test_held_out_category_does_not_influence_the_choice() -> None:
    res = loco_select({"x": X, "y": Y})
    corpus_scores = dict(res.corpus)
    assert corpus_scores["x"] == pytest.approx(70.0) and corpus_scores["y"] == pytest.approx(40.0)
    folds = {f.held_out: f for f in res.folds}
    assert list(folds) == ["A", "B", "C", NONE]
    a = folds["A"]
    assert a.chosen == "y"  # chosen on B, C and the no-anomaly file only
    assert dict(a.train_scores)["y"] == pytest.approx(100.0)
    assert a.held_out_own == pytest.approx(0.0) and a.held_out_at_train == pytest.approx(0.0)
    assert a.best_held_out == "x" and a.best_held_out_score == pytest.approx(100.0)  # the oracle differs
    assert folds["B"].chosen == "x" and folds["C"].chosen == "x"
    assert folds["B"].held_out_own == pytest.approx(50.0)  # x finds one of B's two windows
    assert folds[NONE].chosen == "x" and folds[NONE].held_out_own is None
    assert folds[NONE].held_out_detections == 0
    assert not res.agreed
    # combined: A scored with y (all missed), B and C with x: -6 + 0 - 2 over null -10, perfect 10
    assert res.loco_corpus == pytest.approx(100 * (-8.0 + 10.0) / 20.0)


def test_no_anomaly_false_alarms_count_in_the_training_corpus() -> None:
    """z equals y except for 20 false alarms in the no-anomaly file: with A held out, y must win although
    z comes first (ties go to the first candidate) -- the no-anomaly category is part of training."""
    z = corpus(a=[], b=[400, 700], c=[400, 700], n=list(range(200, 220)))
    res = loco_select({"z": z, "y": Y})
    folds = {f.held_out: f for f in res.folds}
    assert folds["A"].chosen == "y"
    assert dict(folds["A"].train_scores)["z"] < dict(folds["A"].train_scores)["y"]
    # held out itself, the no-anomaly category reports its detections at the training threshold
    assert folds[NONE].chosen == "z"  # tie on A, B, C: the first candidate
    assert folds[NONE].held_out_detections == 20
    assert folds[NONE].best_held_out == "y" and folds[NONE].best_held_out_score == 0


def test_held_out_at_training_threshold_differs_from_its_own() -> None:
    """B's detections score 0.5; the training threshold (0.9, from A and C) misses them."""
    files = [file("A/a.csv", [400, 700]), file("C/c.csv", [400, 700]), file("B/b.csv", [400, 700], value=0.5)]
    other = [file("A/a.csv", []), file("C/c.csv", []), file("B/b.csv", [])]
    res = loco_select({"p": files, "q": other})
    b = next(f for f in res.folds if f.held_out == "B")
    assert b.chosen == "p" and b.train_threshold == pytest.approx(0.9)
    assert b.held_out_own == pytest.approx(100.0) and b.held_out_at_train == pytest.approx(0.0)


def test_candidates_must_cover_the_same_files() -> None:
    with pytest.raises(ValueError):
        loco_select({"x": X, "y": Y[:-1]})
    with pytest.raises(ValueError):
        loco_select({"x": [file("A/a.csv", [])]})  # one category: nothing to hold out


def test_param_grid_of_fields_and_module_constants() -> None:
    base = OnlineParams()
    assert parse_param("threshold=0.99,0.996", base) == ("threshold", [0.99, 0.996])
    assert parse_param("accept_after=2,5", base) == ("accept_after", [2, 5])
    name, values = parse_param("stream_app.core.online.FLAT_WEIGHT=0.25,1", base)
    assert name == "stream_app.core.online.FLAT_WEIGHT"
    assert values == [0.25, 1.0] and all(isinstance(v, float) for v in values)
    for bad in ("nonsense=1", "threshold", "stream_app.core.online.NO_SUCH=1", "accept_after=1.5"):
        with pytest.raises(ValueError):
            parse_param(bad, base)
    specs = candidate_specs(["threshold=0.99,0.996", "stream_app.core.online.FLAT_WEIGHT=0.25,1"], base)
    assert len(specs) == 4
    assert specs[1].params == dataclasses.replace(base, threshold=0.99)
    assert specs[1].patches == (("stream_app.core.online.FLAT_WEIGHT", 1.0),)
    assert specs[1].label == "threshold=0.99, FLAT_WEIGHT=1.0"
    assert len({s.label for s in specs}) == 4 and len(set(specs)) == 4  # hashable cache keys


def test_patches_rebind_and_always_restore() -> None:
    before = online.FLAT_WEIGHT
    with patched([("stream_app.core.online.FLAT_WEIGHT", 7.0)]):
        assert online.FLAT_WEIGHT == 7.0
    assert before == online.FLAT_WEIGHT
    with pytest.raises(RuntimeError), patched([("stream_app.core.online.FLAT_WEIGHT", 8.0)]):
        raise RuntimeError("detector failed")
    assert before == online.FLAT_WEIGHT
    with pytest.raises(ValueError), patched([("stream_app.core.online.NOPE", 1.0)]):
        pass
    # equal names in other stream_app modules are listed (a patch does not reach them)
    assert "stream_app.core.online_forecast.TINY" in copies_of("stream_app.core.online.TINY")
    assert DetectorSpec().label == "kilowatch"


def test_a_hand_built_spec_runs_the_settings_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    # `kilowatch evaluate` and the stream use the settings' window (768); a spec built in a script
    # used OnlineParams()'s bare 672 and scored 64.27 where the CLI scored 64.70 (detector-v6.md).
    assert DetectorSpec().params == Settings().detector.params()
    assert DetectorSpec().params.window_size == 768 != OnlineParams().window_size
    monkeypatch.setenv("KILOWATCH_WINDOW_SIZE", "512")
    assert DetectorSpec().params.window_size == Settings().detector.window_size
