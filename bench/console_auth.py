"""``python -m bench.console_auth``: what a console session costs per request, against an API key.

The API in process (httpx's ASGI transport: no socket, so the figures are the server's own work) on the
real PostgreSQL and Redis. ``GET /api/v1/auth/me`` is asked ``--requests`` times one after another:
- with an API key (the same-run baseline): verified once with argon2, then served from the process's
  verified-key cache (``api_key_cache_s``), so each request costs no database round trip;
- with a console session cookie: each request looks the session up in PostgreSQL (one indexed query on
  the SHA-256 of the token, joined with the user's row for the current role).
Also timed: ``POST /api/v1/auth/login`` (one argon2id verification of the password plus the session
insert) and a failed sign-in (the same argon2 cost, so a wrong name and a wrong password take as long).
Writes ``bench/results/console_auth.md`` and ``console_auth.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any

import httpx

from api.app import create_app
from api.services import keystore, users
from api.services.resources import Resources
from bench.common import RESULTS, log
from bench.machine import machine_info
from stream_app.settings import Settings

PASSWORD = "bench password 1234"


def _summary(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


async def _timed(client: httpx.AsyncClient, n: int, method: str, url: str, **kw: Any) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        r = await client.request(method, url, **kw)
        out.append(time.perf_counter() - start)
        if r.status_code >= 500:
            raise RuntimeError(f"{method} {url}: {r.status_code} {r.text[:200]}")
    return out


async def run(requests: int, logins: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        topic_prefix=f"bench-auth-{tag}",
        api_verifications_per_minute=1_000_000,
        api_rate_limit_per_minute=1_000_000,
    )
    app = create_app(settings)
    resources = Resources(settings)
    app.state.resources = resources
    pool = await resources.pool()
    name = f"bench-{tag}"
    await users.create(pool, name, "viewer", PASSWORD)
    _rec, key = await keystore.create(pool, f"bench-auth-{tag}", ["read"], rate_limit=1_000_000)
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://bench") as keyed,
            httpx.AsyncClient(transport=transport, base_url="http://bench") as browser,
        ):
            headers = {"Authorization": f"Bearer {key}"}
            first = await _timed(keyed, 1, "GET", "/api/v1/auth/me", headers=headers)  # argon2 + cache fill
            login = await _timed(
                browser, logins, "POST", "/api/v1/auth/login", json={"username": name, "password": PASSWORD}
            )
            failed = await _timed(
                browser, logins, "POST", "/api/v1/auth/login", json={"username": name, "password": "wrong pw"}
            )
            unknown = await _timed(
                browser, logins, "POST", "/api/v1/auth/login", json={"username": f"no-{tag}", "password": "x"}
            )
            # warm both paths, then alternate blocks so drift on the shared machine hits both alike
            await _timed(keyed, 50, "GET", "/api/v1/auth/me", headers=headers)
            await _timed(browser, 50, "GET", "/api/v1/auth/me")
            key_s: list[float] = []
            session_s: list[float] = []
            block = max(1, requests // 10)
            for _ in range(10):
                key_s += await _timed(keyed, block, "GET", "/api/v1/auth/me", headers=headers)
                session_s += await _timed(browser, block, "GET", "/api/v1/auth/me")
    finally:
        await pool.execute("DELETE FROM console_users WHERE username = $1", name)
        await resources.close()
    key_sum, session_sum = _summary(key_s), _summary(session_s)
    return {
        "what": "GET /api/v1/auth/me in process (ASGI), real PostgreSQL and Redis",
        "api_key_cached": key_sum,
        "api_key_first_request_ms": round(first[0] * 1000, 1),
        "session_cookie": session_sum,
        "session_extra_median_ms": round(session_sum["median_ms"] - key_sum["median_ms"], 3),
        "login_ok": _summary(login),
        "login_wrong_password": _summary(failed),
        "login_unknown_user": _summary(unknown),
        "machine": machine_info(),
    }


def write(result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "console_auth.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    k, s = result["api_key_cached"], result["session_cookie"]
    rows = [
        ("API key, verified-key cache (baseline)", k),
        ("console session cookie (PostgreSQL lookup)", s),
        ("sign-in, right password", result["login_ok"]),
        ("sign-in, wrong password", result["login_wrong_password"]),
        ("sign-in, unknown user", result["login_unknown_user"]),
    ]
    lines = [
        "# Console sign-in: cost per request (bench/console_auth.py)",
        "",
        f"{result['what']}; requests one after another. First request with a new key (argon2 + cache fill): "
        f"{result['api_key_first_request_ms']} ms.",
        "",
        "| request | n | median ms | p95 ms | mean ms |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[f"| {label} | {v['n']} | {v['median_ms']} | {v['p95_ms']} | {v['mean_ms']} |" for label, v in rows],
        "",
        f"A session costs {result['session_extra_median_ms']} ms more than a cached key at the median "
        "(its database lookup).",
        "",
        f"Machine: {result['machine'].get('cores')} cores, load average at start "
        f"{result['machine'].get('load_avg_at_start')} (other work shares the cores: the argon2 figures "
        "grow with the load; compare within one run).",
        "",
    ]
    (RESULTS / "console_auth.md").write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rewrite", action="store_true", help="only rewrite the .md from the saved .json")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--logins", type=int, default=10)
    args = ap.parse_args()
    if args.rewrite:
        write(json.loads((RESULTS / "console_auth.json").read_text()))
        return
    result = asyncio.run(run(args.requests, args.logins))
    write(result)
    log(f"console_auth: key {result['api_key_cached']}, session {result['session_cookie']}")


if __name__ == "__main__":
    main()
