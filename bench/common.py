"""Shared bench plumbing: isolated settings per benchmark, worker subprocesses, Kafka helpers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from stream_app.kafka.clients import produce as kafka_produce
from stream_app.kafka.clients import producer
from stream_app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
KILOWATCH = str(Path(sys.executable).parent / "kilowatch")
RUN_TAG = uuid.uuid4().hex[:6]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Isolated:
    """One benchmark's own topics, consumer group and state folder, plus the worker env for them."""

    name: str
    settings: Settings
    env: dict[str, str]
    state_dir: Path
    workers: list[Worker] = field(default_factory=list)

    @classmethod
    def create(cls, name: str, **overrides: Any) -> Isolated:
        prefix = f"bench-{RUN_TAG}-{name}"
        state_dir = Path(tempfile.mkdtemp(prefix=f"kilowatch-bench-{name}-"))
        values: dict[str, Any] = {
            "topic_prefix": prefix,
            "app_id": f"{prefix}-worker",
            "state_dir": str(state_dir),
            "emit_scores": False,
        }
        values.update(overrides)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KILOWATCH_")}
        base = Settings()
        env["KILOWATCH_KAFKA_BOOTSTRAP"] = base.kafka.bootstrap
        env.update({f"KILOWATCH_{k.upper()}": str(v) for k, v in values.items()})
        update = {k: (Path(v) if k == "state_dir" else v) for k, v in values.items()}
        return cls(name, base.with_changes(**update), env, state_dir)

    @property
    def changelog_topic(self) -> str:
        return f"{self.settings.worker.app_id}-asset-state-changelog"

    def start_worker(self, worker_id: str = "w1", command: Iterable[str] = ()) -> Worker:
        w = Worker(self.env, worker_id, self.state_dir, list(command))
        self.workers.append(w)
        return w

    def cleanup(self) -> None:
        for w in self.workers:
            w.stop()
        delete_group(self.settings, self.settings.worker.app_id)
        deleted = delete_topics(self.settings, self.settings.kafka.topic_prefix)
        log(f"{self.name}: deleted {len(deleted)} topics ({', '.join(sorted(deleted))})")
        logs = RESULTS / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for w in self.workers:
            if w.log_path.exists():
                shutil.copy(w.log_path, logs / f"{self.name}-{w.worker_id}.log")
        shutil.rmtree(self.state_dir, ignore_errors=True)


class Worker:
    """A ``kilowatch worker`` subprocess; ``command`` replaces the ``kilowatch`` executable."""

    def __init__(self, env: dict[str, str], worker_id: str, log_dir: Path, command: list[str]) -> None:
        self.worker_id = worker_id
        self.log_path = log_dir / f"worker-{worker_id}.log"
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [*(command or [KILOWATCH]), "worker", "--worker-id", worker_id],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check(self) -> None:
        if not self.alive():
            raise RuntimeError(f"worker {self.worker_id} exited ({self.proc.returncode}):\n{self.tail()}")

    def stop(self, timeout: float = 60.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if not self.log.closed:
            self.log.close()

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


def admin(settings: Settings) -> AdminClient:
    return AdminClient({"bootstrap.servers": settings.kafka.bootstrap, "socket.timeout.ms": 10_000})


def delete_topics(settings: Settings, prefix: str) -> list[str]:
    """Delete every topic whose name starts with ``prefix`` (readings, outputs, faust changelog/assignor)."""
    client = admin(settings)
    names = [t for t in client.list_topics(timeout=10).topics if t.startswith(prefix)]
    if not names:
        return []
    for name, fut in client.delete_topics(names, operation_timeout=30).items():
        try:
            fut.result(timeout=30)
        except KafkaException as exc:
            log(f"could not delete topic {name}: {exc}")
    return names


def delete_group(settings: Settings, group: str) -> None:
    client = admin(settings)  # keep a reference: a collected client never resolves its futures
    try:
        for fut in client.delete_consumer_groups([group], request_timeout=10).values():
            fut.result(timeout=20)
    except KafkaException as exc:
        if exc.args and exc.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
            log(f"consumer group {group} not deleted: {exc!r}")
    except TimeoutError:
        log(f"consumer group {group} not deleted: timeout")


def produce_all(settings: Settings, topic: str, messages: Iterable[tuple[bytes, bytes]]) -> int:
    prod = producer(settings)
    n = 0
    for key, value in messages:
        kafka_produce(prod, topic, key, value)
        n += 1
        if n % 10_000 == 0:
            prod.poll(0)
    left = prod.flush(120)
    if left:
        raise RuntimeError(f"{left} messages not delivered to {topic}")
    return n


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": f"bench-probe-{RUN_TAG}"})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        c.close()


def committed_total(client: AdminClient, group: str, topic: str) -> int:
    """Sum of the group's committed offsets on ``topic`` (0 before the first commit)."""
    req = [ConsumerGroupTopicPartitions(group)]
    try:
        res = client.list_consumer_group_offsets(req, request_timeout=10)[group].result(timeout=15)
    except KafkaException:
        return 0
    return sum(tp.offset for tp in res.topic_partitions if tp.topic == topic and tp.offset >= 0)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (kB) of a process, plus its children (RocksDB runs in-process, so usually none)."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    vals = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = vals[3] + vals[4]
    return (sum(vals) - idle) / hz, sum(vals) / hz


# The ETTh2 long-horizon protocol (bench/long_horizon.py, docs/forecasting-long-horizon.md): the first
# 14,400 rows split 8,640/2,880/2,880, all 7 columns, lookback 720, horizon 96.
ETTH2_DATA = Path(os.environ.get("KW_SHARED_DATA", "/work/shared/data")) / "ett" / "ETTh2.csv"
ETTH2_TARGETS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
ETTH2_ROWS, ETTH2_TRAIN, ETTH2_LOOKBACK, ETTH2_HORIZON = 14_400, 8640, 720, 96
ETTH2_WINDOWS_PER_CHANNEL = ETTH2_TRAIN - ETTH2_LOOKBACK - ETTH2_HORIZON + 1  # every train window


@dataclass(frozen=True)
class EpochCost:
    """CPU and wall seconds of one training epoch over ``windows`` sampled windows, and the fitted model."""

    model: Any
    windows: int
    cpu: float
    wall: float

    @property
    def cpu_per_window(self) -> float:
        return self.cpu / self.windows

    @property
    def weights(self) -> int:
        return int(sum(p.numel() for p in self.model.model.parameters()))


def etth2_epoch_cost(
    model_type: str,
    params: dict[str, Any],
    per_channel: int,
    *,
    data_path: Path = ETTH2_DATA,
    targets: list[str] = ETTH2_TARGETS,
    train: int = ETTH2_TRAIN,
    lookback: int = ETTH2_LOOKBACK,
    horizon: int = ETTH2_HORIZON,
) -> EpochCost:
    """Time one epoch of ``model_type`` (through ``trainers.models``, one thread) over ``per_channel``
    sampled windows of each target column of the first ``train`` rows, as channel-independent series
    scaled with those rows' mean/std; calendar covariates go in as future covariates where the model
    takes them (known ``horizon`` rows ahead), else as past covariates. Reads no row after ``train``."""
    import numpy as np
    from darts import TimeSeries

    from trainers import backtest, frames, models

    frame, _ = backtest.read_targets(data_path, targets)
    rows = frame.iloc[:train].to_numpy(dtype=float)
    scaled = (rows - rows.mean(axis=0)) / rows.std(axis=0)
    index = frame.index[:train]
    n = len(targets)
    series = [TimeSeries.from_times_and_values(index, scaled[:, [j]].astype(np.float32)) for j in range(n)]
    future = models.uses_future_covariates(model_type)
    cal_index = frame.index[: train + horizon] if future else index
    covs = [TimeSeries.from_dataframe(frames.calendar(cal_index).astype(np.float32))] * n
    full = {**params, "n_epochs": 1, "max_samples": per_channel, "threads": 1}
    model = models.build(model_type, full, models.Shape(horizon, 24, False), lookback, 0, train)
    c0, t0 = time.process_time(), time.perf_counter()
    models.fit(
        model, model_type, full, series, None if future else covs, covs if future else None, None, None
    )
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    return EpochCost(model, n * per_channel, cpu, wall)
