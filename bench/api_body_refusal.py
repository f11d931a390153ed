"""How fast a real `kilowatch api` server refuses a 16 MiB body it should not take (issue 14).

Starts the API (uvicorn, one process) from a source tree — the working tree, or an export of an older
commit to compare with — on the configured services, then sends 16 MiB JSON bodies over raw sockets
and times each until the status line arrives (the upload runs alongside: a server that answers
without reading the body answers before the upload ends):

- ``unauth-readings``: POST /api/v1/readings, no key, Content-Length 16 MiB (the old body limit);
- ``unauth-chunked``: the same body chunked (no Content-Length);
- ``small-route``: POST /api/v1/api-keys with a well-formed (unknown) key, 16 MiB.

Usage: .venv/bin/python bench/api_body_refusal.py [--source DIR] [--port N] [--rounds N]
(before/after: ``git archive <commit> | tar -x -C /tmp/before`` and run once with --source /tmp/before)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZE = 16 * 1024 * 1024
KEY = "kw_zzzzzzzz_" + "q" * 43


def body() -> bytes:
    item = b'{"asset_id":"bench","timestamp":"2024-01-01T00:00:00Z","value":1.5},'
    n = (SIZE - 20) // len(item)
    out = b'{"readings":[' + item * n
    return out[:-1] + b"]}" + b" " * (SIZE - len(out) - 1)


def one(port: int, path: str, payload: bytes, headers: dict[str, str], chunked: bool) -> tuple[float, str]:
    """(seconds to the status line, the status) of one request; the body is uploaded by a thread
    meanwhile. "reset" = the server closed the connection before an answer could be read."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = [f"POST {path} HTTP/1.1", "Host: bench", "Content-Type: application/json", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(payload)}")
    started = time.perf_counter()
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())

    def upload() -> None:
        step = 256 * 1024
        try:
            for i in range(0, len(payload), step):
                part = payload[i : i + step]
                sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            return  # the server answered and closed without reading the rest: what we measure

    sender = threading.Thread(target=upload, daemon=True)
    sender.start()
    got = b""
    try:
        while b"\r\n" not in got:
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += chunk
        status = got.split(b" ")[1].decode() if got else "closed"
    except ConnectionResetError:
        status = "reset"
    elapsed = time.perf_counter() - started
    sock.close()
    sender.join(timeout=30)
    return elapsed, status


def serve(source: Path, port: int) -> subprocess.Popen[bytes]:
    code = (
        f"import sys; sys.path.insert(0, {str(source)!r}); import uvicorn; "
        "from api.app import create_app; from stream_app.settings import Settings; "
        f"uvicorn.run(create_app(Settings()), host='127.0.0.1', port={port}, log_level='warning')"
    )
    env = {**os.environ, "KILOWATCH_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=source, env=env)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the API did not start")


def measure(port: int, rounds: int) -> dict[str, dict[str, object]]:
    payload = body()
    cases = {
        "unauth-readings": ("/api/v1/readings", {}, False),
        "unauth-chunked": ("/api/v1/readings", {}, True),
        "small-route": ("/api/v1/api-keys", {"Authorization": f"Bearer {KEY}"}, False),
    }
    out: dict[str, dict[str, object]] = {}
    for name, (path, headers, chunked) in cases.items():
        times: list[float] = []
        statuses: set[str] = set()
        for _ in range(rounds):
            t, status = one(port, path, payload, headers, chunked)
            times.append(t * 1000)
            statuses.add(status)
        out[name] = {
            "status": sorted(statuses),
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=ROOT)
    ap.add_argument("--port", type=int, default=int(os.environ.get("KILOWATCH_API_PORT", "8000")))
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    proc = serve(args.source.resolve(), args.port)
    try:
        result = measure(args.port, args.rounds)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    print(json.dumps({"source": str(args.source), "body_bytes": SIZE, "rounds": args.rounds, **result}))


if __name__ == "__main__":
    main()
