"""Resetting one asset's state: the control message, and what the pipeline does with it (no Kafka)."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest

from schemas.errors import InvalidReading
from schemas.events import AssetReset, Reading, ScoreRecord
from stream_app.admin.reset import message, reset_event
from stream_app.core.decode import decode_control, decode_fast
from stream_app.scoring.pipeline import RawMessage, ScoringPipeline
from stream_app.scoring.state import InMemoryStore
from stream_app.settings import Settings
from stream_app.sinks.history import decode as history_decode
from stream_app.sinks.sink import Record

TOPIC = "t.readings"
WINDOW = 48


def reading(asset: str, i: int, offset: int, value: float | None = None) -> RawMessage:
    v = value if value is not None else 50.0 + 10.0 * ((i % 12) / 12) + (i % 3)
    ts = f"2025-07-{1 + i // 96:02d}T{(i // 4) % 24:02d}:{15 * (i % 4):02d}:00Z"
    return RawMessage(asset.encode(), orjson.dumps({"timestamp": ts, "value": v}), TOPIC, 0, offset)


def reset_msg(asset: str, offset: int) -> RawMessage:
    key, value = message(reset_event(asset, "test"))
    return RawMessage(key, value, TOPIC, 0, offset)


def pipeline(tmp_path: Path) -> ScoringPipeline:
    return ScoringPipeline(Settings(state_dir=tmp_path, emit_scores=True, window_size=WINDOW))


def keys_of(store: InMemoryStore, asset: str) -> set[bytes]:
    return {k for k in store.data if k.startswith(f"{asset}|".encode())}


def scores(out: object) -> list[ScoreRecord]:
    return [ScoreRecord.model_validate_json(v) for _, v in out.scores]  # type: ignore[attr-defined]


def test_control_message_round_trip_and_it_is_never_a_reading() -> None:
    key, value = message(reset_event("site-1/meter-7", "api-key:abc (ops)", "poisoned by 1e200"))
    assert key == b"site-1/meter-7"  # keyed by asset: it lands in the asset's partition
    event = decode_control(key, value, max_bytes=10_000)
    assert isinstance(event, AssetReset) and event.asset_id == "site-1/meter-7"
    assert event.reason == "poisoned by 1e200"
    with pytest.raises(InvalidReading):
        decode_fast(key, value, max_bytes=10_000)
    with pytest.raises(ValueError):
        Reading.model_validate(orjson.loads(value))


@pytest.mark.parametrize(
    ("key", "payload"),
    [
        (b"m-1", b'{"timestamp": "2025-01-01T00:00:00Z", "value": "x"}'),
        (b"m-1", b"{not json"),
        (b"m-1", b"[1]"),
        (b"m-1", None),
    ],
)
def test_non_control_payloads_are_not_control_messages(key: bytes, payload: bytes | None) -> None:
    assert decode_control(key, payload, max_bytes=10_000) is None


def test_malformed_or_misrouted_control_messages_are_refused_with_the_reason() -> None:
    _, good = message(reset_event("m-1", "test"))
    with pytest.raises(InvalidReading, match="message key must be the asset_id"):
        decode_control(b"m-2", good, max_bytes=10_000)
    with pytest.raises(InvalidReading, match="message key must be the asset_id"):
        decode_control(None, good, max_bytes=10_000)
    bad = orjson.dumps({"control": "reboot", "asset_id": "m-1"})
    with pytest.raises(InvalidReading, match=r"^control message: control:"):
        decode_control(b"m-1", bad, max_bytes=10_000)


def test_reset_forgets_the_state_and_the_next_reading_starts_fresh(tmp_path: Path) -> None:
    pipe, store = pipeline(tmp_path), InMemoryStore(WINDOW)
    before = [reading("m-1", i, i) for i in range(100)] + [reading("m-2", i, 100 + i) for i in range(30)]
    store.apply(pipe.process(before, store).writes)
    assert len(keys_of(store, "m-1")) == WINDOW and len(keys_of(store, "m-2")) == 30

    after = [reading("m-1", i, 131 + i - 100) for i in range(100, 130)]
    out = pipe.process([reset_msg("m-1", 130), *after], store)
    deletes = [k for _, k, r in out.writes if r is None]
    assert sorted(deletes) == sorted(keys_of(store, "m-1"))  # every record of the asset, nothing else
    assert out.outcomes["reset"] == 1 and not out.dead_letters
    store.apply(out.writes)
    # only the records written after the reset are left: seq 0..29 of a fresh state
    assert len(keys_of(store, "m-1")) == 30 and len(keys_of(store, "m-2")) == 30
    assert pipe.cache["m-1"].state.seq == 29

    # Identical to a fresh pipeline that never saw the asset's earlier readings.
    fresh = pipeline(tmp_path / "fresh")
    fresh_out = fresh.process(after, InMemoryStore(WINDOW))
    got, want = scores(out), scores(fresh_out)
    assert [(s.timestamp, s.expected, s.score, s.status) for s in got] == [
        (s.timestamp, s.expected, s.score, s.status) for s in want
    ]
    assert [k for _, k, r in out.writes if r is not None] == [k for _, k, _r in fresh_out.writes]


def test_reset_in_the_middle_of_a_batch_deletes_records_the_store_does_not_show_yet(
    tmp_path: Path,
) -> None:
    pipe, store = pipeline(tmp_path), InMemoryStore(WINDOW)
    msgs = [reading("m-1", i, i) for i in range(10)] + [reset_msg("m-1", 10)]
    msgs += [reading("m-1", i, 11 + i - 10) for i in range(10, 13)]
    out = pipe.process(msgs, store)  # nothing of the asset is in the store before this batch
    store.apply(out.writes)
    assert sorted(keys_of(store, "m-1")) == [b"m-1|0", b"m-1|1", b"m-1|2"]
    assert pipe.cache["m-1"].state.seq == 2
    # After a restart (empty cache) the state restored from the table is the fresh one too.
    restarted = pipeline(tmp_path)
    entry = restarted._entry("m-1", 0, 0, store)
    assert entry.state.seq == 2 and entry.last_offset == 13


def test_a_replayed_reset_gives_the_same_events(tmp_path: Path) -> None:
    """After a crash the reset and the readings after it are redelivered: same verdicts again."""
    pipe, store = pipeline(tmp_path), InMemoryStore(WINDOW)
    store.apply(pipe.process([reading("m-1", i, i) for i in range(60)], store).writes)
    tail = [reset_msg("m-1", 60)] + [reading("m-1", i, 61 + i - 60) for i in range(60, 70)]
    first = pipe.process(tail, store)
    store.apply(first.writes)
    replay = pipeline(tmp_path).process(tail, store)  # a new worker, the same table
    assert [s.model_dump(exclude={"partition"}) for s in scores(replay)] == [
        s.model_dump(exclude={"partition"}) for s in scores(first)
    ]


def test_reset_of_an_unknown_asset_is_harmless(tmp_path: Path) -> None:
    pipe, store = pipeline(tmp_path), InMemoryStore(WINDOW)
    out = pipe.process([reset_msg("nobody", 0)], store)
    assert out.writes == [] and out.outcomes == {"reset": 1}


def test_a_bad_control_message_is_dead_lettered(tmp_path: Path) -> None:
    pipe, store = pipeline(tmp_path), InMemoryStore(WINDOW)
    _, value = message(reset_event("m-1", "test"))
    out = pipe.process([RawMessage(b"m-2", value, TOPIC, 0, 0)], store)
    assert out.outcomes == {"dead_lettered": 1}
    assert b"message key must be the asset_id" in out.dead_letters[0][1]


def test_history_sink_skips_control_messages_without_counting_them_invalid() -> None:
    key, value = message(reset_event("m-1", "test"))
    good = orjson.dumps({"timestamp": "2025-01-01T00:00:00Z", "value": 1.0})
    recs = [
        Record(key=key, value=value, topic=TOPIC, partition=0, offset=0),
        Record(key=b"m-1", value=good, topic=TOPIC, partition=0, offset=1),
        Record(key=b"m-1", value=b"{bad", topic=TOPIC, partition=0, offset=2),
    ]
    decoded = history_decode(recs, 10_000)
    assert len(decoded.rows) == 1 and [r.offset for r, _ in decoded.invalid] == [2]


def test_reset_event_ids_are_unique() -> None:
    assert reset_event("m-1", "x").reset_id != reset_event("m-1", "x").reset_id
    assert isinstance(reset_event("m-1", "x").reset_id, uuid.UUID)
