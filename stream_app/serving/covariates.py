"""The covariates of an asset's recent readings, kept for the trained model that reads them.

A reading's extra numeric fields (``temp``, ``production``...) are its covariates. A torch bundle trained
on data with covariate columns reads them as past covariates over its whole input window, so the stream
keeps, per asset with an active trained model, the covariates of its last ``window`` readings by
timestamp. Before a plan the window's stamps are looked up: every stamp must have every covariate the
bundle names, else there is no plan and the reading is scored by the online model (as with too little
history).

Memory: at most ``window`` readings x the reading's covariates (at most ``MAX_COVARIATES``) per asset
with an active model.

Persisted (issue 16): the scoring pipeline writes each such reading's covariates to the worker's state
table next to its ring record, under ``<asset>|c<seq % window>`` (:func:`covariate_key`; JSON, never
pickled, :func:`encode_covariates`), so the changelog carries them. After a worker restart, a rebalance or
a cache eviction the pipeline reads them back (:func:`decode_covariates`) the first time the asset's model
needs them, and the model forecasts at once instead of waiting for ``input_length`` new readings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import orjson

from schemas.events import MAX_ABS, MAX_COVARIATES


def covariate_key(asset_id: str, seq: int, window: int) -> bytes:
    """The table key of the covariates of the reading in ring slot ``seq % window``."""
    return f"{asset_id}|c{seq % window}".encode()


def encode_covariates(ts: float, covariates: Mapping[str, float]) -> bytes:
    return orjson.dumps({"ts": ts, "c": dict(covariates)})


def decode_covariates(record: bytes) -> tuple[float, dict[str, float]] | None:
    """(timestamp, covariates) of a stored record, or None when it is not one (a record that does not
    decode is skipped: the readings after it bring the covariates again)."""
    try:
        obj = orjson.loads(record)
        ts, cov = obj["ts"], obj["c"]
        if not isinstance(cov, dict) or len(cov) > MAX_COVARIATES or not isinstance(ts, int | float):
            return None
        out = {str(k): float(v) for k, v in cov.items()}
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if not all(math.isfinite(v) and abs(v) <= MAX_ABS for v in out.values()):
        return None
    return float(ts), out


def gather(rows: Iterable[Mapping[str, float] | None], names: Sequence[str]) -> dict[str, list[float]] | None:
    """``names``' values over ``rows`` (one list per name, in row order), or None as soon as a row is
    missing (None) or lacks one of them."""
    out: dict[str, list[float]] = {name: [] for name in names}
    for row in rows:
        if row is None:
            return None
        for name in names:
            value = row.get(name)
            if value is None:
                return None
            out[name].append(value)
    return out


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
        return gather((held.get(ts) for ts in stamps), names)

    def drop(self, asset_id: str) -> None:
        self._assets.pop(asset_id, None)

    def has(self, asset_id: str) -> bool:
        return asset_id in self._assets

    def restore(self, asset_id: str, rows: Iterable[tuple[float, Mapping[str, float]]]) -> int:
        """Put stored rows back (those noted since win for their stamp), in time order, the newest
        ``window`` kept; returns how many are held."""
        merged: dict[float, Mapping[str, float]] = dict(rows)
        merged.update(self._assets.get(asset_id, {}))
        keep = sorted(merged.items())[-self.window :]
        if keep:
            self._assets[asset_id] = dict(keep)
        return len(keep)

    def __len__(self) -> int:
        """Readings held over all assets."""
        return sum(len(held) for held in self._assets.values())
