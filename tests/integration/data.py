"""Real data, cut at run time, turned into reading messages (optionally with injected faults)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from stream_app.core.faults import InjectedFault
from stream_app.evaluation.faults import plant_faults, steel_slices
from stream_app.scoring.pipeline import RawMessage, ScoringPipeline
from stream_app.scoring.state import InMemoryStore
from stream_app.settings import Settings


@dataclass
class AssetSeries:
    asset_id: str
    timestamps: list[str]
    values: np.ndarray
    faults: list[InjectedFault] = field(default_factory=list)

    def messages(self) -> list[tuple[bytes, bytes]]:
        key = self.asset_id.encode()
        return [
            (key, orjson.dumps({"timestamp": t, "value": float(v)}))
            for t, v in zip(self.timestamps, self.values, strict=True)
        ]


def steel_assets(data_dir: Path, n_assets: int, n_rows: int, faults_every: int = 0) -> list[AssetSeries]:
    """Each asset is a different stretch of the steel plant's year (real consumption).

    The stretches and the fault plan are those of the offline harness (``kilowatch faults``), so
    its figures predict this test's.
    """
    out = []
    for k, sl in enumerate(steel_slices(data_dir, n_assets, n_rows)):
        series = AssetSeries(f"plant-{k}", sl.stamps, sl.values)
        if faults_every:
            series.values, series.faults = plant_faults(series.values, k, faults_every)
        out.append(series)
    return out


def interleave(series: list[AssetSeries]) -> list[tuple[bytes, bytes]]:
    """All assets' readings in time order, as a fleet of meters would send them."""
    per = [s.messages() for s in series]
    return [m for row in zip(*per, strict=True) for m in row]


def offline_scores(settings: Settings, series: list[AssetSeries]) -> dict[tuple[str, str], dict[str, Any]]:
    """What the same pipeline code says without Kafka: (asset, timestamp) -> score record."""
    pipe = ScoringPipeline(settings)
    store = InMemoryStore(settings.detector.window_size)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for s in series:
        msgs = [RawMessage(k, v, "offline", 0, i) for i, (k, v) in enumerate(s.messages())]
        for i in range(0, len(msgs), 500):
            emit = pipe.process(msgs[i : i + 500], store)
            store.apply(emit.writes)
            for _, v in emit.scores:
                rec = orjson.loads(v)
                out[(rec["asset_id"], rec["timestamp"])] = rec
    return out


def by_reading(items: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for it in items:
        grouped[(it["asset_id"], it["timestamp"])].append(it)
    return grouped


def detector_events(
    settings: Settings, series: list[AssetSeries]
) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """The anomaly and forecast events (key, payload) the worker's pipeline emits for these series."""
    pipe = ScoringPipeline(settings)
    store = InMemoryStore(settings.detector.window_size)
    anomalies: list[tuple[bytes, bytes]] = []
    forecasts: list[tuple[bytes, bytes]] = []
    for s in series:
        msgs = [RawMessage(k, v, "offline", 0, i) for i, (k, v) in enumerate(s.messages())]
        for i in range(0, len(msgs), 500):
            emit = pipe.process(msgs[i : i + 500], store)
            store.apply(emit.writes)
            anomalies += emit.anomalies
            forecasts += emit.forecasts
    return anomalies, forecasts
