"""Scoring cost of model-scored assets in a worker's pure pipeline (no Kafka): the native LightGBM
path against darts, with the online model as the same-run baseline.

One LightGBM model (default parameters, horizon 24) trained on the first 6,000 rows of the steel
plant's Usage_kWh; 8 assets replay the next rows of the same series, 200 readings per micro-batch,
judged one step ahead (``model_plan_steps=1``, the default). Writes bench/results/stream_trained.md.
Run: ``python -m bench.stream_trained``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from stream_app.scoring.pipeline import RawMessage, ScoringPipeline
from stream_app.scoring.state import InMemoryStore
from stream_app.serving.live import ActiveModel, LiveModels
from stream_app.serving.model import serve
from stream_app.settings import Settings

CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "energy" / "steel_industry_2018_15min.csv"
OUT = Path(__file__).parent / "results"
TRAIN_ROWS, ASSETS, WINDOW = 6000, 8, 768


def messages(frame: pd.DataFrame, n: int) -> list[RawMessage]:
    rows = frame.iloc[TRAIN_ROWS - WINDOW : TRAIN_ROWS + n]
    out = []
    for i, (t, v) in enumerate(zip(rows["timestamp"], rows["value"], strict=True)):
        for a in range(ASSETS):
            body = orjson.dumps({"timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": float(v)})
            out.append(RawMessage(f"m{a}".encode(), body, "t", 0, i * ASSETS + a))
    return out


def run(kind: str, model: Any, msgs: list[RawMessage], tmp: Path) -> dict[str, Any]:
    settings = Settings(state_dir=tmp, window_size=WINDOW, forecast_every=24, forecast_horizon=24)
    live = None
    if kind != "online":
        adapter = serve(model, native=(kind == "native"))
        live = LiveModels(lambda a: adapter, horizon=24, plan_steps=1)
    pipe = ScoringPipeline(settings, live=live)
    store = InMemoryStore(WINDOW)
    warm = WINDOW * ASSETS
    for i in range(0, warm, 1000):  # fill the windows (online model only)
        out = pipe.process(msgs[i : min(i + 1000, warm)], store)
        store.apply(out.writes)
    if live is not None:
        for a in range(ASSETS):
            live.apply(ActiveModel(f"m{a}", "lightgbm", "1", "lightgbm", "file:///bench"))
    timed = msgs[warm:]
    started = time.perf_counter()
    anomalies = 0
    for i in range(0, len(timed), 200):
        out = pipe.process(timed[i : i + 200], store)
        store.apply(out.writes)
        anomalies += len(out.anomalies)
    seconds = time.perf_counter() - started
    return {
        "kind": kind,
        "readings": len(timed),
        "seconds": round(seconds, 2),
        "readings_per_s": round(len(timed) / seconds, 1),
        "anomalies": anomalies,
    }


def main() -> None:
    from trainers.backend import TrainSpec, train

    df = pd.read_csv(CSV, usecols=["timestamp", "Usage_kWh"])
    frame = pd.DataFrame({"timestamp": pd.to_datetime(df["timestamp"], utc=True), "value": df["Usage_kWh"]})
    model = train(frame.iloc[:TRAIN_ROWS].reset_index(drop=True), TrainSpec("lightgbm", {}, horizon=24))
    tmp = Path(".state/bench-stream-trained")
    tmp.mkdir(parents=True, exist_ok=True)
    rows = [
        run("online", model, messages(frame, 2000), tmp),
        run("native", model, messages(frame, 2000), tmp),
        run("darts", model, messages(frame, 150), tmp),
    ]
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "# Model-scored assets in the stream pipeline (`python -m bench.stream_trained`)",
        "",
        f"{stamp}; pure pipeline (decode, state, online model, trained judge), no Kafka; {ASSETS} assets, "
        f"LightGBM (input length {model.input_length}) judging each reading one step ahead.",
        "",
        "| scoring | readings | seconds | readings/s | anomalies |",
        "|---|---|---|---|---|",
        *(
            f"| {r['kind']} | {r['readings']} | {r['seconds']} | {r['readings_per_s']} | {r['anomalies']} |"
            for r in rows
        ),
        "",
        "`online` = the online model only (the same-run baseline); `native` = the trained LightGBM through "
        "trainers.native (equal to darts' forecast); `darts` = the same model through darts' predict.",
    ]
    OUT.mkdir(exist_ok=True)
    (OUT / "stream_trained.md").write_text("\n".join(lines) + "\n")
    (OUT / "stream_trained.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
