"""A lean closed-loop HTTP/1.1 load generator (keep-alive connections, pre-encoded requests).

Each client owns one connection and sends its next request as soon as the previous response is read,
so ``clients`` requests are in flight at all times. Requests are encoded once and responses parsed
minimally (status line, Content-Length), so the load generator costs little CPU next to the server on
a shared 2-core machine (httpx would cost more per request than a cheap route does).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def encode(
    method: str, path: str, host: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    body = await reader.readexactly(length) if length else b""
    return status, body


@dataclass
class Phase:
    """What one closed-loop run measured (latencies of requests that ended after the warm-up)."""

    name: str
    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    first_body: bytes = b""

    def summary(self) -> dict[str, Any]:
        lat = np.asarray(self.latencies) * 1000.0
        ok = self.statuses.get(200, 0)
        return {
            "name": self.name,
            "clients": self.clients,
            "seconds": round(self.seconds, 1),
            "requests": len(lat),
            "requests_per_s": round(len(lat) / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(float(np.percentile(lat, 50)), 2) if len(lat) else None,
            "p90_ms": round(float(np.percentile(lat, 90)), 2) if len(lat) else None,
            "p99_ms": round(float(np.percentile(lat, 99)), 2) if len(lat) else None,
            "max_ms": round(float(lat.max()), 2) if len(lat) else None,
            "statuses": {str(s): n for s, n in sorted(self.statuses.items())},
            "ok": ok,
        }


async def closed_loop(
    host: str,
    port: int,
    requests: list[bytes],
    clients: int,
    seconds: float,
    warmup: float = 2.0,
    name: str = "",
    probe: tuple[bytes, float] | None = None,
) -> tuple[Phase, Phase | None]:
    """Run ``clients`` connections for ``warmup + seconds``; client k starts at request k.

    ``probe`` = (request, interval s): one more connection sends that request every interval (paced, not
    closed-loop) to see how long a cheap request waits behind the load."""
    phase = Phase(name, clients, seconds)
    probe_phase = Phase(f"{name} probe", 1, seconds) if probe else None
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    async def client(k: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        i = k
        try:
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at and i > k:  # (every client sends at least one request)
                    break
                writer.write(requests[i % len(requests)])
                i += 1
                status, body = await read_response(reader)
                t1 = time.perf_counter()
                if not phase.first_body and status == 200:
                    phase.first_body = body
                if t1 >= measure_from:
                    phase.latencies.append(t1 - t0)
                    phase.statuses[status] += 1
        finally:
            writer.close()

    async def prober(req: bytes, interval: float, into: Phase) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            nxt = time.perf_counter()
            while nxt < stop_at:
                t0 = time.perf_counter()
                writer.write(req)
                status, _ = await read_response(reader)
                t1 = time.perf_counter()
                if t1 >= measure_from:
                    into.latencies.append(t1 - t0)
                    into.statuses[status] += 1
                nxt = max(nxt + interval, t1)
                await asyncio.sleep(max(0.0, nxt - time.perf_counter()))
        finally:
            writer.close()

    tasks = [client(k) for k in range(clients)]
    if probe and probe_phase:
        tasks.append(prober(probe[0], probe[1], probe_phase))
    await asyncio.gather(*tasks)
    phase.seconds = time.perf_counter() - measure_from
    if probe_phase:
        probe_phase.seconds = phase.seconds
    return phase, probe_phase
