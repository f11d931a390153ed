"""``python -m bench.api_ingest``: HTTP ingestion throughput of ``POST /api/v1/readings``.

A real ``kilowatch api`` (uvicorn, one process) on a free port, its own topic prefix; ``--clients``
concurrent httpx clients post batches of ``--batch`` real steel-plant readings (pre-encoded, each
client its own assets) for ``--seconds``. Reported: readings/s accepted (202: every reading acked by
Kafka), request latency p50/p95/p99, and as the same-run baseline the rate at which the raw
producers publish the same readings (same payload bytes and keys, acks=all): confluent-kafka (the
replay tool's client) and aiokafka (the API's client, one ``send`` per reading and one wait per
batch of ``--batch``, as the API does). Clients, server, broker and baselines share this machine's
cores: compare within one run. Writes ``bench/results/api_ingest.md`` and ``api_ingest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pandas as pd
from aiokafka import AIOKafkaProducer

from api.services import keystore
from bench.common import KILOWATCH, RESULTS, ROOT, Isolated, delete_topics, end_offsets, log, machine_busy
from bench.machine import machine_info
from stream_app.kafka.clients import produce as kafka_produce
from stream_app.kafka.clients import producer
from stream_app.settings import Settings
from stream_app.store.pool import connect

STEEL = Path("energy") / "steel_industry_2018_15min.csv"
BASELINE_MIN = 200_000  # readings per producer baseline (enough to be past the producers' start)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def batches(n_clients: int, batch: int, per_client: int) -> list[list[bytes]]:
    """Per client, ``per_client`` request bodies of ``batch`` real readings (assets of its own)."""
    path = Path(os.environ.get("KILOWATCH_DATA_DIR", ROOT.parent / "shared" / "data")) / STEEL
    frame = pd.read_csv(path, usecols=["timestamp", "Usage_kWh", "CO2(tCO2)"])
    stamps = pd.to_datetime(frame["timestamp"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    values, co2 = frame["Usage_kWh"].tolist(), frame["CO2(tCO2)"].tolist()
    out: list[list[bytes]] = []
    for c in range(n_clients):
        bodies = []
        for b in range(per_client):
            rows = []
            for j in range(batch):
                i = (b * batch + j) % len(stamps)
                rows.append(
                    {
                        "asset_id": f"bench-c{c}-m{j % 50}",
                        "timestamp": stamps[i],
                        "value": values[i],
                        "co2": co2[i],
                    }
                )
            bodies.append(orjson.dumps({"readings": rows}))
        out.append(bodies)
    return out


def messages_of(bodies: list[bytes]) -> list[tuple[bytes, bytes]]:
    """The (key, value) pairs the API publishes for these bodies (the same wire format)."""
    from api.routes.readings import device_payload
    from schemas.events import Reading

    out = []
    for body in bodies:
        for item in orjson.loads(body)["readings"]:
            r = Reading.model_validate(item)
            out.append((r.asset_id.encode(), device_payload(r)))
    return out


async def client_loop(
    client: httpx.AsyncClient, bodies: list[bytes], headers: dict[str, str], until: float, lat: list[float]
) -> int:
    accepted, i = 0, 0
    while time.monotonic() < until:
        started = time.perf_counter()
        r = await client.post("/api/v1/readings", content=bodies[i % len(bodies)], headers=headers)
        lat.append(time.perf_counter() - started)
        if r.status_code != 202:
            raise RuntimeError(f"POST answered {r.status_code}: {r.text[:300]}")
        accepted += int(r.json()["data"]["accepted"])
        i += 1
    return accepted


async def http_phase(base: str, key: str, per_client: list[list[bytes]], seconds: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=len(per_client) + 2)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        r = await client.post("/api/v1/readings", content=per_client[0][0], headers=headers)  # warm-up
        if r.status_code != 202:
            raise RuntimeError(f"warm-up POST answered {r.status_code}: {r.text[:300]}")
        lat: list[float] = []
        busy0 = machine_busy()
        started = time.monotonic()
        counts = await asyncio.gather(
            *(client_loop(client, bodies, headers, started + seconds, lat) for bodies in per_client)
        )
        elapsed = time.monotonic() - started
        busy1 = machine_busy()
    lat_ms = sorted(x * 1000 for x in lat)
    q = statistics.quantiles(lat_ms, n=100, method="inclusive")
    return {
        "requests": len(lat_ms),
        "accepted": sum(counts) + int(r.json()["data"]["accepted"]),  # with the warm-up request
        "readings_per_s": sum(counts) / elapsed,
        "requests_per_s": len(lat_ms) / elapsed,
        "elapsed_s": elapsed,
        "p50_ms": q[49],
        "p95_ms": q[94],
        "p99_ms": q[98],
        "max_ms": lat_ms[-1],
        "machine_busy_cores": (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1e-9) * (os.cpu_count() or 1),
    }


def confluent_rate(settings: Settings, topic: str, msgs: list[tuple[bytes, bytes]]) -> float:
    prod = producer(settings, acks="all")
    started = time.perf_counter()
    for k, v in msgs:
        kafka_produce(prod, topic, k, v)
    if prod.flush(120):
        raise RuntimeError("confluent baseline: messages left undelivered")
    return len(msgs) / (time.perf_counter() - started)


async def aiokafka_rate(settings: Settings, topic: str, msgs: list[tuple[bytes, bytes]], batch: int) -> float:
    prod = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await prod.start()
    try:
        started = time.perf_counter()
        for i in range(0, len(msgs), batch):
            futures = [await prod.send(topic, value=v, key=k) for k, v in msgs[i : i + batch]]
            for f in futures:
                await f
        return len(msgs) / (time.perf_counter() - started)
    finally:
        await prod.stop()


async def make_key(settings: Settings) -> tuple[str, Any]:
    conn = await connect(settings)
    try:
        rec, key = await keystore.create(conn, "bench-api-ingest", ["write"], rate_limit=100_000_000)
    finally:
        await conn.close()
    return key, rec.id


async def revoke_key(settings: Settings, key_id: Any) -> None:
    conn = await connect(settings)
    try:
        await keystore.revoke(conn, key_id)
    finally:
        await conn.close()


def start_api(iso: Isolated, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    env = dict(iso.env)
    base = Settings()
    for name in (
        "postgres_host",
        "postgres_port",
        "redis_host",
        "redis_port",
        "postgres_db",
        "postgres_user",
    ):
        env[f"KILOWATCH_{name.upper()}"] = str(getattr(base, name))
    env["KILOWATCH_LOG_FORMAT"] = "json"
    log_path = iso.state_dir / "api.log"
    proc = subprocess.Popen(
        [KILOWATCH, "api", "--port", str(port)],
        env=env,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kilowatch api exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, log_path
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("kilowatch api did not answer /healthz within 60 s")


def run(clients: list[int], batch: int, seconds: float) -> dict[str, Any]:
    iso = Isolated.create("api-ingest")
    settings = iso.settings
    topic = settings.kafka.topic("readings")
    port = free_port()
    key, key_id = asyncio.run(make_key(settings))
    proc, log_path = start_api(iso, port)
    out: dict[str, Any] = {"batch": batch, "seconds": seconds, "port": port, "http": []}
    try:
        per_client_all = batches(max(clients), batch, per_client=40)
        for n in clients:
            log(f"api-ingest: {n} clients x batches of {batch} for {seconds:.0f} s")
            res = asyncio.run(http_phase(f"http://127.0.0.1:{port}", key, per_client_all[:n], seconds))
            res["clients"] = n
            out["http"].append(res)
            log(
                f"  {res['readings_per_s']:,.0f} readings/s, "
                f"p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms"
            )
        in_topic = sum(end_offsets(settings, topic).values())
        out["published_in_topic"] = in_topic
        out["accepted_total"] = sum(r["accepted"] for r in out["http"])
        msgs = messages_of([b for bodies in per_client_all for b in bodies])
        msgs = (msgs * (BASELINE_MIN // len(msgs) + 1))[: max(BASELINE_MIN, len(msgs))]
        log(f"api-ingest: raw producer baselines, {len(msgs):,} readings each")
        out["baseline_readings"] = len(msgs)
        out["confluent_per_s"] = confluent_rate(settings, topic, msgs)
        out["aiokafka_per_s"] = asyncio.run(aiokafka_rate(settings, topic, msgs, batch))
        log(f"  confluent {out['confluent_per_s']:,.0f}/s, aiokafka {out['aiokafka_per_s']:,.0f}/s")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        asyncio.run(revoke_key(settings, key_id))
        delete_topics(settings, settings.kafka.topic_prefix)
        (RESULTS / "logs").mkdir(parents=True, exist_ok=True)
        if log_path.exists():
            (RESULTS / "logs" / "api-ingest-api.log").write_bytes(log_path.read_bytes()[-200_000:])
    return out


def markdown(r: dict[str, Any], m: dict[str, Any]) -> str:
    best = max(r["http"], key=lambda x: x["readings_per_s"])
    lines = [
        "# HTTP ingestion benchmark (`python -m bench.api_ingest`)",
        "",
        f"{m['date']} · {m['cores']} cores ({m['cpu']}), load avg at start {m['load_avg_at_start']} · "
        f"Kafka {m['kafka']} (single local broker) · Python {m['python']} · commit `{m['commit']}`",
        "",
        f"`POST /api/v1/readings` on a real `kilowatch api` (uvicorn, one process), batches of {r['batch']} "
        f"real steel-plant readings (with one covariate), {r['seconds']:.0f} s per client count; clients "
        "(httpx, one process), the API, Kafka and PostgreSQL/Redis all share the machine's cores.",
        "",
        "| clients | readings/s accepted | requests/s | p50 ms | p95 ms | p99 ms | max ms "
        "| machine busy (cores) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in r["http"]:
        lines.append(
            f"| {x['clients']} | {x['readings_per_s']:,.0f} | {x['requests_per_s']:,.1f} "
            f"| {x['p50_ms']:.1f} | {x['p95_ms']:.1f} | {x['p99_ms']:.1f} | {x['max_ms']:.1f} "
            f"| {x['machine_busy_cores']:.2f} |"
        )
    lines += [
        "",
        f"Same-run baseline, the same {r['baseline_readings']:,} readings (payload bytes and keys as the API "
        "publishes them), acks=all:",
        "",
        "| producer | readings/s | API best / this |",
        "|---|---:|---:|",
        f"| confluent-kafka (librdkafka, linger 5 ms) | {r['confluent_per_s']:,.0f} | "
        f"{best['readings_per_s'] / r['confluent_per_s'] * 100:.1f} % |",
        f"| aiokafka, one wait per {r['batch']} (what the API does per request) "
        f"| {r['aiokafka_per_s']:,.0f} | "
        f"{best['readings_per_s'] / r['aiokafka_per_s'] * 100:.1f} % |",
        "",
        f"Check: {r['accepted_total']:,} readings accepted (202) and {r['published_in_topic']:,} in the "
        "topic before the baselines ran.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.api_ingest", description=__doc__)
    p.add_argument("--clients", default="1,8", help="comma-separated concurrent client counts (default 1,8)")
    p.add_argument("--batch", type=int, default=500, help="readings per request (default 500)")
    p.add_argument("--seconds", type=float, default=20.0, help="duration per client count (default 20)")
    args = p.parse_args(argv)
    machine = machine_info()
    result = run([int(c) for c in args.clients.split(",")], args.batch, args.seconds)
    result["machine"] = machine
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "api_ingest.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    (RESULTS / "api_ingest.md").write_text(markdown(result, machine))
    log(f"wrote {RESULTS / 'api_ingest.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
