"""Drift signal (pure): the rolling forecast error of an asset's model relative to a naive forecast."""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field


def rolling_mase(errors: Iterable[float], naive_errors: Iterable[float]) -> float | None:
    """Mean absolute model error over mean absolute seasonal-naive error; None when undefined."""
    e = [abs(x) for x in errors if math.isfinite(x)]
    n = [abs(x) for x in naive_errors if math.isfinite(x)]
    if not e or not n:
        return None
    denom = sum(n) / len(n)
    if denom <= 0.0:
        return None
    return (sum(e) / len(e)) / denom


@dataclass
class DriftMonitor:
    """Per-asset windows of recent absolute errors; ``drifted`` lists assets whose rolling MASE is above
    ``threshold`` with at least ``min_points`` observations (so a single bad point triggers nothing).

    At most ``max_assets`` assets are remembered (issue 14: one window is ~10 kB, and asset ids are
    chosen by clients): beyond that the least recently observed asset is forgotten, which costs it
    only the drift evidence gathered so far (it needs ``min_points`` new observations)."""

    window: int = 96
    threshold: float = 1.2
    min_points: int = 48
    max_assets: int = 100_000
    _errors: OrderedDict[str, deque[tuple[float, float]]] = field(default_factory=OrderedDict)
    _last: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def observe_reading(self, asset_id: str, value: float, expected: float) -> None:
        """One scored reading: the model's error against the repeat-last naive error (the previous
        value of the same asset), so no season needs to be known here."""
        last = self._last
        prev = last.get(asset_id)
        last[asset_id] = value
        last.move_to_end(asset_id)
        if len(last) > self.max_assets:
            last.popitem(last=False)
        if prev is not None:
            self.observe(asset_id, value - expected, value - prev)

    def observe(self, asset_id: str, error: float, naive_error: float) -> None:
        errors = self._errors
        buf = errors.get(asset_id)
        if buf is None:
            buf = errors[asset_id] = deque(maxlen=self.window)
            if len(errors) > self.max_assets:
                errors.popitem(last=False)
        else:
            errors.move_to_end(asset_id)
        buf.append((error, naive_error))

    def __len__(self) -> int:
        """Assets remembered (with an error window or a last value)."""
        return len(self._errors.keys() | self._last.keys())

    def score(self, asset_id: str) -> float | None:
        buf = self._errors.get(asset_id)
        if not buf or len(buf) < self.min_points:
            return None
        return rolling_mase((e for e, _ in buf), (n for _, n in buf))

    def drifted(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        for asset in list(self._errors):
            s = self.score(asset)
            if s is not None and s > self.threshold:
                out.append((asset, s))
        return out

    def reset(self, asset_id: str) -> None:
        """Forget an asset's errors (after a retraining request, or when a new version goes live)."""
        self._errors.pop(asset_id, None)
        self._last.pop(asset_id, None)
