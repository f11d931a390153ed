"""Loaded models of one process: a bounded LRU with a memory of versions that failed to load.

One class for both consumers: the stream keys it by asset (one active version each, from the
model-updates topic; a broken version is not retried until a new update arrives) and the API by
(asset, version) (active versions from the registry; a broken one is retried after a delay).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
M = TypeVar("M")


@dataclass(frozen=True)
class Broken:
    """A version that failed to load: why, and until when it is not tried again."""

    label: str
    error: str
    until: float


class LoadedModels(Generic[K, M]):
    """At most ``capacity`` loaded models, least recently used dropped first."""

    def __init__(self, capacity: int, clock: Callable[[], float], retry_broken_s: float = math.inf) -> None:
        self.capacity = capacity
        self.clock = clock
        self.retry_broken_s = retry_broken_s
        self._entries: OrderedDict[K, tuple[str, M | Broken]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: K, label: str) -> M | Broken | None:
        """The loaded model (or its still-valid failure) for ``label``; None when it must be loaded."""
        hit = self._entries.get(key)
        if hit is None or hit[0] != label:
            return None
        entry = hit[1]
        if isinstance(entry, Broken) and entry.until <= self.clock():
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: K, label: str, model: M) -> int:
        """Remember a loaded model; returns how many least recently used entries were evicted."""
        return self._store(key, label, model)

    def fail(self, key: K, label: str, error: str) -> Broken:
        broken = Broken(label, error, self.clock() + self.retry_broken_s)
        self._store(key, label, broken)
        return broken

    def drop(self, key: K) -> None:
        self._entries.pop(key, None)

    def forgive(self, key: K) -> None:
        """Give a version that failed another chance (its asset's history or version changed)."""
        hit = self._entries.get(key)
        if hit is not None and isinstance(hit[1], Broken):
            del self._entries[key]

    def _store(self, key: K, label: str, entry: M | Broken) -> int:
        self._entries[key] = (label, entry)
        self._entries.move_to_end(key)
        evicted = 0
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
            evicted += 1
        return evicted
