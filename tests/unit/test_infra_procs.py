"""Pid records, liveness and stop: a recycled pid must never be signalled."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.errors import InfraError, PrerequisiteMissing
from stream_app.devtools.infra import procs


def test_pid_record_round_trip_and_stop(tmp_path: Path) -> None:
    pid = procs.spawn_detached(
        [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "o.log", tmp_path
    )
    pid_file = tmp_path / "pids" / "svc.json"
    rec = procs.write_pid(pid_file, pid, "127.0.0.1:1", "9.9")
    assert procs.read_pid(pid_file) == rec
    assert procs.stop(pid_file, "svc", timeout=5)
    assert procs.proc_start_time(pid) is None
    assert not pid_file.exists()
    assert procs.stop(pid_file, "svc") is False


def test_recycled_pid_is_not_ours(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        start = procs.proc_start_time(proc.pid)
        assert start is not None
        pid_file = tmp_path / "svc.json"
        rec = {"pid": proc.pid, "start_time": start + 1, "address": "x:1", "version": ""}
        pid_file.write_text(json.dumps(rec))
        assert procs.read_pid(pid_file) is None
        assert procs.stop(pid_file, "svc") is False  # must not signal it
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_garbage_pid_file(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text("not json")
    assert procs.read_pid(tmp_path / "p.json") is None
    assert procs.read_pid(tmp_path / "missing.json") is None


def test_port_open() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        assert procs.port_open("127.0.0.1", port)
    assert not procs.port_open("127.0.0.1", port)


def test_split_hostport() -> None:
    assert procs.split_hostport("127.0.0.1:19092,other:1") == ("127.0.0.1", 19092)
    with pytest.raises(InfraError):
        procs.split_hostport("nohost")


def test_require_missing_program() -> None:
    with pytest.raises(PrerequisiteMissing, match="definitely-not-a-program not found"):
        procs.require("definitely-not-a-program", "install it")


def test_apt_install_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(procs.shutil, "which", lambda _name: "/usr/bin/apt-get")
    monkeypatch.setattr(procs.os, "geteuid", lambda: 1000)
    with pytest.raises(PrerequisiteMissing, match="as root"):
        procs.apt_install("redis-server", why="redis-server not found")


def test_apt_install_needs_apt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(procs.shutil, "which", lambda _name: None)
    with pytest.raises(PrerequisiteMissing, match="apt-get not found"):
        procs.apt_install("postgresql", why="pg_ctl not found")


def test_tail_prefers_errors_and_drops_stack_frames(tmp_path: Path) -> None:
    log = tmp_path / "k.log"
    log.write_text(
        "INFO a\nERROR boom\njava.lang.OutOfMemoryError: Java heap space\n\tat x.y(Z.java:1)\nINFO b\n"
    )
    out = procs.tail(log)
    assert out.splitlines() == ["ERROR boom", "java.lang.OutOfMemoryError: Java heap space"]
    assert procs.tail(tmp_path / "none.log") == "(no log file)"
