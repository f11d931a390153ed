"""A trained bundle as the stream uses it (stream_app.serving.model engines), on real data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stream_app.scoring.pipeline import RawMessage, ScoringPipeline
from stream_app.scoring.state import InMemoryStore
from stream_app.serving.live import ActiveModel, LiveModels
from stream_app.serving.loader import fit_window
from stream_app.serving.model import serve
from stream_app.settings import Settings


def _history(steel: pd.DataFrame, n: int) -> tuple[list[float], list[float]]:
    part = steel.iloc[:n]
    return [t.timestamp() for t in part["timestamp"]], part["value"].astype(float).tolist()


def test_plan_is_the_models_forecast_and_judge_uses_its_rule(trained: Any, steel: pd.DataFrame) -> None:
    model = trained("lightgbm")
    adapter = serve(model)
    ts, values = _history(steel, 768)
    plan = adapter.plan(ts, values, 24)
    direct = model.predict(steel.iloc[:768][["timestamp", "value"]], 24)
    assert [p.ts for p in plan] == [t.timestamp() for t in direct["timestamp"]]
    assert np.allclose([p.value for p in plan], direct["predicted_value"])
    first = plan[0]
    score_normal, kind_normal, _ = adapter.judge(first.value, first)
    assert kind_normal is None and score_normal < 0.5
    high = first.value + 10 * (first.upper - first.lower) + 10
    score, kind, reason = adapter.judge(high, first)
    assert kind == "spike" and score > 0.99 and reason.startswith("Exceeds predicted value by")
    low = first.value - 10 * (first.upper - first.lower) - 10
    assert adapter.judge(low, first)[1] == "dip"


def test_native_plan_equals_the_darts_plan(trained: Any, steel: pd.DataFrame) -> None:
    """The stream's LightGBM fast path forecasts exactly what darts does (one-step and 24 steps,
    over several windows of real data, gaps included)."""
    model = trained("lightgbm")
    native, darts = serve(model), serve(model, native=False)
    assert native.engine == "native" and darts.engine == "darts"
    ts_all, values_all = _history(steel, 2400)
    ts_gap = ts_all[:1500] + ts_all[1503:]  # three missing readings
    values_gap = values_all[:1500] + values_all[1503:]
    for ts, values, end in (
        (ts_all, values_all, 800),
        (ts_all, values_all, 2400),
        (ts_gap, values_gap, 1700),
    ):
        for horizon in (1, 24):
            a = native.plan(ts[:end], values[:end], horizon)
            b = darts.plan(ts[:end], values[:end], horizon)
            assert [p.ts for p in a] == [p.ts for p in b]
            for field in ("value", "lower", "upper"):
                assert np.allclose([getattr(p, field) for p in a], [getattr(p, field) for p in b], atol=1e-6)


def test_a_model_needing_more_history_than_the_window_is_refused(trained: Any) -> None:
    model = trained("lightgbm")
    try:
        fit_window(serve(model), model.input_length - 1)
    except ValueError as exc:
        assert "KILOWATCH_WINDOW_SIZE" in str(exc)
    else:
        raise AssertionError("a too-small window was accepted")


def test_pipeline_scores_with_the_trained_bundle(trained: Any, steel: pd.DataFrame, tmp_path: Path) -> None:
    import orjson

    model = trained("lightgbm")
    settings = Settings(state_dir=tmp_path, window_size=768, forecast_every=24, forecast_horizon=24)
    live = LiveModels(lambda a: serve(model), horizon=24, plan_steps=1)
    pipe = ScoringPipeline(settings, live=live)
    store = InMemoryStore(768)
    live.apply(ActiveModel("m1", "lightgbm", "3", "lightgbm", "file:///unused"))
    values = steel["value"].astype(float).to_numpy().copy()
    values[1000] = values[1000] * 4 + 50  # a planted spike the trained model must report
    msgs = [
        RawMessage(
            b"m1",
            orjson.dumps({"timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": float(v)}),
            "t",
            0,
            i,
        )
        for i, (t, v) in enumerate(zip(steel["timestamp"], values, strict=True))
    ]
    anomalies, forecasts = [], []
    for i in range(0, 1200, 200):
        out = pipe.process(msgs[i : i + 200], store)
        store.apply(out.writes)
        anomalies += [orjson.loads(v) for _, v in out.anomalies]
        forecasts += [orjson.loads(v) for _, v in out.forecasts]
    trained_events = [a for a in anomalies if a["model_version"] == "lightgbm/3"]
    spike_ts = steel["timestamp"].iloc[1000].strftime("%Y-%m-%dT%H:%M:%S")
    assert any(a["timestamp"].startswith(spike_ts) and a["type"] == "spike" for a in trained_events)
    assert {f["model_version"] for f in forecasts[-10:]} == {"3"}
    # One-step judging keeps the trained rule's calibration: few normal readings flagged.
    judged = 1200 - 769
    assert len(trained_events) < 0.05 * judged
