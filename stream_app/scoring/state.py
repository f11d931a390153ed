"""Per-asset state as the worker keeps it: the core model state plus the recent verdicts.

Persistence (why it looks like this): every reading writes exactly one small record to a
changelog-backed table, keyed ``<asset>|<seq % window>`` — a ring buffer spread over keys. A reading
therefore costs one compact changelog message (~0.3 kB) however long the window is, instead of
republishing the whole window (faust sends the full value of a key on every update). Records are
``struct``-packed, never pickled, so a changelog cannot carry code.

Each record = verdict header (this module) + the core record (``AssetState.record()``). The
header lets a redelivered reading (after a crash or rebalance the consumer resumes from the last
committed offset) re-emit the *same* anomaly instead of being scored twice.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from schemas.errors import KilowatchError
from schemas.events import ANOMALY_KINDS
from stream_app import metrics
from stream_app.core.online import OnlineParams
from stream_app.core.reasons import point_reason
from stream_app.core.state_codec import StateCodecError, decode_record
from stream_app.core.types import AnomalyType, Verdict
from stream_app.core.window import AssetState

KINDS: tuple[AnomalyType | None, ...] = (None, *ANOMALY_KINDS)  # code 0 = not flagged
_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
# version, source offset, expected, lower, upper, score, kind; ts and value are in the core record.
_HEADER = struct.Struct("<BqddddB")
_HEADER_VERSION = 2


class CorruptRecord(KilowatchError):
    """A state record in the table cannot be decoded."""


@dataclass(slots=True)
class AssetEntry:
    """What the worker caches per asset."""

    state: AssetState
    partition: int
    # Highest readings-topic offset whose effect is in ``state``: anything at or below it is a
    # redelivery (the consumer resumed from an older committed offset), never learned again.
    last_offset: int = -1


def find_in_ring(state: AssetState, ts: float, value: float) -> int | None:
    """Seq of the ring reading with this timestamp and value, if any (a redelivered reading).

    Only in-order readings enter the ring, so timestamps fall as we walk back from the newest;
    redeliveries are recent, so the walk is short. Only called for readings not newer than the ring.
    """
    w = state.window_size
    for seq in range(state.seq, state.seq - len(state), -1):
        slot_ts = state.ts[seq % w]
        if slot_ts < ts:
            return None
        if slot_ts == ts:
            return seq if state.values[seq % w] == value else None
    return None


def ring_records(get: Callable[[bytes], bytes | None], asset_id: str, window: int) -> Iterator[bytes]:
    """All stored ring records of an asset, read one key at a time through ``get``.

    The first reading of an asset (seq 0) lands in slot 0, so an asset without slot 0 is new: one
    lookup instead of ``window`` for every asset seen for the first time. A ring that has not wrapped
    (slot 0 still holds seq 0) fills its slots in order, so its records end at the first empty slot:
    an asset rebuilt after an eviction with a few readings costs a few lookups, not ``window``. A
    wrapped ring (or an unreadable slot 0) is read whole."""
    first = get(f"{asset_id}|0".encode())
    if first is None:
        return
    metrics.STATE_LOADS.inc()
    yield first
    wrapped = _record_seq(first) != 0
    for s in range(1, window):
        rec = get(f"{asset_id}|{s}".encode())
        if rec is not None:
            yield rec
        elif not wrapped:
            return


def _record_seq(record: bytes) -> int:
    """The seq of a ring record, -1 when it cannot be read (the caller then reads every slot)."""
    try:
        return decode_record(split_record(record)[1]).seq
    except (CorruptRecord, StateCodecError):
        return -1


def slot_key(asset_id: str, seq: int, window: int) -> bytes:
    return f"{asset_id}|{seq % window}".encode()


def encode_record(v: Verdict, offset: int, core_record: bytes) -> bytes:
    header = _HEADER.pack(_HEADER_VERSION, offset, v.expected, v.lower, v.upper, v.score, _KIND_CODE[v.kind])
    return header + core_record


def split_record(record: bytes) -> tuple[bytes, bytes]:
    if len(record) < _HEADER.size or record[0] != _HEADER_VERSION:
        raise CorruptRecord(f"state record of {len(record)} bytes has an unknown layout")
    return record[: _HEADER.size], record[_HEADER.size :]


def verdict_from_record(record: bytes) -> Verdict:
    """Rebuild the stored verdict of a reading (used to re-emit on redelivery)."""
    header, core = split_record(record)
    _, _offset, expected, lower, upper, score, kind_code = _HEADER.unpack(header)
    _seq, ts, value, *_ = decode_record(core)
    kind = KINDS[kind_code] if kind_code < len(KINDS) else None
    flagged = kind is not None
    reason = describe(kind, value, expected) if flagged else ""
    return Verdict(ts, value, expected, lower, upper, score, flagged, kind, reason, "duplicate")


def describe(kind: AnomalyType | None, value: float, expected: float) -> str:
    """Reason text for a stored verdict (the live path uses the detector's own text)."""
    if kind == "flatline":
        return "Value stuck at a constant level"
    return point_reason(value, expected)


def restore_entry(records: Iterable[bytes], params: OnlineParams, partition: int) -> AssetEntry:
    """Rebuild an asset's cache entry from its ring records (any order)."""
    parts = [split_record(rec) for rec in records]
    state = AssetState.restore((core for _, core in parts), params.window_size)
    last_offset = max((_HEADER.unpack(h)[1] for h, _ in parts), default=-1)
    return AssetEntry(state=state, partition=partition, last_offset=last_offset)


class InMemoryStore:
    """A ``StateStore`` in a dict: for offline runs and tests (the worker uses the faust table)."""

    def __init__(self, window: int) -> None:
        self.data: dict[bytes, bytes] = {}
        self.window = window

    def records(self, asset_id: str, index: int) -> Iterable[bytes]:
        return ring_records(self.data.get, asset_id, self.window)

    def get(self, key: bytes, index: int) -> bytes | None:
        return self.data.get(key)

    def apply(self, writes: Iterable[tuple[int, bytes, bytes | None]]) -> None:
        for _, key, record in writes:
            if record is None:
                self.data.pop(key, None)
            else:
                self.data[key] = record
