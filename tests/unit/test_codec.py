"""State records: binary round trip, validation, and restore == live state."""

from __future__ import annotations

import random
import struct

import pytest

from schemas.errors import KilowatchError
from stream_app.core.online import OnlineDetector, OnlineParams
from stream_app.core.state_codec import (
    FORMAT_VERSION,
    RECORD_SIZE,
    STATS_LEN,
    StateCodecError,
    decode_record,
    encode_record,
)
from stream_app.core.window import AssetState
from tests.unit.test_online_data import steel

PARAMS = OnlineParams(window_size=192, warmup=32)


def test_record_round_trip_is_exact() -> None:
    det = OnlineDetector(PARAMS)
    state = det.new_state()
    for i in range(40):
        det.score_one(state, 1000.0 + 900 * i, 10.0 + (i % 7) * 0.37)
    rec = state.record()
    assert len(rec) == RECORD_SIZE == 1 + 8 + 8 + 8 + 1 + 8 * STATS_LEN
    dec = decode_record(rec)
    assert dec.seq == 39
    assert dec.ts == 1000.0 + 900 * 39
    assert dec.value == 10.0 + (39 % 7) * 0.37
    assert list(dec.stats) == list(state.stats)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r[:-1],  # truncated
        lambda r: r + b"\x00",  # too long
        lambda r: bytes([9]) + r[1:],  # unknown version
        lambda r: bytes([1]) + r[1:],  # version 1 (32 statistics): not readable as this layout
        lambda r: b"",
        lambda r: r[:25] + bytes([7]) + r[26:],  # flagged byte not 0/1
    ],
)
def test_decode_rejects_bad_records(mutate: object) -> None:
    rec = encode_record(3, 1.0, 2.0, False, OnlineDetector(PARAMS).new_state().stats)
    bad = mutate(rec)  # type: ignore[operator]
    with pytest.raises(StateCodecError) as err:
        decode_record(bad)
    assert isinstance(err.value, KilowatchError)


def test_record_is_not_pickle() -> None:
    rec = encode_record(5, 1.5, 2.5, True, OnlineDetector(PARAMS).new_state().stats)
    assert rec[0] == FORMAT_VERSION == 5 and not rec.startswith(b"\x80")
    assert struct.unpack_from("<q", rec, 1)[0] == 5


def _run_with_records(
    det: OnlineDetector, ts: list[float], vs: list[float]
) -> tuple[AssetState, dict[int, bytes]]:
    state = det.new_state()
    table: dict[int, bytes] = {}
    for t, v in zip(ts, vs, strict=True):
        verdict = det.score_one(state, t, v)
        if verdict.status == "scored":
            table[state.seq % det.params.window_size] = state.record()
    return state, table


@pytest.mark.parametrize("cut", [20, 191, 192, 1500])
def test_restore_scores_next_readings_identically(cut: int) -> None:
    ts, vs = steel(1800)
    det = OnlineDetector(PARAMS)
    live, table = _run_with_records(det, list(ts[:cut]), list(vs[:cut]))
    records = list(table.values())
    random.Random(cut).shuffle(records)
    restored = AssetState.restore(records, PARAMS.window_size)
    assert restored.seq == live.seq
    assert len(records) == min(cut, PARAMS.window_size)
    for t, v in zip(ts[cut : cut + 200], vs[cut : cut + 200], strict=True):
        assert det.score_one(restored, float(t), float(v)) == det.score_one(live, float(t), float(v))
    assert list(restored.stats) == list(live.stats)


def test_restore_rejects_missing_records_and_accepts_empty() -> None:
    ts, vs = steel(400)
    det = OnlineDetector(PARAMS)
    _, table = _run_with_records(det, list(ts), list(vs))
    records = list(table.values())
    with pytest.raises(StateCodecError):
        AssetState.restore(records[1:], PARAMS.window_size)
    assert AssetState.restore([], PARAMS.window_size).seq == -1


def test_state_size_is_bounded() -> None:
    ts, vs = steel(3000)
    det = OnlineDetector(PARAMS)
    state, table = _run_with_records(det, list(ts), list(vs))
    assert len(state.stats) == STATS_LEN <= 80
    # one changelog record per reading: keep it small (v7: 78 stats, 650 B; v5: 69 stats, 578 B)
    assert RECORD_SIZE <= 650
    assert len(state.values) == len(state.ts) == len(state.flags) == PARAMS.window_size
    assert len(state) == PARAMS.window_size
    assert len(table) == PARAMS.window_size
    assert {len(r) for r in table.values()} == {RECORD_SIZE}
