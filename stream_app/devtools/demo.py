"""``make demo``: a worker and a simulated fleet with planted faults; anomalies shown live. The API runs
beside them, serving the admin console at http://127.0.0.1:8000/admin/ (user ``demo``, a new password
printed at each start).

Runs with the infrastructure up (``scripts/with-infra``). Uses its own topic prefix and state folder,
wiped at start, so every demo begins from nothing. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.live import Live
from rich.table import Table

from stream_app.core.faults import InjectedFault
from stream_app.devtools.simulate import Meter, build_fleet, manifest
from stream_app.settings import Settings

KILOWATCH = str(Path(sys.executable).parent / "kilowatch")
DEMO_ENV = {
    "KILOWATCH_TOPIC_PREFIX": "kilowatch-demo",
    "KILOWATCH_APP_ID": "kilowatch-demo-worker",
    "KILOWATCH_STATE_DIR": ".state/demo",
    # The worker also stores readings in PostgreSQL: the console's asset chart reads them from there.
    "KILOWATCH_HISTORY_ENABLED": "true",
}


def reset(settings: Settings) -> None:
    """Delete the demo's topics (and the worker's changelog) and local state: a clean start."""
    client = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    names = [t for t in client.list_topics(timeout=10).topics if t.startswith(("kilowatch-demo",))]
    if names:
        for fut in client.delete_topics(names, operation_timeout=30).values():
            fut.result()
        time.sleep(2)  # deletion is asynchronous in the broker
    shutil.rmtree(settings.state_dir, ignore_errors=True)


def view(
    settings: Settings,
    planted: set[tuple[str, str]],
    procs: list[subprocess.Popen[bytes]],
    seconds_after: float,
) -> tuple[int, set[tuple[str, str]]]:
    console = Console()
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap,
            "group.id": "kilowatch-demo-viewer",
            "enable.auto.commit": False,
        }
    )
    topic = settings.kafka.topic("anomalies")
    consumer.assign(
        [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(settings.kafka.topic_partitions)]
    )
    recent: deque[dict[str, Any]] = deque(maxlen=18)
    seen: set[tuple[str, str]] = set()
    total = 0
    done_at: float | None = None

    def render() -> Table:
        table = Table(
            title=f"kilowatch live anomalies — {total} events, {len(seen & planted)} of "
            f"{len(planted)} planted faults hit (Ctrl-C to stop)",
            expand=True,
        )
        for col in ("asset", "time", "value", "expected", "score", "type", "reason", "planted"):
            table.add_column(col)
        for a in recent:
            mark = "yes" if (a["asset_id"], a["timestamp"]) in planted else ""
            table.add_row(
                a["asset_id"],
                a["timestamp"][:16].replace("T", " "),
                f"{a['value']:.2f}",
                f"{a['expected']:.2f}",
                f"{a['score']:.4f}",
                a["type"],
                a["reason"],
                mark,
            )
        return table

    interactive = console.is_terminal
    with (
        Live(render(), console=console, refresh_per_second=4, transient=False)
        if interactive
        else _Null() as live
    ):
        while True:
            for m in consumer.consume(500, timeout=0.25):
                payload = m.value()
                if m.error() or payload is None:
                    continue
                a = orjson.loads(payload)
                total += 1
                recent.appendleft(a)
                seen.add((a["asset_id"], a["timestamp"]))
                if not interactive:
                    print(
                        f"{a['asset_id']} {a['timestamp']} value={a['value']:.2f} "
                        f"expected={a['expected']:.2f} score={a['score']:.4f} {a['type']}: {a['reason']}"
                    )
            if interactive:
                live.update(render())
            if any(p.poll() not in (None, 0) for p in procs):
                raise SystemExit("a demo process failed; see .state/demo/*.log")
            if procs[-1].poll() == 0 and done_at is None:
                done_at = time.monotonic()
            if done_at is not None and time.monotonic() - done_at > seconds_after:
                break
    consumer.close()
    return total, seen


class _Null:
    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *_: object) -> None:
        return None


def spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a child with its output in a log file (the child keeps its own copy of the handle)."""
    with open(log, "wb") as fh:
        return subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)


def console_user(env: dict[str, str]) -> tuple[str, str]:
    """The demo's console admin ``demo`` with a fresh random password (made, or reset when it exists)."""
    from api.cli import CREATE_USER_ENV

    password = secrets.token_urlsafe(12)
    cmd_env = {**env, CREATE_USER_ENV: password}
    res = None
    for extra in ([], ["--reset"]):
        cmd = [KILOWATCH, "create-user", "demo", "--role", "admin", *extra]
        res = subprocess.run(cmd, env=cmd_env, capture_output=True, text=True, check=False)
        if res.returncode == 0:
            return "demo", password
    raise SystemExit(f"demo: could not make the console user: {res.stderr.strip() if res else ''}")


def start_console(settings: Settings, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``kilowatch api`` (which serves the console), and where it is, once it answers."""
    user, password = console_user(env)
    api = spawn([KILOWATCH, "api"], env, log)
    url = f"http://{settings.bind_host}:{settings.api.port}"
    deadline = time.monotonic() + 30
    while api.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection((settings.bind_host, settings.api.port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    if api.poll() is None:
        print(f"demo: console at {url}/admin/ (user {user}, password {password})", file=sys.stderr)
    else:
        print(f"demo: the API did not start (port {settings.api.port} taken?); see {log}", file=sys.stderr)
    return api


def within_three(meter: Meter, fault: InjectedFault) -> set[tuple[str, str]]:
    """(asset, timestamp) of the readings that report ``fault`` in time: its first three."""
    stop = min(fault.index + 3, len(meter.timestamps))
    return {(meter.asset_id, meter.timestamps[i]) for i in range(fault.index, stop)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--assets", type=int, default=20)
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--rate", type=float, default=3000.0)
    args = ap.parse_args(argv)
    env = {**os.environ, **DEMO_ENV}
    os.environ.update(DEMO_ENV)
    settings = Settings()
    print(f"demo: resetting topics {settings.kafka.topic_prefix}.* and {settings.state_dir}", file=sys.stderr)
    reset(settings)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    fleet = build_fleet(
        Path("../shared/data/energy/steel_industry_2018_15min.csv"), args.assets, args.rows, 300
    )
    planted_list = manifest(fleet)
    # A fault counts as found when a reading within 3 of its start is flagged (as in the tests and
    # ``core.faults.detection_report``: a one-reading drop-out is often named when the next reading
    # undoes it).
    planted: set[tuple[str, str]] = set()
    for m in fleet:
        for f in m.faults:
            planted.update(within_three(m, f))
    log_dir = settings.state_dir
    worker = spawn([KILOWATCH, "worker", "--worker-id", "demo"], env, log_dir / "worker.log")
    api = start_console(settings, env, log_dir / "api.log")
    time.sleep(3)
    sim_args = ["--assets", str(args.assets), "--rows", str(args.rows), "--rate", str(args.rate)]
    sim = spawn([KILOWATCH, "simulate", *sim_args], env, log_dir / "simulator.log")
    procs = [worker, sim]
    started = datetime.now()
    try:
        total, seen = view(settings, planted, procs, seconds_after=8.0)
    except KeyboardInterrupt:
        total, seen = -1, set()
    finally:
        for p in [*reversed(procs), api]:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
    hit = sum(1 for m in fleet for f in m.faults if not within_three(m, f).isdisjoint(seen))
    if total >= 0:
        print(
            f"demo: {total} anomaly events in {(datetime.now() - started).seconds} s; "
            f"{hit} of {len(planted_list)} planted faults reported within 3 readings",
            file=sys.stderr,
        )
    print("demo: the console stopped with the demo; `make api` serves it on its own", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
