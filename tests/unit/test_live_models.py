"""Trained models in the pipeline: hot swap, plan reuse, fallbacks. No Kafka.

The model here is a real (if simple) forecaster, seasonal naive over the previous day, so the
tests check what LiveModels and the pipeline do with any model that follows the LiveModel protocol.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pytest

from schemas.events import Anomaly, Forecast
from stream_app.core.reasons import point_reason
from stream_app.core.types import AnomalyType, ForecastPoint
from stream_app.scoring.pipeline import ScoringPipeline
from stream_app.serving.live import ActiveModel, LiveModels
from stream_app.settings import Settings
from tests.unit.stand_in_models import PlanCall, StandIn
from tests.unit.test_pipeline import MemoryTable, messages, run, steel

SEASON = 96


class SeasonalNaive(StandIn):
    """Tomorrow looks like today; the band is the day's spread of one-day differences."""

    input_length = 2 * SEASON

    def __init__(self) -> None:
        self.calls = 0

    def points(self, call: PlanCall) -> list[ForecastPoint]:
        ts, values, horizon = call.ts, call.values, call.horizon
        self.calls += 1
        diffs = sorted(abs(values[-i] - values[-i - SEASON]) for i in range(1, SEASON + 1))
        half = diffs[int(0.98 * (len(diffs) - 1))] + 1e-6
        step = ts[-1] - ts[-2]
        out = []
        for k in range(1, horizon + 1):
            base = values[-SEASON + (k - 1) % SEASON]
            out.append(ForecastPoint(ts[-1] + k * step, base, base - half, base + half))
        return out

    def judge(self, value: float, point: ForecastPoint) -> tuple[float, AnomalyType | None, str]:
        if point.lower <= value <= point.upper:
            return 0.5, None, ""
        above = value > point.value
        return 0.999, ("spike" if above else "dip"), point_reason(value, point.value)


def active(version: str = "1", asset: str = "plant-1") -> ActiveModel:
    return ActiveModel(asset, "seasonal", version, "seasonal_naive", f"file:///models/{asset}/{version}")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path, window_size=672, forecast_every=24, forecast_horizon=24)


def _anomalies(outs: list) -> list[Anomaly]:
    return [Anomaly.model_validate_json(v) for o in outs for _, v in o.anomalies]


def _forecasts(outs: list) -> list[Forecast]:
    return [Forecast.model_validate_json(v) for o in outs for _, v in o.forecasts]


def test_swap_takes_effect_without_restart_and_events_carry_the_version(
    settings: Settings, data_dir: Path
) -> None:
    model = SeasonalNaive()
    live = LiveModels(lambda a: model, horizon=24)
    pipe = ScoringPipeline(settings, live=live)
    table = MemoryTable(settings.detector.window_size)
    msgs = messages(steel(data_dir, 3000), "plant-1")
    before = run(pipe, table, msgs[:1500])
    assert {a.model_version for a in _anomalies(before)} == {pipe.model_version}

    live.apply(active("1"))
    after = run(pipe, table, msgs[1500:2500])
    anomalies = _anomalies(after)
    forecasts = _forecasts(after)
    assert anomalies and {a.model_version for a in anomalies} == {"seasonal/1"}
    assert {a.detector for a in anomalies} == {"seasonal"}
    assert forecasts and {(f.model_id, f.model_version) for f in forecasts} == {("seasonal", "1")}
    # One model call per horizon of readings, not one per reading (forecasts double as plans).
    assert model.calls <= 1000 // 24 + 2

    live.apply(active("2"))  # rollback or promotion: same path
    later = run(pipe, table, msgs[2500:])
    assert {a.model_version for a in _anomalies(later)} <= {"seasonal/2"}
    assert {f.model_version for f in _forecasts(later)} == {"2"}


def test_trained_verdict_uses_the_model_band(settings: Settings, data_dir: Path) -> None:
    model = SeasonalNaive()
    live = LiveModels(lambda a: model, horizon=24)
    pipe = ScoringPipeline(settings, live=live)
    table = MemoryTable(settings.detector.window_size)
    msgs = messages(steel(data_dir, 1200), "plant-1")
    run(pipe, table, msgs[:600])
    live.apply(active())
    for a in _anomalies(run(pipe, table, msgs[600:])):
        assert not a.lower <= a.value <= a.upper
        assert ("Exceeds" in a.reason) == (a.value > a.expected)


def test_a_model_that_cannot_load_leaves_the_asset_on_the_online_model(
    settings: Settings, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    attempts = []

    def broken(a: ActiveModel) -> SeasonalNaive:
        attempts.append(a)
        raise FileNotFoundError(a.artifact_uri)

    live = LiveModels(broken, horizon=24)
    pipe = ScoringPipeline(settings, live=live)
    table = MemoryTable(settings.detector.window_size)
    live.apply(active())
    outs = run(pipe, table, messages(steel(data_dir, 1500), "plant-1"))
    assert len(attempts) == 1  # remembered as broken, not retried per reading
    assert {a.model_version for a in _anomalies(outs)} == {pipe.model_version}
    assert "cannot load seasonal/1" in caplog.text


def test_too_little_history_falls_back_then_switches(settings: Settings, data_dir: Path) -> None:
    live = LiveModels(lambda a: SeasonalNaive(), horizon=24)
    pipe = ScoringPipeline(settings, live=live)
    table = MemoryTable(settings.detector.window_size)
    live.apply(active())
    msgs = messages(steel(data_dir, 1500), "plant-1")
    anomalies = _anomalies(run(pipe, table, msgs, batch=50))
    t0 = pd.Timestamp(steel(data_dir, 1)["timestamp"].iloc[0], tz="UTC")
    step = 15 * 60
    index = {a.event_id: round((a.timestamp - t0).total_seconds() / step) for a in anomalies}
    trained = [a for a in anomalies if a.model_version == "seasonal/1"]
    online = [a for a in anomalies if a.model_version != "seasonal/1"]
    assert trained and online
    # The model needs two days (192 readings) of history; before that the online model judges.
    first_trained = min(a.timestamp for a in trained)
    assert all(a.timestamp < first_trained for a in online)
    assert max(index[a.event_id] for a in online) < SeasonalNaive.input_length


def test_loaded_models_are_bounded() -> None:
    loads: list[str] = []

    def load(a: ActiveModel) -> SeasonalNaive:
        loads.append(a.asset_id)
        return SeasonalNaive()

    live = LiveModels(load, horizon=24, capacity=2)
    for asset in ("a", "b", "c"):
        live.apply(active(asset=asset))
        live.install(active(asset=asset), load(active(asset=asset)))
    assert len(live._loaded) == 2 and "a" not in live._loaded
    assert live.apply(active(asset="a")) is False  # same version: nothing to do


def test_event_ids_do_not_change_with_the_model(settings: Settings, data_dir: Path) -> None:
    """A reading re-emitted after a model swap keeps its event id (idempotent consumers)."""
    live = LiveModels(lambda a: SeasonalNaive(), horizon=24)
    pipe = ScoringPipeline(settings, live=live)
    table = MemoryTable(settings.detector.window_size)
    msgs = messages(steel(data_dir, 1500), "plant-1")
    live.apply(active("1"))
    first = run(pipe, table, msgs)
    ids = {a.event_id: a for a in _anomalies(first)}
    live.apply(active("2"))
    again = pipe.process(msgs[-300:], table)  # redelivery after the swap
    re_emitted = [orjson.loads(v) for _, v in again.anomalies]
    assert re_emitted
    for event in re_emitted:
        assert event["event_id"] in {str(k) for k in ids}
