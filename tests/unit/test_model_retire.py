"""A deleted asset's tombstone on the model-updates topic retires its trained model in a running worker."""

from __future__ import annotations

from pathlib import Path

from agents.model_updates import apply_update
from schemas.events import Anomaly
from stream_app.scoring.pipeline import ScoringPipeline
from stream_app.serving.live import LiveModels
from stream_app.settings import Settings
from tests.unit.test_live_models import SeasonalNaive, active
from tests.unit.test_pipeline import MemoryTable, messages, run, steel


async def test_tombstone_retires_the_model_and_scoring_goes_online(tmp_path: Path, data_dir: Path) -> None:
    settings = Settings(state_dir=tmp_path, window_size=672, forecast_every=24, forecast_horizon=24)
    model = SeasonalNaive()
    live = LiveModels(lambda a: model, horizon=24)
    pipe = ScoringPipeline(settings, live=live)
    table = MemoryTable(settings.detector.window_size)
    msgs = messages(steel(data_dir, 2600), "plant-1")
    run(pipe, table, msgs[:1500])
    live.apply(active("1"))
    trained = [
        Anomaly.model_validate_json(v) for o in run(pipe, table, msgs[1500:2000]) for _, v in o.anomalies
    ]
    assert trained and {a.model_version for a in trained} == {"seasonal/1"}

    assert await apply_update(None, live, lambda a: model, key=b"plant-1") is True
    assert live.label_of("plant-1") is None
    assert await apply_update(None, live, lambda a: model, key=b"plant-1") is False  # already retired
    assert await apply_update(None, live, lambda a: model) is False  # a tombstone without a key
    calls = model.calls
    after = [Anomaly.model_validate_json(v) for o in run(pipe, table, msgs[2000:]) for _, v in o.anomalies]
    assert model.calls == calls  # the trained model is not called any more
    assert {a.model_version for a in after} <= {pipe.model_version}
