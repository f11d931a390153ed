"""The worker's per-asset state cache: least recently used entries go once a byte bound is passed.

Every entry has a durable copy: its ring records in the state table (RocksDB and its changelog), written
for every scored reading. An evicted asset is therefore rebuilt from the table on its next reading
(``ScoringPipeline._entry``), to exactly the state it had (``tests/unit/test_asset_cache.py``). What
the bound buys: 200,000 one-off asset ids no longer hold 200,000 states in memory (issue 14).

Bytes are counted per entry as its ring and statistics buffers plus a fixed overhead for the entry,
its state object, the dict slot and the key (``ENTRY_OVERHEAD``, measured with tracemalloc by
``bench/asset_memory.py``). Eviction happens between micro-batches only (``evict``): an asset
scored twice in one batch must keep its entry, because the table shows the batch's writes only
after the batch is applied.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator

from stream_app import metrics
from stream_app.scoring.state import AssetEntry

ENTRY_OVERHEAD = 768  # bytes per entry besides the buffers (objects, dict slots, key); measured ~740


def entry_bytes(asset_id: str, entry: AssetEntry) -> int:
    return ENTRY_OVERHEAD + len(asset_id) + entry.state.nbytes


class AssetCache:
    """``asset_id -> AssetEntry`` in least-recently-used order, with the bytes it holds."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, AssetEntry] = OrderedDict()
        self._sizes: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, asset_id: object) -> bool:
        return asset_id in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def items(self) -> Iterable[tuple[str, AssetEntry]]:
        return self._entries.items()

    def get(self, asset_id: str) -> AssetEntry | None:
        """The entry, now the most recently used; None when not cached."""
        entry = self._entries.get(asset_id)
        if entry is not None:
            self._entries.move_to_end(asset_id)
        return entry

    def __getitem__(self, asset_id: str) -> AssetEntry:
        entry = self.get(asset_id)
        if entry is None:
            raise KeyError(asset_id)
        return entry

    def __setitem__(self, asset_id: str, entry: AssetEntry) -> None:
        self._entries[asset_id] = entry
        self._entries.move_to_end(asset_id)
        self.resized(asset_id, entry)

    def __delitem__(self, asset_id: str) -> None:
        del self._entries[asset_id]
        self.bytes -= self._sizes.pop(asset_id)

    def resized(self, asset_id: str, entry: AssetEntry) -> None:
        """Account for an entry whose ring may have grown (after scoring one of its readings)."""
        size = entry_bytes(asset_id, entry)
        self.bytes += size - self._sizes.get(asset_id, 0)
        self._sizes[asset_id] = size

    def evict(self) -> int:
        """Drop least recently used entries until the bytes are within the bound; how many went."""
        n = 0
        entries, sizes = self._entries, self._sizes
        while self.bytes > self.max_bytes and entries:
            asset_id, _ = entries.popitem(last=False)
            self.bytes -= sizes.pop(asset_id)
            n += 1
        if n:
            metrics.STATE_EVICTIONS.inc(n)
        return n
