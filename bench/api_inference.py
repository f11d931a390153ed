"""``python -m bench.api_inference``: latency and throughput of POST predict / detect_anomalies.

A real ``kilowatch api`` process (uvicorn) on a free port, against the local PostgreSQL/Redis/Kafka. One
asset gets a LightGBM model trained on the steel plant's ``Usage_kWh`` (horizon 24, default parameters,
the first 2,400 rows: its lags reach 97 steps back, so 168 history points suffice), registered and
activated in the registry as the training jobs do; a second asset is registered without a model (the
online model answers). A read key with a high rate limit drives closed-loop clients (``bench.http_load``):

* baseline: ``GET /healthz`` with 50 clients (the server's floor on this machine, same run);
* predict, trained model: 50 clients, 168 history points, horizon 24, plus a paced /healthz probe;
* predict, online model: the same requests for the asset without a model;
* detect, trained model: 1,000 points, 1 client (latency) and 50 clients (throughput).

Target (issue 4): predict p99 < 50 ms with 50 concurrent clients (goal 20 ms; the original requirement
500 ms). Writes ``bench/results/api_inference.md`` and ``.json``. ``--quick`` shortens every phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from bench.common import KILOWATCH, RESULTS, ROOT, log, machine_busy
from bench.data import CSV
from bench.http_load import closed_loop, encode
from stream_app.settings import Settings

OUT_MD = RESULTS / "api_inference.md"
OUT_JSON = RESULTS / "api_inference.json"
HOST = "127.0.0.1"
TRAIN_ROWS = 2400
HISTORY = 168
HORIZON = 24
DETECT_POINTS = 1000
TARGET_P99_MS, GOAL_P99_MS, REQUIRED_P99_MS = 50.0, 20.0, 500.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def steel() -> pd.DataFrame:
    df = pd.read_csv(CSV, usecols=["timestamp", "Usage_kWh"])
    return pd.DataFrame(
        {"timestamp": pd.to_datetime(df["timestamp"], utc=True), "value": df["Usage_kWh"].astype(float)}
    )


def train_bundle(frame: pd.DataFrame, out: Path) -> Any:
    from trainers.backend import TrainSpec, train

    started = time.perf_counter()
    model = train(frame.iloc[:TRAIN_ROWS].reset_index(drop=True), TrainSpec("lightgbm", {}, horizon=HORIZON))
    model.save(out)
    log(f"trained LightGBM in {time.perf_counter() - started:.1f} s (input length {model.input_length})")
    return model


async def register(settings: Settings, bundle: Path, tag: str) -> tuple[str, str, str]:
    """(trained asset, asset without a model, read key)."""
    from api.services import keystore
    from stream_app.lifecycle.artifacts import open_store
    from stream_app.store import repository as repo
    from stream_app.store.pool import create_pool

    pool = await create_pool(settings, min_size=1, max_size=2)
    try:
        trained, online = f"bench-api-{tag}", f"bench-api-online-{tag}"
        uri = open_store(settings).put_dir(bundle, prefix=trained)
        async with pool.acquire() as conn:
            mv = await repo.register_version(
                conn,
                asset_id=trained,
                model_type="lightgbm",
                params={},
                metrics={},
                artifact_uri=uri,
                job_id=None,
                reason="bench",
            )
            await repo.activate(conn, trained, mv.version, "bench")
        await repo.upsert_asset(pool, online)
        _rec, key = await keystore.create(pool, f"bench-{tag}", ["read"], rate_limit=100_000_000)
        return trained, online, key
    finally:
        await pool.close()


def body(frame: pd.DataFrame, start: int, n: int, key: str, **extra: Any) -> bytes:
    rows = frame.iloc[start : start + n]
    points = [
        {"timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": float(v)}
        for t, v in zip(rows["timestamp"], rows["value"], strict=True)
    ]
    field = "historical_data" if "forecast_horizon" in extra else "data_stream"
    return orjson.dumps({field: points, **extra})


class Server:
    """``kilowatch api`` in its own process, its log in a file."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path, workers: int = 1) -> None:
        self.port = port
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [KILOWATCH, "api", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"api exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("api did not become ready")

    def cpu_seconds(self) -> float:
        """CPU time of the server and its worker processes."""
        import psutil

        root = psutil.Process(self.proc.pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                continue
        return total

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://{HOST}:{self.port}{path}", timeout=10) as r:
            return str(r.read().decode())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def _metric_sum(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


async def run_phase(
    server: Server, name: str, reqs: list[bytes], clients: int, seconds: float, probe: bytes | None = None
) -> dict[str, Any]:
    cpu0, (busy0, tot0) = server.cpu_seconds(), machine_busy()
    metrics0 = server.get("/metrics")
    phase, probe_phase = await closed_loop(
        HOST,
        server.port,
        reqs,
        clients,
        seconds,
        warmup=2.0,
        name=name,
        probe=(probe, 0.01) if probe else None,
    )
    metrics1 = server.get("/metrics")
    cpu1, (busy1, tot1) = server.cpu_seconds(), machine_busy()
    out = phase.summary()
    wall = phase.seconds + 2.0
    out["server_cpu_cores"] = round((cpu1 - cpu0) / wall, 2)
    out["machine_busy_pct"] = round(100 * (busy1 - busy0) / max(tot1 - tot0, 1e-9), 1)
    batches = _metric_sum(metrics1, "kilowatch_api_inference_batch_requests_count") - _metric_sum(
        metrics0, "kilowatch_api_inference_batch_requests_count"
    )
    rows = _metric_sum(metrics1, "kilowatch_api_inference_batch_requests_sum") - _metric_sum(
        metrics0, "kilowatch_api_inference_batch_requests_sum"
    )
    if batches:
        out["mean_batch_requests"] = round(rows / batches, 1)
    if probe_phase is not None:
        out["healthz_probe"] = probe_phase.summary()
    out["_first_body"] = phase.first_body
    log(f"{name}: {json.dumps({k: v for k, v in out.items() if not k.startswith('_')})}")
    return out


def check_forecast(model: Any, frame: pd.DataFrame, start: int, response: bytes) -> float:
    """Largest |served - trainers.backend| over the forecast of the first request (0 = identical)."""
    ref = model.predict(frame.iloc[start : start + HISTORY].reset_index(drop=True), HORIZON)
    served = orjson.loads(response)["data"]["forecast_data"]
    diffs = [
        abs(p[k] - r)
        for p, (_, row) in zip(served, ref.iterrows(), strict=True)
        for k, r in (
            ("predicted_value", row["predicted_value"]),
            ("lower", row["lower"]),
            ("upper", row["upper"]),
        )
    ]
    return max(diffs)


class Requests:
    """Pre-encoded requests for one server (the Host header names its port)."""

    def __init__(self, frame: pd.DataFrame, port: int, trained: str, online: str, key: str) -> None:
        auth = {"Authorization": f"Bearer {key}"}
        host = f"{HOST}:{port}"
        self.starts = [TRAIN_ROWS + 97 * i for i in range(64)]  # 64 windows from the held-out year

        def post(asset: str, route: str, n: int, starts: list[int], **extra: Any) -> list[bytes]:
            path = f"/api/v1/assets/{asset}/{route}"
            return [encode("POST", path, host, body(frame, s, n, key, **extra), auth) for s in starts]

        self.predict = post(trained, "predict", HISTORY, self.starts, forecast_horizon=HORIZON)
        self.online = post(online, "predict", HISTORY, self.starts, forecast_horizon=HORIZON)
        self.detect = post(trained, "detect_anomalies", DETECT_POINTS, self.starts[:16])
        # everything but the model (auth, rate limit, parsing): refused at the horizon check (422)
        self.floor = post(trained, "predict", HISTORY, self.starts, forecast_horizon=10**9)
        self.healthz = encode("GET", "/healthz", host)


async def single_worker(
    env: dict[str, str], work: Path, names: tuple[str, str, str], frame: pd.DataFrame, model: Any, quick: bool
) -> dict[str, Any]:
    seconds, base_s = (8.0, 5.0) if quick else (30.0, 15.0)
    server = Server(env, free_port(), work / "api-1.log")
    out: dict[str, Any] = {}
    try:
        server.wait_ready()
        req = Requests(frame, server.port, *names)
        # load the model and check the served forecast against trainers.backend
        await closed_loop(
            HOST, server.port, req.predict[:1] + req.online[:1] + req.detect[:1], 1, 2.0, warmup=0.0
        )
        first, _ = await closed_loop(HOST, server.port, req.predict[:1], 1, 0.0, warmup=0.0)
        out["forecast_max_abs_diff_vs_trainers"] = check_forecast(
            model, frame, req.starts[0], first.first_body
        )
        phases = out["phases"] = {}
        phases["healthz"] = await run_phase(server, "GET /healthz", [req.healthz], 50, base_s)
        phases["floor"] = await run_phase(
            server, "predict refused before the model (422)", req.floor, 50, base_s
        )
        phases["predict_trained"] = await run_phase(
            server, "predict, LightGBM", req.predict, 50, seconds, probe=req.healthz
        )
        phases["predict_online"] = await run_phase(
            server, "predict, online model", req.online, 50, seconds, probe=req.healthz
        )
        phases["detect_1"] = await run_phase(server, "detect 1,000 points, 1 client", req.detect, 1, base_s)
        phases["detect_50"] = await run_phase(
            server, "detect 1,000 points, 50 clients", req.detect, 50, seconds
        )
    finally:
        server.stop()
    return out


async def two_workers(
    env: dict[str, str], work: Path, names: tuple[str, str, str], frame: pd.DataFrame, quick: bool
) -> dict[str, Any]:
    """The same predict load on ``kilowatch api --workers 2`` (one process per core)."""
    seconds, base_s = (8.0, 5.0) if quick else (30.0, 15.0)
    server = Server(env, free_port(), work / "api-2.log", workers=2)
    phases: dict[str, Any] = {}
    try:
        server.wait_ready()
        req = Requests(frame, server.port, *names)
        await closed_loop(HOST, server.port, req.predict, 8, 8.0, warmup=0.0)  # both workers load the model
        phases["healthz"] = await run_phase(server, "GET /healthz, 2 workers", [req.healthz], 50, base_s)
        phases["predict_trained"] = await run_phase(
            server, "predict, LightGBM, 2 workers", req.predict, 50, seconds, probe=req.healthz
        )
    finally:
        server.stop()
    for p in phases.values():
        p.pop("mean_batch_requests", None)  # /metrics shows one worker only
    return phases


def keep_logs(work: Path) -> None:
    """Server logs to bench/results/logs (not committed), then the work folder goes."""
    (RESULTS / "logs").mkdir(parents=True, exist_ok=True)
    for log_file in work.glob("api-*.log"):
        shutil.copy(log_file, RESULTS / "logs" / f"api-inference-{log_file.name}")
    shutil.rmtree(work, ignore_errors=True)


async def main_async(quick: bool) -> dict[str, Any]:
    from bench.machine import machine_info

    work = Path(tempfile.mkdtemp(prefix="kw-bench-api-"))
    env = dict(os.environ)  # the infrastructure's KILOWATCH_* settings, plus a private artifact store
    env["KILOWATCH_ARTIFACT_ROOT"] = str(work / "artifacts")
    env["KILOWATCH_STATE_DIR"] = str(work / "state")
    settings = Settings().with_changes(artifact_root=work / "artifacts")
    frame = steel()
    model = train_bundle(frame, work / "bundle")
    names = await register(settings, work / "bundle", uuid.uuid4().hex[:6])
    results: dict[str, Any] = {"machine": machine_info()}
    try:
        results.update(await single_worker(env, work, names, frame, model, quick))
        results["two_workers"] = await two_workers(env, work, names, frame, quick)
        results["model"] = {"input_length": model.input_length, "params": "defaults (150 trees, 31 leaves)"}
    finally:
        keep_logs(work)
    for group in (results.get("phases", {}), results.get("two_workers", {})):
        for p in group.values():
            p.pop("_first_body", None)
    return results


def _statuses(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} x {s}" for s, n in counts.items())


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    ph = r["phases"]
    lines = [
        "# API inference benchmark (`python -m bench.api_inference`)",
        "",
        f"{m['date']}, commit {m['commit']}, {m['cores']} cores ({m['cpu']}), load average at start "
        f"{m['load_avg_at_start']}, Python {m['python']}. A real `kilowatch api` server (uvicorn; one "
        "process, then `--workers 2`) on the local PostgreSQL/Redis/Kafka with default settings; closed-loop "
        "keep-alive clients (`bench/http_load.py`, each sends its next request when the previous answer "
        "arrives) in the bench process on the same 2 cores. Read key with a high rate limit (the limit is "
        "still checked in Redis on every request).",
        "",
        f"Model: LightGBM trained on the first {TRAIN_ROWS} rows of the steel plant's `Usage_kWh` "
        f"(horizon {HORIZON}, {r['model']['params']}, input length {r['model']['input_length']}), "
        "registered and activated in the registry; served by the native path (boosters called directly, "
        f"micro-batched). Served forecast vs `trainers.backend` for the same history: max |diff| "
        f"{r['forecast_max_abs_diff_vs_trainers']:.3g}.",
        "",
        "| phase | clients | requests/s | p50 ms | p90 ms | p99 ms | max ms | responses | server CPU (cores) "
        "| machine busy | mean batch |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in [*ph.values(), *r.get("two_workers", {}).values()]:
        lines.append(
            f"| {p['name']} | {p['clients']} | {p['requests_per_s']} | {p['p50_ms']} | {p['p90_ms']} | "
            f"{p['p99_ms']} | {p['max_ms']} | {_statuses(p['statuses'])} | {p['server_cpu_cores']} | "
            f"{p['machine_busy_pct']} % | {p.get('mean_batch_requests', '')} |"
        )
    lines += ["", "/healthz probe (one paced request every 10 ms on its own connection) during the load:", ""]
    lines += ["| during | p50 ms | p99 ms | max ms |", "|---|---|---|---|"]
    for p in [*ph.values(), *r.get("two_workers", {}).values()]:
        pr = p.get("healthz_probe")
        if pr:
            lines.append(f"| {p['name']} | {pr['p50_ms']} | {pr['p99_ms']} | {pr['max_ms']} |")
    lines += [""]
    for label, group in (("one process", ph), ("`--workers 2`", r.get("two_workers", {}))):
        if "predict_trained" not in group:
            continue
        t = group["predict_trained"]["p99_ms"]
        lines.append(
            f"Predict p99 with 50 clients, {label}: {t} ms. Target < {TARGET_P99_MS:.0f} ms: "
            f"**{'met' if t < TARGET_P99_MS else 'not met'}**; goal < {GOAL_P99_MS:.0f} ms: "
            f"{'met' if t < GOAL_P99_MS else 'not met'}; original requirement < {REQUIRED_P99_MS:.0f} ms: "
            f"{'met' if t < REQUIRED_P99_MS else 'not met'}."
        )
        lines.append("")
    lines += [
        "How to read it: with 50 clients in a closed loop, mean latency = 50 / throughput (Little's law), so "
        'the p99 follows the CPU one request costs the server. "predict refused before the model" is the '
        "same 168-point request stopped at the horizon check: key check, Redis rate limit, parsing, error "
        "reply, no model; its row is the floor any model path is measured against. /healthz needs no key. "
        "The probe column shows how long a cheap request waits behind the load (event-loop stalls). "
        '"server CPU" near 1.0 with one process means it is bound by one core (the GIL); with two '
        "workers the machine (clients included) is the limit. /metrics of a multi-worker server shows one "
        "worker, so the batch size is given for one process only.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short phases (smoke run)")
    args = ap.parse_args(argv)
    results = asyncio.run(main_async(args.quick))
    RESULTS.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(results, indent=2, default=str))
    OUT_MD.write_text(markdown(results))
    print(OUT_MD.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
