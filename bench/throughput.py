"""Benchmark 1 (throughput: raw aiokafka loop vs kilowatch worker vs in-process pipeline) and
benchmark 3 (changelog bytes per reading), which reads the changelog the throughput run wrote."""

from __future__ import annotations

import time
from typing import Any

from bench.common import Isolated, log, produce_all
from bench.data import Fleet
from bench.inprocess import pipeline_rate, profile_pipeline
from bench.kafka_read import TopicScan, raw_consume_rate, scan_topic
from bench.worker_run import changelog_rate, run_until_committed
from stream_app.core.state_codec import STATS_LEN
from stream_app.kafka.topics import ensure_topics

TARGET_FIRST = 10_000.0
TARGET_GOAL = 25_000.0
TARGET_RATIO = 0.5


def run(n_assets: int, n_rows: int, profile_n: int, readings_path: str | None = None) -> dict[str, Any]:
    """``readings_path`` None = the settings default; else the worker runs with that path."""
    overrides = {"readings_path": readings_path} if readings_path else {}
    iso = Isolated.create(f"throughput-{readings_path or 'default'}", **overrides)
    try:
        result = _run(iso, n_assets, n_rows, profile_n)
        result["readings_path"] = iso.settings.worker.readings_path
        return result
    finally:
        iso.cleanup()


def _run(iso: Isolated, n_assets: int, n_rows: int, profile_n: int) -> dict[str, Any]:
    s = iso.settings
    ensure_topics(s)
    fleet = Fleet(n_assets, n_rows)
    messages = [(key, value) for _, _, key, value in fleet.messages()]
    total = len(messages)
    t0 = time.perf_counter()
    produce_all(s, s.kafka.topic("readings"), messages)
    log(
        f"throughput: produced {total} readings ({n_assets} assets x {n_rows}) "
        f"in {time.perf_counter() - t0:.1f}s"
    )

    baseline_before = raw_consume_rate(s, s.kafka.topic("readings"), total)
    log(f"throughput: raw aiokafka loop {baseline_before['per_s']:,.0f}/s")

    worker = iso.start_worker()
    started = time.monotonic()
    progress = run_until_committed(iso, worker, total, timeout=600)
    wall = time.monotonic() - started
    worker.stop()
    log(f"throughput: worker done in {wall:.1f}s wall (incl. start-up), reading the changelog")
    scan = scan_topic(s, iso.changelog_topic, expected=total)
    rates = changelog_rate(scan.timestamps_ms)
    log(
        f"throughput: worker steady {rates.get('steady_per_s') or 0:,.0f}/s "
        f"({scan.records} changelog records)"
    )

    baseline_after = raw_consume_rate(s, s.kafka.topic("readings"), total)
    log(f"throughput: raw aiokafka loop (again) {baseline_after['per_s']:,.0f}/s")
    inproc = pipeline_rate(s, messages)
    log(f"throughput: in-process pipeline {inproc['per_s']:,.0f}/s")
    prof = profile_pipeline(s, messages[:profile_n])
    log(f"throughput: profiled {prof['readings']} readings in-process")

    baseline = (baseline_before["per_s"] + baseline_after["per_s"]) / 2
    worker_rate = rates.get("steady_per_s") or 0.0
    return {
        "assets": n_assets,
        "readings": total,
        "partitions": s.kafka.topic_partitions,
        "batch_size": s.worker.batch_size,
        "baseline_runs": [baseline_before, baseline_after],
        "baseline_per_s": baseline,
        "worker": {
            **rates,
            "wall_incl_startup_s": round(wall, 2),
            "committed_10_90_per_s": progress.rate_between(0.1, 0.9, total),
            "rss_kb_at_end": progress.rss_kb,
            "cpu": progress.cpu_summary(),
        },
        "worker_per_s": worker_rate,
        "ratio_worker_baseline": worker_rate / baseline if baseline else None,
        "in_process": inproc,
        "profile": prof,
        "targets": {
            "first >= 10,000/s": worker_rate >= TARGET_FIRST,
            "goal >= 25,000/s": worker_rate >= TARGET_GOAL,
            "goal >= 50% of raw loop": baseline > 0 and worker_rate / baseline >= TARGET_RATIO,
        },
        "changelog": changelog_bytes(scan, total, s.detector.window_size, len(fleet.asset(0))),
    }


def changelog_bytes(scan: TopicScan, readings: int, window: int, asset_id_len: int) -> dict[str, Any]:
    """Bytes per record actually written vs republishing the whole window on every update."""
    per = (scan.key_bytes + scan.value_bytes) / scan.records if scan.records else 0.0
    # whole-window value: ts+value float64 per slot (16 B) + flag byte per slot + stats + verdict header + key
    whole = window * 16 + window + STATS_LEN * 8 + 50 + asset_id_len
    return {
        "records": scan.records,
        "readings": readings,
        "one_record_per_reading": scan.records == readings,
        "key_bytes": scan.key_bytes,
        "value_bytes": scan.value_bytes,
        "bytes_per_record": per,
        "whole_window_bytes_per_update": whole,
        "whole_window_formula": f"{window}x16 + {window} flags + {STATS_LEN}x8 stats + 50 header "
        f"+ {asset_id_len} key",
        "ratio_whole_over_actual": whole / per if per else None,
    }
