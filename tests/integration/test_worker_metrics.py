"""A real worker's /metrics: outcomes, lag per partition, table size; its log lines are JSON."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from stream_app.kafka.topics import ensure_topics
from tests.integration.data import interleave, steel_assets
from tests.integration.harness import Worker, isolated_settings, produce

LAG = "kilowatch_consumer_lag_messages"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_worker_exports_outcomes_lag_and_table_size(tmp_path: Path, data_dir: Path) -> None:
    port = free_port()
    settings, env = isolated_settings(tmp_path, metrics_port=port, monitor_interval_s=0.5, log_format="json")
    ensure_topics(settings)
    readings = interleave(steel_assets(data_dir, n_assets=3, n_rows=300))
    topic = settings.kafka.topic("readings")
    worker = Worker(env, "metrics", tmp_path)
    try:
        produce(settings, readings)
        deadline = time.monotonic() + 180
        seen: dict = {}
        while time.monotonic() < deadline:
            assert worker.alive(), worker.tail()
            try:
                seen = scrape(port)
            except OSError:
                time.sleep(0.5)
                continue
            consumed = sum(v for (n, _), v in seen.items() if n == "kilowatch_readings_total")
            lags = {dict(lb)["partition"]: v for (n, lb), v in seen.items() if n == LAG}
            settled = len(lags) == settings.kafka.topic_partitions and not any(lags.values())
            if consumed >= len(readings) and settled:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"metrics never settled: {sorted(k for k in seen if 'kilowatch' in k[0])}")
    finally:
        worker.stop()
    assert consumed == len(readings)
    assert {dict(lb)["topic"] for (n, lb), _ in seen.items() if n == LAG} == {topic}
    keys = seen[("kilowatch_table_keys", (("table", "asset-state"),))]
    assert keys >= 3, keys  # one ring record per reading slot, at least one per asset
    assert (
        seen[("kilowatch_worker_info", (("app_id", settings.worker.app_id), ("worker_id", "metrics")))] == 1
    )
    lines = [ln for ln in worker.log_path.read_text().splitlines() if ln.strip()]
    assert lines and all(ln.startswith("{") for ln in lines), worker.tail()
    docs = [json.loads(ln) for ln in lines]
    assert all({"ts", "level", "logger", "msg"} <= set(d) for d in docs)
    assert any(d["logger"] == "stream_app.worker.cli" and "metrics" in d["msg"] for d in docs)
