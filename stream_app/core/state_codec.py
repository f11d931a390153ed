"""Binary encoding of one per-reading state record (struct, little-endian, never pickle).

A record is what the streaming agent writes to the changelog-backed table under the key
``(asset, seq % window_size)``: the reading itself plus the full model-statistics vector *after* it.
Pickle is deliberately avoided: a changelog that can be written by others must never execute code
when it is read back.

Layout (version 5, 78 statistics; version 4 had 69, version 3 had 56, version 2 had 34, version 1 had
32; records of an older version are refused, so the asset starts afresh)::

    B  format version (=5)
    q  seq (0-based count of readings accepted into the ring)
    d  ts (epoch seconds, UTC)
    d  value
    B  flagged (0/1)
    Nd model statistics (N = STATS_LEN)
"""

from __future__ import annotations

import struct
from array import array
from typing import NamedTuple

from schemas.errors import KilowatchError

FORMAT_VERSION = 5
STATS_LEN = 78  # fixed length of the model statistics vector (float64)

_HEAD = struct.Struct("<BqddB")
_RECORD = struct.Struct(f"<BqddB{STATS_LEN}d")
RECORD_SIZE = _RECORD.size


class StateCodecError(KilowatchError):
    """A state record cannot be decoded (wrong length, version or content)."""


class StateRecord(NamedTuple):
    seq: int
    ts: float
    value: float
    flagged: bool
    stats: array  # array('d') of length STATS_LEN


def encode_record(seq: int, ts: float, value: float, flagged: bool, stats: array) -> bytes:
    """Pack one record; ``stats`` must hold exactly ``STATS_LEN`` floats."""
    if len(stats) != STATS_LEN:
        raise StateCodecError(f"stats vector has {len(stats)} values, expected {STATS_LEN}")
    if seq < 0:
        raise StateCodecError(f"negative seq {seq}")
    return _RECORD.pack(FORMAT_VERSION, seq, ts, value, 1 if flagged else 0, *stats)


def decode_record(data: bytes | bytearray | memoryview) -> StateRecord:
    """Unpack and validate one record; raises :class:`StateCodecError` on any mismatch."""
    if len(data) < 1:
        raise StateCodecError("empty state record")
    version = data[0]
    if version != FORMAT_VERSION:
        raise StateCodecError(f"unsupported state record version {version} (expected {FORMAT_VERSION})")
    if len(data) != RECORD_SIZE:
        raise StateCodecError(f"state record has {len(data)} bytes, expected {RECORD_SIZE}")
    _, seq, ts, value, flagged = _HEAD.unpack_from(data)
    if seq < 0 or flagged not in (0, 1):
        raise StateCodecError(f"corrupt state record (seq={seq}, flagged={flagged})")
    stats = array("d")
    stats.frombytes(bytes(data[_HEAD.size :]))
    if struct.pack("<h", 1) != b"\x01\x00":  # pragma: no cover - big-endian hosts only
        stats.byteswap()
    return StateRecord(seq, ts, value, bool(flagged), stats)
