"""Supplied future covariates per asset, as the covariate-forecasts topic brings them (pure, no I/O).

A model trained with ``params.future_covariates`` needs, for each forecast step after the newest
reading, a supplied value of each of those covariates (a weather forecast, a production plan). Messages
(``schemas.covariates.CovariateForecast``) give values on a grid ``start + i * step``; they are kept
per asset by timestamp, a newer message overwriting the values of the stamps it covers. Memory: at
most ``max_steps`` stamps per asset (the latest by timestamp kept), each with at most
``MAX_COVARIATES`` values.

Persistence: the topic is compacted and every worker reads it from the beginning at start-up
(``agents.covariate_forecasts``), so after a restart each asset's latest message is back before its
model needs it; values older than the latest message's are not (compaction keeps one per asset).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping, Sequence

from stream_app.serving.covariates import gather


class SuppliedCovariates:
    """Per asset: sorted stamps (epoch seconds) and the supplied covariate values at each."""

    def __init__(self, max_steps: int) -> None:
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        self.max_steps = max_steps
        self._stamps: dict[str, list[float]] = {}
        self._values: dict[str, dict[float, dict[str, float]]] = {}

    def note(
        self, asset_id: str, start: float, step: float, covariates: Mapping[str, Sequence[float]]
    ) -> int:
        """Keep one message's values (value ``i`` at ``start + i * step``); returns the stamps held."""
        stamps = self._stamps.setdefault(asset_id, [])
        values = self._values.setdefault(asset_id, {})
        n = min((len(v) for v in covariates.values()), default=0)
        for i in range(n):
            ts = round(start + i * step, 6)  # the same stamp from two messages is one key
            row = values.get(ts)
            if row is None:
                bisect.insort(stamps, ts)
                row = values[ts] = {}
            for name, col in covariates.items():
                row[name] = float(col[i])
        while len(stamps) > self.max_steps:
            del values[stamps.pop(0)]
        return len(stamps)

    def ahead(
        self, asset_id: str, last_ts: float, step: float, horizon: int, names: Sequence[str]
    ) -> dict[str, list[float]] | None:
        """``names``' values at the ``horizon`` steps after ``last_ts`` (``last_ts + k * step``, k = 1..
        horizon; a stamp matches within half a step), or None when one of them is not there."""
        stamps = self._stamps.get(asset_id)
        if not stamps:
            return None
        values = self._values[asset_id]
        tol = abs(step) / 2.0

        def rows() -> Iterator[Mapping[str, float] | None]:
            for k in range(1, horizon + 1):
                want = last_ts + k * step
                i = bisect.bisect_left(stamps, want - tol)
                yield None if i >= len(stamps) or abs(stamps[i] - want) > tol else values[stamps[i]]

        return gather(rows(), names)

    def drop(self, asset_id: str) -> None:
        self._stamps.pop(asset_id, None)
        self._values.pop(asset_id, None)

    def __len__(self) -> int:
        """Stamps held over all assets."""
        return sum(len(s) for s in self._stamps.values())
