"""The scoring step without Kafka: ``ScoringPipeline.process`` + ``InMemoryStore``, timed and profiled."""

from __future__ import annotations

import cProfile
import io
import pstats
import time
import zlib
from collections.abc import Sequence
from typing import Any

from stream_app.scoring.pipeline import RawMessage, ScoringPipeline
from stream_app.scoring.state import InMemoryStore
from stream_app.settings import Settings


def as_raw(messages: Sequence[tuple[bytes, bytes]], partitions: int) -> list[RawMessage]:
    # the partition only has to be stable per asset for the cache; Kafka's murmur2 is not needed here
    return [RawMessage(k, v, "bench", zlib.crc32(k) % partitions, i) for i, (k, v) in enumerate(messages)]


def run_pipeline(settings: Settings, batch: Sequence[RawMessage]) -> tuple[int, dict[str, int]]:
    pipe = ScoringPipeline(settings)
    store = InMemoryStore(settings.detector.window_size)
    size = settings.worker.batch_size
    outcomes: dict[str, int] = {}
    writes = 0
    for i in range(0, len(batch), size):
        out = pipe.process(batch[i : i + size], store)
        store.apply(out.writes)
        writes += len(out.writes)
        for k, n in out.outcomes.items():
            outcomes[k] = outcomes.get(k, 0) + n
    return writes, outcomes


def pipeline_rate(settings: Settings, messages: Sequence[tuple[bytes, bytes]]) -> dict[str, Any]:
    batch = as_raw(messages, settings.kafka.topic_partitions)
    started = time.perf_counter()
    writes, outcomes = run_pipeline(settings, batch)
    secs = time.perf_counter() - started
    return {
        "messages": len(batch),
        "seconds": round(secs, 3),
        "per_s": len(batch) / secs,
        "us_per_reading": secs / len(batch) * 1e6,
        "state_writes": writes,
        "outcomes": outcomes,
    }


def profile_pipeline(
    settings: Settings, messages: Sequence[tuple[bytes, bytes]], top: int = 20
) -> dict[str, Any]:
    """cProfile of the same loop: top functions by own time, and the whole text report."""
    batch = as_raw(messages, settings.kafka.topic_partitions)
    prof = cProfile.Profile()
    prof.enable()
    run_pipeline(settings, batch)
    prof.disable()
    return summarize(pstats.Stats(prof), len(batch), top)


def summarize(stats: pstats.Stats, readings: int, top: int) -> dict[str, Any]:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())  # own time of everything = profiled time
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in sorted(raw.items(), key=lambda kv: -kv[1][2])[
        :top
    ]:
        where = f"{_short(file)}:{line}({func})" if line else func
        rows.append(
            {
                "function": where,
                "calls": nc,
                "own_s": round(tt, 3),
                "own_pct": round(100 * tt / total, 1) if total else 0.0,
                "cum_s": round(ct, 3),
                "own_us_per_reading": round(tt / readings * 1e6, 2),
            }
        )
    text = io.StringIO()
    stats.stream = text  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(40)
    return {
        "readings": readings,
        "profiled_s": round(total, 3),
        "by_area": by_area(raw, readings, total),
        "top_own": rows,
        "cumulative_text": text.getvalue(),
    }


AREAS: tuple[tuple[str, str], ...] = (
    ("select.epoll", "idle: waiting in epoll"),
    ("Rdict", "RocksDB (rocksdict put/get)"),
    ("_socket", "socket send/recv"),
    ("/asyncio/", "asyncio event loop, tasks, futures"),
    ("_contextvars", "asyncio event loop, tasks, futures"),
    ("/faust/", "faust (streams, tables, producer buffer)"),
    ("/mode/", "mode (faust's service framework)"),
    ("/aiokafka/", "aiokafka (consumer, producer, protocol)"),
    ("/logging/", "logging"),
    ("pydantic", "kilowatch: decode + validate (pydantic)"),
    ("/schemas/", "kilowatch: decode + validate (pydantic)"),
    ("/stream_app/core/decode", "kilowatch: decode + validate (pydantic)"),
    ("orjson", "kilowatch: decode + validate (pydantic)"),
    ("/stream_app/", "kilowatch: pipeline, model, state codec"),
    ("struct", "kilowatch: pipeline, model, state codec"),
    ("/agents/", "kilowatch: agent glue"),
)


def by_area(raw: dict[Any, Any], readings: int, total: float) -> list[dict[str, Any]]:
    """Own time summed by package: the coarse answer to "where does a reading's time go"."""
    sums: dict[str, float] = {}
    for (file, _line, func), (_cc, _nc, tt, _ct, _callers) in raw.items():
        where = f"{file} {func}"
        area = next((name for marker, name in AREAS if marker in where), "other (builtins, stdlib)")
        sums[area] = sums.get(area, 0.0) + tt
    return [
        {
            "area": area,
            "own_s": round(secs, 3),
            "pct": round(100 * secs / total, 1) if total else 0.0,
            "us_per_reading": round(secs / readings * 1e6, 1) if readings else 0.0,
        }
        for area, secs in sorted(sums.items(), key=lambda kv: -kv[1])
    ]


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path
