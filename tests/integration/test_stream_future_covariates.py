"""A bundle trained with a supplied future covariate is served in the stream with the values the
covariate-forecasts topic supplies (issue 16): real Kafka, real worker processes, a real DLinear bundle
trained on the steel plant's consumption with its reactive power (``kvarh``) declared as a future
covariate. Readings carry ``kvarh`` (its past values); a ``CovariateForecast`` message supplies it for
the steps ahead (here: plan A = the measured values, plan B = the measured values + 40).

Checks: the stream's forecasts are the bundle's offline forecast given plan A's values for their steps;
after plan B is published they follow plan B (and differ from plan A's); after a worker restart both the
supplied values (the compacted topic is read again; plan B is not sent again) and the readings' past
``kvarh`` values (the state table) are back: every forecast after the restart is the model's, following
plan B, although fewer new readings arrived than the model's input length.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pandas as pd
import pytest

from schemas.covariates import CovariateForecast
from stream_app.kafka.topics import ensure_topics
from tests.integration.harness import TopicReader, Worker, isolated_settings, produce
from tests.integration.worker_support import publish_model, wait_log
from tests.steel_kvarh import kvarh_points, steel_with_kvarh

pytestmark = [pytest.mark.integration, pytest.mark.ml]
ASSET = "plant-future"
STEP = 900.0
SHIFT = 40.0  # plan B = plan A + SHIFT kVArh


def _readings(rows: pd.DataFrame) -> list[tuple[bytes, bytes]]:
    return [(ASSET.encode(), orjson.dumps(p)) for p in kvarh_points(rows)]


def _plan(rows: pd.DataFrame, shift: float) -> tuple[bytes, bytes]:
    msg = CovariateForecast(
        asset_id=ASSET,
        start=rows["timestamp"].iloc[0].to_pydatetime(),
        step_seconds=STEP,
        covariates={"kvarh": [float(k) + shift for k in rows["kvarh"]]},
    )
    return ASSET.encode(), msg.model_dump_json().encode()


def test_supplied_future_covariates_reach_the_model_and_survive_a_restart(
    tmp_path: Path, data_dir: Path
) -> None:
    from stream_app.lifecycle.artifacts import open_store
    from trainers.backend import TrainSpec, load_model, train

    settings, env = isolated_settings(tmp_path, topic_partitions=1, artifact_root=tmp_path / "artifacts")
    ensure_topics(settings)
    data = steel_with_kvarh(data_dir, 6000)
    params = {"n_epochs": 2, "max_samples": 1000, "threads": 1, "future_covariates": ["kvarh"]}
    model = train(data.iloc[:4000].reset_index(drop=True), TrainSpec("dlinear", params, horizon=24))
    assert model.metadata["features"]["supplied_future_covariates"] == ["kvarh"]
    assert model.metadata["features"]["past_covariates"] == []
    model.save(tmp_path / "bundle")
    uri = open_store(settings).put_dir(tmp_path / "bundle", prefix=ASSET)
    bundle = load_model(tmp_path / "bundle")
    need = bundle.input_length

    def offline(issued_at: str, shift: float) -> list[float]:
        issued = pd.Timestamp(issued_at)
        upto = data[data["timestamp"] <= issued].iloc[-need:]
        ahead = data[data["timestamp"] > issued].iloc[:24]
        out = bundle.predict(upto, 24, {"kvarh": (ahead["kvarh"] + shift).tolist()})
        return [float(v) for v in out["predicted_value"]]

    def trained_since(items: list[dict], n: int) -> list[dict]:
        return [f for f in items[n:] if f["model_id"] == "dlinear"]

    produce(settings, [_plan(data.iloc[4000:5000], 0.0)], kind="covariate-forecasts")
    publish_model(settings, ASSET, "dlinear", "1", uri)

    every = settings.worker.forecast_every
    forecasts = TopicReader(settings, "forecasts")
    worker = Worker(env, "future-1", tmp_path)
    try:
        wait_log(worker, "now scored by dlinear/1", timeout=90.0)
        time.sleep(3)  # the covariate-forecasts follower reads plan A (it polls every 0.5 s)
        produce(settings, _readings(data.iloc[4000:4400]))
        forecasts.wait_for(lambda items: len(items) >= 400 // every, 300, "plan A forecasts", [worker])
        a = trained_since(forecasts.items, 0)
        assert a, {f["model_id"] for f in forecasts.items}
        last_a = a[-1]
        got_a = [p["predicted_value"] for p in last_a["points"]]
        assert got_a == pytest.approx(offline(last_a["issued_at"], 0.0), rel=1e-4, abs=1e-3)

        # plan B replaces the values ahead: the next forecasts follow it
        produce(settings, [_plan(data.iloc[4400:5400], SHIFT)], kind="covariate-forecasts")
        time.sleep(3)
        seen = len(forecasts.items)
        produce(settings, _readings(data.iloc[4400:4600]))
        forecasts.wait_for(lambda items: len(items) >= seen + 200 // every, 300, "plan B forecasts", [worker])
        b = trained_since(forecasts.items, seen)
        assert b
        last_b = b[-1]
        got_b = [p["predicted_value"] for p in last_b["points"]]
        assert got_b == pytest.approx(offline(last_b["issued_at"], SHIFT), rel=1e-4, abs=1e-3)
        assert got_b != pytest.approx(offline(last_b["issued_at"], 0.0), rel=1e-3, abs=1e-2)
    finally:
        worker.stop()

    # a new worker process: the supplied values come back from the compacted topic (plan B is not
    # sent again), the readings' past kvarh values from the state table: fewer new readings than the
    # model's input length are enough
    worker = Worker(env, "future-2", tmp_path)
    try:
        wait_log(worker, "now scored by dlinear/1", timeout=90.0)
        time.sleep(3)
        seen = len(forecasts.items)
        n = 5 * every
        assert n < need
        produce(settings, _readings(data.iloc[4600 : 4600 + n]))
        forecasts.wait_for(
            lambda items: len(items) >= seen + n // every, 300, "forecasts after restart", [worker]
        )
        c = trained_since(forecasts.items, seen)
        assert len(c) == len(forecasts.items) - seen, [f["model_id"] for f in forecasts.items[seen:]]
        last_c = c[-1]
        got_c = [p["predicted_value"] for p in last_c["points"]]
        assert got_c == pytest.approx(offline(last_c["issued_at"], SHIFT), rel=1e-4, abs=1e-3)
        log = worker.log_path.read_text(errors="replace")
        assert "failed for asset" not in log and "dead-lettering covariate forecast" not in log
    finally:
        worker.stop()
        forecasts.close()
