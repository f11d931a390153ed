"""The covariates of an asset's recent readings, kept for the trained model that reads them.

A reading's extra numeric fields (``temp``, ``production``...) are its covariates. A torch bundle trained
on data with covariate columns reads them as past covariates over its whole input window, so the stream
keeps, per asset with an active trained model, the covariates of its last ``window`` readings by
timestamp. Before a plan the window's stamps are looked up: every stamp must have every covariate the
bundle names, else there is no plan and the reading is scored by the online model (as with too little
history).

Memory: at most ``window`` readings x the reading's covariates (at most ``MAX_COVARIATES``) per asset
with an active model. Not persisted: after a worker restart or a rebalance an asset's model waits for
``input_length`` new readings with covariates and the online model scores it meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class CovariateHistory:
    """Per asset: timestamp -> covariates of its last ``window`` readings (oldest dropped first)."""

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.window = window
        self._assets: dict[str, dict[float, Mapping[str, float]]] = {}

    def note(self, asset_id: str, ts: float, covariates: Mapping[str, float]) -> None:
        """Remember one reading's covariates (a reading without any stores nothing)."""
        if not covariates:
            return
        held = self._assets.setdefault(asset_id, {})
        held.pop(ts, None)  # a resent reading moves to the newest end
        held[ts] = covariates
        while len(held) > self.window:
            del held[next(iter(held))]

    def columns(
        self, asset_id: str, stamps: Sequence[float], names: Sequence[str]
    ) -> dict[str, list[float]] | None:
        """``names``' values at ``stamps`` (aligned with them), or None when a stamp lacks one."""
        held = self._assets.get(asset_id)
        if held is None:
            return None
        out: dict[str, list[float]] = {name: [] for name in names}
        for ts in stamps:
            row = held.get(ts)
            if row is None:
                return None
            for name in names:
                value = row.get(name)
                if value is None:
                    return None
                out[name].append(value)
        return out

    def drop(self, asset_id: str) -> None:
        self._assets.pop(asset_id, None)

    def __len__(self) -> int:
        """Readings held over all assets."""
        return sum(len(held) for held in self._assets.values())
