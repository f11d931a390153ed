"""``kilowatch api`` (serve the REST API) and the key commands an operator needs before any key exists."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from stream_app.settings import Settings

CREATE_USER_ENV = "KW_USER_PASSWORD"  # read by create-user only (not a setting: never stored or logged)


def register(sub: Any) -> None:
    p = sub.add_parser("api", help="serve the REST API (uvicorn)")
    p.add_argument("--host", default=None, help="bind address (default: KILOWATCH_BIND_HOST, loopback)")
    p.add_argument("--port", type=int, default=None, help="port (default: KILOWATCH_API_PORT)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="server processes sharing the port (default: KILOWATCH_API_WORKERS)",
    )
    p.set_defaults(handler=run_api)

    k = sub.add_parser("create-api-key", help="create an API key and print it (once)")
    k.add_argument("name", help="who or what uses the key")
    k.add_argument(
        "--scope",
        action="append",
        choices=("read", "write", "model", "admin"),
        help="repeatable; default read (write: ingestion only; model: training and model control)",
    )
    k.add_argument("--rate-limit", type=int, default=None, help="requests per minute (default: setting)")
    k.set_defaults(handler=run_create_key)

    u = sub.add_parser(
        "create-user",
        help="create a console user (the first admin); the password comes from a prompt, "
        f"{CREATE_USER_ENV} or --password-stdin, never from an argument",
    )
    u.add_argument("name", help="user name: letters, digits and _ . @ - (1 to 64)")
    u.add_argument("--role", choices=("admin", "operator", "viewer"), default="viewer", help="default viewer")
    u.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    u.add_argument(
        "--reset",
        action="store_true",
        help="the user exists: set a new password (and --role); ends their sessions",
    )
    u.set_defaults(handler=run_create_user)

    r = sub.add_parser("revoke-api-key", help="revoke an API key by its prefix")
    r.add_argument("prefix", help="the 8 characters after kw_")
    r.set_defaults(handler=run_revoke_key)


def run_api(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app
    from stream_app.metrics import MULTIPROC_ENV, prepare_multiproc_dir

    common: dict[str, Any] = {
        "host": args.host or settings.bind_host,
        "port": args.port or settings.api.port,
        "log_config": None,  # our logging set-up (JSON or text, secrets masked) stays in charge
        "access_log": False,  # RequestContextMiddleware logs each request with its request id
        "proxy_headers": False,
    }
    workers = args.workers or settings.api.workers
    multiproc = prom_multiproc_dir(settings, common["port"], workers)
    given = os.environ.get(MULTIPROC_ENV)
    if multiproc is not None:  # before any worker imports prometheus-client: one scrape sums them all
        os.environ[MULTIPROC_ENV] = str(prepare_multiproc_dir(multiproc))
    try:
        if workers > 1:  # uvicorn starts each worker from an import string
            uvicorn.run("api.app:app_from_env", factory=True, workers=workers, **common)
        else:
            uvicorn.run(create_app(settings), **common)
    finally:  # the caller's environment as it was (a test, or a program embedding the launcher)
        if given is None:
            os.environ.pop(MULTIPROC_ENV, None)
    return 0


def prom_multiproc_dir(settings: Settings, port: int, workers: int) -> Path | None:
    """Where the API's processes write their metric values: PROMETHEUS_MULTIPROC_DIR when the operator
    set it, else (several workers) a folder per port under the state folder; None for one process."""
    from stream_app.metrics import MULTIPROC_ENV

    given = os.environ.get(MULTIPROC_ENV)
    if given:
        return Path(given)
    if workers > 1:
        return settings.state_dir.resolve() / f"api-metrics-{port}"
    return None


async def _with_conn(settings: Settings, fn: Any) -> Any:
    from stream_app.store.pool import connect

    conn = await connect(settings)
    try:
        return await fn(conn)
    finally:
        await conn.close()


def run_create_key(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import keystore

    scopes = args.scope or ["read"]
    rec, key = asyncio.run(
        _with_conn(settings, lambda c: keystore.create(c, args.name, scopes, args.rate_limit))
    )
    print(key)
    print(
        f"# key {rec.id} ({rec.name}, scopes {','.join(rec.scopes)}): shown once, only its hash is stored",
        file=sys.stderr,
    )
    return 0


def run_revoke_key(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import keystore

    rec = asyncio.run(_with_conn(settings, lambda c: keystore.revoke_prefix(c, args.prefix)))
    print(f"revoked key {rec.id} ({rec.name}, prefix {rec.prefix})")
    return 0


def read_password(args: argparse.Namespace) -> str:
    """The new user's password: ``KW_USER_PASSWORD``, else stdin's first line (--password-stdin), else
    asked twice on the terminal. An argument would be visible to every user of the machine in ``ps``."""
    given = os.environ.get(CREATE_USER_ENV)
    if given is not None:
        return given
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise SystemExit(f"no password: set {CREATE_USER_ENV}, pass --password-stdin, or run on a terminal")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("the two passwords differ")
    return first


def run_create_user(args: argparse.Namespace, settings: Settings) -> int:
    from api.services import users

    if not users.USERNAME_RE.fullmatch(args.name):
        print("user name: 1 to 64 letters, digits and _ . @ - (not first)", file=sys.stderr)
        return 2
    password = read_password(args)
    problem = users.password_problem(password)
    if problem is not None:
        print(f"password refused: {problem}", file=sys.stderr)
        return 2
    from stream_app.store import audit

    action = "user.reset" if args.reset else "user.create"

    async def apply(conn: Any) -> Any:
        async with conn.transaction():  # the user and its audit entry, or neither
            if args.reset:
                row = await users.reset(conn, args.name, password, args.role)
            else:
                row = await users.create(conn, args.name, args.role, password)
            await audit.record(conn, f"cli:{getpass.getuser()}", action, row.username, {"role": row.role})
        return row

    row = asyncio.run(_with_conn(settings, apply))
    if args.reset:
        print(f"user {row.username} ({row.role}): new password set, their sessions ended")
    else:
        print(f"user {row.username} created ({row.role}); sign in at /admin/")
    return 0
