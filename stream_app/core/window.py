"""Per-asset state: a ring of the last W readings plus a fixed-length statistics vector.

The ring arrays grow with the readings (doubling, zero-filled, capped at W): an asset that sent a few
readings costs a few slots, not a full window (issue 14: 20,000 one-off asset ids cost ~280 MiB when
every new asset allocated 17 bytes x W at once). Slots up to ``seq`` always exist; code that reads
a slot never filled reads 0.0 within the allocated capacity, as before, and raises beyond it.

The state is laid out so that one reading changes exactly one ring slot (``seq % W``) and the stats
vector; :meth:`AssetState.record` packs both into one small changelog record, and
:meth:`AssetState.restore` rebuilds the state from the (at most W) records of an asset.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable

from stream_app.core.state_codec import STATS_LEN, StateCodecError, decode_record, encode_record

MIN_SLOTS = 8  # ring slots allocated with an asset's first reading


class AssetState:
    """Ring window (timestamps, values, flagged bits) + model statistics of one asset.

    ``seq`` is the 0-based index of the newest reading accepted into the ring (-1 when empty); the
    reading with index ``i`` lives in slot ``i % window_size`` while ``i > seq - window_size``.
    """

    __slots__ = ("flags", "seq", "stats", "ts", "values", "window_size")

    def __init__(self, window_size: int) -> None:
        if window_size < 2:
            raise ValueError("window_size must be at least 2")
        self.window_size = window_size
        self.seq = -1
        self.ts = array("d")
        self.values = array("d")
        self.flags = bytearray()
        self.stats = array("d", bytes(8 * STATS_LEN))

    def grow(self, slots: int) -> None:
        """Make room for at least ``slots`` ring slots (at most the window): capacity doubles from
        ``MIN_SLOTS``, new slots read 0.0. Call before writing slot ``i`` with ``i >= len(self.ts)``."""
        have = len(self.ts)
        cap = min(self.window_size, max(slots, MIN_SLOTS, 2 * have))
        if cap <= have:
            return
        # fresh exact-size buffers (an array grown in place over-allocates)
        ts, values = array("d", bytes(8 * cap)), array("d", bytes(8 * cap))
        ts[:have], values[:have] = self.ts, self.values
        flags = bytearray(cap)
        flags[:have] = self.flags
        self.ts, self.values, self.flags = ts, values, flags

    @property
    def nbytes(self) -> int:
        """Bytes held by the ring and statistics buffers (what grows with an asset's readings)."""
        return 17 * len(self.ts) + 8 * STATS_LEN

    def __len__(self) -> int:
        """Readings currently held in the ring."""
        return min(self.seq + 1, self.window_size)

    @property
    def newest_ts(self) -> float:
        return self.ts[self.seq % self.window_size] if self.seq >= 0 else -math.inf

    def push(self, ts: float, value: float, flagged: bool) -> None:
        """Append one reading, overwriting the oldest slot once the ring is full."""
        self.seq += 1
        i = self.seq % self.window_size
        if i >= len(self.ts):
            self.grow(i + 1)
        self.ts[i] = ts
        self.values[i] = value
        self.flags[i] = 1 if flagged else 0

    def ordered(self) -> tuple[list[float], list[float], list[bool]]:
        """Ring content oldest first (for tests, diagnostics and forecasting plots)."""
        n = len(self)
        first = self.seq - n + 1
        idx = [(first + k) % self.window_size for k in range(n)]
        return [self.ts[i] for i in idx], [self.values[i] for i in idx], [bool(self.flags[i]) for i in idx]

    def record(self) -> bytes:
        """The changelog record of the newest reading (key: ``seq % window_size``)."""
        if self.seq < 0:
            raise StateCodecError("empty state has no record")
        i = self.seq % self.window_size
        return encode_record(self.seq, self.ts[i], self.values[i], bool(self.flags[i]), self.stats)

    def copy(self) -> AssetState:
        other = AssetState(self.window_size)
        other.seq = self.seq
        other.ts = array("d", self.ts)
        other.values = array("d", self.values)
        other.flags = bytearray(self.flags)
        other.stats = array("d", self.stats)
        return other

    @classmethod
    def restore(cls, records: Iterable[bytes], window_size: int) -> AssetState:
        """Rebuild from an asset's records in any order; stats come from the newest one.

        Records older than the window (possible if the window size was reduced) are ignored; a gap
        in the seq run of the kept records means the table is incomplete and is rejected.
        """
        state = cls(window_size)
        decoded = sorted((decode_record(r) for r in records), key=lambda rec: rec.seq)
        if not decoded:
            return state
        top = decoded[-1].seq
        kept = [rec for rec in decoded if rec.seq > top - window_size]
        expected = min(top + 1, window_size)
        seqs = [rec.seq for rec in kept]
        if len(set(seqs)) != len(seqs) or len(kept) != expected:
            raise StateCodecError(f"incomplete state: {len(kept)} distinct records, expected {expected}")
        state.grow(expected)
        for rec in kept:
            i = rec.seq % window_size
            state.ts[i] = rec.ts
            state.values[i] = rec.value
            state.flags[i] = 1 if rec.flagged else 0
        state.seq = top
        state.stats = array("d", kept[-1].stats)
        return state
