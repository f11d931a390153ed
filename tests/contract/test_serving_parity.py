"""One model version, one verdict: the stream and the API judge a series the same way.

The same trained bundle is served (``stream_app.serving.model.serve``) to both consumers: the stream
(``ScoringPipeline`` + ``LiveModels``, one reading at a time against one-step plans, as a worker
does) and the API's ``detect_anomalies`` (``ServedModel.detect`` over the whole series, what
``api.services.inference`` calls). They must flag the same readings with the same scores, for the
native LightGBM engine and for the darts engine. Before the serving package the API used the
autoencoder when the bundle had one while the stream used the residual rule: an autoencoder bundle
is therefore part of the check (its default verdicts are the residual rule's too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from stream_app.scoring.pipeline import RawMessage, ScoringPipeline
from stream_app.scoring.state import InMemoryStore
from stream_app.serving.live import ActiveModel, LiveModels
from stream_app.serving.model import serve
from stream_app.settings import Settings

SPIKES = (20, 45, 150)  # readings after the model's input length


def _series(steel: pd.DataFrame, start: int, n: int) -> pd.DataFrame:
    data = steel.iloc[: start + n][["timestamp", "value"]].reset_index(drop=True).copy()
    for i in SPIKES:
        if i < n:
            data.loc[start + i, "value"] = float(data["value"].max()) * 3 + 10
    return data


def _stream_verdicts(served: Any, data: pd.DataFrame, tmp: Path) -> dict[int, tuple[float, bool]]:
    """{stamp ns: (score, flagged)} of every reading the trained model judged in the stream."""
    settings = Settings(state_dir=tmp, window_size=768, emit_scores=True, forecast_every=10_000)
    live = LiveModels(lambda a: served, horizon=24, plan_steps=1)
    live.apply(ActiveModel("m1", "model", "1", served.meta.model_type, "file:///unused"))
    pipe = ScoringPipeline(settings, live=live)
    store = InMemoryStore(768)
    msgs = [
        RawMessage(
            b"m1", orjson.dumps({"timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": float(v)}), "t", 0, i
        )
        for i, (t, v) in enumerate(zip(data["timestamp"], data["value"], strict=True))
    ]
    scores: list[dict[str, Any]] = []
    trained_flags: set[str] = set()
    for i in range(0, len(msgs), 100):
        out = pipe.process(msgs[i : i + 100], store)
        store.apply(out.writes)
        scores += [orjson.loads(v) for _, v in out.scores]
        trained_flags |= {
            a["timestamp"]
            for a in (orjson.loads(v) for _, v in out.anomalies)
            if a["model_version"] == "model/1"
        }
    n = served.input_length
    out_map = {}
    for rec in scores[n:]:  # from here on the trained model judges every reading
        ns = int(pd.Timestamp(rec["timestamp"]).value)
        out_map[ns] = (rec["score"], rec["is_anomaly"])
        assert rec["is_anomaly"] == (rec["timestamp"] in trained_flags)  # flagged = a trained-model event
    return out_map


@pytest.mark.parametrize(
    ("case", "native", "rows"),
    [("lightgbm", True, 300), ("lightgbm", False, 60), ("lightgbm+autoencoder", False, 60)],
)
def test_the_stream_and_detect_flag_the_same_readings(
    trained: Any, steel: pd.DataFrame, tmp_path: Path, case: str, native: bool, rows: int
) -> None:
    served = serve(trained(case), native=native)
    assert served.engine == ("native" if native else "darts")
    data = _series(steel, served.input_length, rows)
    stream = _stream_verdicts(served, data, tmp_path)
    stamps = np.asarray(
        data["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]").astype(np.int64)
    )
    frame = data if served.engine == "darts" else None
    api = served.detect(stamps, data["value"].to_numpy(dtype=float), frame)
    assert sorted(stream) == api.stamps.tolist()  # the same readings judged
    got = np.array([stream[int(t)][0] for t in api.stamps])
    np.testing.assert_allclose(got, api.score, rtol=1e-9, atol=1e-12)
    flagged_stream = [int(t) for t in api.stamps if stream[int(t)][1]]
    assert flagged_stream == api.stamps[api.flag].tolist()
    spike_ns = {int(stamps[served.input_length + i]) for i in SPIKES if i < rows}
    assert spike_ns <= set(flagged_stream)  # and they do flag the planted spikes


def test_the_autoencoder_answers_only_when_asked(trained: Any, steel: pd.DataFrame) -> None:
    served = serve(trained("lightgbm+autoencoder"))
    assert served.engine == "darts"  # an autoencoder bundle has no native path
    data = _series(steel, served.input_length, 60)
    stamps = np.asarray(
        data["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]").astype(np.int64)
    )
    values = data["value"].to_numpy(dtype=float)
    residual = served.detect(stamps, values, data)
    auto = served.detect(stamps, values, data, "autoencoder")
    assert not np.array_equal(residual.score[-len(auto.score) :], auto.score)  # a different rule
    from trainers.forecast import PredictionError

    with pytest.raises(PredictionError, match="no autoencoder"):
        serve(trained("lightgbm"), native=False).detect(stamps, values, data, "autoencoder")
