"""Benchmark 2: produce → anomaly latency with a worker running, at a fixed produce rate."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from confluent_kafka import Consumer, TopicPartition

from bench.common import Isolated, end_offsets, log, produce_all
from bench.data import Fleet
from bench.worker_run import run_until_committed
from stream_app.kafka.clients import producer
from stream_app.kafka.topics import ensure_topics

TARGET_P99_MS = 250.0


class ArrivalRecorder(threading.Thread):
    """Consumes a topic from given offsets and notes the wall-clock arrival of every record."""

    def __init__(self, bootstrap: str, topic: str, offsets: dict[int, int]) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-latency-{time.time_ns()}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 5,
                "fetch.min.bytes": 1,
            }
        )
        self.consumer.assign([TopicPartition(topic, p, o) for p, o in offsets.items()])
        self.arrivals: list[tuple[float, bytes]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            batch = self.consumer.consume(1000, timeout=0.05)
            now = time.time()
            for m in batch:
                value = m.value()
                if m.error() is None and value is not None:
                    self.arrivals.append((now, value))
        self.consumer.close()


def run(
    n_assets: int, phases: list[tuple[int, float]], warmup: int, readings_path: str | None = None
) -> dict[str, Any]:
    """``phases``: (readings/s, seconds) run back to back on one warmed-up worker; the first is the
    benchmark's headline (2,000/s), later ones show latency below the worker's capacity."""
    overrides = {"readings_path": readings_path} if readings_path else {}
    iso = Isolated.create(f"latency-{readings_path or 'default'}", **overrides)
    try:
        return _run(iso, n_assets, phases, warmup)
    finally:
        iso.cleanup()


def _run(iso: Isolated, n_assets: int, phases: list[tuple[int, float]], warmup: int) -> dict[str, Any]:
    s = iso.settings
    ensure_topics(s)
    rows = [int(rate * secs / n_assets) for rate, secs in phases]
    fleet = Fleet(n_assets, warmup + sum(rows), prefix="lat", spike_after=warmup, spike_every=40)
    msgs = list(fleet.messages())
    epochs = [int(datetime.fromisoformat(t).timestamp()) for t in fleet.timestamps()]
    row_of = {e: i for i, e in enumerate(epochs)}

    worker = iso.start_worker()
    warm = [(k, v) for row, _, k, v in msgs if row < warmup]
    produce_all(s, s.kafka.topic("readings"), warm)
    run_until_committed(iso, worker, len(warm), timeout=300)
    log(f"latency: worker warmed up on {len(warm)} readings ({warmup} per asset)")

    anomalies = s.kafka.topic("anomalies")
    recorder = ArrivalRecorder(s.kafka.bootstrap, anomalies, end_offsets(s, anomalies))
    recorder.start()
    time.sleep(1.0)  # let the recorder's fetch loop start before the first paced reading

    sent: dict[tuple[str, int], tuple[int, float]] = {}  # (asset, ts) -> (phase, produce wall time)
    done = len(warm)
    lo = warmup
    prod = producer(s)
    spans: list[float] = []
    t_start = time.time()
    for phase, ((rate, _secs), n_rows) in enumerate(zip(phases, rows, strict=True)):
        paced = [(row, k, v) for row, _, k, v in msgs if lo <= row < lo + n_rows]
        spans.append(_paced_produce(prod, s.kafka.topic("readings"), paced, rate, phase, epochs, sent))
        prod.flush(30)
        done += len(paced)
        lo += n_rows
        run_until_committed(iso, worker, done, timeout=300)
        log(f"latency: phase {rate}/s produced in {spans[-1]:.1f}s and scored")
    time.sleep(2.0)  # anomalies of the last batch are flushed before its commit; allow for the fetch
    recorder.stopping.set()
    recorder.join(10)

    per_phase: list[list[float]] = [[] for _ in phases]
    samples: list[list[list[float]]] = [[] for _ in phases]  # [produce time - run start, latency ms]
    flagged = [0 for _ in phases]
    for arrived, value in recorder.arrivals:
        a = orjson.loads(value)
        key = (a["asset_id"], int(datetime.fromisoformat(a["timestamp"]).timestamp()))
        if key in sent:
            phase, at = sent[key]
            per_phase[phase].append((arrived - at) * 1000)
            samples[phase].append([round(at - t_start, 3), round((arrived - at) * 1000, 1)])
            flagged[phase] += fleet.is_spike(row_of[key[1]])
    out = []
    lo = warmup
    for phase, ((rate, _), n_rows) in enumerate(zip(phases, rows, strict=True)):
        spikes = sum(fleet.is_spike(r) for r in range(lo, lo + n_rows)) * n_assets
        lo += n_rows
        out.append(_stats(per_phase[phase], rate, spans[phase], n_rows * n_assets, spikes, flagged[phase]))
        out[-1]["samples_t_latency_ms"] = sorted(samples[phase])
        log(f"latency: {rate}/s: {out[-1]['count']} anomalies, p99 {out[-1]['p99_ms'] or 0:,.1f} ms")
    return {
        "assets": n_assets,
        "warmup_per_asset": warmup,
        "batch_within_s": s.worker.batch_within,
        "readings_path": s.worker.readings_path,
        "phases": out,
    }


def _paced_produce(
    prod: Any,
    topic: str,
    paced: list[tuple[int, bytes, bytes]],
    rate: int,
    phase: int,
    epochs: list[int],
    sent: dict[tuple[str, int], tuple[int, float]],
) -> float:
    t0 = time.time()
    for j, (row, key, value) in enumerate(paced):
        delay = t0 + j / rate - time.time()
        if delay > 0.001:
            prod.poll(0)
            time.sleep(delay)
        sent[(key.decode(), epochs[row])] = (phase, time.time())
        prod.produce(topic, key=key, value=value)
    return time.time() - t0


def _stats(
    lat_ms: list[float], rate: int, span: float, readings: int, spikes: int, flagged: int
) -> dict[str, Any]:
    arr = np.array(lat_ms)
    pct = {f"p{q}_ms": float(np.percentile(arr, q)) if lat_ms else None for q in (50, 95, 99)}
    return {
        "rate_per_s": rate,
        "duration_s": span,
        "achieved_rate_per_s": readings / span if span else 0.0,
        "readings": readings,
        "injected_spikes": spikes,
        "injected_spikes_flagged": flagged,
        "count": len(lat_ms),
        **pct,
        "max_ms": float(arr.max()) if lat_ms else None,
        "mean_ms": float(arr.mean()) if lat_ms else None,
        "target_met": pct["p99_ms"] is not None and pct["p99_ms"] < TARGET_P99_MS,
    }
