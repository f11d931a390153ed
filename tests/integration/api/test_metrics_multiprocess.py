"""``kilowatch api --workers 2``: one scrape of /metrics counts the requests every process served.

A real server (uvicorn, two worker processes sharing the port). Requests go out over fresh connections,
so the kernel hands them to both processes; without prometheus-client's multi-process mode a scrape
sees the one process that answers it and the count falls short.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter as Tally
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.mmap_dict import MmapedDict

ROOT = Path(__file__).resolve().parents[3]
KILOWATCH = str(Path(sys.executable).with_name("kilowatch"))
HOST = "127.0.0.1"
REQUESTS = 240
HEALTHZ = re.compile(
    r'^kilowatch_api_requests_total\{(?=[^}]*route="/healthz")(?=[^}]*status="200")[^}]*\} (\S+)$'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=10) as r:  # a fresh connection
        assert r.status == 200
        return str(r.read().decode())


def healthz_count(scrape: str) -> float:
    return sum(float(m.group(1)) for line in scrape.splitlines() if (m := HEALTHZ.match(line)))


def healthz_by_pid(folder: Path) -> dict[int, float]:
    """Requests to /healthz in each process's counter file (the files the scrape sums)."""
    counts: Tally[int] = Tally()
    for path in folder.glob("counter_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        for key, value, _ts, _pos in MmapedDict.read_all_values_from_file(str(path)):
            _family, name, labels, _help = json.loads(key)
            if name == "kilowatch_api_requests_total" and labels.get("route") == "/healthz":
                counts[pid] += value
    return dict(counts)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, Path, subprocess.Popen[bytes]]]:
    port = free_port()
    state = tmp_path / "state"
    folder = state / f"api-metrics-{port}"
    folder.mkdir(parents=True)
    (folder / "counter_1.db").write_bytes(b"left by an earlier run")  # the launcher must clear it
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["KILOWATCH_STATE_DIR"] = str(state)
    log = tmp_path / "api.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [KILOWATCH, "api", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "api did not answer within 60 s"
            try:
                get(port, "/healthz")
                break
            except OSError:
                time.sleep(0.2)
        while len(healthz_by_pid(folder)) < 2 and time.monotonic() < deadline:  # both workers up
            get(port, "/healthz")
        yield port, folder, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def test_one_scrape_counts_the_requests_of_both_processes(
    server: tuple[int, Path, subprocess.Popen[bytes]],
) -> None:
    port, folder, proc = server
    assert not (folder / "counter_1.db").exists()
    before = healthz_count(get(port, "/metrics"))
    by_pid_before = healthz_by_pid(folder)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: get(port, "/healthz"), range(REQUESTS)))
    by_pid = healthz_by_pid(folder)
    served = {pid: by_pid[pid] - by_pid_before.get(pid, 0.0) for pid in by_pid}
    assert len([n for n in served.values() if n > 0]) == 2, served  # both processes took requests
    for _ in range(5):  # every scrape, whichever process answers it, sees the whole count
        assert healthz_count(get(port, "/metrics")) == before + REQUESTS

    scrape = get(port, "/metrics")
    info = [line for line in scrape.splitlines() if line.startswith("kilowatch_build_info{")]
    assert len(info) == 1 and info[0].endswith(" 1.0"), info  # one series, no pid label

    live = {p.stem.rsplit("_", 1)[1] for p in folder.glob("gauge_live*.db")}
    assert len(live) == 2, live  # build_info, SSE streams... of each worker
    proc.terminate()
    proc.wait(30)
    assert sorted(p.name for p in folder.glob("gauge_live*.db")) == []  # marked dead on exit
    assert sum(healthz_by_pid(folder).values()) == before + REQUESTS  # the dead keep their counts
