"""Fault injection under load on real services: readings flow at a steady rate, a `kilowatch api`
answers probes, a training job runs and alerts go to a local webhook (and SMTP) sink, while
PostgreSQL, Redis and the Kafka broker are each stopped and restarted, and PostgreSQL is frozen
(SIGSTOP of the postmaster and its backends) — each for ``--outage`` seconds.

Measured: readings lost or scored twice (every produced (asset, timestamp) against the scores
topic), worker/API exits, API status codes per phase (any 5xx other than 503 is a failure; 503 is
the promised answer), time to recover (API probes healthy again; every reading produced during the
outage scored), the training job's states and final state, and alerts: the anomalies topic replayed
through the product's own episode rules gives the alerts that should be sent; those raised during an
outage must reach the webhook afterwards.

    python -m bench.hardening.faults [--outage 20] [--rate 200] [--assets 50]
        [--faults postgres,redis,kafka,postgres-sigstop]

Needs the infrastructure up and migrated, with the caller's KILOWATCH_* environment (it stops and
starts those services). Writes bench/results/hardening-faults.json and .md (unless --no-write)."""

from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import KILOWATCH, RESULTS, ROOT, Worker, delete_group, delete_topics
from bench.hardening.harness import Delivery, TopicCollector, TrackingProducer, isolated, wait_for_worker
from bench.hardening.sinks import SmtpSink, WebhookSink
from stream_app.alerting.config import AlertConfig
from stream_app.alerting.hygiene import EpisodeTracker
from stream_app.kafka.topics import ensure_topics
from stream_app.settings import Settings

START = datetime(2025, 1, 1, tzinfo=UTC)
STEP_S = 900.0
RECOVERY_S = 3.0  # alert episode recovery: a spike every 10 s of wall time opens a new episode
ALERT_CONFIG = {"email": "ops@example.com", "threshold": 0.0, "frequency": "immediate", "enabled": True}


def log(msg: str) -> None:
    print(f"[faults {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


# --- processes ---------------------------------------------------------------------------------
class Api:
    """A `kilowatch api` subprocess."""

    def __init__(self, env: dict[str, str], log_dir: Path, n: int) -> None:
        self.log_path = log_dir / f"api-{n}.log"
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [KILOWATCH, "api"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


class Supervisor(threading.Thread):
    """Watches the worker and the API; records every exit (time, code) and starts a new process, so
    that one exit does not end the run."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        super().__init__(name="supervisor", daemon=True)
        self.env, self.log_dir = env, log_dir
        self.worker = Worker(env, "w1", log_dir, [])
        self.api = Api(env, log_dir, 1)
        self.exits: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            with self.lock:
                if not self.worker.alive() and not self.stopping.is_set():
                    code = self.worker.proc.returncode
                    tail = self.worker.tail(15)
                    self.exits.append(
                        {"process": "worker", "at": time.time(), "code": code, "log_tail": tail}
                    )
                    log(f"worker exited with {self.worker.proc.returncode}; starting another")
                    self.worker.stop()
                    self.worker = Worker(self.env, f"w{len(self.exits) + 1}", self.log_dir, [])
                if not self.api.alive() and not self.stopping.is_set():
                    self.exits.append({"process": "api", "at": time.time(), "code": self.api.proc.returncode})
                    log(f"api exited with {self.api.proc.returncode}; starting another")
                    self.api.stop()
                    self.api = Api(self.env, self.log_dir, len(self.exits) + 1)

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)
        with self.lock:
            self.worker.stop()
            self.api.stop()


# --- load --------------------------------------------------------------------------------------
class ReadingFeed(threading.Thread):
    """``rate`` readings/s over ``n_assets`` assets (15-minute steps of event time), a x4 spike every
    40th reading of an asset once it has a day of history (so anomalies, and alerts, keep coming)."""

    def __init__(self, settings: Settings, prefix: str, n_assets: int, rate: int) -> None:
        super().__init__(name="reading-feed", daemon=True)
        self.assets = [f"{prefix}-{i:03d}" for i in range(n_assets)]
        self.rate = rate
        self.topic = settings.kafka.topic("readings")
        self.producer = TrackingProducer(
            settings, **{"enable.idempotence": True, "message.max.bytes": 1_000_000}
        )
        self.sent: list[tuple[str, float, float, Delivery]] = []  # asset, event ts, wall time, delivery
        self.stopping = threading.Event()

    def run(self) -> None:
        tick = 0.05
        per_tick = max(1, round(self.rate * tick))
        started = time.monotonic()
        i = 0
        while not self.stopping.is_set():
            for _ in range(per_tick):
                step, k = divmod(i, len(self.assets))
                asset = self.assets[k]
                ts = START + timedelta(seconds=STEP_S * step)
                value = 100.0 + 30.0 * math.sin(2 * math.pi * (step % 96) / 96) + (k % 5)
                if step >= 120 and (step + k) % 40 == 0:
                    value *= 4
                body = orjson.dumps(
                    {"timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": round(value, 3)}
                )
                self.sent.append(
                    (asset, ts.timestamp(), time.time(), self.producer.send(self.topic, asset.encode(), body))
                )
                i += 1
            self.producer.poll()
            delay = started + i / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def finish(self) -> int:
        self.stopping.set()
        self.join(10)
        return self.producer.flush(300)


class Prober:
    """One thread per route, each calling its route in a loop (a route that hangs does not hold the
    others up) and recording (time, route, status, seconds)."""

    ROUTES = ("healthz", "readyz", "anomalies", "models", "jobs", "unknown-key", "post-readings", "job")

    def __init__(self, base: str, key: str, asset: str, job_asset: str) -> None:
        self.base, self.key, self.asset, self.job_asset = base, key, asset, job_asset
        self.records: list[tuple[float, str, str, float]] = []
        self.stopping = threading.Event()
        self.job_id: str | None = None
        self.threads = [
            threading.Thread(target=self._loop, args=(route,), name=f"probe-{route}", daemon=True)
            for route in self.ROUTES
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _call(self, route: str, n: int) -> tuple[str, str, Any, dict[str, str]] | None:
        auth = {"Authorization": f"Bearer {self.key}"}
        probe_ts = (START + timedelta(seconds=STEP_S * n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        calls: dict[str, tuple[str, str, Any, dict[str, str]]] = {
            "healthz": ("GET", "/healthz", None, {}),
            "readyz": ("GET", "/readyz", None, {}),
            "anomalies": ("GET", f"/api/v1/assets/{self.asset}/anomalies?limit=5", None, auth),
            "models": ("GET", f"/api/v1/assets/{self.job_asset}/models", None, auth),
            "jobs": ("GET", "/api/v1/jobs?limit=5", None, auth),
            "unknown-key": ("GET", "/api/v1/jobs?limit=1", None,
                            {"Authorization": f"Bearer kw_{uuid.uuid4().hex[:8]}_{uuid.uuid4().hex}"}),
            "post-readings": ("POST", "/api/v1/readings",
                              {"readings": [{"asset_id": f"{self.asset}-api", "timestamp": probe_ts,
                                             "value": 1.0}]},
                              auth),
        }  # fmt: skip
        if self.job_id:
            calls["job"] = ("GET", f"/api/v1/jobs/{self.job_id}", None, auth)
        return calls.get(route)

    def _loop(self, route: str) -> None:
        n = 0
        with httpx.Client(base_url=self.base, timeout=5.0) as client:
            while not self.stopping.wait(0.25):
                n += 1
                call = self._call(route, n)
                if call is None:
                    continue
                method, path, body, headers = call
                t0 = time.time()
                try:
                    code = str(client.request(method, path, json=body, headers=headers).status_code)
                except httpx.TimeoutException:
                    code = "timeout"
                except httpx.TransportError:
                    code = "no-connection"
                self.records.append((t0, route, code, time.time() - t0))


class JobWatcher(threading.Thread):
    """Polls one training job and keeps its status changes."""

    def __init__(self, base: str, key: str, job_id: str) -> None:
        super().__init__(name="job-watcher", daemon=True)
        self.base, self.key, self.job_id = base, key, job_id
        self.states: list[tuple[float, str]] = []
        self.error: str | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=5.0) as client:
            while not self.stopping.wait(1.0):
                try:
                    r = client.get(
                        f"/api/v1/jobs/{self.job_id}", headers={"Authorization": f"Bearer {self.key}"}
                    )
                except httpx.TransportError:
                    continue
                if r.status_code == 200:
                    data = r.json()["data"]
                    status = data["status"]
                    if not self.states or self.states[-1][1] != status:
                        self.states.append((time.time(), status))
                    if data.get("error"):
                        self.error = str(data["error"])[:300]

    @property
    def final(self) -> str | None:
        return self.states[-1][1] if self.states else None


# --- faults ------------------------------------------------------------------------------------
def infra(env: dict[str, str], action: str, service: str) -> float:
    t0 = time.monotonic()
    done = subprocess.run([KILOWATCH, "infra", action, "--only", service], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"infra {action} --only {service}: {done.stderr.strip()[-500:]}")
    return time.monotonic() - t0


def postgres_processes(settings: Settings) -> list[int]:
    """The postmaster and its children (each backend is its own process group, so signalling the
    postmaster's group would leave open connections served)."""
    pid = int(json.loads((settings.state_dir / "infra" / "pids" / "postgres.json").read_text())["pid"])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return [pid, *children]


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # a backend that ended meanwhile
            os.kill(pid, sig)


@dataclass
class FaultRecord:
    name: str
    stop_at: float = 0.0
    start_at: float = 0.0  # the service is back (``up`` returned, or SIGCONT sent)
    stop_cmd_s: float = 0.0
    start_cmd_s: float = 0.0
    end_at: float = 0.0  # end of the recovery window
    api_recovered_s: float | None = None
    readings_recovered_s: float | None = None
    notes: list[str] = field(default_factory=list)


def inject(name: str, env: dict[str, str], settings: Settings, outage: float) -> FaultRecord:
    rec = FaultRecord(name)
    service, _, how = name.partition("-")
    rec.stop_at = time.time()
    if how == "sigstop":
        pids = postgres_processes(settings)  # the postmaster first: it starts no backend while stopped
        signal_all(pids, signal.SIGSTOP)
        rec.notes.append(f"SIGSTOP to {len(pids)} PostgreSQL processes")
        try:
            time.sleep(outage)
        finally:
            signal_all(list(reversed(pids)), signal.SIGCONT)
    else:
        rec.stop_cmd_s = infra(env, "down", service)
        time.sleep(max(0.0, outage - rec.stop_cmd_s))
        rec.start_cmd_s = infra(env, "up", service)
    rec.start_at = time.time()
    return rec


# --- analysis ----------------------------------------------------------------------------------
# Healthy answers per probed route (anything else, 503 included, is "unhealthy"); the models of the
# job's asset answer 404 until its first version is registered.
GOOD = {"unknown-key": {"401"}, "post-readings": {"202", "200"}, "models": {"200", "404"}}


def healthy(route: str, code: str) -> bool:
    return code in GOOD.get(route, {"200"})


def api_recovery(probes: list[tuple[float, str, str, float]], after: float, until: float) -> float | None:
    """Seconds after ``after`` of the last unhealthy probe answer before ``until`` (0: none)."""
    bad = [t for t, route, code, _ in probes if after <= t < until and not healthy(route, code)]
    if not bad:
        return 0.0
    last = max(bad)
    return None if until - last < 3.0 else round(last - after, 1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    tag = f"faults-{uuid.uuid4().hex[:6]}"
    # Asset ids of their own: event, episode and delivery ids derive from them, and the database
    # (alert episodes and deliveries) outlives a run.
    asset_prefix = f"fi{tag[-6:]}"
    state = Path(tempfile.mkdtemp(prefix=f"kw-{tag}-"))
    data_dir = state / "data"
    data_dir.mkdir()
    webhook, smtp = WebhookSink(), SmtpSink()
    settings, env = isolated(
        tag,
        state,
        alerting_enabled=True,
        alert_webhook_url=webhook.url,
        alert_smtp_port=smtp.port,
        alert_recovery_s=RECOVERY_S,
        alert_cooldown_s=0.0,
        alert_tick_s=1.0,
        alert_retry_base_s=1.0,
        alert_max_attempts=12,
        data_file_roots=[str(data_dir)],
        outbound_allow_private=True,  # the webhook sink listens on loopback
        api_verifications_per_minute=1_000_000,
        api_rate_limit_per_minute=1_000_000,
    )
    # The infra commands must find the services where this run's caller started them.
    infra_env = {k: v for k, v in env.items() if k != "KILOWATCH_STATE_DIR"}
    infra_env["KILOWATCH_STATE_DIR"] = os.environ.get("KILOWATCH_STATE_DIR", str(Settings().state_dir))
    infra_settings = Settings().with_changes(state_dir=Path(infra_env["KILOWATCH_STATE_DIR"]))
    ensure_topics(settings)
    scopes = [arg for s in ("read", "write", "model", "admin") for arg in ("--scope", s)]
    key_out = subprocess.run(
        [KILOWATCH, "create-api-key", f"fault-injection-{tag}", *scopes, "--rate-limit", "1000000"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    key = key_out.stdout.split()[0]
    base = f"http://127.0.0.1:{settings.api.port}"
    auth = {"Authorization": f"Bearer {key}"}
    sup = Supervisor(env, state)
    faults: list[FaultRecord] = []
    feed = prober = watcher = None
    scores = TopicCollector(settings, settings.kafka.topic("scores"), settings.kafka.topic_partitions)
    anomalies = TopicCollector(settings, settings.kafka.topic("anomalies"), settings.kafka.topic_partitions)
    t_begin = time.time()
    result: dict[str, Any] = {}
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        r = httpx.put(f"{base}/api/v1/alert-config", json=ALERT_CONFIG, headers=auth, timeout=10)
        if r.status_code != 200:
            raise RuntimeError(f"alert config: {r.status_code} {r.text[:300]}")
        sup.start()
        wait_for_worker(settings, sup.worker.alive, 120)
        log("worker and api up; readings flowing")
        feed = ReadingFeed(settings, asset_prefix, args.assets, args.rate)
        feed.start()
        prober = Prober(base, key, f"{asset_prefix}-001", f"{asset_prefix}-000")
        prober.start()
        time.sleep(args.baseline)
        # A training job on 20,000 rows of its own CSV, submitted just before the first outage.
        csv = data_dir / "train.csv"
        rows = ["timestamp,value"] + [
            f"{(START + timedelta(seconds=STEP_S * i)).strftime('%Y-%m-%dT%H:%M:%SZ')},"
            f"{100 + 30 * math.sin(2 * math.pi * (i % 96) / 96) + (i * 7919 % 13) / 3:.3f}"
            for i in range(20_000)
        ]
        csv.write_text("\n".join(rows) + "\n")
        job_body = {"asset_id": f"{asset_prefix}-000", "model_type": "lightgbm", "data_url": csv.as_uri(),
                    "params": {"n_estimators": 1500, "num_leaves": 63}}  # fmt: skip
        r = httpx.post(f"{base}/api/v1/training-jobs", json=job_body, headers=auth, timeout=30)
        job_submit = {"status": r.status_code, "body": r.text[:300]}
        if r.status_code == 202:
            job_id = r.json()["data"]["id"]
            prober.job_id = job_id
            watcher = JobWatcher(base, key, job_id)
            watcher.start()
        baseline_end = time.time()
        for name in args.faults.split(","):
            log(f"{name}: down for {args.outage:.0f} s")
            rec = inject(name, infra_env, infra_settings, args.outage)
            faults.append(rec)
            log(f"{name}: back; waiting for recovery")
            deadline = time.time() + args.recovery_max
            while time.time() < deadline:
                time.sleep(2.0)
                api_ok = api_recovery(prober.records, rec.start_at, time.time()) is not None
                outage_keys = {(a, ts) for a, ts, wall, d in list(feed.sent) if wall <= rec.start_at}
                got = {(s.value["asset_id"], epoch(s.value["timestamp"])) for s in scores.snapshot()}
                if api_ok and outage_keys <= got:
                    break
            time.sleep(args.settle)
            rec.end_at = time.time()
        log("faults done; draining")
        left = feed.finish()
        drain_deadline = time.time() + 180
        want = {(a, ts) for a, ts, _, d in feed.sent if d.error is None}
        while time.time() < drain_deadline:
            got = {(s.value["asset_id"], epoch(s.value["timestamp"])) for s in scores.snapshot()}
            if want <= got:
                break
            time.sleep(2.0)
        if watcher is not None:
            job_deadline = time.time() + args.job_wait
            while time.time() < job_deadline and watcher.final not in ("TRAINED", "FAILED", "CANCELED"):
                time.sleep(2.0)
        # alerts: wait until the webhook has what the replayed episode rules say it should
        alert_deadline = time.time() + args.alert_wait
        expected: dict[str, float] = {}
        while time.time() < alert_deadline:
            expected = expected_alerts(anomalies.snapshot())
            received = {b.get("alert", {}).get("event_id") for _, b in webhook.received}
            if set(expected) <= received and set(expected) <= set(emailed_events(smtp, anomalies.snapshot())):
                break
            time.sleep(2.0)
        time.sleep(3.0)
        prober.stopping.set()
        if watcher is not None:
            watcher.stopping.set()
        result = analyse(
            args, t_begin, baseline_end, faults, feed, prober, watcher, job_submit, sup,
            scores.snapshot(), anomalies.snapshot(), webhook, smtp, left,
        )  # fmt: skip
    finally:
        if prober is not None:
            prober.stopping.set()
        if feed is not None and feed.is_alive():
            feed.finish()
        sup.stop()
        scores.close()
        anomalies.close()
        webhook.close()
        smtp.close()
        subprocess.run([KILOWATCH, "infra", "up"], env=infra_env, cwd=ROOT, capture_output=True, timeout=180)
        logs = RESULTS / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for p in state.glob("*.log"):
            shutil.copy(p, logs / f"hardening-faults-{p.name}")
        subprocess.run(
            [KILOWATCH, "revoke-api-key", key.split("_")[1]], env=env, cwd=ROOT, capture_output=True
        )
        delete_group(settings, settings.worker.app_id)
        delete_topics(settings, settings.kafka.topic_prefix)
        shutil.rmtree(state, ignore_errors=True)
    return result


def expected_alerts(anomalies: list[Any]) -> dict[str, float]:
    """event_id -> detected_at of every anomaly that must alert, by the product's episode rules
    (the agent reads each partition in order; an asset's anomalies are all in one partition)."""
    tracker = EpisodeTracker(RECOVERY_S, 0.0)
    config = AlertConfig(**ALERT_CONFIG)
    out: dict[str, float] = {}
    for rec in sorted(anomalies, key=lambda r: (r.partition, r.offset)):
        a = rec.value
        at = epoch(a["detected_at"])
        outcome = tracker.observe(config, uuid.UUID(a["event_id"]), a["asset_id"], at, a["score"], a["type"])
        if outcome.alert:
            out[a["event_id"]] = at
    return out


def spread(values: list[float]) -> dict[str, float]:
    """p50 and max of probe latencies (seconds)."""
    if not values:
        return {}
    ordered = sorted(values)
    return {"p50": round(ordered[len(ordered) // 2], 3), "max": round(ordered[-1], 3)}


MAIL_ASSET = re.compile(r"^Asset (\S+): ", re.M)
MAIL_READING = re.compile(r"^Reading at (\S+): value", re.M)


def emailed_events(smtp: SmtpSink, anomalies: list[Any]) -> Counter[str]:
    """Event ids of the anomalies the received alert e-mails name (by asset and reading time)."""
    by_reading = {(a.value["asset_id"], epoch(a.value["timestamp"])): a.value["event_id"] for a in anomalies}
    out: Counter[str] = Counter()
    for _, text in smtp.messages:
        msg = email.message_from_string(text, policy=email.policy.default)
        part = msg.get_body(("plain",)) if msg.is_multipart() else msg
        body = part.get_content() if part is not None else ""
        asset, reading = MAIL_ASSET.search(body), MAIL_READING.search(body)
        if asset and reading:
            out[by_reading.get((asset.group(1), epoch(reading.group(1))), "unknown")] += 1
        else:
            out["unparsed"] += 1
    return out


def phase_of(t: float, baseline_end: float, faults: list[FaultRecord]) -> str:
    for f in faults:
        if f.stop_at <= t < f.start_at:
            return f"{f.name}: outage"
        if f.start_at <= t < f.end_at:
            return f"{f.name}: recovery"
    return "baseline" if t < baseline_end else "between/drain"


def analyse(
    args: argparse.Namespace,
    t_begin: float,
    baseline_end: float,
    faults: list[FaultRecord],
    feed: ReadingFeed,
    prober: Prober,
    watcher: JobWatcher | None,
    job_submit: dict[str, Any],
    sup: Supervisor,
    scores: list[Any],
    anomalies: list[Any],
    webhook: WebhookSink,
    smtp: SmtpSink,
    unflushed: int,
) -> dict[str, Any]:
    # readings
    arrivals: dict[tuple[str, float], list[float]] = defaultdict(list)
    assets = set(feed.assets)
    for s in scores:
        if s.value["asset_id"] in assets:
            arrivals[(s.value["asset_id"], epoch(s.value["timestamp"]))].append(s.arrived)
    delivered = [(a, ts, wall) for a, ts, wall, d in feed.sent if d.error is None]
    refused = Counter(d.error for *_, d in feed.sent if d.error is not None)
    lost = [(a, ts, wall) for a, ts, wall in delivered if (a, ts) not in arrivals]
    twice = [k for k, v in arrivals.items() if len(v) > 1]
    for f in faults:
        during = [
            arrivals[(a, ts)]
            for a, ts, wall in delivered
            if f.stop_at <= wall <= f.start_at and (a, ts) in arrivals
        ]
        if during:
            f.readings_recovered_s = round(max(max(v) for v in during) - f.start_at, 1)
        f.api_recovered_s = api_recovery(prober.records, f.start_at, f.end_at)
    # API codes per phase
    codes: dict[str, Counter[str]] = defaultdict(Counter)
    per_route: dict[str, Counter[str]] = defaultdict(Counter)
    latency: dict[str, list[float]] = defaultdict(list)
    for t, route, code, took in prober.records:
        ph = phase_of(t, baseline_end, faults)
        codes[ph][code] += 1
        latency[ph].append(took)
        if not healthy(route, code):
            per_route[ph][f"{route} {code}"] += 1
    # alerts
    expected = expected_alerts(anomalies)
    received: Counter[str] = Counter(b.get("alert", {}).get("event_id") for _, b in webhook.received)
    mailed = emailed_events(smtp, anomalies)
    alerts: dict[str, dict[str, int]] = {}
    for ev, at in expected.items():
        ph = phase_of(at, baseline_end, faults)
        row = alerts.setdefault(
            ph, {"raised": 0, "delivered": 0, "webhook": 0, "email": 0, "delivered_twice": 0}
        )
        row["raised"] += 1
        row["webhook"] += received[ev] >= 1
        row["email"] += mailed[ev] >= 1
        row["delivered"] += received[ev] >= 1 and mailed[ev] >= 1
        row["delivered_twice"] += received[ev] > 1 or mailed[ev] > 1
    # Deliveries of this run's anomalies that the episode rules say should not alert; deliveries of
    # other runs' alerts (still pending in the database when this run's worker started) apart.
    this_run = {a.value["event_id"] for a in anomalies}
    unexpected = sum(n for ev, n in (received + mailed).items() if ev in this_run and ev not in expected)
    earlier = sum(n for ev, n in (received + mailed).items() if ev not in this_run)
    fault_rows = []
    for f in faults:
        outage_codes = codes.get(f"{f.name}: outage", Counter())
        recovery_codes = codes.get(f"{f.name}: recovery", Counter())
        worker_exits = [e for e in sup.exits if e["process"] == "worker" and f.stop_at <= e["at"] < f.end_at]
        api_exits = [e for e in sup.exits if e["process"] == "api" and f.stop_at <= e["at"] < f.end_at]
        a = alerts.get(f"{f.name}: outage", {"raised": 0, "delivered": 0, "webhook": 0, "email": 0})
        fault_rows.append({
            "fault": f.name,
            "outage_s": round(f.start_at - f.stop_at, 1),
            "stop_cmd_s": round(f.stop_cmd_s, 1),
            "start_cmd_s": round(f.start_cmd_s, 1),
            "worker_exits": len(worker_exits),
            "api_exits": len(api_exits),
            "api_codes_outage": dict(outage_codes),
            "api_latency_outage_s": spread(latency.get(f"{f.name}: outage", [])),
            "api_codes_recovery": dict(recovery_codes),
            "api_5xx_not_503": sum(
                n for c, n in (outage_codes + recovery_codes).items() if c.startswith("5") and c != "503"
            ),
            "unhealthy_by_route_outage": dict(per_route.get(f"{f.name}: outage", Counter())),
            "api_recovered_s": f.api_recovered_s,
            "readings_recovered_s": f.readings_recovered_s,
            "alerts_raised_in_outage": a["raised"],
            "alerts_delivered": a["delivered"],
            "alerts_by_webhook": a["webhook"],
            "alerts_by_email": a["email"],
        })  # fmt: skip
    total_alerts = {
        "expected": len(expected),
        "delivered": sum(1 for ev in expected if received[ev] >= 1 and mailed[ev] >= 1),
        "by_webhook": sum(1 for ev in expected if received[ev] >= 1),
        "by_email": sum(1 for ev in expected if mailed[ev] >= 1),
        "delivered_twice": sum(1 for ev in expected if received[ev] > 1 or mailed[ev] > 1),
        "unexpected_deliveries": unexpected,
        "deliveries_of_earlier_runs": earlier,
        "webhook_posts": len(webhook.received),
        "emails_received": len(smtp.messages),
        "by_phase": alerts,
    }
    job = {
        "submit": job_submit,
        "states": [(round(t - t_begin, 1), s) for t, s in (watcher.states if watcher else [])],
        "final": watcher.final if watcher else None,
        "error": watcher.error if watcher else None,
    }
    logs = [p for p in Path(sup.log_dir).glob("*.log")]
    log_errors: dict[str, int] = {}
    for p in logs:
        text = p.read_text(errors="replace")
        log_errors[p.name] = sum(
            1 for line in text.splitlines() if '"level":"error"' in line or '"level":"critical"' in line
        )
    readings = {
        "produced": len(feed.sent),
        "refused_by_broker": dict(refused),
        "unflushed_at_end": unflushed,
        "delivered": len(delivered),
        "scored": sum(1 for a, ts, _ in delivered if (a, ts) in arrivals),
        "lost": len(lost),
        "lost_examples": [
            (a, datetime.fromtimestamp(ts, UTC).isoformat(), round(w - t_begin, 1)) for a, ts, w in lost[:5]
        ],
        "scored_twice": len(twice),
        "rate_per_s": args.rate,
        "assets": args.assets,
    }
    checks = {
        "0 readings lost": readings["lost"] == 0 and not refused,
        "0 readings scored twice": readings["scored_twice"] == 0,
        "worker never exits": not any(e["process"] == "worker" for e in sup.exits),
        "API never 5xx other than 503": all(r["api_5xx_not_503"] == 0 for r in fault_rows),
        "API answers 503 (not timeouts/other) in outages": all(
            set(r["api_codes_outage"]) <= {"200", "202", "401", "503"} for r in fault_rows
        ),
        "API recovers": all(r["api_recovered_s"] is not None for r in fault_rows),
        "job ends cleanly": job["final"] == "TRAINED",
        "alerts raised in outages delivered": all(
            r["alerts_delivered"] == r["alerts_raised_in_outage"] for r in fault_rows
        ),
        "every expected alert delivered once": (
            total_alerts["delivered"] == total_alerts["expected"]
            and total_alerts["delivered_twice"] == 0
            and total_alerts["unexpected_deliveries"] == 0
        ),
    }  # fmt: skip
    return {
        "meta": {
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "scripts/fault-injection " + " ".join(sys.argv[1:]),
            "wall_s": round(time.time() - t_begin, 1),
            "outage_s": args.outage,
            "faults": args.faults,
            "readings_path": "batch (default)",
        },
        "checks": checks,
        "faults": fault_rows,
        "readings": readings,
        "api_codes_by_phase": {k: dict(v) for k, v in codes.items()},
        "api_latency_by_phase_s": {k: spread(v) for k, v in latency.items()},
        "job": job,
        "alerts": total_alerts,
        "process_exits": [
            {k: (round(v - t_begin, 1) if k == "at" else v) for k, v in e.items()} for e in sup.exits
        ],
        "log_error_lines": log_errors,
    }


def markdown(res: dict[str, Any]) -> str:
    m = res["meta"]
    lines = [
        "# Fault injection under load",
        "",
        f"Run {m['finished_at']} by `{m['command']}` ({m['wall_s']} s). "
        f"Readings at {res['readings']['rate_per_s']}/s "
        f"over {res['readings']['assets']} assets (Kafka producer, readings path {m['readings_path']}), "
        "one `kilowatch worker` (alerting on: webhook and SMTP sinks on loopback, every anomaly alerts, "
        f"episode recovery {RECOVERY_S:.0f} s) and one `kilowatch api` probed on 8 routes, each in its own "
        "loop (~4 calls/s when answers are fast; healthz, readyz, anomalies, models, jobs, one job, an "
        "unknown key, POST /readings; 5 s client timeout), a LightGBM training job submitted just before "
        f"the first fault. Each fault lasts ~{m['outage_s']:.0f} s: `kilowatch infra down/up --only X`, "
        "or SIGSTOP/SIGCONT of the PostgreSQL postmaster and all its backends (`postgres-sigstop`).",
        "",
        "## Checks (what issue 14 promises)",
        "",
        "| check | result |",
        "|---|---|",
        *[f"| {k} | {'PASS' if v else '**FAIL**'} |" for k, v in res["checks"].items()],
        "",
        "## Per fault",
        "",
        "| fault | outage s | worker exits | API exits | API codes during outage | probe latency p50 / max s "
        "| API codes in recovery | 5xx not 503 | API recovered s | readings recovered s "
        "| alerts raised in outage | delivered (webhook / e-mail) |",
        "|---|---:|---:|---:|---|---|---|---:|---:|---:|---:|---|",
    ]
    for r in res["faults"]:
        lat = lambda d: f"{d.get('p50', '-')} / {d.get('max', '-')}"  # noqa: E731
        fmt = lambda c: ", ".join(f"{k}: {v}" for k, v in sorted(c.items())) or "-"  # noqa: E731
        lines.append(
            f"| {r['fault']} | {r['outage_s']} | {r['worker_exits']} | {r['api_exits']} "
            f"| {fmt(r['api_codes_outage'])} | {lat(r['api_latency_outage_s'])} "
            f"| {fmt(r['api_codes_recovery'])} | {r['api_5xx_not_503']} "
            f"| {'not recovered' if r['api_recovered_s'] is None else r['api_recovered_s']} | "
            f"{r['readings_recovered_s']} | {r['alerts_raised_in_outage']} "
            f"| {r['alerts_delivered']} ({r['alerts_by_webhook']} / {r['alerts_by_email']}) |"
        )
    rd, job, al = res["readings"], res["job"], res["alerts"]
    lines += [
        "",
        "Unhealthy answers per route during each outage:",
        "",
        *[
            f"- {r['fault']}: "
            + (", ".join(f"{k} x{v}" for k, v in sorted(r["unhealthy_by_route_outage"].items())) or "none")
            for r in res["faults"]
        ],
        "",
        "## Readings",
        "",
        f"- produced {rd['produced']}, refused by the broker {sum(rd['refused_by_broker'].values())} "
        f"{rd['refused_by_broker'] or ''}, delivered {rd['delivered']}, scored {rd['scored']}, "
        f"**lost {rd['lost']}**, **scored twice {rd['scored_twice']}**",
        *([f"- first lost: {rd['lost_examples']}"] if rd["lost"] else []),
        "",
        "## Training job",
        "",
        f"- submitted: HTTP {job['submit']['status']}; states (s since start): {job['states']}; "
        f"final: **{job['final']}**" + (f"; error: `{job['error']}`" if job["error"] else ""),
        "",
        "## Alerts",
        "",
        f"- expected (anomalies topic replayed through the episode rules): {al['expected']}; "
        f"delivered by both channels: {al['delivered']} (webhook {al['by_webhook']}, "
        f"e-mail {al['by_email']}); delivered twice: "
        f"{al['delivered_twice']}; deliveries of no expected alert: {al['unexpected_deliveries']}; "
        f"deliveries of earlier runs' alerts (pending in the database): {al['deliveries_of_earlier_runs']} "
        f"(webhook posts {al['webhook_posts']}, e-mails {al['emails_received']})",
        "",
        "| raised in phase | raised | delivered (both channels) | by webhook | by e-mail | delivered twice |",
        "|---|---:|---:|---:|---:|---:|",
        *[
            f"| {k} | {v['raised']} | {v['delivered']} | {v['webhook']} | {v['email']} "
            f"| {v['delivered_twice']} |"
            for k, v in sorted(al["by_phase"].items())
        ],
        "",
        "## Processes",
        "",
        f"- exits (s since start): {res['process_exits'] or 'none'}",
        f"- error/critical log lines: {res['log_error_lines']}",
        "",
        "Logs of the run: `bench/results/logs/hardening-faults-*.log`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--outage", type=float, default=20.0)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--assets", type=int, default=50)
    ap.add_argument("--baseline", type=float, default=35.0, help="seconds of load before the first fault")
    ap.add_argument("--faults", default="postgres,redis,kafka,postgres-sigstop")
    ap.add_argument("--recovery-max", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=5.0)
    ap.add_argument("--job-wait", type=float, default=120.0)
    ap.add_argument("--alert-wait", type=float, default=60.0)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    res = run(args)
    if not res:
        return 2
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "hardening-faults.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
        (RESULTS / "hardening-faults.md").write_text(markdown(res))
    print(markdown(res))
    return 0 if all(res["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
