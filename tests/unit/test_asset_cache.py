"""Bounded per-asset state (issue 14): the worker's cache evicts, an evicted asset is rebuilt from the
table, and the scores are exactly those of a worker that never evicts; rings grow with the readings."""

from __future__ import annotations

import tracemalloc
import zlib
from array import array
from collections.abc import Iterable
from pathlib import Path

import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from stream_app import metrics
from stream_app.core import online_stats as st_idx
from stream_app.core.online import OnlineDetector
from stream_app.core.window import AssetState
from stream_app.scoring.asset_cache import AssetCache, entry_bytes
from stream_app.scoring.pipeline import Emit, RawMessage, ScoringPipeline
from stream_app.scoring.state import AssetEntry, InMemoryStore, ring_records
from stream_app.settings import Settings
from tests.conftest import DATA_DIR

TOPIC = "t.readings"
NAB = DATA_DIR / "nab" / "realKnownCause"


def nab(name: str, n: int) -> list[tuple[str, float]]:
    df = pd.read_csv(NAB / f"{name}.csv", nrows=n, dtype={"timestamp": str})
    return [(t.replace(" ", "T") + "Z", float(v)) for t, v in zip(df["timestamp"], df["value"], strict=True)]


def interleave(series: dict[str, list[tuple[str, float]]]) -> list[RawMessage]:
    """Round-robin over the assets, one reading each, offsets per partition as Kafka would give."""
    out: list[RawMessage] = []
    offsets: dict[int, int] = {}
    longest = max(len(s) for s in series.values())
    for i in range(longest):
        for asset, rows in series.items():
            if i < len(rows):
                t, v = rows[i]
                p = zlib.crc32(asset.encode()) % 3
                off = offsets[p] = offsets.get(p, -1) + 1
                body = orjson.dumps({"timestamp": t, "value": v})
                out.append(RawMessage(asset.encode(), body, TOPIC, p, off))
    return out


def run(pipe: ScoringPipeline, store: InMemoryStore, batches: list[list[RawMessage]]) -> list[bytes]:
    """Everything the pipeline emits, in order (events of every topic and every state write)."""
    emitted: list[bytes] = []
    for batch in batches:
        out: Emit = pipe.process(batch, store, now=2_000_000_000.0)
        store.apply(out.writes)
        for name in ("anomalies", "forecasts", "scores", "dead_letters"):
            emitted += [name.encode() + b":" + (k or b"") + b":" + v for k, v in getattr(out, name)]
        emitted += [b"write:" + k + b":" + (r or b"-") for _, k, r in out.writes]
    return emitted


def chunks(msgs: list[RawMessage], size: int) -> list[list[RawMessage]]:
    return [msgs[i : i + size] for i in range(0, len(msgs), size)]


def pipeline(mib: float, **kw: object) -> tuple[ScoringPipeline, InMemoryStore]:
    s = Settings(emit_scores=True, state_cache_mib=mib, **kw)  # type: ignore[arg-type]
    return ScoringPipeline(s), InMemoryStore(s.detector.window_size)


def test_evicted_assets_are_rebuilt_to_the_same_scores(tmp_path: Path) -> None:
    """Four real NAB series interleaved; a cache that holds about one asset evicts the others after
    every batch; every event and state record equals the unbounded run's, byte for byte. Then the
    last batches come again (a redelivery after a crash): same re-emitted events from both."""
    series = {
        "ambient": nab("ambient_temperature_system_failure", 1500),
        "ec2": nab("ec2_request_latency_system_failure", 1500),
        "taxi": nab("nyc_taxi", 1500),
        "rogue": nab("rogue_agent_key_hold", 1500),
    }
    msgs = interleave(series)
    batches = chunks(msgs, 97)
    batches += batches[-3:]  # redelivered
    free, free_store = pipeline(256.0)
    tight, tight_store = pipeline(0.02)  # ~20 KiB: one full window
    loads, evictions = metrics.STATE_LOADS._value.get(), metrics.STATE_EVICTIONS._value.get()
    unbounded = run(free, free_store, batches)
    assert metrics.STATE_LOADS._value.get() == loads and metrics.STATE_EVICTIONS._value.get() == evictions
    bounded = run(tight, tight_store, batches)
    assert metrics.STATE_EVICTIONS._value.get() - evictions > 100  # the bound really bit
    assert metrics.STATE_LOADS._value.get() - loads > 100  # ... and states were rebuilt
    assert len(tight.cache) <= 2 and tight.cache.bytes <= tight.cache.max_bytes + 15_000
    assert len(free.cache) == 4
    assert any(e.startswith(b"anomalies:") for e in unbounded)  # the series do raise anomalies
    assert bounded == unbounded
    assert tight_store.data == free_store.data


# Any batching, any bound, any interleaving: the bounded run equals the unbounded one. A small window
# keeps the rebuilds cheap; the readings are real (steel plant consumption).
STEEL = pd.read_csv(DATA_DIR / "energy" / "steel_industry_2018_15min.csv", nrows=400)
STEEL_ROWS = [
    (t, float(v))
    for t, v in zip(
        pd.to_datetime(STEEL["timestamp"], dayfirst=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        STEEL["Usage_kWh"],
        strict=True,
    )
]


@hyp_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lengths=st.lists(st.integers(1, 120), min_size=1, max_size=6),
    starts=st.lists(st.integers(0, 250), min_size=6, max_size=6),
    batch=st.integers(1, 64),
    kib=st.floats(0.5, 8.0),
)
def test_any_bound_scores_like_no_bound(
    lengths: list[int], starts: list[int], batch: int, kib: float
) -> None:
    series = {f"m-{a}": STEEL_ROWS[starts[a] : starts[a] + n] for a, n in enumerate(lengths)}
    msgs = interleave(series)
    free, free_store = pipeline(256.0, window_size=16, warmup=4)
    tight, tight_store = pipeline(kib / 1024, window_size=16, warmup=4)
    assert run(tight, tight_store, chunks(msgs, batch)) == run(free, free_store, chunks(msgs, batch))


def test_cache_is_lru_and_counts_bytes() -> None:
    det = OnlineDetector(Settings().detector.params())
    cache = AssetCache(max_bytes=4_000)
    entries = {a: AssetEntry(state=det.new_state(), partition=0) for a in ("a", "b", "c")}
    for a, e in entries.items():
        cache[a] = e
    assert cache.bytes == sum(entry_bytes(a, e) for a, e in entries.items())
    assert cache.get("a") is entries["a"]  # "a" is now the most recent; "b" the least
    assert cache.get("c") is entries["c"]  # now "b", "a", "c" from least to most recent
    for _ in range(100):  # "c" grows a ring of 100 readings
        det.score_one(entries["c"].state, 900.0 * (entries["c"].state.seq + 1), 5.0)
    cache.resized("c", entries["c"])
    assert cache.bytes == sum(entry_bytes(a, e) for a, e in entries.items()) > 4_000
    assert cache.evict() == 2
    assert list(cache) == ["c"]  # "b" then "a" went, least recently used first
    assert cache.bytes == entry_bytes("c", entries["c"])
    del cache["c"]
    assert cache.bytes == 0 and len(cache) == 0


def test_revoked_partitions_leave_the_cache_and_its_bytes() -> None:
    pipe, store = pipeline(256.0)
    msgs = interleave({"x": nab("nyc_taxi", 50), "y": nab("nyc_taxi", 50), "z": nab("nyc_taxi", 50)})
    run(pipe, store, chunks(msgs, 40))
    parts = {a: e.partition for a, e in pipe.cache.items()}
    gone = parts["x"]
    pipe.drop_partitions([gone])
    assert all(e.partition != gone for _, e in pipe.cache.items())
    assert pipe.cache.bytes == sum(entry_bytes(a, e) for a, e in pipe.cache.items())


# --- lazy rings ---------------------------------------------------------------------------------


def test_ring_grows_with_readings_up_to_the_window() -> None:
    det = OnlineDetector(Settings().detector.params())
    state = det.new_state()
    w = state.window_size
    caps = []
    for i in range(w + 5):
        det.score_one(state, 900.0 * i, 10.0 + (i % 7))
        caps.append(len(state.ts))
        assert len(state.ts) == len(state.values) == len(state.flags) >= min(i + 1, w)
    assert caps[0] == 8 and caps[-1] == w
    assert sorted(set(caps)) == [8, 16, 32, 64, 128, 256, 512, w]
    restored = AssetState.restore(
        [encode(state, s) for s in range(state.seq - w + 1, state.seq + 1)], w
    )  # a full ring restores at full size
    assert len(restored.ts) == w


def encode(state: AssetState, seq: int) -> bytes:
    from stream_app.core.state_codec import encode_record

    i = seq % state.window_size
    return encode_record(seq, state.ts[i], state.values[i], bool(state.flags[i]), state.stats)


@pytest.mark.parametrize("readings", [1, 3])
def test_a_new_asset_costs_a_few_slots_not_a_window(readings: int) -> None:
    """tracemalloc over 500 new assets through the pipeline: a full-window ring (768 slots) cost
    ~13.6 kB per asset before; a few readings now cost < 2 kB (the state table is not counted)."""
    pipe, _ = pipeline(256.0)

    class NoTable:  # the durable copy lives outside the process in the worker (RocksDB)
        def records(self, asset_id: str, index: int) -> list[bytes]:
            return []

        def get(self, key: bytes, index: int) -> bytes | None:
            return None

    msgs = interleave({f"new-{a:04d}": STEEL_ROWS[:readings] for a in range(500)})
    run(pipe, InMemoryStore(768), chunks(msgs[:50], 50))  # warm the interpreter's caches
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for b in chunks(msgs[50:], 500):
            pipe.process(b, NoTable(), now=2_000_000_000.0)
        per_asset = (tracemalloc.get_traced_memory()[0] - before) / (len(msgs[50:]) / readings)
    finally:
        tracemalloc.stop()
    assert per_asset < 2_000, per_asset


def full_size(state: AssetState) -> AssetState:
    """The state as it was before lazy rings: every array at the window size, unwritten slots 0.0."""
    w = state.window_size
    full = state.copy()
    full.ts = array("d", bytes(8 * w))
    full.values = array("d", bytes(8 * w))
    full.flags = bytearray(w)
    n = len(state.ts)
    full.ts[:n], full.values[:n], full.flags[:n] = state.ts, state.values, state.flags
    return full


@pytest.mark.parametrize("horizon", [24, 120, 700])
def test_forecast_of_a_growing_ring_equals_a_full_size_one(horizon: int) -> None:
    """Far-ahead phases (more than a season ahead) read ring slots not written yet: a growing ring
    forecasts exactly what a full-size one does (those slots read 0.0), it does not fail."""
    det = OnlineDetector(Settings().detector.params())
    state = det.new_state()
    checked = 0
    for i, (t, v) in enumerate(STEEL_ROWS):
        det.score_one(state, pd.Timestamp(t).timestamp(), v)
        if i % 13 == 0:
            assert len(state.values) < state.window_size
            assert det.forecast(state, horizon) == det.forecast(full_size(state), horizon), i
            checked += 1
    assert checked > 20 and state.stats[st_idx.SEASON] > 0  # the seasonal predictors took part


def test_rebuilding_a_young_asset_reads_its_records_only() -> None:
    """An evicted asset with 3 readings is rebuilt with 4 table lookups (slots 0-2 and the first
    empty one), not one per window slot; a wrapped ring is read whole."""
    pipe, _ = pipeline(256.0, window_size=64, warmup=4)
    lookups: list[bytes] = []

    class Counting(InMemoryStore):
        def records(self, asset_id: str, index: int) -> Iterable[bytes]:
            def get(key: bytes) -> bytes | None:
                lookups.append(key)
                return self.data.get(key)

            return list(ring_records(get, asset_id, self.window))

    table = Counting(64)
    young = interleave({"young": STEEL_ROWS[:3], "old": STEEL_ROWS[:100]})
    run(pipe, table, chunks(young, 500))
    for asset in ("young", "old"):
        del pipe.cache[asset]
    lookups.clear()
    more = [
        RawMessage(m.key, m.value, TOPIC, m.partition, m.offset + 1000)
        for m in interleave({"young": STEEL_ROWS[3:4], "old": STEEL_ROWS[100:101]})
    ]
    run(pipe, table, [more])
    assert sorted(k for k in lookups if k.startswith(b"young|")) == [
        b"young|0",
        b"young|1",
        b"young|2",
        b"young|3",
    ]
    assert len([k for k in lookups if k.startswith(b"old|")]) == 64
    assert pipe.cache["young"].state.seq == 3 and pipe.cache["old"].state.seq == 100
