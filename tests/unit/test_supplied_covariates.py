"""Supplied future covariates in the stream (issue 16): the per-asset store the covariate-forecasts topic
feeds, the agent's message check, and the live model's use of the values (or its fallback to the online
model when they are missing). Pure: no Kafka here (tests/integration/test_stream_future_covariates.py
runs the real worker and broker)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import orjson
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.covariate_forecasts import apply_forecast
from schemas.events import Forecast
from stream_app import metrics
from stream_app.core.types import AnomalyType, ForecastPoint
from stream_app.scoring.pipeline import RawMessage, ScoringPipeline
from stream_app.serving.live import ActiveModel, LiveModels
from stream_app.serving.model import ServedModel
from stream_app.serving.supplied import SuppliedCovariates
from stream_app.settings import Settings
from tests.unit.stand_in_models import PlanCall, StandIn
from tests.unit.test_pipeline import MemoryTable, run

STEP = 900.0


# --- the store ------------------------------------------------------------------------------------------


def test_values_are_found_by_the_steps_after_the_last_reading() -> None:
    s = SuppliedCovariates(100)
    s.note("a", 1000.0, STEP, {"plan": [1.0, 2.0, 3.0], "temp": [5.0, 6.0, 7.0]})
    assert s.ahead("a", 1000.0 - STEP, STEP, 3, ["plan"]) == {"plan": [1.0, 2.0, 3.0]}
    assert s.ahead("a", 1000.0, STEP, 2, ["temp", "plan"]) == {"temp": [6.0, 7.0], "plan": [2.0, 3.0]}
    assert s.ahead("a", 1000.0, STEP, 3, ["plan"]) is None  # the third step is not supplied
    assert s.ahead("a", 1000.0, STEP, 1, ["wind"]) is None  # nor is this covariate
    assert s.ahead("b", 1000.0, STEP, 1, ["plan"]) is None  # nor this asset


def test_a_newer_message_overwrites_the_stamps_it_covers() -> None:
    s = SuppliedCovariates(100)
    s.note("a", 0.0, STEP, {"plan": [1.0, 1.0, 1.0]})
    s.note("a", STEP, STEP, {"plan": [2.0, 2.0, 2.0]})
    assert s.ahead("a", -STEP, STEP, 4, ["plan"]) == {"plan": [1.0, 2.0, 2.0, 2.0]}
    assert len(s) == 4


@given(
    messages=st.lists(
        st.tuples(st.integers(0, 200), st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=30)),
        min_size=1,
        max_size=20,
    ),
    bound=st.integers(1, 50),
)
@settings(max_examples=100)
def test_the_store_is_bounded_and_keeps_the_latest_values(
    messages: list[tuple[int, list[float]]], bound: int
) -> None:
    s = SuppliedCovariates(bound)
    expected: dict[float, float] = {}
    for start, values in messages:
        s.note("a", start * STEP, STEP, {"x": values})
        for i, v in enumerate(values):
            expected[(start + i) * STEP] = v
    assert len(s) <= bound
    kept = sorted(expected)[-bound:]  # the latest stamps survive, with the newest value of each
    for ts in kept:
        assert s.ahead("a", ts - STEP, STEP, 1, ["x"]) == {"x": [expected[ts]]}


# --- the agent's check of a message ------------------------------------------------------------------------


def test_a_valid_message_is_stored_and_a_bad_one_says_why() -> None:
    s = SuppliedCovariates(10)
    body = {
        "asset_id": "a",
        "start": "2024-01-01T00:15:00Z",
        "step_seconds": STEP,
        "covariates": {"p": [2.0]},
    }
    assert apply_forecast(orjson.dumps(body), b"a", s) is None
    start = pd.Timestamp("2024-01-01T00:00:00Z").timestamp()
    assert s.ahead("a", start, STEP, 1, ["p"]) == {"p": [2.0]}
    assert apply_forecast(None, b"a", s) is None  # a tombstone is ignored
    assert apply_forecast(orjson.dumps(body), b"b", s) == "the message key differs from the body's asset_id"
    bad = {**body, "covariates": {"p": [1e16]}}
    why = apply_forecast(orjson.dumps(bad), b"a", s)
    assert why is not None and why.startswith("invalid covariate forecast: covariates.p.0")
    assert apply_forecast(b"\xff not json", None, s) is not None
    uneven = {**body, "covariates": {"p": [1.0], "q": [1.0, 2.0]}}
    assert "same number of values" in str(apply_forecast(orjson.dumps(uneven), b"a", s))


@given(raw=st.binary(max_size=300))
def test_any_bytes_are_stored_or_refused_never_raised(raw: bytes) -> None:
    why = apply_forecast(raw, None, SuppliedCovariates(10))
    assert why is None or why.startswith(("invalid covariate forecast", "the message key"))


# --- the live model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Meta:
    freq_seconds: float = STEP


class PlanModel(StandIn):
    """Forecasts each step as the supplied ``plan`` value of that step (so the forecast shows what the
    stream passed), from ``plan``'s past values on the readings."""

    input_length = 8
    supplied_future_covariates = ("plan",)
    meta = _Meta()

    def __init__(self) -> None:
        self.calls = 0

    def points(self, call: PlanCall) -> list[ForecastPoint]:
        ts, horizon, covariates, future = call.ts, call.horizon, call.covariates, call.future
        assert covariates is not None and len(covariates["plan"]) == len(ts)
        assert future is not None and len(future["plan"]) == horizon
        self.calls += 1
        return [
            ForecastPoint(ts[-1] + (k + 1) * STEP, 100.0 * v, -1e12, 1e12)
            for k, v in enumerate(future["plan"])
        ]

    def judge(self, value: float, point: ForecastPoint) -> tuple[float, AnomalyType | None, str]:
        return 0.5, None, ""


def _readings(n: int, start: pd.Timestamp) -> list[RawMessage]:
    out = []
    for i in range(n):
        t = (start + pd.Timedelta(seconds=STEP * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = orjson.dumps({"timestamp": t, "value": 10.0 + i % 4, "plan": float(i % 3)})
        out.append(RawMessage(b"plant", body, "kilowatch.readings", 0, i))
    return out


def test_the_stream_forecast_uses_the_supplied_values_else_the_online_model(tmp_path: Path) -> None:
    cfg = Settings(state_dir=tmp_path, window_size=672, forecast_every=24, forecast_horizon=24)
    model = PlanModel()
    live = LiveModels(lambda a: cast(ServedModel, model), horizon=24, plan_steps=1)
    pipe = ScoringPipeline(cfg, live=live)
    table = MemoryTable(cfg.detector.window_size)
    live.apply(ActiveModel("plant", "plan", "1", "lightgbm", "file:///x"))
    start = pd.Timestamp("2024-01-01T00:00:00Z")
    before = metrics.MODEL_FUTURE_FALLBACKS.labels("lightgbm")._value.get()

    # no supplied values yet: every forecast comes from the online model, and the fallbacks are counted
    outs = run(pipe, table, _readings(48, start))
    first = [Forecast.model_validate_json(v) for o in outs for _, v in o.forecasts]
    assert first and {f.model_id for f in first} != {"plan"}
    assert model.calls == 0
    assert metrics.MODEL_FUTURE_FALLBACKS.labels("lightgbm")._value.get() > before

    # a plan for the next 200 steps: the model forecasts with it (its points are 100 x the plan)
    plan = [float(1 + (i % 5)) for i in range(200)]
    live.supplied.note("plant", start.timestamp() + 48 * STEP, STEP, {"plan": plan})
    outs = run(pipe, table, _readings(96, start)[48:])
    later = [Forecast.model_validate_json(v) for o in outs for _, v in o.forecasts]
    trained = [f for f in later if f.model_id == "plan"]
    assert trained and model.calls > 0
    f = trained[-1]
    k = round((f.issued_at.timestamp() - start.timestamp()) / STEP) + 1  # the first forecast step's row
    assert [p.predicted_value for p in f.points] == [100.0 * v for v in plan[k - 48 : k - 48 + 24]]
