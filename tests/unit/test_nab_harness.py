"""The NAB harness end to end on a few real shared NAB files (cut to a small slice at run time)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from stream_app.core.online import OnlineParams
from stream_app.evaluation import cli, harness
from stream_app.evaluation.harness import (
    DetectorSpec,
    RunCache,
    evaluate_detectors,
    load_corpus,
    run_detectors,
)
from stream_app.evaluation.loco import candidate_specs, format_loco, run_loco
from stream_app.evaluation.nab import PROFILES
from stream_app.evaluation.offline import detect_series, verdict_score
from stream_app.evaluation.results_doc import format_evaluation, render_results
from stream_app.settings import Settings
from tests.unit.test_nab import reference_sweep

FILES = [
    "realAdExchange/exchange-2_cpc_results.csv",
    "realTraffic/speed_7578.csv",
    "artificialNoAnomaly/art_noisy.csv",
]


@pytest.fixture(scope="module")
def corpus(data_dir: Path) -> harness.NabCorpus:
    nab = data_dir / "nab"
    return load_corpus(nab, nab / "labels" / "dev_windows.json", only=FILES, max_rows=1500)


def test_corpus_slices_keep_only_windows_inside(corpus: harness.NabCorpus) -> None:
    assert sorted(corpus.keys) == sorted(FILES)
    assert all(len(s.values) <= 1500 for s in corpus.series.values())
    assert corpus.windows["artificialNoAnomaly/art_noisy.csv"] == []
    assert all(hi < 1500 for wins in corpus.windows.values() for _, hi in wins)


def test_kilowatch_and_river_scored_per_category(corpus: harness.NabCorpus) -> None:
    params = Settings().detector.params()
    specs = [DetectorSpec("kilowatch", params), DetectorSpec("river-hst"), DetectorSpec("river-adwin")]
    cache = RunCache()
    evs = evaluate_detectors(specs, corpus, jobs=2, cache=cache)
    kw = evs[0]
    # the harness's kilowatch scores are exactly the offline detect path's (the stream's code path)
    key = "realTraffic/speed_7578.csv"
    ser = corpus.series[key]
    expected = [verdict_score(v) for v in detect_series(ser.epoch, ser.values, params)]
    assert cache.runs[(specs[0], key)].scores.tolist() == expected
    for ev in evs:
        assert not ev.errors
        std = ev.profile("standard")
        assert [c.category for c in std.categories] == [
            "artificialNoAnomaly",
            "realAdExchange",
            "realTraffic",
        ]
        assert std.category("artificialNoAnomaly").own_normalized is None
        assert 0.0 <= std.corpus.normalized <= 100.0
        assert {p.profile for p in ev.profiles} == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    # the vectorised threshold sweep agrees with NAB's row-by-row sweep on real detector output
    for ev in evs:
        for name in ("standard", "reward_low_FN_rate"):
            files = [corpus.scored(fr.run.key, name, fr.run.scores) for fr in ev.files[name]]
            raw, thr = reference_sweep(files, PROFILES[name])
            assert ev.profile(name).corpus.threshold == thr
            assert ev.profile(name).corpus.raw == pytest.approx(raw, abs=1e-9)
    text = format_evaluation(kw, corpus)
    assert "realTraffic" in text and "every detection is a false alarm" in text and key in text
    # a second evaluation comes from the cache (no new run)
    before = dict(cache.runs)
    run_detectors(specs, corpus, jobs=2, cache=cache)
    assert all(cache.runs[k] is v for k, v in before.items())
    doc = render_results(evs, corpus, None, ["kilowatch", "evaluate"])
    assert doc.startswith("# Detector results on the NAB corpus (")
    assert "river-hst" in doc and "ARTime" in doc and "inputMin" in doc and "None: every detector" in doc


def test_a_failing_file_is_reported_not_fatal(
    corpus: harness.NabCorpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = harness.detect_series

    def flaky(epoch: np.ndarray, values: np.ndarray, params: OnlineParams) -> list:  # type: ignore[type-arg]
        if len(values) == len(corpus.series["realTraffic/speed_7578.csv"].values):
            raise OverflowError(34, "Numerical result out of range")
        return real(epoch, values, params)

    monkeypatch.setattr(harness, "detect_series", flaky)
    (ev,) = evaluate_detectors([DetectorSpec("kilowatch")], corpus, jobs=1)
    assert [r.key for r in ev.errors] == ["realTraffic/speed_7578.csv"]
    assert "OverflowError" in (ev.errors[0].error or "")
    row = next(fr for fr in ev.files["standard"] if fr.run.key == "realTraffic/speed_7578.csv")
    assert row.result.detections == 0 and row.result.detected_windows == 0  # scored as no detections
    assert "ERROR: OverflowError" in format_evaluation(ev, corpus)
    assert "| realTraffic/speed_7578.csv | OverflowError" in render_results([ev], corpus, None, None).replace(
        "`", ""
    ).replace("kilowatch ", "")


def test_loco_sweep_end_to_end(corpus: harness.NabCorpus) -> None:
    specs = candidate_specs(
        ["threshold=0.99,0.996", "stream_app.core.online.FLAT_WEIGHT=0.25"], OnlineParams()
    )
    run = run_loco(specs, corpus, jobs=2)
    assert [f.held_out for f in run.result.folds] == ["artificialNoAnomaly", "realAdExchange", "realTraffic"]
    assert {f.chosen for f in run.result.folds} <= {s.label for s in specs}
    assert not run.errors and not run.identical
    text = format_loco(run)
    assert "LOCO corpus score" in text and "FLAT_WEIGHT=0.25" in text


def test_evaluate_cli_in_memory(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    report = tmp_path / "results.md"
    args = parser.parse_args(
        [
            "evaluate",
            "--data",
            str(data_dir / "nab"),
            "--only",
            "realTraffic/speed_7578.csv",
            "--only",
            "artificialNoAnomaly/art_noisy.csv",
            "--detector",
            "kilowatch",
            "--detector",
            "river-sad",
            "--profile",
            "standard",
            "--loco",
            "--param",
            "threshold=0.99,0.996",
            "--jobs",
            "1",
            "--report",
            str(report),
        ]
    )
    assert args.handler(args, Settings()) == 0
    out = capsys.readouterr().out
    assert "realTraffic" in out and "river-sad" in out and "LOCO" in out
    doc = report.read_text()
    assert "## Leave-one-category-out" in doc and "river-sad" in doc
