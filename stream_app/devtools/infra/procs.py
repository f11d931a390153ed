"""Process helpers shared by the services: pid files, liveness, ports, detached start, stop.

A pid file records the pid *and* the kernel start time of the process, so a recycled pid
is never mistaken for ours and ``down`` never signals a process that ``up`` did not start.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from schemas.errors import InfraError, PrerequisiteMissing

log = logging.getLogger(__name__)

# Popen objects of services started by this process: keeps them referenced (no ResourceWarning)
# and lets ``stop`` reap them so they do not linger as zombies in long-lived callers (tests).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class PidRecord:
    """What ``up`` remembers about one service it started."""

    pid: int
    start_time: int
    address: str
    version: str = ""


def proc_start_time(pid: int) -> int | None:
    """Kernel start time (clock ticks after boot) of a live, non-zombie process, else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def read_pid(path: Path) -> PidRecord | None:
    """The record in ``path`` if the process it names is still the one we started."""
    try:
        rec = PidRecord(**json.loads(path.read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None
    if proc_start_time(rec.pid) != rec.start_time:
        return None
    return rec


def write_pid(path: Path, pid: int, address: str, version: str = "") -> PidRecord:
    """Record a freshly started process (atomically, so readers never see half a file)."""
    start = proc_start_time(pid)
    if start is None:
        raise InfraError(f"process {pid} exited right after start")
    rec = PidRecord(pid=pid, start_time=start, address=address, version=version)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(rec)))
    tmp.replace(path)
    return rec


def check_same_address(rec: PidRecord, wanted: str, name: str) -> None:
    """A running service on another address than the settings ask for: say so, don't guess."""
    if rec.address != wanted:
        raise InfraError(
            f"{name} (pid {rec.pid}) is running on {rec.address}, settings ask for {wanted}; "
            f"run `kilowatch infra down --only {name}` first"
        )


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def split_hostport(hostport: str) -> tuple[str, int]:
    """``"127.0.0.1:19092"`` -> ``("127.0.0.1", 19092)`` (first entry of a list)."""
    first = hostport.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit():
        raise InfraError(f"expected host:port, got {hostport!r}")
    return host, int(port)


def spawn_detached(cmd: Sequence[str], log_file: Path, cwd: Path) -> int:
    """Start ``cmd`` in its own session, output to ``log_file`` (truncated), and return its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("wb") as out:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid


def tail(path: Path, lines: int = 12) -> str:
    """Last lines of a log file without Java stack frames, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log file)"
    keep = [ln for ln in text.splitlines()[-400:] if not ln.strip().startswith(("at ", "... "))]
    errors = [ln for ln in keep if re.search(r"\b(ERROR|FATAL)\b|Exception|Error\b", ln)]
    return "\n".join((errors or keep)[-lines:])


def stop(pid_file: Path, name: str, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> bool:
    """Stop the process recorded in ``pid_file``: ``sig``, wait, then SIGKILL. False if none ran."""
    rec = read_pid(pid_file)
    if rec is None:
        pid_file.unlink(missing_ok=True)
        return False
    log.info("stopping %s (pid %d)", name, rec.pid)
    os.kill(rec.pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(rec):
        time.sleep(0.2)
    if _alive(rec):
        log.warning("%s (pid %d) ignored %s for %.0f s: SIGKILL", name, rec.pid, sig.name, timeout)
        os.kill(rec.pid, signal.SIGKILL)
        while _alive(rec):
            time.sleep(0.1)
    pid_file.unlink(missing_ok=True)
    return True


def _alive(rec: PidRecord) -> bool:
    child = _CHILDREN.get(rec.pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[rec.pid]
    return proc_start_time(rec.pid) == rec.start_time


def require(program: str, hint: str) -> str:
    """Absolute path of ``program`` or a one-line ``PrerequisiteMissing``."""
    path = shutil.which(program)
    if path is None:
        raise PrerequisiteMissing(f"{program} not found on PATH: {hint}")
    return path


def apt_install(package: str, *, why: str) -> None:
    """Install one Debian package (apt-get update first), needing root and apt-get."""
    if shutil.which("apt-get") is None:
        raise PrerequisiteMissing(f"{why}; install the Debian package {package!r} (apt-get not found)")
    if os.geteuid() != 0:
        raise PrerequisiteMissing(f"{why}; run `apt-get install {package}` as root (or run this as root)")
    log.info("%s: installing %s with apt-get", why, package)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise InfraError(f"{' '.join(cmd)} failed: {res.stderr.strip()[-500:]}")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Exclusive advisory lock so two concurrent ``up``/``down`` calls do not race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
