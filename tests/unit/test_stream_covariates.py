"""Reading covariates reach a trained model in the stream (issue 16). No Kafka: the pipeline is driven
directly with real steel readings whose reactive power is sent as the covariate ``kvarh``.

The model here is a stand-in that follows the served-model protocol and forecasts from the covariate it
is handed, so the tests check what decoding, the pipeline and LiveModels do with covariates; a real
bundle trained with a covariate is served in the stream in tests/integration/test_stream_covariates.py.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import Forecast
from stream_app.core.decode import NO_COVARIATES, decode_fast, decode_reading
from stream_app.core.types import AnomalyType, ForecastPoint
from stream_app.scoring.pipeline import RawMessage, ScoringPipeline
from stream_app.serving.covariates import CovariateHistory
from stream_app.serving.live import ActiveModel, LiveModels
from stream_app.settings import Settings
from tests.unit.stand_in_models import PlanCall, StandIn
from tests.unit.test_pipeline import MemoryTable, run

KVARH = "Lagging_Current_Reactive.Power_kVarh"


class CovariateModel(StandIn):
    """Forecasts every step as the newest ``kvarh`` of its window (a band no reading leaves)."""

    input_length = 8
    past_covariates = ("kvarh",)

    def __init__(self) -> None:
        self.seen: list[tuple[list[float], list[float]]] = []  # (stamps, kvarh) of each plan

    def points(self, call: PlanCall) -> list[ForecastPoint]:
        ts, horizon, covariates = call.ts, call.horizon, call.covariates
        assert covariates is not None, "the model needs its covariate"
        kvarh = list(covariates["kvarh"])
        assert len(kvarh) == len(ts)
        self.seen.append((list(ts), kvarh))
        step = ts[-1] - ts[-2]
        return [ForecastPoint(ts[-1] + k * step, kvarh[-1], -1e12, 1e12) for k in range(1, horizon + 1)]

    def judge(self, value: float, point: ForecastPoint) -> tuple[float, AnomalyType | None, str]:
        return 0.5, None, ""


def steel_with_kvarh(data_dir: Path, n: int) -> pd.DataFrame:
    df = pd.read_csv(data_dir / "energy" / "steel_industry_2018_15min.csv", nrows=n)
    return df[["timestamp", "Usage_kWh", KVARH]].rename(columns={"Usage_kWh": "value", KVARH: "kvarh"})


def messages(df: pd.DataFrame, asset: str, with_covariate: bool = True) -> list[RawMessage]:
    stamps = pd.to_datetime(df["timestamp"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = []
    for i, (t, v, k) in enumerate(zip(stamps, df["value"], df["kvarh"], strict=True)):
        body: dict[str, object] = {"timestamp": t, "value": float(v)}
        if with_covariate:
            body["kvarh"] = float(k)  # a top-level numeric field: the devices' wire format
        out.append(RawMessage(asset.encode(), orjson.dumps(body), "readings", 0, i))
    return out


def active(asset: str) -> ActiveModel:
    return ActiveModel(asset, "cov", "1", "tide", f"file:///models/{asset}/1")


@pytest.fixture
def cfg(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path, window_size=672, forecast_every=24, forecast_horizon=24)


def _forecasts(outs: list) -> list[Forecast]:
    return [Forecast.model_validate_json(v) for o in outs for _, v in o.forecasts]


def test_reading_covariates_reach_the_trained_model(cfg: Settings, data_dir: Path) -> None:
    df = steel_with_kvarh(data_dir, 480)
    model = CovariateModel()
    live = LiveModels(lambda a: model, horizon=24, window=cfg.detector.window_size)
    live.apply(active("plant-1"))
    pipe = ScoringPipeline(cfg, live=live)
    outs = run(pipe, MemoryTable(cfg.detector.window_size), messages(df, "plant-1"))
    forecasts = _forecasts(outs)
    assert forecasts and {(f.model_id, f.model_version) for f in forecasts} == {("cov", "1")}
    # each forecast is the newest reading's kvarh: the covariate the reading carried
    for f in forecasts:
        at = pd.Timestamp(f.issued_at).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S")
        newest = df.loc[pd.to_datetime(df["timestamp"]).dt.strftime("%Y-%m-%d %H:%M:%S") == at, "kvarh"]
        assert f.points[0].predicted_value == pytest.approx(float(newest.iloc[0]))
    # and the window handed to the model is the readings' own covariate, aligned with the stamps
    stamps, kvarh = model.seen[-1]
    by_ts = dict(
        zip(pd.to_datetime(df["timestamp"], utc=True).map(pd.Timestamp.timestamp), df["kvarh"], strict=True)
    )
    assert kvarh == [pytest.approx(by_ts[t]) for t in stamps]


def test_readings_without_the_covariate_are_scored_online(cfg: Settings, data_dir: Path) -> None:
    df = steel_with_kvarh(data_dir, 240)
    model = CovariateModel()
    live = LiveModels(lambda a: model, horizon=24, window=cfg.detector.window_size)
    live.apply(active("plant-2"))
    pipe = ScoringPipeline(cfg, live=live)
    outs = run(pipe, MemoryTable(cfg.detector.window_size), messages(df, "plant-2", with_covariate=False))
    assert {f.model_id for f in _forecasts(outs)} == {pipe.detector.name}
    assert not [w for o in outs for w in o.dead_letters] and model.seen == []


def test_a_gap_in_the_covariate_waits_for_a_full_window(cfg: Settings, data_dir: Path) -> None:
    df = steel_with_kvarh(data_dir, 96)
    msgs = messages(df, "plant-3")
    # reading 44 lacks the covariate: windows of 8 that contain it cannot be planned
    bare = orjson.loads(msgs[44].value or b"{}")
    del bare["kvarh"]
    msgs[44] = RawMessage(msgs[44].key, orjson.dumps(bare), "readings", 0, 44)
    model = CovariateModel()
    live = LiveModels(lambda a: model, horizon=24, window=cfg.detector.window_size)
    live.apply(active("plant-3"))
    pipe = ScoringPipeline(cfg, live=live)
    outs = run(pipe, MemoryTable(cfg.detector.window_size), msgs, batch=24)
    by_issue = [(f.issued_at, f.model_id) for f in _forecasts(outs)]
    # forecasts after readings 24, 48, 72, 96: the one after reading 48 has reading 44 in its window
    assert [m for _, m in by_issue] == ["cov", pipe.detector.name, "cov", "cov"]


def test_decoded_readings_carry_their_covariates() -> None:
    fast = decode_fast(b"a", b'{"timestamp": "2024-01-01T00:00:00Z", "value": 1, "temp": 3}', max_bytes=4096)
    assert fast.covariates == {"temp": 3.0}
    # a payload the hand checks leave to the model (a covariates object) gives the same covariates
    slow = decode_fast(
        b"a", b'{"timestamp": "2024-01-01T00:00:00Z", "value": 1, "covariates": {"temp": 3}}', max_bytes=4096
    )
    assert slow.covariates == {"temp": 3.0}
    bare = decode_fast(b"a", b'{"timestamp": "2024-01-01T00:00:00Z", "value": 1}', max_bytes=4096)
    assert bare.covariates == NO_COVARIATES == {}


names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,10}\Z").filter(
    lambda s: s not in ("asset_id", "timestamp", "value", "unit", "covariates")
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(names, st.floats(-1e15, 1e15) | st.integers(-(10**15), 10**15), max_size=32))
def test_fast_decoding_keeps_exactly_the_models_covariates(covs: dict[str, float]) -> None:
    body = orjson.dumps({"asset_id": "a", "timestamp": "2024-01-01T00:00:00Z", "value": 1.5, **covs})
    fast = decode_fast(b"a", body, max_bytes=1 << 16)
    model = decode_reading(b"a", body, max_bytes=1 << 16)
    assert dict(fast.covariates) == dict(model.covariates) == {k: float(v) for k, v in covs.items()}


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 20),
    st.lists(st.tuples(st.integers(0, 60), st.floats(-1e6, 1e6)), max_size=120),
)
def test_covariate_history_is_bounded_and_answers_only_complete_windows(
    window: int, notes: list[tuple[int, float]]
) -> None:
    hist = CovariateHistory(window)
    latest: dict[float, float] = {}
    for ts, v in notes:
        hist.note("a", float(ts), {"x": v})
        latest[float(ts)] = v
        assert len(hist) <= window
    kept = list(dict.fromkeys(float(ts) for ts, _ in reversed(notes)))[:window]
    cols = hist.columns("a", kept, ["x"])
    assert cols == ({"x": [latest[t] for t in kept]} if kept else None)  # None: asset never noted
    assert hist.columns("a", [1e9], ["x"]) is None  # a stamp never noted
    if kept:
        assert hist.columns("a", kept, ["x", "y"]) is None  # a covariate never sent


def test_reading_covariates_survive_a_restart(cfg: Settings, data_dir: Path) -> None:
    """The covariates of the readings go to the state table with their ring records: a new worker
    (new live models and pipeline on the same table) plans with the model at its first readings
    instead of waiting for ``input_length`` new readings carrying the covariate."""
    df = steel_with_kvarh(data_dir, 120)
    msgs = messages(df, "plant-4")
    table = MemoryTable(cfg.detector.window_size)
    first = CovariateModel()
    live = LiveModels(lambda a: first, horizon=24, window=cfg.detector.window_size)
    live.apply(active("plant-4"))
    run(ScoringPipeline(cfg, live=live), table, msgs[:96])
    assert any(k.endswith(b"|c95") for k in table.data)  # stored next to the ring record of reading 95

    again = CovariateModel()
    live2 = LiveModels(lambda a: again, horizon=24, window=cfg.detector.window_size)
    live2.apply(active("plant-4"))
    pipe2 = ScoringPipeline(cfg, live=live2)
    run(pipe2, table, msgs[96:98])  # two readings: fewer than the model's input length (8)
    assert again.seen, "the model waited for a window of new readings: covariates were not restored"
    stamps, kvarh = again.seen[0]
    by_ts = dict(
        zip(pd.to_datetime(df["timestamp"], utc=True).map(pd.Timestamp.timestamp), df["kvarh"], strict=True)
    )
    assert len(stamps) == CovariateModel.input_length
    assert kvarh == [pytest.approx(by_ts[t]) for t in stamps]

    # a reset forgets them: the stored covariates are deleted with the ring
    import uuid
    from datetime import UTC, datetime

    from schemas.events import AssetReset

    reset = AssetReset(
        control="reset_asset",
        reset_id=uuid.uuid4(),
        asset_id="plant-4",
        requested_by="test",
        requested_at=datetime.now(UTC),
    )
    out = pipe2.process([RawMessage(b"plant-4", reset.model_dump_json().encode(), "readings", 0, 500)], table)
    table.apply(out.writes)
    assert not [k for k in table.data if k.startswith(b"plant-4|c")]
