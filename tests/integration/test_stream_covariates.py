"""A bundle trained with a covariate is served in the stream with it (issue 16): real Kafka, a real
worker process, a real DLinear bundle trained on the steel plant's consumption with its reactive power
as the covariate ``kvarh``, readings that carry ``kvarh`` as a top-level field.

Before, the worker dropped reading covariates: the bundle's predict failed ("history lacks covariate
columns") and every forecast came from the online model.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pytest

from stream_app.kafka.topics import ensure_topics
from tests.integration.harness import TopicReader, Worker, isolated_settings, produce
from tests.integration.worker_support import publish_model, wait_log
from tests.steel_kvarh import kvarh_points, steel_with_kvarh

ASSET = "plant-cov"


@pytest.mark.integration
def test_a_bundle_trained_with_a_covariate_is_served_with_it(tmp_path: Path, data_dir: Path) -> None:
    from stream_app.lifecycle.artifacts import open_store
    from trainers.backend import TrainSpec, load_model, train

    settings, env = isolated_settings(tmp_path, topic_partitions=1, artifact_root=tmp_path / "artifacts")
    ensure_topics(settings)
    data = steel_with_kvarh(data_dir, 6000)
    # trained on the first 4,000 rows; the stream gets the 1,000 after them
    spec = TrainSpec("dlinear", {"n_epochs": 2, "max_samples": 1000, "threads": 1}, horizon=24)
    model = train(data.iloc[:4000].reset_index(drop=True), spec)
    assert model.metadata["features"]["past_covariates"] == ["kvarh"]
    model.save(tmp_path / "bundle")
    uri = open_store(settings).put_dir(tmp_path / "bundle", prefix=ASSET)

    stream = data.iloc[4000:5000].reset_index(drop=True)
    msgs = [(ASSET.encode(), orjson.dumps(p)) for p in kvarh_points(stream)]
    worker = Worker(env, "cov", tmp_path)
    forecasts = TopicReader(settings, "forecasts")
    try:
        publish_model(settings, ASSET, "dlinear", "1", uri)
        wait_log(worker, "now scored by dlinear/1", timeout=90.0)
        produce(settings, msgs)
        every = settings.worker.forecast_every
        forecasts.wait_for(lambda items: len(items) >= len(msgs) // every, 300, "forecasts", [worker])
        need = model.input_length
        # once the worker holds a window of readings with kvarh, the bundle forecasts
        trained = [f for f in forecasts.items if f["model_id"] == "dlinear"]
        assert trained, {f["model_id"] for f in forecasts.items}
        assert all(f["model_version"] == "1" for f in trained)
        assert not any(f["model_id"] != "dlinear" for f in forecasts.items[need // every :])
        log = worker.log_path.read_text(errors="replace")
        assert "lacks covariate" not in log and "failed for asset" not in log

        # and it is the bundle's forecast given the readings' kvarh: the same as predict offline
        last = trained[-1]
        issued = pd.Timestamp(last["issued_at"])
        upto = stream[stream["timestamp"] <= issued].iloc[-need:]
        offline = load_model(tmp_path / "bundle").predict(upto, 24)
        got = [p["predicted_value"] for p in last["points"]]
        assert got == pytest.approx(offline["predicted_value"].tolist(), rel=1e-4, abs=1e-3)
        blind = load_model(tmp_path / "bundle").predict(upto.assign(kvarh=0.0), 24)
        assert got != pytest.approx(blind["predicted_value"].tolist(), rel=1e-4, abs=1e-3)
    finally:
        worker.stop()
        forecasts.close()
