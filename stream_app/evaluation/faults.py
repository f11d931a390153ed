"""Offline fault-recall harness: the integration test's fault scenario through the pure detector.

``tests/integration/test_stream.py`` plants faults into stretches of the real steel-plant year and
sends them through a worker on Kafka; that takes minutes.  The worker scores with the same
``OnlineDetector.score_one`` as this module, so running the detector directly over the same
stretches, seeds and fault plan gives the same flags in seconds (``kilowatch faults``), which is
what detector work needs to iterate.  The stretches are cut here once (:func:`steel_slices`) for
the integration test and this harness alike.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from schemas.errors import DataError
from stream_app.core.faults import FAULT_KINDS, InjectedFault, detection_report, inject_faults
from stream_app.core.online import OnlineDetector, OnlineParams

STEEL_FILE = Path("energy") / "steel_industry_2018_15min.csv"
FAULT_START = 400  # readings before the first fault (warm-up); false alarms count from here


@dataclass(frozen=True, slots=True)
class SteelSlice:
    """One asset's stretch of the plant's year: ISO timestamps, epoch seconds, consumption."""

    stamps: list[str]
    epoch: np.ndarray
    values: np.ndarray


def steel_slices(data_dir: Path, n_assets: int, n_rows: int) -> list[SteelSlice]:
    """Asset ``k`` replays rows ``[k * stride, k * stride + n_rows)`` of the steel plant's year."""
    path = data_dir / STEEL_FILE
    try:
        df = pd.read_csv(path)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    parsed = pd.to_datetime(df["timestamp"])
    stamps = parsed.dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    epoch = (parsed.astype("int64") // 10**9).to_numpy(dtype=float)
    values = df["Usage_kWh"].to_numpy(dtype=float)
    stride = (len(df) - n_rows) // max(n_assets, 1)
    return [
        SteelSlice(stamps[lo : lo + n_rows], epoch[lo : lo + n_rows], values[lo : lo + n_rows])
        for lo in (k * stride for k in range(n_assets))
    ]


def plant_faults(values: np.ndarray, asset: int, every: int) -> tuple[np.ndarray, list[InjectedFault]]:
    """The fault plan of asset ``asset`` (seed = asset index), as in the integration test."""
    return inject_faults(values, rng_seed=asset, every=every, start=FAULT_START)


@dataclass
class FaultResult:
    """Recall within ``within`` readings (overall and per kind) and the false-alarm rate."""

    faults: int = 0
    hits: Counter[str] = field(default_factory=Counter)
    totals: Counter[str] = field(default_factory=Counter)
    false_alarm_rates: list[float] = field(default_factory=list)
    reported_as: Counter[tuple[str, str]] = field(default_factory=Counter)  # (fault kind, anomaly type)
    missed: list[tuple[int, InjectedFault]] = field(default_factory=list)  # (asset, fault)
    observable: int = 0  # faults the clean series does not mimic within 3 readings (faults.observable)
    observable_hits: int = 0

    @property
    def recall(self) -> float:
        return sum(self.hits.values()) / self.faults if self.faults else 0.0

    @property
    def observable_recall(self) -> float:
        return self.observable_hits / self.observable if self.observable else 0.0

    @property
    def false_alarm_rate(self) -> float:
        return float(np.mean(self.false_alarm_rates)) if self.false_alarm_rates else 0.0

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {self.hits[k]}/{self.totals[k]}" for k in FAULT_KINDS if self.totals[k])
        return (
            f"faults={self.faults} recall@3={self.recall:.3f} ({kinds}); observable within 3: "
            f"{self.observable_hits}/{self.observable} = {self.observable_recall:.3f}; "
            f"false-alarm rate={self.false_alarm_rate:.4f} per normal reading"
        )


def evaluate_faults(
    data_dir: Path,
    params: OnlineParams,
    n_assets: int = 4,
    n_rows: int = 3000,
    every: int = 300,
    within: int = 3,
) -> FaultResult:
    """Plant faults as the integration test does and score every asset with a fresh detector."""
    detector = OnlineDetector(params)
    result = FaultResult()
    for k, sl in enumerate(steel_slices(data_dir, n_assets, n_rows)):
        values, faults = plant_faults(sl.values, k, every)
        state = detector.new_state()
        score = detector.score_one
        verdicts = [score(state, t, v) for t, v in zip(sl.epoch.tolist(), values.tolist(), strict=True)]
        flags = np.array([v.is_anomaly for v in verdicts], dtype=bool)
        _, rate = detection_report(flags, faults, within=within, start=FAULT_START)
        result.false_alarm_rates.append(rate)
        result.faults += len(faults)
        for f in faults:
            result.totals[f.kind] += 1
            result.observable += f.observable
            first = next((j for j in range(f.index, f.index + within) if flags[j]), None)
            if first is None:
                result.missed.append((k, f))
                continue
            result.hits[f.kind] += 1
            result.observable_hits += f.observable
            result.reported_as[(f.kind, str(verdicts[first].kind))] += 1
    return result
