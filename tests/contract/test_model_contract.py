"""One contract for every model class: bundle round trip, causal scoring, bounded memory, and better
than seasonal naive on real energy data (steel plant, 15-minute steps, season 96)."""

from __future__ import annotations

import gc
import re
import resource
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.contract.conftest import CONTRACT_PARAMS

pytestmark = pytest.mark.ml
CASES = list(CONTRACT_PARAMS)
FORECASTERS = [c for c in CASES if c != "seasonal_naive"]


@pytest.mark.parametrize("case", CASES)
def test_save_load_round_trip_is_identical(
    case: str, trained: Any, steel: pd.DataFrame, tmp_path: Path
) -> None:
    from trainers.backend import load_model

    model = trained(case)
    history = steel.iloc[-1200:-50]
    model.save(tmp_path / "v1")
    loaded = load_model(tmp_path / "v1")
    assert loaded.metadata == model.metadata | {"files": loaded.metadata["files"]}
    pd.testing.assert_frame_equal(model.predict(history, 24), loaded.predict(history, 24), check_exact=True)
    pd.testing.assert_frame_equal(model.detect(history), loaded.detect(history), check_exact=True)


@pytest.mark.parametrize("case", CASES)
def test_detect_is_causal_and_well_formed(case: str, trained: Any, steel: pd.DataFrame) -> None:
    model = trained(case)
    history = steel.iloc[-(model.input_length + 400) :].reset_index(drop=True)
    full = model.detect(history)
    cut = model.detect(history.iloc[:-150])
    assert len(full) == len(history) - model.input_length
    assert len(cut) == len(full) - 150
    head = full.iloc[: len(cut)].reset_index(drop=True)
    assert (head["timestamp"] == cut["timestamp"]).all()
    for col in ("expected", "lower", "upper", "score"):
        np.testing.assert_allclose(head[col], cut[col], rtol=1e-6, atol=1e-9, err_msg=col)
    assert (head["is_anomaly"] == cut["is_anomaly"]).all()
    assert list(full.columns) == [
        "timestamp",
        "value",
        "expected",
        "lower",
        "upper",
        "score",
        "is_anomaly",
        "kind",
        "reason",
    ]
    assert full["score"].between(0, 1).all()
    assert (full["lower"] <= full["expected"]).all() and (full["expected"] <= full["upper"]).all()
    assert full["is_anomaly"].mean() < 0.2
    pattern = re.compile(r"^(Exceeds predicted value|Below expected value) by [\d.e+-]+%?$")
    assert full["reason"].map(lambda r: bool(pattern.match(r))).all()
    flagged = full[full["is_anomaly"]]
    assert set(flagged["kind"]) <= {"spike", "dip"}
    assert (flagged["kind"] == np.where(flagged["value"] > flagged["expected"], "spike", "dip")).all()


def _rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@pytest.mark.parametrize("case", CASES)
def test_repeated_predict_memory_is_bounded(case: str, trained: Any, steel: pd.DataFrame) -> None:
    model = trained(case)
    history = steel.iloc[-(model.input_length + 200) :]
    for _ in range(5):  # warm-up: caches, lazy imports
        model.predict(history, 24)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    peak_rss = _rss_kib()
    for _ in range(40):
        model.predict(history, 24)
    gc.collect()
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    assert grown < 2 * 1024 * 1024, f"python heap grew by {grown / 1e6:.1f} MB over 40 predict calls"
    assert _rss_kib() - peak_rss < 64 * 1024, "peak RSS grew by more than 64 MiB over 40 predict calls"


@pytest.mark.parametrize("case", CASES)
def test_beats_seasonal_naive_on_steel(case: str, trained: Any, steel: pd.DataFrame) -> None:
    from trainers.backend import evaluate

    model = trained(case)
    scores = evaluate(model, steel)
    assert scores["forecasts"] > 100
    if case == "seasonal_naive":  # the reference is the reference
        assert scores["mase"] == pytest.approx(scores["seasonal_naive_mase"])
        return
    assert scores["mase"] < scores["seasonal_naive_mase"], scores
